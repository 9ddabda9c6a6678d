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
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from ..adapters.erp_sql.engine import make_engine
    from .setup import OutdatedDemo, prepare_demo

    settings = DemoSettings.from_env()
    engine = make_engine(settings.database_url)
    try:
        prepare_demo(engine, scale=settings.scale)
    except OutdatedDemo as error:
        print(error, file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    if args.command == "prepare":
        print(f"Demo database ready: {settings.database_url}")
        return 0

    app = create_demo_app(settings)
    url = f"http://127.0.0.1:{settings.port}"
    print(
        f"\nAccounts Sync demo: {url}/accounts/sync/\n"
        f"  log in as accountant / accountant   (can view costs)\n"
        f"  or        cellarhand / cellarhand   (cannot: gets 403)\n"
        f"  Xero sandbox: {url}/xero-sandbox/\n",
        flush=True,
    )
    from waitress import serve

    serve(app, host="127.0.0.1", port=settings.port, threads=8, ident="accounts-sync-demo")
    return 0


if __name__ == "__main__":
    sys.exit(main())
