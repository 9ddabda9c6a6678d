"""Problems found before anything is sent, gathered at once (DESIGN: 'Sync rules')."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from ..domain.documents import DocumentLine, TradeDocument
from ..domain.errors import Problem
from ..domain.journals import AccountJournal
from ..domain.mapping import AccountMapping
from .ports import ChartOfAccounts


def with_defaults(document: TradeDocument, mapping: AccountMapping) -> TradeDocument:
    """Fill account and tax type the ERP left empty from the kind's mapped defaults, and turn
    the lines' batch attributes into the mapped tracking (none when no tracking is mapped)."""
    defaults = mapping.defaults_for(document.kind)
    if all(line.account_code and line.tax_type and not line.attributes for line in document.lines):
        return document
    lines = tuple(
        replace(
            line,
            account_code=line.account_code or defaults.account_code,
            tax_type=line.tax_type or defaults.tax_type,
            tracking=mapping.tracking_refs(line.attributes) if line.attributes else line.tracking,
        )
        for line in document.lines
    )
    return replace(document, lines=lines)


def account_problems(codes: Iterable[str], chart: ChartOfAccounts | None) -> list[Problem]:
    if chart is None:
        return []
    problems = []
    for code in sorted(set(codes)):
        account = chart.account(code)
        if account is None:
            problems.append(Problem(
                "unknown_account",
                f"Account {code} does not exist in Xero; map an existing account in Settings.",
                code,
            ))
        elif not account.is_active:
            problems.append(Problem(
                "archived_account",
                f"Account {code} ({account.name}) is archived in Xero; map an active account "
                f"in Settings or restore it in Xero.",
                code,
            ))
    return problems


def document_problems(document: TradeDocument, chart: ChartOfAccounts | None) -> list[str]:
    """Why Xero would refuse this document, in plain sentences; empty when it is fine."""
    reasons: list[str] = []
    if not document.lines:
        reasons.append(f"{document.number} has no lines.")
    missing = [line for line in document.lines if not line.account_code]
    if missing:
        reasons.append(
            f"{document.number} has lines without an account and no default account is mapped "
            f"for {document.kind.label.lower()}; set one in Settings."
        )
    if chart is None:
        return reasons
    lock = chart.organisation.lock_date
    if lock is not None and document.date <= lock:
        reasons.append(
            f"{document.number} is dated {document.date.isoformat()}, inside Xero's locked "
            f"period (up to {lock.isoformat()})."
        )
    reasons += [p.message for p in account_problems(_codes(document.lines), chart)]
    known_taxes = {t.tax_type for t in chart.tax_rates}
    if known_taxes:
        for tax in sorted({line.tax_type for line in document.lines if line.tax_type} - known_taxes):
            reasons.append(f"Tax type {tax} does not exist in Xero; map a tax type in Settings.")
    return reasons


def journal_problems(
    journals: Iterable[AccountJournal], chart: ChartOfAccounts | None
) -> list[Problem]:
    journals = list(journals)
    if chart is None or not journals:
        return []
    problems = account_problems(
        (line.account_code for journal in journals for line in journal.lines), chart
    )
    lock = chart.organisation.lock_date
    if lock is not None:
        locked = [j for j in journals if j.date <= lock]
        if locked:
            problems.append(Problem(
                "journal_locked",
                f"{len(locked)} journal{'s are' if len(locked) > 1 else ' is'} dated inside "
                f"Xero's locked period (up to {lock.isoformat()}), the first on "
                f"{locked[0].date.isoformat()}; ask your adviser to move the lock date.",
                locked[0].key,
            ))
    return problems


def _codes(lines: Iterable[DocumentLine]) -> set[str]:
    return {line.account_code for line in lines if line.account_code}
