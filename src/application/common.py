"""Small helpers shared by the use cases."""

from __future__ import annotations

from ..domain.corrections import LockPolicy, Period
from ..domain.errors import GatewayUnavailable, NotConnected, Problem, ReauthorisationNeeded
from .ports import AccountingGateway, ChartOfAccounts, SettingsStore

LOCK_POLICY = "locked_period_policy"  # preference: carry (default) or hold


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


def period_of(chart: ChartOfAccounts | None, settings: SettingsStore) -> Period:
    """Xero's lock date with what Settings say to do with what falls inside it."""
    lock = chart.organisation.lock_date if chart else None
    return Period(lock, LockPolicy.parse(settings.preference(LOCK_POLICY, LockPolicy.CARRY.value)))
