"""The JSON API's request and response models (pydantic), from which its OpenAPI 3.1
description is generated (`api_spec.py`). The presenters build the bodies; these models say
what those bodies are, and the tests (schemathesis included) hold the two together.

Adding a route: write its models here, then declare it with `@operation(...)` in `api.py`.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, EmailStr, Field, StringConstraints


def _iso_day(value: object) -> object:
    # pydantic would read "0" or "1700000000" as a Unix time; a closing date is YYYY-MM-DD.
    if isinstance(value, date) or (isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)):
        return value
    raise ValueError("enter the date as YYYY-MM-DD")


def _digits(value: object) -> object:
    # Query strings and form fields: "5", not "5.0", "+5" or " 5".
    if isinstance(value, str) and not re.fullmatch(r"\d{1,20}", value):
        raise ValueError("enter a whole number")
    return value


Day = Annotated[date, BeforeValidator(_iso_day)]
# For models with a field named `date`, whose later annotations would see the field, not the type.
Date = date
MaybeDate = date | None
Count = Annotated[int, BeforeValidator(_digits)]

# The plugin's and the demo ERP's ids are INTEGER columns (PostgreSQL's int4): a larger id can
# name nothing, and is refused before it reaches the database.
MAX_ID = 2**31 - 1

TradeKind = Literal["sales_orders", "purchase_orders", "refunds"]
AnyKind = Literal["sales_orders", "purchase_orders", "refunds", "journals", "corrections"]
OriginalKind = Literal["sales_orders", "purchase_orders", "refunds", "journals"]
RunStateName = Literal["queued", "running", "succeeded", "failed", "aborted"]
Money = Annotated[str, Field(pattern=r"^-?\d+\.\d{2}$", description="A decimal amount, 2 places",
                             examples=["1234.50"])]
Amount = Annotated[str, Field(pattern=r"^-?\d+(\.\d+)?$", description="A decimal amount as sent",
                              examples=["1234.5678"])]
Id = Annotated[Count, Field(ge=1, le=MAX_ID)]
ClosingDate = Annotated[Day | None, Field(
    description="Everything dated up to this day (ISO 8601); default: today. Not in the future, "
                "not inside Xero's lock period.")]
JournalKey = Annotated[str, StringConstraints(min_length=1, max_length=100), Field(
    description="A journal's key: its day and movement type, e.g. `2026-11-02-bottling`.",
    examples=["2026-11-02-bottling"])]
Cursor = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_-]+$"),
                   Field(description="`next_cursor` of the previous page")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ----------------------------------------------------------------------------- errors


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable, machine-readable: `invalid_request`, `not_found`, "
                                  "`csrf_failed`, `run_already_active`, `sync_refused`, ...")
    message: str = Field(description="One plain sentence for a person: what, why, what to do.")
    problems: list[Problem] | None = Field(None, description="`sync_refused`, "
                                           "`schedules_refused`: every problem")
    run_id: int | None = Field(None, description="`run_already_active`: the run going on")


class Error(BaseModel):
    """Every error of the API, whatever its status."""

    error: ErrorDetail


class Problem(BaseModel):
    code: str
    message: str
    subject: str | None = None


# ----------------------------------------------------------------------------- requests


class ClosingDateQuery(Strict):
    closing_date: ClosingDate = None


class DocumentsQuery(Strict):
    closing_date: ClosingDate = None
    after: Cursor | None = None
    page_size: Count = Field(50, ge=1, le=200, description="Documents per page")


class RunsQuery(Strict):
    before: Id | None = Field(None, description="Only runs with a smaller id (the next page)")


class DecisionBody(Strict):
    """JSON, or form fields (the console posts its form)."""

    kind: OriginalKind = Field(description="The kind of the document or journal corrected")
    erp_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="Its ERP id (a journal's key)")
    choice: Literal["adjust", "overwrite", "accept"] = Field(
        description="`adjust`: send the adjustment or credit anyway; `overwrite`: apply the ERP's "
                    "change over what someone changed in Xero; `accept`: leave Xero as it is")
    closing_date: ClosingDate = None
    csrf_token: str | None = Field(None, description="The page's CSRF token, when sent as a form "
                                                     "field (or use the X-CSRFToken header)")


class ValuationQuery(Strict):
    closing_date: ClosingDate = None
    period_start: Annotated[Day | None, Field(
        description="The first day of the cost-of-goods-sold period (ISO 8601); default: the "
                    "first day of the financial year the closing date falls in")] = None


class ReconciliationQuery(Strict):
    closing_date: ClosingDate = None


class AccountPath(Strict):
    code: Annotated[str, StringConstraints(min_length=1, max_length=20), Field(
        description="A Xero account code", examples=["1440"])]


class KindPath(Strict):
    kind: TradeKind


class JournalPath(Strict):
    key: JournalKey


class RunPath(Strict):
    run_id: Id


class SyncBody(Strict):
    """JSON, or form fields (the console posts its form)."""

    kind: AnyKind
    closing_date: ClosingDate = None
    mode: Literal["draft", "posted"] | None = Field(
        None, description="Journals only: post them as DRAFT (default) or POSTED")
    csrf_token: str | None = Field(None, description="The page's CSRF token, when sent as a form "
                                                     "field (or use the X-CSRFToken header)")


# ----------------------------------------------------------------------------- responses


class KindTotals(BaseModel):
    count: int = Field(ge=0)
    total: Money


class JournalSummary(BaseModel):
    key: str
    date: date
    movement_type: str
    movement: str
    narration: str
    debit_total: Money
    lines: int = Field(ge=0)
    cost_entries: int = Field(ge=0)
    carried_from: MaybeDate = Field(None, description="Its own day, inside Xero's locked period: "
                                                      "it is posted on `date`, the first open day")
    held: bool = Field(False, description="Held back until the lock date moves (a setting)")


class JournalList(KindTotals):
    items: list[JournalSummary]


class LastSynced(BaseModel):
    sales_orders: date | None = None
    purchase_orders: date | None = None
    refunds: date | None = None
    journals: date | None = None
    corrections: date | None = None


class CorrectionsSummary(BaseModel):
    count: int = Field(ge=0)
    net_change: Money
    to_decide: int = Field(ge=0, description="Waiting for a person's decision")
    held: int = Field(ge=0, description="Held back until Xero's lock date moves")


class XeroChange(BaseModel):
    kind: AnyKind
    xero_id: str
    number: str
    status: str
    total: Money
    updated_at: datetime | None
    ours: bool = Field(description="An object Accounts Sync sent (else made in Xero by someone)")
    summary: str
    xero_url: str


class Preview(BaseModel):
    closing_date: date
    currency: str
    sales_orders: KindTotals
    purchase_orders: KindTotals
    refunds: KindTotals
    journals: JournalList
    last_synced_up_to: LastSynced
    problems: list[Problem] = Field(description="Must be fixed before a sync")
    warnings: list[Problem]
    corrections: CorrectionsSummary = Field(description="Changes to what was already sent")
    xero_changes: list[XeroChange] = Field(description="Seen changed in Xero, latest first")


class Failure(BaseModel):
    number: str
    reason: str


class Run(BaseModel):
    id: int
    kind: AnyKind
    closing_date: date
    mode: Literal["DRAFT", "POSTED"] | None
    requested_by: str
    state: RunStateName
    active: bool
    total: int
    done: int
    created: int
    failed: int
    message: str
    failures: list[Failure]
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None


class Started(BaseModel):
    run: Run
    started: bool = Field(description="False: a run of that kind was already going; it is "
                                      "returned instead of starting a second one")


class Runs(BaseModel):
    runs: list[Run] = Field(description="Newest first")


class Connection(BaseModel):
    tenant_id: str
    organisation: str
    connected_by: str
    connected_at: datetime | None
    needs_reauthorisation: bool


class ActiveRuns(BaseModel):
    sales_orders: Run | None = None
    purchase_orders: Run | None = None
    refunds: Run | None = None
    journals: Run | None = None
    corrections: Run | None = None


class Status(BaseModel):
    connection: Connection | None
    last_synced_up_to: LastSynced
    active_runs: ActiveRuns
    journal_mode: Literal["DRAFT", "POSTED"]


class Document(BaseModel):
    erp_id: int | str
    number: str
    contact: str
    date: date
    total: Money
    currency: str
    url: str | None
    sync_state: str | None
    last_error: str | None


class DocumentList(BaseModel):
    kind: TradeKind
    closing_date: date
    count: int = Field(ge=0)
    total: Money
    items: list[Document]
    next_cursor: str | None = Field(description="Pass as `after` for the next page; null at the end")


class Tracking(BaseModel):
    name: str
    option: str


class Cost(BaseModel):
    erp_id: int | str
    date: date
    operation: str
    description: str
    operation_url: str | None
    category: str
    amount: Amount


class JournalLine(BaseModel):
    account_code: str
    account_name: str
    debit: Money
    credit: Money
    tracking: list[Tracking]
    description: str
    rounding: bool
    costs: list[Cost]


class JournalDetail(BaseModel):
    key: str
    date: date
    movement_type: str
    narration: str
    balanced: bool
    debit_total: Money
    credit_total: Money
    lines: list[JournalLine]
    problems: list[Problem]


class Choice(BaseModel):
    value: Literal["adjust", "overwrite", "accept"]
    label: str


class DifferenceLine(BaseModel):
    account_code: str
    amount: Money
    tax_amount: Money
    tax_type: str
    tracking: list[Tracking]


class Adjustment(BaseModel):
    type: str = Field(description="ACCREC, ACCPAY, ACCRECCREDIT, ACCPAYCREDIT, MANJOURNAL or "
                                  "ALLOCATION")
    number: str | None = None
    narration: str | None = None
    invoice: str | None = None
    total: Money
    date: Date
    allocated_to_original: bool | None = None


class Correction(BaseModel):
    kind: OriginalKind
    erp_id: str
    number: str
    action: Literal["update", "adjust", "void", "delete", "credit", "allocate", "rewrite_journal",
                    "adjust_journal", "delete_journal", "decide", "accept"]
    action_label: str
    reason: str
    old_total: Money = Field(description="What Xero holds from Accounts Sync")
    new_total: Money = Field(description="What the ERP says now")
    net_change: Money
    date: MaybeDate = Field(description="The day the correction is dated in Xero")
    carried_from: MaybeDate = Field(description="Its own day, inside Xero's locked period")
    held: bool
    choices: list[Choice] = Field(description="What a person can decide (when action is `decide`)")
    adjustment: Adjustment | None
    difference: list[DifferenceLine] = Field(description="Per account, tracking and tax type")
    erp_url: str
    xero_url: str


class Corrections(BaseModel):
    closing_date: date
    count: int = Field(ge=0)
    net_change: Money
    to_send: int = Field(ge=0)
    to_decide: int = Field(ge=0)
    held: int = Field(ge=0)
    unknown: list[str] = Field(description="Synced before Accounts Sync kept what it sent")
    corrections: list[Correction]


class Decided(BaseModel):
    correction: Correction


# ----------------------------------------------------------------------------- valuation

Quantity = Annotated[str, Field(pattern=r"^-?\d+(\.\d+)?$", description="Litres or cases",
                                examples=["1400", "12.5"])]
UnitCost = Annotated[str | None, Field(pattern=r"^-?\d+\.\d{4}$",
                                       description="Cost per litre or per case, 4 places; null "
                                                   "when nothing is left")]


class ValuationPeriod(BaseModel):
    start: Date
    end: Date
    label: str = Field(description="`financial year to date`, or `period asked for`")


class BatchValue(BaseModel):
    erp_id: str | None
    code: str | None
    label: str
    vessel: str
    litres: Quantity
    cost: Money
    cost_per_litre: UnitCost
    url: str | None = Field(description="The batch's page in the ERP")


class VintageValue(BaseModel):
    vintage: str
    litres: Quantity
    cost: Money
    batches: list[BatchValue]


class BulkWine(BaseModel):
    litres: Quantity
    cost: Money
    vintages: list[VintageValue]


class ProductValue(BaseModel):
    erp_id: str | None
    code: str | None
    name: str
    cases: Quantity
    cost: Money
    cost_per_case: UnitCost
    url: str | None = Field(description="The product's page in the ERP")


class FinishedGoods(BaseModel):
    cases: Quantity
    cost: Money
    products: list[ProductValue]


class MaterialValue(BaseModel):
    stage: Literal["fruit", "additives", "dry_goods"]
    label: str
    purchased: Money = Field(description="Bills to the stage's account up to the closing date")
    moved: Money = Field(description="Cost entries: counted in at go-live, less what was used")
    value: Money


class CostOfSaleLine(BaseModel):
    stage: Literal["cogs", "losses"]
    code: str | None
    name: str
    cases: Quantity
    litres: Quantity
    amount: Money
    url: str | None


class CostOfGoodsSold(BaseModel):
    total: Money
    losses: Money
    lines: list[CostOfSaleLine]


class AccountFigure(BaseModel):
    account_code: str
    stage: str
    amount: Money
    tracking: list[Tracking]


class AccountTotal(BaseModel):
    account_code: str
    stage: str
    label: str
    amount: Money


class InventoryValuation(BaseModel):
    """Stock at cost at the closing date (inventory accounts) and cost of goods sold and wine
    losses over the period, each per Xero account through the mapping."""

    closing_date: Date
    currency: str
    period: ValuationPeriod
    inventory_total: Money
    bulk_wine: BulkWine
    finished_goods: FinishedGoods
    materials: list[MaterialValue]
    cost_of_goods_sold: CostOfGoodsSold
    accounts: list[AccountFigure] = Field(description="Per account and tracking option")
    account_totals: list[AccountTotal]
    problems: list[Problem]


ErrorDetail.model_rebuild()


# ----------------------------------------------------------------------------- schedules, alerts

ScheduledKind = Literal["sales_orders", "purchase_orders", "refunds", "journals", "corrections"]
CadenceName = Literal["off", "every", "daily", "weekly"]
ClosingRuleName = Literal["today", "yesterday", "end_of_last_month"]
TimeOfDay = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
                                 description="A time of day in the host's zone, 24-hour HH:MM",
                                 examples=["06:30"])]
Moment = datetime | None


class ScheduleKindPath(Strict):
    kind: ScheduledKind


class ScheduleBody(Strict):
    """What is not given keeps its saved value."""

    cadence: CadenceName = Field(description="`off`, `every` N minutes (from midnight), `daily` "
                                             "at a time, `weekly` on a day at a time")
    every_minutes: int | None = Field(None, ge=1, le=1440, strict=True, description="For `every`: minutes "
                                      "between syncs, counted from local midnight (at least the "
                                      "host's minimum, 5 by default)")
    at: TimeOfDay | None = Field(None, description="For `daily` and `weekly`")
    weekday: int | None = Field(None, ge=0, le=6, strict=True,
                                description="For `weekly`: 0 = Monday … 6 = Sunday")
    closing_rule: ClosingRuleName | None = Field(None, description="The closing date each "
                                                 "scheduled sync uses")
    journal_mode: Literal["draft", "posted"] | None = Field(None, description="Journals only")


class AlertSettingsBody(Strict):
    addresses: list[EmailStr] = Field(max_length=10, description="Where alerts are emailed")
    every_run: bool = Field(True, strict=True, description="Alert about every sync that fails or refuses "
                                              "something (false: scheduled syncs only)")
    digest_at: TimeOfDay | None = Field(None, description="The daily digest's time; null: none")


class AlertsQuery(Strict):
    before: Id | None = Field(None, description="Only alerts with a smaller id (the next page)")


class Schedule(BaseModel):
    kind: str
    cadence: CadenceName
    every_minutes: int
    at: str
    weekday: int
    closing_rule: ClosingRuleName
    journal_mode: Literal["DRAFT", "POSTED"]
    description: str = Field(examples=["Every 15 minutes", "Weekly on Monday at 06:00"])
    next_due_at: Moment = Field(description="The next firing (UTC); null when off")
    last_due_at: Moment
    last_fired_at: Moment
    last_outcome: str = Field(description="What the last firing did: the run it started or "
                                          "joined, or why it sent nothing")
    last_run_id: int | None
    updated_by: str
    updated_at: Moment


class AlertSettings(BaseModel):
    addresses: list[str]
    every_run: bool
    digest_at: str | None


class Schedules(BaseModel):
    time_zone: str = Field(examples=["Australia/Adelaide"])
    min_interval_minutes: int
    schedules: list[Schedule]
    alerts: AlertSettings
    digest: Schedule
    keep_alive: Schedule


class Alert(BaseModel):
    id: int
    kind: Literal["run_stopped", "run_failed", "schedule_failed", "reauthorisation", "budget_low",
                  "connection_lapsing", "digest"]
    label: str
    subject: str
    body: str
    link: str = Field(description="The console page it is about, relative to the console")
    created_at: Moment
    repeats: int = Field(description="Later occurrences of the same thing (not emailed again)")
    last_repeated_at: Moment
    resolved_at: Moment
    dismissed_at: Moment
    email_to: list[str]
    emailed_at: Moment
    email_error: str


class Alerts(BaseModel):
    alerts: list[Alert]


# ----------------------------------------------------------------------------- reconciliation

CauseName = Literal["not_synced", "failed", "correction", "awaiting_approval", "others"]


class CauseAmount(BaseModel):
    cause: CauseName
    label: str = Field(description="The cause in words, e.g. 'not yet synced'")
    amount: Money = Field(description="The part of ERP − Xero this cause explains")


class ReconciledFigures(BaseModel):
    erp: Money = Field(description="The ERP's figure: its documents and cost entries through "
                                   "the mapping, synced or not (debit positive)")
    sent: Money = Field(description="What Accounts Sync has sent")
    xero: Money = Field(description="Xero's balance: its trial balance for an account, its "
                                    "general ledger's journals for a part")
    difference: Money = Field(description="ERP − Xero")
    causes: list[CauseAmount]
    unexplained: Money


class ReconciledPart(ReconciledFigures):
    key: str = Field(description="The contact's ERP id, or the tracking as Category=Option;...")
    label: str


class ReconciledAccount(ReconciledFigures):
    code: str
    name: str
    type: str
    breakdown: Literal["contact", "tracking"] | None
    parts: list[ReconciledPart]


class Reconciliation(BaseModel):
    """Xero against the ERP at the closing date, account by account."""

    closing_date: Date
    period_start: Date = Field(description="Revenue and expenses count from this day (the "
                                           "financial year's first), as Xero's trial balance")
    reconciled: bool = Field(description="True when no account has an unexplained difference")
    ledger_complete: bool = Field(description="False while Xero's general ledger is still being "
                                              "read: the parts and what others posted are not "
                                              "complete yet; reconcile again to read on")
    unexplained_accounts: list[str]
    notes: list[str]
    accounts: list[ReconciledAccount]


class DocumentBehind(BaseModel):
    kind: str
    erp_id: str
    number: str
    date: Date
    amount: Money = Field(description="What it posts (or would post) to the account, debit "
                                      "positive")
    cause: CauseName
    erp_url: str | None
    xero_url: str | None
    note: str


class PostedByOthers(BaseModel):
    journal_number: int
    date: Date
    source_type: str
    reference: str
    amount: Money
    xero_url: str | None


class AccountExplanation(BaseModel):
    """The ERP documents and journals and the Xero entries behind one account's difference."""

    account: str
    name: str
    documents: list[DocumentBehind]
    posted_by_others: list[PostedByOthers]
    more: bool = Field(description="More documents than listed")
    notes: list[str]
