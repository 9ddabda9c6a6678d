"""The demo host app for `flask --app wsgi ...` and WSGI servers; nothing built at import."""

from accounts_sync.demo.app import create_demo_app

create_app = create_demo_app

__all__ = ["create_app", "create_demo_app"]
