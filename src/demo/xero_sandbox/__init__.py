"""A local, Xero-compatible sandbox: OAuth 2.0, the Accounting API subset the product uses,
Xero's limits, validation and failure modes, and pages to see what arrived.

    from accounts_sync.demo.xero_sandbox import create_app
    from accounts_sync.demo.xero_sandbox.server import run_in_thread

    app = create_app({"RATE_LIMIT_PER_MINUTE": 0})
    with run_in_thread(app) as (base_url, stop):
        ...
"""

from .app import create_app

__all__ = ["create_app"]
