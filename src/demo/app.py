"""The demo: a winery host ERP with Accounts Sync mounted and the local Xero sandbox beside it."""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from flask import Flask

PROJECT = Path(__file__).resolve().parents[2]
SECRET_FILE = "secret_key"  # noqa: S105 - a file name
log = logging.getLogger(__name__)
SANDBOX_PATH = "/xero-sandbox"
SANDBOX_CLIENT_ID = "accounts-sync-demo"  # registered in the sandbox's seed
SANDBOX_CLIENT_SECRET = "accounts-sync-demo-secret"  # noqa: S105 - the sandbox's demo client


@dataclass(frozen=True)
class DemoSettings:
    port: int
    database_url: str
    base_url: str
    secret_key: str
    instance: Path
    scale: float = 1.0
    redis_url: str = ""  # set: runs go to RQ workers and the Xero budget is shared in Redis
    secret_note: str = ""  # where the secret key came from, for the start-up lines
    sandbox_test_hooks: bool = False  # DEMO_SANDBOX_TEST_HOOKS=1: the e2e tests read its state
    smtp_port: int = 0  # the local mail catcher's port (0: no catcher; mail is not sent)
    schedule_min_interval: int = 5  # DEMO_SCHEDULE_MIN_INTERVAL: minutes (the e2e test: 1)

    @classmethod
    def from_env(cls) -> DemoSettings:
        port = int(os.environ.get("PORT", "5000"))
        instance = Path(os.environ.get("DEMO_INSTANCE_DIR", PROJECT / "instance"))
        instance.mkdir(parents=True, exist_ok=True)
        secret, note = os.environ.get("ACCOUNTS_SYNC_SECRET_KEY", ""), "ACCOUNTS_SYNC_SECRET_KEY"
        if not secret:
            secret, note = instance_secret(instance)
        return cls(
            port=port,
            database_url=os.environ.get("ACCOUNTS_SYNC_DATABASE_URL",
                                        f"sqlite:///{instance / 'demo.sqlite3'}"),
            base_url=os.environ.get("ACCOUNTS_SYNC_BASE_URL", f"http://127.0.0.1:{port}"),
            secret_key=secret,
            instance=instance,
            scale=float(os.environ.get("DEMO_SCALE", "1.0")),
            redis_url=os.environ.get("ACCOUNTS_SYNC_REDIS_URL", ""),
            secret_note=note,
            sandbox_test_hooks=os.environ.get("DEMO_SANDBOX_TEST_HOOKS") == "1",
            smtp_port=int(os.environ.get("DEMO_SMTP_PORT", "0") or 0),
            schedule_min_interval=int(os.environ.get("DEMO_SCHEDULE_MIN_INTERVAL", "5")),
        )


def instance_secret(instance: Path) -> tuple[str, str]:
    """The demo's secret key (sessions, CSRF, Xero tokens at rest) when none is given: random,
    made once into `instance/secret_key` (readable by its owner only) and kept for later starts,
    never a constant from the repository. Returns the key and a line saying where it is."""
    path = instance / SECRET_FILE
    if path.exists():
        return path.read_text().strip(), f"{path} (set ACCOUNTS_SYNC_SECRET_KEY to use your own)"
    draft = path.with_name(f".{SECRET_FILE}.{os.getpid()}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(secrets.token_urlsafe(48))
    try:
        os.link(draft, path)  # atomic; a process that started at the same time keeps its own
    except FileExistsError:
        return path.read_text().strip(), f"{path} (set ACCOUNTS_SYNC_SECRET_KEY to use your own)"
    finally:
        draft.unlink()
    log.info("No ACCOUNTS_SYNC_SECRET_KEY given: generated a random secret key into %s", path)
    return path.read_text().strip(), f"{path} (generated now; set ACCOUNTS_SYNC_SECRET_KEY to use your own)"


def create_demo_app(settings: DemoSettings | None = None) -> Flask:
    from ..web import AccountsSync
    from .host import create_host_app

    settings = settings or DemoSettings.from_env()
    app = create_host_app({
        "HOST_DATABASE_URL": settings.database_url,
        "SECRET_KEY": settings.secret_key,
    })
    AccountsSync(
        app,
        database_url=settings.database_url,
        base_url=settings.base_url,
        secret_key=settings.secret_key,
        gateway="xero",
        xero_base_url=settings.base_url + SANDBOX_PATH,
        xero_client_id=SANDBOX_CLIENT_ID,
        xero_client_secret=SANDBOX_CLIENT_SECRET,
        redis_url=settings.redis_url,
        # The winery keeps its books in the Barossa: times read in Adelaide's clock.
        timezone=os.environ.get("ACCOUNTS_SYNC_TIMEZONE", "Australia/Adelaide"),
        # Alerts go to the demo's local mail catcher (`serve` starts it), never off the machine.
        **({"smtp_host": "127.0.0.1", "smtp_port": settings.smtp_port, "smtp_security": "none",
            "smtp_from": DEMO_MAIL_FROM} if settings.smtp_port else {}),
        schedule_min_interval=settings.schedule_min_interval,
    )
    app.config["DEMO_SETTINGS"] = settings
    mount_sandbox(app, settings)
    mount_mail(app, settings)
    return app


DEMO_MAIL_FROM = "Accounts Sync <accounts-sync@barossa-ridge.example>"


def mount_mail(app: Flask, settings: DemoSettings) -> None:
    """The ERP's Mail page: what the local catcher (instance/mail/) received."""
    from .mail_catcher import mail

    app.config["DEMO_MAIL_DIR"] = str(settings.instance / "mail")
    app.config["DEMO_SMTP_PORT"] = settings.smtp_port
    app.register_blueprint(mail)


def mount_sandbox(app: Flask, settings: DemoSettings) -> None:
    """The local Xero stand-in answers at /xero-sandbox on the demo's own port."""
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    from .xero_sandbox import create_app as create_sandbox

    sandbox = create_sandbox({"STATE_FILE": str(settings.instance / "xero-sandbox.json"),
                              "TEST_HOOKS": settings.sandbox_test_hooks})
    app.extensions["xero_sandbox"] = sandbox
    app.wsgi_app = DispatcherMiddleware(app.wsgi_app, {SANDBOX_PATH: sandbox})  # type: ignore[method-assign]
