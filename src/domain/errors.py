"""Named domain errors. Each message is one plain sentence a winery accountant can act on."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


def _day(value: date) -> str:
    return value.strftime("%d %b %Y").lstrip("0")


class AccountsSyncError(Exception):
    """Base of every error the product reports to a person; `code` is stable for the API."""

    code = "accounts_sync_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(AccountsSyncError):
    code = "invalid_request"


class InvalidClosingDate(InvalidRequest):
    code = "invalid_closing_date"

    def __init__(self, raw: str) -> None:
        super().__init__(f"'{raw}' is not a date; enter the closing date as YYYY-MM-DD.")


class ClosingDateInFuture(InvalidRequest):
    code = "closing_date_in_future"

    def __init__(self, closing_date: date, today: date) -> None:
        super().__init__(
            f"The closing date {_day(closing_date)} is in the future; "
            f"choose today ({_day(today)}) or an earlier day."
        )


class ClosingDateInLockedPeriod(InvalidRequest):
    code = "closing_date_locked"

    def __init__(self, closing_date: date, lock_date: date) -> None:
        super().__init__(
            f"The closing date {_day(closing_date)} is inside Xero's locked period "
            f"(locked up to {_day(lock_date)}); choose a later date or ask your adviser "
            f"to move the lock date in Xero."
        )


class ClosingDateBeforeLastSync(InvalidRequest):
    code = "closing_date_before_last_sync"

    def __init__(self, closing_date: date, last_synced_up_to: date) -> None:
        super().__init__(
            f"The closing date {_day(closing_date)} is before the last sync "
            f"(up to {_day(last_synced_up_to)}); choose {_day(last_synced_up_to)} or later."
        )


class UnknownKind(InvalidRequest):
    code = "unknown_kind"

    def __init__(self, raw: str, known: tuple[str, ...]) -> None:
        super().__init__(f"'{raw}' is not something Accounts Sync sends; use one of {', '.join(known)}.")


class NotFound(AccountsSyncError):
    code = "not_found"


class JournalNotFound(NotFound):
    def __init__(self, key: str) -> None:
        from .journals import journal_label

        super().__init__(
            f"There is no journal '{journal_label(key)}' up to that closing date; preview again "
            f"to see the current journals."
        )


class DocumentNotFound(NotFound):
    def __init__(self, kind: str, erp_id: str) -> None:
        super().__init__(f"There is no {kind.replace('_', ' ')[:-1]} with id {erp_id} in the ERP.")


class CorrectionNotFound(NotFound):
    def __init__(self, number: str) -> None:
        super().__init__(
            f"There is no correction of {number} waiting up to that closing date; preview again "
            f"to see the current corrections."
        )


class RunNotFound(NotFound):
    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        super().__init__(f"There is no sync run {run_id}; open the list of runs to pick one.")


@dataclass(frozen=True)
class Problem:
    """One thing that stops (or, as a warning, should give pause to) a sync."""

    code: str
    message: str
    subject: str = ""
    blocking: bool = True
    field: str = ""  # the setting it is about ("stage:bulk_wine", "journal_tax_type"), if any


class SyncRefused(AccountsSyncError):
    """All blocking problems found before anything was sent, gathered at once."""

    code = "sync_refused"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        count = len(problems)
        first = problems[0].message if problems else ""
        more = f" (and {count - 1} more problem{'s' if count > 2 else ''})" if count > 1 else ""
        super().__init__(f"Nothing was sent: {first}{more}")


class UnbalancedJournal(AccountsSyncError):
    code = "unbalanced_journal"

    def __init__(self, key: str, difference: str) -> None:
        from .journals import journal_label

        super().__init__(
            f"Journal {journal_label(key)} does not balance (off by {difference}); check that a rounding "
            f"account is mapped in Settings."
        )


class RunAlreadyActive(AccountsSyncError):
    code = "run_already_active"

    def __init__(self, run_id: int, kind: str) -> None:
        self.run_id = run_id
        super().__init__(
            f"A sync of {kind.replace('_', ' ')} is already running (run {run_id}); "
            f"wait for it to finish."
        )


class InvalidTransition(AccountsSyncError):
    code = "invalid_transition"


class NotConnected(AccountsSyncError):
    code = "not_connected"

    def __init__(self) -> None:
        super().__init__("Accounts Sync is not connected to Xero; press Connect on the console first.")


class ReauthorisationNeeded(AccountsSyncError):
    code = "reauthorisation_needed"

    def __init__(self, organisation: str = "") -> None:
        name = f" to {organisation}" if organisation else ""
        super().__init__(
            f"Xero no longer accepts the connection{name}; press Connect on the console to "
            f"authorise it again. Nothing queued has been lost."
        )


class GatewayUnavailable(AccountsSyncError):
    """Xero could not be reached or kept failing after retries; nothing is lost, retry later."""

    code = "xero_unavailable"


class RateLimited(GatewayUnavailable):
    code = "xero_rate_limited"

    def __init__(self, retry_after: float, problem: str = "minute") -> None:
        self.retry_after = retry_after
        self.problem = problem
        super().__init__(
            f"Xero's {problem} call limit is reached; Accounts Sync will continue in "
            f"{int(retry_after + 0.999)} seconds."
        )


class MappingRefused(InvalidRequest):
    """An account mapping that would not work in Xero; nothing was saved."""

    code = "mapping_refused"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"The mapping was not saved: {problems[0].message}{more}")
