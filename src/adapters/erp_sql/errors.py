"""Errors the SQL adapters raise in place of driver errors (plain sentences, like the domain's)."""

from __future__ import annotations

from ...domain.errors import AccountsSyncError


class DatabaseUnavailable(AccountsSyncError):
    """The database could not be reached or stayed busy; nothing was changed."""

    code = "database_unavailable"

    def __init__(self, message: str = "") -> None:
        super().__init__(
            message
            or "The accounts database cannot be reached right now; nothing was changed. "
            "Check that the database is running and try again."
        )


class HostDataError(AccountsSyncError):
    """A row in the host ERP holds a value Accounts Sync cannot interpret."""

    code = "host_data_error"
