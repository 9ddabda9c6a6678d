"""Every check a sync makes before anything leaves, in one place (DESIGN: 'Sync rules').

The preview is the sync's dry run: `ExecuteRun` refuses a document when `document_problems`
finds a reason, and `PreviewUnsynced` lists, before anything is sent, exactly the documents
with such a reason. Both go through the same rules of `Checks`, one per value a document
carries (an account, a tax type, a tracking option, a currency, a date, ...):

- the sync applies them to each document it is about to send (`document_problems`);
- the preview applies them to the distinct values of all the unsynced documents at once
  (`Checks.refusal`), then asks the database for the documents that carry a refused value, and
  explains each shown one with `document_problems` again. A document is refused when one of
  its values is, whichever way it is looked at, so the two lists cannot differ.

What Xero refuses, and so what is checked here (Xero's messages as its API and the sandbox give
them): an account that does not exist, is archived, or is one of the system accounts no line may
use (receivables, payables, GST); a tax type that does not exist or is not active; a tracking
category or option that does not exist; a currency the organisation has not enabled; a date on
or before a lock date; an approved invoice or bill without a due date ("Due Date must be
specified"); a document without lines, number or contact name, or one longer than Xero takes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from ..domain.corrections import LockPolicy, Period, carry_document
from ..domain.documents import TRADE_KINDS, DocumentLine, Kind, TrackingRef, TradeDocument
from ..domain.errors import Problem
from ..domain.journals import AccountJournal, journal_label
from ..domain.mapping import AccountMapping
from .ports import ChartOfAccounts, DocumentFacts, RefusalFilter

# System accounts Xero refuses on a line ("Account code '610' is not a valid code for this
# document."): receivables, payables and the tax account are kept by Xero itself.
RESERVED_SYSTEM_ACCOUNTS = frozenset({"DEBTORS", "CREDITORS", "GST"})
# Invoices and bills go to Xero approved (AUTHORISED), and Xero refuses an approved one without a
# due date; credit notes have none.
NEEDS_DUE_DATE = frozenset({Kind.SALES_ORDERS, Kind.PURCHASE_ORDERS})
TEXT_LIMIT = 255  # Xero's longest invoice number, credit note number and contact name


def _day(value: date) -> str:
    return value.strftime("%d %b %Y").lstrip("0")


@dataclass(frozen=True)
class Checks:
    """The rules a sync applies before sending, against Xero's chart and the mapping.

    Without a chart (Xero not connected or not answering) only what needs no Xero is checked;
    the preview says so. `currencies` are the organisation's enabled currencies when known.
    """

    chart: ChartOfAccounts | None
    mapping: AccountMapping
    currencies: frozenset[str] | None = None
    # Xero's lock date and what Settings say to do with what falls inside it (carry it to the
    # first open day, or hold it back); without one, the chart's lock date, carried.
    period: Period | None = None
    _taxes: frozenset[str] = field(init=False, repr=False, compare=False)
    _tracking: dict[str, frozenset[str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        chart = self.chart
        taxes = frozenset(t.tax_type for t in chart.tax_rates if t.status == "ACTIVE") if chart \
            else frozenset()
        tracking = {c.name.strip().casefold(): frozenset(o.strip().casefold() for o in c.options)
                    for c in chart.tracking if c.status == "ACTIVE"} if chart else {}
        object.__setattr__(self, "_taxes", taxes)
        object.__setattr__(self, "_tracking", tracking)
        if self.period is None:
            object.__setattr__(self, "period", Period(chart.organisation.lock_date if chart else None))

    # ------------------------------------------------------------------ one value at a time

    def account(self, code: str) -> str | None:
        if not code:
            return ("A line has no account and no default account is mapped for it; code the "
                    "line in the ERP or set a default account in Settings.")
        if self.chart is None:
            return None
        account = self.chart.account(code)
        if account is None:
            return (f"Account {code} does not exist in Xero; correct the line in the ERP or "
                    f"map an existing account in Settings.")
        if not account.is_active:
            return (f"Account {code} ({account.name}) is archived in Xero; restore it in Xero "
                    f"(then press Refresh from Xero) or move the line to an active account.")
        if account.system_account in RESERVED_SYSTEM_ACCOUNTS:
            return (f"Account {code} ({account.name}) is kept by Xero itself and takes no "
                    f"lines; use another account.")
        return None

    def tax_type(self, tax_type: str) -> str | None:
        if not tax_type or self.chart is None or not self.chart.tax_rates:
            return None  # no tax type: Xero uses the account's default
        if tax_type not in self._taxes:
            shown = tax_type if len(tax_type) <= 40 else tax_type[:40] + "…"
            return (f"Tax type {shown} does not exist in Xero (or is not active); correct it in "
                    f"the ERP or in Settings.")
        return None

    def tracking(self, ref: TrackingRef) -> str | None:
        if self.chart is None:
            return None
        options = self._tracking.get(ref.category.strip().casefold())
        if options is None:
            return (f"Xero has no tracking category {ref.category}; create it in Xero or "
                    f"change the mapping in Settings.")
        if ref.option.strip().casefold() not in options:
            return (f"Xero's tracking category {ref.category} has no option {ref.option}; add "
                    f"it in Xero (then press Refresh from Xero).")
        return None

    def currency(self, code: str) -> str | None:
        if self.chart is None or code.upper() == self.chart.organisation.base_currency.upper():
            return None
        if self.currencies and code.upper() not in self.currencies:
            return (f"The currency {code} is not enabled in Xero; add it in Xero's currency "
                    f"settings.")
        return None

    @property
    def lock_date(self) -> date | None:
        return self.period.lock_date if self.period else None

    @property
    def holds_locked(self) -> bool:
        return self.period is not None and self.period.policy is LockPolicy.HOLD

    def locked(self, day: date) -> str | None:
        """Xero refuses anything dated on or before its lock date. The one place the lock date
        is applied to what is sent: carried (the default), `prepare` has already dated it the
        first open day; held (a setting), it is not sent until the lock date moves."""
        lock = self.lock_date
        if lock is None or day > lock:
            return None
        if self.holds_locked:
            return (f"It is dated {_day(day)}, inside Xero's locked period (up to {_day(lock)}); "
                    f"it is held back, as Settings ask, until the lock date moves.")
        return (f"It is dated {_day(day)}, inside Xero's locked period (up to {_day(lock)}); "
                f"ask your adviser to move the lock date in Xero.")

    def sent_on(self, day: date) -> date:
        """The day something dated `day` is sent with: carried past the lock date unless held."""
        if self.period is None or self.holds_locked:
            return day
        return self.period.dated(day)

    def missing_due_date(self, kind: Kind) -> str | None:
        if kind not in NEEDS_DUE_DATE or self.mapping.defaults_for(kind).payment_days is not None:
            return None
        return ("It has no due date, which Xero requires; enter one in the ERP or set payment "
                f"terms for {kind.label.lower()} in Settings.")

    @staticmethod
    def text(what: str, value: str) -> str | None:
        value = " ".join(value.split())
        if not value:
            return f"It has no {what}; enter one in the ERP."
        if len(value) > TEXT_LIMIT:
            return f"Its {what} is longer than the {TEXT_LIMIT} characters Xero takes."
        return None

    # ------------------------------------------------------------------ documents

    def prepare(self, document: TradeDocument) -> TradeDocument:
        """The document as it is sent: the mapping's defaults fill what the ERP left empty, its
        tracking comes from the lines' batch attributes through the mapping, and one dated
        inside the locked period is carried to the first open day (unless held)."""
        defaults = self.mapping.defaults_for(document.kind)
        if not all(line.account_code and line.tax_type and not line.attributes
                   for line in document.lines):
            # The lines' batch attributes become the mapped tracking (none when none is mapped).
            document = replace(document, lines=tuple(
                replace(line, account_code=line.account_code or defaults.account_code,
                        tax_type=line.tax_type or defaults.tax_type,
                        tracking=self.mapping.tracking_refs(line.attributes) if line.attributes
                        else line.tracking)
                for line in document.lines
            ))
        if document.due_date is None and defaults.payment_days is not None \
                and document.kind in NEEDS_DUE_DATE:
            document = replace(document, due_date=document.date + timedelta(days=defaults.payment_days))
        if self.period is not None and not self.holds_locked:
            document = carry_document(document, self.period)
        return document

    def document_problems(self, document: TradeDocument) -> list[str]:
        """Why Accounts Sync would refuse this (prepared) document; empty when it can go."""
        reasons: list[str | None] = [
            self.text("number", document.number),
            self.text("contact name", document.contact.name),
            self.locked(document.date),
            self.currency(document.currency),
        ]
        if not document.lines:
            reasons.append("It has no lines; Xero needs at least one.")
        if document.due_date is None:
            reasons.append(self.missing_due_date(document.kind))
        reasons += [self.account(code) for code in _sorted({ln.account_code for ln in document.lines})]
        reasons += [self.tax_type(tax) for tax in _sorted({ln.tax_type for ln in document.lines})]
        reasons += [self.tracking(ref) for ref in _refs(document.lines)]
        return list(dict.fromkeys(r for r in reasons if r))

    def refusal(self, kind: Kind, facts: DocumentFacts) -> RefusalFilter:
        """The values, among those the unsynced documents carry, that these rules refuse: the
        rules above, applied to each distinct value (with the mapping's defaults, as `prepare`)."""
        defaults = self.mapping.defaults_for(kind)
        shortest = min(facts.number_lengths[0], facts.contact_name_lengths[0])
        longest = max(facts.number_lengths[1], facts.contact_name_lengths[1])
        return RefusalFilter(
            accounts=frozenset(c for c in facts.accounts
                               if self.account(c or defaults.account_code)),
            tax_types=frozenset(t for t in facts.tax_types if self.tax_type(t or defaults.tax_type)),
            tracking=frozenset(r for r in facts.tracking if self.tracking(r)),
            attributes=frozenset(a for a in facts.attributes
                                 if any(self.tracking(r) for r in self.mapping.tracking_refs(a))),
            currencies=frozenset(c for c in facts.currencies if self.currency(c)),
            # Carried documents are sent on the first open day: only held ones are refused.
            dated_up_to=self.lock_date if self.holds_locked else None,
            without_due_date=facts.without_due_date and self.missing_due_date(kind) is not None,
            without_lines=facts.without_lines,
            text_limit=TEXT_LIMIT if shortest < 1 or longest > TEXT_LIMIT else None,
        )

    def foreign_currencies(self, currencies: Iterable[str]) -> set[str]:
        """Currencies other than the organisation's own (the only ones worth asking Xero about)."""
        if self.chart is None:
            return set()
        base = self.chart.organisation.base_currency.upper()
        return {c.upper() for c in currencies if c and c.upper() != base}

    # ------------------------------------------------------------------ journals

    def journal_problems(self, journals: Iterable[AccountJournal]) -> list[Problem]:
        """Why Accounts Sync would refuse to post these journals, gathered at once."""
        journals = list(journals)
        if not journals:
            return []
        problems: list[Problem] = []
        # Per journal, computed once: a preview reuses the journals of the days that did not change.
        codes: set[str] = set().union(*(j.account_codes for j in journals))
        for code in _sorted(codes):
            reason = self.account(code)
            if reason:
                problems.append(Problem(_account_code(reason), reason, code, field=_field_of(
                    code, self.mapping)))
        tax = self.mapping.journal_tax_type
        reason = self.tax_type(tax)
        if reason:
            problems.append(Problem("unknown_tax_type", f"Journal lines: {reason}", "journal_tax",
                                    field="journal_tax_type"))
        refs: set[TrackingRef] = set().union(*(j.tracking_refs for j in journals))
        for ref in sorted(refs, key=lambda r: (r.category, r.option)):
            reason = self.tracking(ref)
            if reason:
                problems.append(Problem("unknown_tracking", reason, f"{ref.category}:{ref.option}"))
        if self.lock_date is not None:
            # Carried journals go out on the first open day: judged by the day they are sent.
            locked = [j for j in journals if self.locked(self.sent_on(j.date))]
            if locked:
                problems.append(Problem(
                    "journal_locked",
                    f"{len(locked):,} journal{'s are' if len(locked) > 1 else ' is'} dated inside "
                    f"Xero's locked period (up to {_day(self.lock_date)}), the first "
                    f"{journal_label(locked[0].key)}; ask your adviser to move the lock date.",
                    locked[0].key,
                ))
        return problems

    def mapping_problems(self) -> list[Problem]:
        """The mapping's own accounts, whatever documents use them."""
        problems = []
        for code in _sorted(self.mapping.account_codes()):
            reason = self.account(code)
            if reason:
                problems.append(Problem(_account_code(reason), reason, code,
                                        field=_field_of(code, self.mapping)))
        for kind in TRADE_KINDS:
            tax = self.mapping.defaults_for(kind).tax_type
            reason = self.tax_type(tax)
            if reason:
                problems.append(Problem("unknown_tax_type",
                                        f"Default tax type for {kind.label.lower()}: {reason}",
                                        tax, field=f"default_tax:{kind.value}"))
        return problems


def _account_code(reason: str) -> str:
    if "archived" in reason:
        return "archived_account"
    if "does not exist" in reason:
        return "unknown_account"
    if "no account" in reason:
        return "unmapped_account"
    return "reserved_account"


def _field_of(code: str, mapping: AccountMapping) -> str:
    """The settings field that sends this account, to highlight it."""
    if code == mapping.rounding_account:
        return "rounding_account"
    for stage, account in mapping.stage_accounts.items():
        if account == code:
            return f"stage:{stage.value}"
    for (stage, category), account in mapping.category_overrides.items():
        if account == code:
            return f"override:{stage.value}:{category.value}"
    for kind, defaults in mapping.trade_defaults.items():
        if defaults.account_code == code:
            return f"default_account:{kind.value}"
    return ""


def _sorted(values: Iterable[str]) -> list[str]:
    return sorted(values)


def _refs(lines: Iterable[DocumentLine]) -> list[TrackingRef]:
    return sorted({ref for line in lines for ref in line.tracking},
                  key=lambda r: (r.category, r.option))


# ---------------------------------------------------------------------- kept for callers


def with_defaults(document: TradeDocument, mapping: AccountMapping) -> TradeDocument:
    """Fill account, tax type and due date the ERP left empty from the kind's mapping."""
    return Checks(None, mapping).prepare(document)
