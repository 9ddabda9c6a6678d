"""Small helpers shared by the use cases."""

from __future__ import annotations

from ..domain.errors import GatewayUnavailable, NotConnected, Problem, ReauthorisationNeeded
from .ports import AccountingGateway, ChartOfAccounts


def read_chart(gateway: AccountingGateway) -> tuple[ChartOfAccounts | None, Problem | None]:
    """Xero's chart for checks that need it; a read-only screen still works without Xero."""
    try:
        return gateway.chart(), None
    except (NotConnected, ReauthorisationNeeded, GatewayUnavailable) as exc:
        return None, Problem(
            "xero_unchecked",
            f"{exc.message} Lock dates and archived accounts were not checked.",
            "xero",
            blocking=False,
        )
