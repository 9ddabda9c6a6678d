"""The web edge of Accounts Sync: the Flask extension, its blueprint, API and CLI."""

from .extension import AccountsSync, ConfigurationError, start_scheduler
from .permissions import requires_permission

__all__ = ["AccountsSync", "ConfigurationError", "requires_permission", "start_scheduler"]
