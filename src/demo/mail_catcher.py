"""The demo's local mail catcher: an SMTP server on 127.0.0.1 (aiosmtpd) that keeps every
message it is sent as a file in `instance/mail/`, and the ERP's Mail page that lists them.

Accounts Sync's alerts in the demo go to it, so nothing leaves the machine; a person reads
them at /mail (or opens the .eml files). `make demo` starts it on DEMO_SMTP_PORT (8025), or on
any free port when that one is taken (another demo runs), and points the plugin at it.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from flask import Blueprint, abort, current_app, render_template
from flask_login import login_required

log = logging.getLogger(__name__)

DEFAULT_PORT = 8025
mail = Blueprint("demo_mail", __name__)
_NAME = re.compile(r"^[0-9TZ.-]+-[0-9a-f]{8}\.eml$")


class _SaveToFolder:
    """aiosmtpd handler: each message as `<UTC time>-<id>.eml`, written whole, then renamed."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self._lock:
            self.count += 1
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
            name = f"{stamp}-{os.urandom(4).hex()}.eml"
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode()
        draft = self.folder / f".{name}.part"
        draft.write_bytes(b"X-Envelope-To: " + ", ".join(envelope.rcpt_tos).encode() + b"\r\n" + data)
        draft.replace(self.folder / name)
        return "250 Message accepted for delivery"


@dataclass
class Catcher:
    port: int
    folder: Path
    controller: Any

    def stop(self) -> None:
        self.controller.stop()


def start_catcher(folder: Path, port: int = DEFAULT_PORT) -> Catcher:
    """Start the SMTP catcher in a thread; on `port`, or any free port when it is taken."""
    from aiosmtpd.controller import Controller

    folder.mkdir(parents=True, exist_ok=True)
    handler = _SaveToFolder(folder)
    for attempt in (port, 0):
        controller = Controller(handler, hostname="127.0.0.1", port=attempt)
        try:
            controller.start()
        except (OSError, RuntimeError) as exc:
            if attempt == 0:
                raise
            log.warning("port %s is taken (%s); the mail catcher takes a free one", port, exc)
            continue
        actual = controller.server.sockets[0].getsockname()[1]
        return Catcher(actual, folder, controller)
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------- the Mail page


@dataclass(frozen=True)
class CaughtMail:
    name: str
    received: datetime
    sender: str
    to: str
    subject: str
    text: str


def _read(path: Path) -> CaughtMail:
    message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    body = message.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else ""
    received = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    return CaughtMail(path.name, received, str(message.get("From", "")),
                      str(message.get("To", "") or message.get("X-Envelope-To", "")),
                      str(message.get("Subject", "(no subject)")), text)


def caught(folder: Path, limit: int = 200) -> list[CaughtMail]:
    if not folder.is_dir():
        return []
    paths = sorted((p for p in folder.glob("*.eml") if _NAME.match(p.name)), reverse=True)
    return [_read(p) for p in paths[:limit]]


def _folder() -> Path:
    folder = current_app.config.get("DEMO_MAIL_DIR")
    if not folder:
        abort(404)
    return Path(folder)


@mail.get("/mail")
@login_required
def inbox() -> str:
    return render_template("erp/mail.html", messages=caught(_folder()), opened=None,
                           port=current_app.config.get("DEMO_SMTP_PORT"))


@mail.get("/mail/<name>")
@login_required
def message(name: str) -> str:
    path = _folder() / name
    if not _NAME.match(name) or not path.is_file():
        abort(404)
    return render_template("erp/mail.html", messages=caught(_folder()), opened=_read(path),
                           port=current_app.config.get("DEMO_SMTP_PORT"))
