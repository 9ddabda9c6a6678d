"""Small helpers shared by the use cases."""

from __future__ import annotations

import logging

from ..domain.corrections import LockPolicy, Period
from ..domain.errors import GatewayUnavailable, NotConnected, Problem, ReauthorisationNeeded
from .checks import Checks
from .ports import AccountingGateway, ChartOfAccounts, SettingsStore

LOCK_POLICY = "locked_period_policy"  # preference: carry (default) or hold

log = logging.getLogger(__name__)


def read_chart(gateway: AccountingGateway) -> tuple[ChartOfAccounts | None, Problem | None]:
    """Xero's chart for checks that need it; a read-only screen still works without Xero."""
    try:
        return gateway.chart(), None
    except (NotConnected, ReauthorisationNeeded, GatewayUnavailable) as exc:
        return None, Problem(
            "xero_unchecked",
            f"{exc.message} Lock dates, accounts, tax types and tracking options were not "
            f"checked against Xero.",
            "xero",
            blocking=False,
        )


def with_currencies(checks: Checks, gateway: AccountingGateway, currencies: set[str]) -> Checks:
    """Ask Xero which currencies it has enabled, only when a document is in a foreign one."""
    if checks.currencies is not None or not checks.foreign_currencies(currencies):
        return checks
    try:
        enabled = gateway.currencies()
    except (NotConnected, ReauthorisationNeeded, GatewayUnavailable) as exc:
        log.warning("could not read Xero's currencies: %s", exc.message)
        return checks
    return Checks(checks.chart, checks.mapping, frozenset(c.upper() for c in enabled) or None,
                  checks.period)


def period_of(chart: ChartOfAccounts | None, settings: SettingsStore) -> Period:
    """Xero's lock date with what Settings say to do with what falls inside it."""
    lock = chart.organisation.lock_date if chart else None
    return Period(lock, LockPolicy.parse(settings.preference(LOCK_POLICY, LockPolicy.CARRY.value)))
