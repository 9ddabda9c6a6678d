"""`python -m accounts_sync.demo serve`: prepare the demo database and serve the demo.

`prepare` only prepares (migrate + seed, idempotent).
"""

from __future__ import annotations

import argparse
import logging
import sys

from .app import DemoSettings, create_demo_app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m accounts_sync.demo")
    parser.add_argument("command", choices=["serve", "prepare"])
    args = parser.parse_args(argv)
    # Warnings and errors only: the few lines below are what a newcomer needs to read.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    from ..adapters.erp_sql.engine import make_engine
    from ..web import ConfigurationError
    from .setup import OutdatedDemo, prepare_demo

    settings = DemoSettings.from_env()
    print(f"Preparing the demo database ({settings.database_url}); the first start seeds the "
          f"winery.", flush=True)
    engine = make_engine(settings.database_url)
    try:
        prepare_demo(engine, scale=settings.scale)
    except OutdatedDemo as error:
        print(error, file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    if args.command == "prepare":
        print("Demo database ready.")
        return 0

    from dataclasses import replace

    from ..web import start_scheduler
    from .mail_catcher import DEFAULT_PORT, start_catcher

    catcher = start_catcher(settings.instance / "mail", settings.smtp_port or DEFAULT_PORT)
    settings = replace(settings, smtp_port=catcher.port)
    try:
        app = create_demo_app(settings)
    except ConfigurationError as error:
        print(f"The demo cannot start: {error}", file=sys.stderr)
        return 1
    start_scheduler(app)  # scheduled syncs and alerts from the start, not the first page
    url = f"http://127.0.0.1:{settings.port}"
    print(
        f"\nAccounts Sync demo: {url}/accounts/sync/\n"
        f"  log in as accountant / accountant   (can view costs)\n"
        f"  or        cellarhand / cellarhand   (cannot: gets 403)\n"
        f"  Xero sandbox: {url}/xero-sandbox/\n"
        f"  mail caught on 127.0.0.1:{catcher.port}: {url}/mail (files in {catcher.folder})\n"
        f"  secret key: {settings.secret_note}\n"
        f"Press Ctrl+C to stop.",
        flush=True,
    )
    from waitress import serve

    serve(app, host="127.0.0.1", port=settings.port, threads=8, ident="accounts-sync-demo")
    return 0


if __name__ == "__main__":
    sys.exit(main())
