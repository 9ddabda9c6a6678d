"""A deterministic year of Barossa Ridge Wines for the demo host ERP (see WINERY.md).

`seed(engine_or_connection, seed=2026, scale=1.0, today=None)` fills the host tables with the
twelve months up to `today`: customers, suppliers, products, wine batches of five vintages,
sales orders, purchase orders and refunds, and the cellar operations with their cost entries,
in the seasons of a southern-hemisphere winery (crush February to April, additions while
fermenting, barrel ageing charged monthly, bottling runs for older vintages, dispatch with
sales). The same arguments always give the same rows: every random choice comes from
`random.Random` seeded from `seed`, ids are assigned here, and the clock is read only when
`today` (or `now`) is not given. No row is stamped later than `now`, the moment of seeding.

The books make sense (WINERY.md), day by day, as one story told by the documents and the costs:

- The ERP went live on the first working day of the year: an opening stock take brings in the
  wine in bulk (per batch, litres and cost), the cased wine (per product) and the additives and
  dry goods in store, against the opening balances account.
- Stock is bought before it is used. A grower's invoice bills each fruit parcel on the day it
  is crushed; dry goods are ordered ahead of the bottling runs that need them; additives are
  re-ordered when they run low. A bill debits the stage's inventory account and the cellar
  consumes at the average cost of what was bought, never more than is in store.
- Every movement out of a batch (bottling, transfer, blend, loss, bulk sale) carries the batch's
  actual cost at that moment (moving average: its cost / its litres); the last litres take
  all that is left, so an emptied batch leaves exactly zero. Cased wine is costed the same way
  per product (cost / cases) from bottling to dispatch.
- Every amount is in whole cents, so journals never need a rounding line and what the ERP
  holds is what Xero holds, to the cent.
- Barrels are fixed assets (their bills post to Barrels at cost); they reach the wine only
  through the barrel ageing charge. Domestic wine sales carry wine equalisation tax.

`documents` and `cost_entries` ask for exact counts (benchmarks use 100,000 trade documents and
1,000,000 cost entries; the winery's volumes grow with the sales asked for); rows are written
in chunks with the driver's executemany, or COPY on PostgreSQL with psycopg, so memory stays
flat. When the counts asked for are too small for the year (a few hundred entries), barrel
charges, then dispatches, are sampled; the books still never go negative.

A transfer or blend between batches is stored as signed entries of movement bulk_wine →
bulk_wine: the destination batch's entry carries +amount (+litres), each source batch's entry
-amount (-litres). Per day and account they sum to zero; by vintage or brand they move cost.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Connection, Engine, Table, insert, select
from werkzeug.security import generate_password_hash

from ..adapters.erp_sql import host_schema as hs
from ..domain.costs import CostCategory as Cat
from ..domain.costs import MovementType as Mv
from ..domain.costs import Stage as St
from . import seed_data as data
from . import winery_chart as chart

__all__ = ["ALLOWED_MOVEMENTS", "SeedSummary", "has_data", "seed", "seed_if_empty"]

CHUNK = 5000
BASE_COST_ENTRIES = 6000
# Trade documents at scale 1, by table and status.
BASE_DOCUMENTS = (
    ("so", "invoiced", 600), ("so", "confirmed", 18), ("so", "draft", 12), ("so", "cancelled", 3),
    ("po", "billed", 180), ("po", "received", 8), ("po", "ordered", 10),
    ("rf", "approved", 30), ("rf", "draft", 3),
)
BASE_INVOICED = 600  # the sales a vintage of the planned batches supplies
ARCHIVED_ACCOUNT = chart.OLD_BARREL_STOCK  # archived in the demo Xero: exactly one billed PO line uses it

CENT = Decimal("0.01")
Q4 = Decimal("0.0001")
GST = Decimal("0.10")
ZERO = Decimal("0")
BOTTLE_L = Decimal("0.75")
LINE_YIELD = Decimal("0.99")  # litres drawn by the bottling line that end up in bottles
TAXED = ("OUTPUT", "INPUT", "CAPEXINPUT")


def _v(*members: Any) -> tuple[str, ...]:
    # Plain strings: drivers must never see the enums (psycopg dumps an Enum by name).
    return tuple(str(m.value) for m in members)


# (movement, category, from stage, to stage): WINERY.md's movement table, one row per entry.
CRUSH = _v(Mv.CRUSH, Cat.FRUIT, St.FRUIT, St.BULK_WINE)
ADDITION = _v(Mv.ADDITION, Cat.ADDITIVE, St.ADDITIVES, St.BULK_WINE)
BARREL = _v(Mv.BARREL_AGEING, Cat.BARREL, St.OVERHEAD, St.BULK_WINE)
LABOUR = _v(Mv.LABOUR, Cat.LABOUR, St.OVERHEAD, St.BULK_WINE)
LABOUR_OVERHEAD = _v(Mv.LABOUR, Cat.OVERHEAD, St.OVERHEAD, St.BULK_WINE)
TRANSFER = _v(Mv.TRANSFER, Cat.BULK_WINE, St.BULK_WINE, St.BULK_WINE)
BLEND = _v(Mv.BLEND, Cat.BULK_WINE, St.BULK_WINE, St.BULK_WINE)
BOTTLING_WINE = _v(Mv.BOTTLING, Cat.BULK_WINE, St.BULK_WINE, St.FINISHED_GOODS)
BOTTLING_DRY = _v(Mv.BOTTLING, Cat.DRY_GOODS, St.DRY_GOODS, St.FINISHED_GOODS)
BOTTLING_LABOUR = _v(Mv.BOTTLING, Cat.LABOUR, St.OVERHEAD, St.FINISHED_GOODS)
LOSS = _v(Mv.LOSS, Cat.BULK_WINE, St.BULK_WINE, St.LOSSES)
DISPATCH = _v(Mv.DISPATCH, Cat.BULK_WINE, St.FINISHED_GOODS, St.COGS)
BULK_SALE = _v(Mv.BULK_SALE, Cat.BULK_WINE, St.BULK_WINE, St.COGS)
OPEN_BULK = _v(Mv.OPENING_BALANCE, Cat.BULK_WINE, St.OPENING_BALANCES, St.BULK_WINE)
OPEN_CASED = _v(Mv.OPENING_BALANCE, Cat.BULK_WINE, St.OPENING_BALANCES, St.FINISHED_GOODS)
OPEN_ADDITIVES = _v(Mv.OPENING_BALANCE, Cat.ADDITIVE, St.OPENING_BALANCES, St.ADDITIVES)
OPEN_DRY = _v(Mv.OPENING_BALANCE, Cat.DRY_GOODS, St.OPENING_BALANCES, St.DRY_GOODS)
ALLOWED_MOVEMENTS = frozenset({
    CRUSH, ADDITION, BARREL, LABOUR, LABOUR_OVERHEAD, TRANSFER, BLEND,
    BOTTLING_WINE, BOTTLING_DRY, BOTTLING_LABOUR, LOSS, DISPATCH, BULK_SALE,
    OPEN_BULK, OPEN_CASED, OPEN_ADDITIVES, OPEN_DRY,
})

_HOLIDAYS = {(1, 1), (1, 26), (4, 25), (12, 25), (12, 26)}
_SALES_MONTH = {1: .8, 2: .85, 3: .9, 4: .95, 5: 1.0, 6: 1.05, 7: 1.0, 8: 1.0, 9: 1.05, 10: 1.15,
                11: 1.35, 12: 1.5}
_PURCHASE_MONTH = {1: 1.1, 2: 1.4, 3: 1.6, 4: 1.5, 5: 1.2, 6: .9, 7: .9, 8: .9, 9: .9, 10: 1.0,
                   11: 1.0, 12: .9}
_CELLAR_MONTH = {1: .75, 2: 1.4, 3: 1.8, 4: 1.7, 5: 1.3, 6: 1.0, 7: .95, 8: .95, 9: .95, 10: 1.0,
                 11: 1.0, 12: .8}
# What suppliers are asked for beyond what the cellar needs (fruit comes with the crush).
_BUYING_MONTH = {
    "barrels": {1: .5, 2: .3, 10: .4, 11: .7, 12: .7},
    "additives": {1: 2.5, 2: 3.0, 3: 3.0, 4: 2.0},
    "lab": {2: 2.0, 3: 2.5, 4: 2.0},
}
_BUYING_DEFAULT = {"barrels": .05, "additives": .6, "lab": 1.0, "glass": .3, "cartons": .3,
                   "screwcaps": .3, "corks": .2, "labels": .3, "bottling": .8, "freight": 1.0}
# Filler operations (movement kind → weight) by season.
_FILLER_HARVEST = (("addition", .45), ("labour", .38), ("transfer", .10), ("blend", .03), ("loss", .04))
_FILLER_AFTER = (("addition", .25), ("labour", .37), ("transfer", .20), ("blend", .13), ("loss", .05))
_FILLER_REST = (("addition", .22), ("labour", .42), ("transfer", .20), ("blend", .11), ("loss", .05))
_CRUSH_WINDOWS = {
    "Chardonnay": ((2, 3), (2, 25)), "Semillon": ((2, 5), (2, 28)), "Riesling": ((2, 18), (3, 12)),
    "Shiraz": ((2, 26), (4, 5)), "Grenache": ((3, 10), (4, 12)),
    "Cabernet Sauvignon": ((3, 18), (4, 20)), "Mataro": ((3, 28), (4, 22)),
}
_BRAND_SALES_WEIGHT = {"Estate": 5.0, "Cellar Door": 3.5, "Reserve": 2.0, "Single Vineyard": 1.0}
_AGE_SALES_WEIGHT = {0: 1.2, 1: 1.2, 2: 1.0, 3: .6, 4: .3}
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")
DRY_LOOKAHEAD = timedelta(days=35)  # bottling runs whose dry goods are ordered ahead
ADDITIVE_COVER_DAYS = 25  # an additive is re-ordered when it would last fewer working days


@dataclass(frozen=True)
class SeedSummary:
    """Rows inserted per host table, and the twelve months the documents and costs cover."""

    counts: Mapping[str, int]
    start: date
    end: date

    def __getitem__(self, table: str) -> int:
        return self.counts[table]

    @property
    def documents(self) -> int:
        return sum(self.counts[t] for t in ("erp_sales_orders", "erp_purchase_orders", "erp_refunds"))

    @property
    def cost_entries(self) -> int:
        return self.counts["erp_cost_entries"]


def seed(
    connection_or_engine: Connection | Engine,
    *,
    seed: int = 2026,
    scale: float = 1.0,
    today: date | None = None,
    documents: int | None = None,
    cost_entries: int | None = None,
    now: datetime | None = None,
) -> SeedSummary:
    """Fill the (empty, already created) host tables with a year of the demo winery.

    Given an Engine, it commits; given a Connection, the caller's transaction holds the rows.
    `now` (naive UTC, default the clock) is the latest stamp any row may carry.
    """
    if now is None:
        now = datetime.now(UTC).replace(tzinfo=None)
    today = today or now.date()
    if scale < 0 or (documents or 0) < 0 or (cost_entries or 0) < 0:
        raise ValueError("scale, documents and cost_entries must not be negative")

    def run(conn: Connection) -> SeedSummary:
        if has_data(conn):
            raise ValueError("the host tables already hold data; seed() fills empty tables only "
                             "(seed_if_empty() skips a seeded database)")
        with _large_cache(conn):
            return _Seeder(conn, seed, scale, today, documents, cost_entries, now).run()

    return _in_transaction(connection_or_engine, run)


def seed_if_empty(connection_or_engine: Connection | Engine, **options: Any) -> SeedSummary | None:
    """Seed unless the host already has users or sales orders (so `make demo` can always call it)."""
    def run(conn: Connection) -> SeedSummary | None:
        if has_data(conn):
            return None
        return seed(conn, **options)

    return _in_transaction(connection_or_engine, run)


def has_data(conn: Connection) -> bool:
    return any(conn.execute(select(t.c.id).limit(1)).first() is not None
               for t in (hs.users, hs.sales_orders))


@contextmanager
def _large_cache(conn: Connection) -> Iterator[None]:
    """SQLite keeps 2 MB of pages by default: a million rows and their five indexes then spill
    to disk on every chunk. A larger cache (memory is taken only as pages are used) for the
    seed, then the connection's own again."""
    if conn.dialect.name != "sqlite":
        yield
        return
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql("PRAGMA cache_size = -262144")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {int(before)}")


def _in_transaction(target: Connection | Engine, work: Callable[[Connection], Any]) -> Any:
    if isinstance(target, Engine):
        with target.begin() as conn:
            return work(conn)
    return work(target)


# ---------------------------------------------------------------------------------------------
# small helpers


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _q4(value: Decimal) -> Decimal:
    return value.quantize(Q4, rounding=ROUND_HALF_UP)


def _is_working(day: date) -> bool:
    return day.weekday() < 5 and (day.month, day.day) not in _HOLIDAYS


def _working_on_or_after(day: date) -> date:
    while not _is_working(day):
        day += timedelta(days=1)
    return day


def _window(today: date) -> tuple[date, date]:
    try:
        year_ago = today.replace(year=today.year - 1)
    except ValueError:  # 29 February
        year_ago = date(today.year - 1, 2, 28)
    return year_ago + timedelta(days=1), today


def _allocate(total: int, weights: Sequence[float]) -> list[int]:
    """Split `total` into integers proportional to `weights` (largest remainder, exact)."""
    n = len(weights)
    if total <= 0 or n == 0:
        return [0] * n
    weight_sum = sum(weights)
    if weight_sum <= 0:
        weights, weight_sum = [1.0] * n, float(n)
    raw = [total * w / weight_sum for w in weights]
    counts = [int(r) for r in raw]
    for i in sorted(range(n), key=lambda i: (counts[i] - raw[i], i))[:total - sum(counts)]:
        counts[i] += 1
    return counts


def _thousands(value: int | Decimal) -> str:
    return f"{value:,}"


def _slug_initials(name: str) -> str:
    return "".join(w[0] for w in name.replace("&", " ").split() if w[0].isalpha()).upper()[:4]


def _months_between(earlier: date, later: date) -> float:
    return (later - earlier).days / 30.4


def _round_up(quantity: Decimal, pack: Decimal) -> Decimal:
    return (quantity / pack).to_integral_value(rounding=ROUND_CEILING) * pack


def _whole(value: Decimal) -> Decimal:
    return value.to_integral_value(rounding=ROUND_FLOOR)


def _cumulative(weights: Sequence[float]) -> list[float]:
    out, acc = [], 0.0
    for w in weights:
        acc += w
        out.append(acc)
    return out


def _pick(rng: random.Random, cum: list[float]) -> int:
    return min(bisect_right(cum, rng.random() * cum[-1]), len(cum) - 1)


def _distinct(rng: random.Random, items: Sequence[Any], k: int, cum: list[float] | None = None) -> list[Any]:
    """Up to k different items, weighted by `cum` when given."""
    if not items:
        return []
    k = min(k, len(items))
    chosen: list[Any] = []
    seen: set[int] = set()
    for _ in range(k * 4):
        i = _pick(rng, cum) if cum else rng.randrange(len(items))
        if i not in seen:
            seen.add(i)
            chosen.append(items[i])
            if len(chosen) == k:
                break
    return chosen


# ---------------------------------------------------------------------------------------------
# stock, costed at moving average


@dataclass
class _Pool:
    """A moving-average stock: a batch's litres, a product's cases, an additive's kilograms.

    What leaves takes its share of the cost at the average (cents, rounded); what empties the
    pool takes all the cost left, so an empty pool holds exactly zero.
    """

    quantity: Decimal = ZERO
    cost: Decimal = ZERO

    def add(self, quantity: Decimal, cost: Decimal) -> None:
        self.quantity += quantity
        self.cost += cost

    def take(self, quantity: Decimal) -> Decimal:
        if quantity >= self.quantity:
            cost, self.quantity, self.cost = self.cost, ZERO, ZERO
            return cost
        cost = _money(self.cost * quantity / self.quantity)
        self.quantity -= quantity
        self.cost -= cost
        return cost


@dataclass
class _Parcel:
    day: date
    tonnes: Decimal
    block: str
    litres: int
    billed: Decimal | None = None  # what the grower's invoice charged, once billed


@dataclass
class _Batch:
    id: int
    code: str
    vintage: int
    varietal: str
    brand: str
    colour: str
    tonnes: Decimal
    litres: int  # planned: all parcels pressed
    fruit_price: Decimal  # A$ per tonne
    cpl: Decimal  # planned cost per litre in bulk (values the opening stock)
    case_cost: Decimal  # planned cost of a 6-bottle case (values the opening cased stock)
    parcels: list[_Parcel]
    barrels: int = 0
    barrel_fill: date | None = None
    barrel_rate: Decimal = ZERO  # A$ per barrel-month
    runs: list[tuple[date, int]] = field(default_factory=list)  # bottling date, planned bottles
    vessel: str = ""
    product: _Product | None = None
    wine: _Pool = field(default_factory=_Pool)  # litres in bulk and their cost, as the ERP has them
    capacity: Decimal = ZERO  # the vessels' litres: transfers and blends never overfill them
    done_runs: int = 0

    @property
    def vintage_s(self) -> str:
        return str(self.vintage)

    @property
    def label(self) -> str:
        return f"{self.vintage} {self.brand} {self.varietal}"

    @property
    def crushed(self) -> date:
        return self.parcels[0].day

    @property
    def active(self) -> bool:
        return self.wine.quantity > 0

    def settled(self, day: date) -> bool:
        """Past ferment: can be transferred or blended."""
        return day > self.parcels[-1].day + timedelta(days=30)

    def fermenting(self, day: date) -> bool:
        return self.crushed <= day <= self.parcels[-1].day + timedelta(days=18)

    def in_barrel(self, day: date) -> bool:
        if self.barrel_fill is None or day <= self.barrel_fill:
            return False
        return not self.runs or day < self.runs[0][0] - timedelta(days=10)

    def blends_into(self, other: _Batch) -> bool:
        if other.brand == "Single Vineyard" and self.varietal != other.varietal:
            return False
        return (self.colour == other.colour and abs(self.vintage - other.vintage) <= 1
                and (other.brand == "Bulk" or self.brand != "Bulk"))

    def spare(self) -> Decimal:
        """Litres that may leave other than by bottling or bulk sale: a little of a batch that
        will be bottled, more of bulk wine."""
        share = Decimal("0.25") if self.brand == "Bulk" else Decimal("0.05")
        return _whole(self.wine.quantity * share)

    def room(self) -> Decimal:
        return max(ZERO, self.capacity - self.wine.quantity)


@dataclass
class _Product:
    id: int
    code: str
    name: str
    vintage: int
    varietal: str
    brand: str
    colour: str
    cases: _Pool = field(default_factory=_Pool)  # cased stock and its cost
    released: date | None = None  # first bottled (or in stock at go-live)

    @property
    def label(self) -> str:
        return f"{self.vintage} {self.brand} {self.varietal}"


@dataclass
class _Material:
    """An additive or a dry good: bought in packs, consumed at the average cost of the stock."""

    key: str
    name: str
    unit: str
    stage: str  # "additives" or "dry_goods"
    sells: str  # which suppliers bill it (their `sells`)
    low: Decimal  # A$ per unit, the range suppliers charge
    high: Decimal
    pack: Decimal  # units per pack
    pack_name: str
    stock: _Pool = field(default_factory=_Pool)
    on_order: Decimal = ZERO
    used_recently: Decimal = ZERO  # exponentially weighted daily use

    @property
    def account(self) -> str:
        return chart.ADDITIVES_INVENTORY if self.stage == "additives" else chart.DRY_GOODS_INVENTORY


@dataclass
class _Need:
    """A purchase the cellar needs billed by `deadline` (a working-day index)."""

    earliest: int
    deadline: int
    sells: str
    lines: list[tuple[_Material, Decimal]] = field(default_factory=list)  # (material, units)
    parcel: tuple[_Batch, _Parcel] | None = None


# The two tables a large seed is mostly made of take rows as tuples in column order, their
# values already in the driver's form (see _Writer.date/stamp/number): building a million
# dicts and converting them value by value took most of a million-entry seed.
ENTRY_COLUMNS = ("id", "operation_id", "entry_date", "movement_type", "cost_category", "amount",
                 "from_stage", "to_stage", "batch_id", "vintage", "brand", "description",
                 "product_id", "litres", "cases", "created_at", "updated_at")
OPERATION_COLUMNS = ("id", "number", "op_type", "op_date", "batch_id", "description")
TUPLE_TABLES = {hs.cost_entries.name: ENTRY_COLUMNS, hs.operations.name: OPERATION_COLUMNS}
for _name, _columns in TUPLE_TABLES.items():
    assert tuple(c.name for c in hs.host_metadata.tables[_name].columns) == _columns, _name


class _Writer:
    """Buffers rows per table; flushes all buffers, parents first, when one is full.

    PostgreSQL with psycopg gets COPY; SQLite the driver's executemany with values converted
    as SQLAlchemy converts them; anything else SQLAlchemy's insert()."""

    ORDER = (hs.users, hs.customers, hs.suppliers, hs.batches, hs.products, hs.sales_orders,
             hs.purchase_orders, hs.refunds, hs.operations, hs.sales_order_lines,
             hs.purchase_order_lines, hs.refund_lines, hs.cost_entries)

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.buffers: dict[str, list[Any]] = {t.name: [] for t in self.ORDER}
        self.counts: dict[str, int] = {t.name: 0 for t in self.ORDER}
        dialect = conn.dialect
        self.copy = dialect.name == "postgresql" and dialect.driver == "psycopg"
        self.sqlite = dialect.name == "sqlite" and dialect.paramstyle == "qmark"
        self._compiled: dict[str, tuple[str, list[tuple[str, Any]]]] = {}

    # values in the driver's form, for the tuple tables
    def date(self, day: date) -> Any:
        return day.isoformat() if self.sqlite else day

    def stamp(self, moment: datetime) -> Any:
        return moment.isoformat(" ", "microseconds") if self.sqlite else moment

    def number(self, value: Decimal | None) -> Any:
        return float(value) if self.sqlite and value is not None else value

    def buffer(self, table: Table) -> list[Any]:
        return self.buffers[table.name]

    def add(self, table: Table, row: dict[str, Any]) -> None:
        buf = self.buffers[table.name]
        buf.append(row)
        if len(buf) >= CHUNK:
            self.flush()

    def full(self) -> bool:
        return any(len(b) >= CHUNK for b in self.buffers.values())

    def flush(self) -> None:
        for table in self.ORDER:
            rows = self.buffers[table.name]
            if not rows:
                continue
            self._write(table, rows)
            self.counts[table.name] += len(rows)
            rows.clear()

    def _write(self, table: Table, rows: list[Any]) -> None:
        names = [c.name for c in table.columns]
        tuples = table.name in TUPLE_TABLES
        if self.copy:
            self._copy(table, names, rows if tuples else ([r.get(n) for n in names] for r in rows))
        elif self.sqlite:
            sql, pairs = self._statement(table, names)
            if not tuples:
                rows = [tuple(None if (v := r.get(n)) is None else (p(v) if p else v) for n, p in pairs)
                        for r in rows]
            self.conn.exec_driver_sql(sql, rows)
        else:
            self.conn.execute(insert(table), [dict(zip(names, r, strict=True)) for r in rows]
                              if tuples else rows)

    def _copy(self, table: Table, names: list[str], rows: Iterable[Sequence[Any]]) -> None:
        """COPY FROM STDIN on PostgreSQL with psycopg 3 (several times faster than executemany)."""
        preparer = self.conn.dialect.identifier_preparer
        raw = self.conn.connection.driver_connection
        statement = (f"COPY {preparer.format_table(table)} "
                     f"({', '.join(preparer.quote(n) for n in names)}) FROM STDIN")
        with raw.cursor() as cursor, cursor.copy(statement) as copy_:
            for row in rows:
                copy_.write_row(row)

    def _statement(self, table: Table, names: list[str]) -> tuple[str, list[tuple[str, Any]]]:
        found = self._compiled.get(table.name)
        if found is None:
            dialect = self.conn.dialect
            compiled = insert(table).compile(dialect=dialect, column_keys=names)
            assert compiled.positiontup == names
            processors = [c.type.dialect_impl(dialect).bind_processor(dialect) for c in table.columns]
            found = self._compiled[table.name] = (str(compiled), list(zip(names, processors, strict=True)))
        return found


# ---------------------------------------------------------------------------------------------


class _Seeder:
    def __init__(self, conn: Connection, seed: int, scale: float, today: date,
                 documents: int | None, cost_entries: int | None, now: datetime) -> None:
        self.conn = conn
        self.seed = seed
        self.today = today
        self.now = now
        self.start, self.end = _window(today)
        self.days = [self.start + timedelta(days=i) for i in range((today - self.start).days + 1)]
        self.working = [d for d in self.days if _is_working(d)]
        self.doc_counts = _document_counts(scale, documents)
        self.cost_target = (round(BASE_COST_ENTRIES * scale) if cost_entries is None
                            else cost_entries)
        # More sales than the demo's need more wine: every batch grows with them. Fewer sales
        # come from a smaller winery: fewer batches (see _plan_batches).
        self.ratio = self.doc_counts["so", "invoiced"] / BASE_INVOICED
        self.volume = max(Decimal(1), Decimal(self.doc_counts["so", "invoiced"]) / BASE_INVOICED)
        self.writer = _Writer(conn)

    def stamp(self, moment: datetime) -> datetime:
        return min(moment, self.now)

    def run(self) -> SeedSummary:
        plan_rng = random.Random(f"{self.seed}/plan")
        self._users()
        self._parties()
        self.batches = _plan_batches(plan_rng, self.today, self.volume, self.ratio)
        self.products = _plan_products(self.batches)
        self.materials = _materials()
        for b in self.batches:
            self.writer.add(hs.batches, {
                "id": b.id, "code": b.code, "vintage": b.vintage_s, "varietal": b.varietal,
                "brand": b.brand, "vessel": b.vessel,
            })
        for p in self.products:
            self.writer.add(hs.products, {
                "id": p.id, "code": p.code, "name": p.name, "vintage": str(p.vintage),
                "varietal": p.varietal, "brand": p.brand, "bottles_per_case": 6,
            })
        self.writer.flush()
        if self.working:
            _Year(self).run()
        self.writer.flush()
        return SeedSummary(dict(self.writer.counts), self.start, self.end)

    def _users(self) -> None:
        for i, (username, password, full_name, can_view) in enumerate(data.USERS, 1):
            # The only column that differs between runs: werkzeug salts every hash at random.
            self.writer.add(hs.users, {
                "id": i, "username": username, "full_name": full_name, "can_view_costs": can_view,
                "password_hash": generate_password_hash(password),
            })

    def _parties(self) -> None:
        self.customers: list[dict[str, Any]] = []
        for i, (name, channel, country, domain, weight) in enumerate(data.CUSTOMERS, 1):
            row = {"id": i, "code": f"CUST-{i:04d}", "name": name, "country": country,
                   "channel": channel, "email": f"accounts@{domain}" if domain else ""}
            self.customers.append({**row, "weight": weight})
            self.writer.add(hs.customers, row)
        self.suppliers: list[dict[str, Any]] = []
        for i, (name, category, domain, sells) in enumerate(data.SUPPLIERS, 1):
            row = {"id": i, "code": f"SUP-{i:04d}", "name": name, "category": category,
                   "email": f"accounts@{domain}"}
            self.suppliers.append({**row, "sells": sells, "prefix": _slug_initials(name)})
            self.writer.add(hs.suppliers, row)


def _document_counts(scale: float, documents: int | None) -> dict[tuple[str, str], int]:
    if documents is None:
        return {(kind, status): round(n * scale) for kind, status, n in BASE_DOCUMENTS}
    counts = _allocate(documents, [n for _, _, n in BASE_DOCUMENTS])
    return {(kind, status): c for (kind, status, _), c in zip(BASE_DOCUMENTS, counts, strict=True)}


# A winery smaller than the demo's (fewer sales asked for) still makes these.
_CORE_RANGE = {("Shiraz", "Estate"), ("Shiraz", "Cellar Door"), ("Shiraz", "Bulk"),
               ("Chardonnay", "Estate")}


def _plan_batches(rng: random.Random, today: date, volume: Decimal, ratio: float = 1.0) -> list[_Batch]:
    """Five vintages of batches; the current vintage's exist only once crushed. Below the demo's
    sales (ratio < 1) the winery makes fewer wines, so that what it buys and sells stays in
    proportion (a bill per fruit parcel, dry goods per bottling)."""
    batches: list[_Batch] = []
    for vintage in range(today.year - 4, today.year + 1):
        for varietal, brand, count, t_lo, t_hi, barrel, bottling in data.BATCH_PLAN:
            if ratio < 1:
                if (varietal, brand) not in _CORE_RANGE and rng.random() >= ratio:
                    continue
                count = 1
            for k in range(1, count + 1):
                batch = _plan_batch(rng, vintage, varietal, brand, k, t_lo, t_hi, barrel, bottling,
                                    volume)
                if batch.crushed <= today:
                    batch.id = len(batches) + 1
                    batches.append(batch)
    return batches


def _plan_batch(rng: random.Random, vintage: int, varietal: str, brand: str, k: int, t_lo: int,
                t_hi: int, barrel: bool, bottling: tuple[int, int] | None, volume: Decimal) -> _Batch:
    var_code, colour, base_price, litres_per_t = data.VARIETALS[varietal]
    tonnes = (Decimal(rng.randint(t_lo * 10, t_hi * 10)) / 10 * volume).quantize(Decimal("0.1"))
    jitter = Decimal(rng.randint(950, 1050)) / 1000
    fruit_price = (base_price * data.BRAND_FRUIT_FACTOR[brand] * jitter / 10).quantize(Decimal(1)) * 10
    cpl = _q4((fruit_price / litres_per_t + data.BRAND_PROCESS_COST[brand])
              * Decimal(rng.randint(960, 1040)) / 1000)
    dry = data.BRAND_DRY_GOODS.get(brand, ZERO)
    case_cost = _q4(6 * (BOTTLE_L / LINE_YIELD * cpl + dry + data.BOTTLING_LABOUR_PER_BOTTLE))

    (m1, d1), (m2, d2) = _CRUSH_WINDOWS[varietal]
    first, last = date(vintage, m1, d1), date(vintage, m2, d2)
    day = _working_on_or_after(first + timedelta(days=rng.randint(0, (last - first).days)))
    n_parcels = 1 if tonnes < 12 * volume else rng.randint(1, 3)
    parcels: list[_Parcel] = []
    left = tonnes
    for p in range(n_parcels):
        part = left if p == n_parcels - 1 else (tonnes / n_parcels * Decimal(rng.randint(80, 120)) / 100
                                               ).quantize(Decimal("0.1"))
        left -= part
        parcels.append(_Parcel(day, part, rng.choice(data.BLOCKS), int(part * litres_per_t)))
        day = _working_on_or_after(day + timedelta(days=1))
    litres = sum(p.litres for p in parcels)

    batch = _Batch(
        id=0, code=f"{vintage % 100:02d}-{var_code}-{data.BRAND_CODES[brand]}-{k:02d}",
        vintage=vintage, varietal=varietal, brand=brand, colour=colour, tonnes=tonnes,
        litres=litres, fruit_price=fruit_price, cpl=cpl, case_cost=case_cost, parcels=parcels,
        capacity=_whole(Decimal(litres) * Decimal("1.05")),
    )
    if barrel:
        share = Decimal("1") if brand in ("Reserve", "Single Vineyard") else Decimal("0.6")
        batch.barrels = max(1, int(litres * share / 225))
        batch.barrel_fill = _working_on_or_after(parcels[-1].day + timedelta(days=rng.randint(18, 35)))
        rate = rng.randint(2650, 3400) if brand in ("Reserve", "Single Vineyard") else rng.randint(1200, 1800)
        batch.barrel_rate = Decimal(rate) / 100
        batch.vessel = f"{batch.barrels} barrels, barrel hall {rng.choice('ABC')}"
    else:
        batch.vessel = f"Tank {'B' if brand == 'Bulk' else 'T'}{rng.randint(1, 40):02d}"
    if bottling:
        months = vintage * 12 + rng.randint(*bottling)
        day = _working_on_or_after(date(months // 12, months % 12 + 1, rng.randint(1, 24)))
        bottles = int(litres * Decimal("0.95") / BOTTLE_L) // 12 * 12
        n_runs = max(1, math.ceil(bottles / (12000 * volume)))
        each = bottles // n_runs // 12 * 12
        for r in range(n_runs):
            batch.runs.append((day, each if r < n_runs - 1 else bottles - each * (n_runs - 1)))
            day = _working_on_or_after(day + timedelta(days=1))
    return batch


def _plan_products(batches: list[_Batch]) -> list[_Product]:
    """One product per bottled label, varietal and vintage; its batches are bottled into it."""
    by_key: dict[tuple[int, str, str], _Product] = {}
    for batch in batches:
        if not batch.runs:
            continue
        key = (batch.vintage, batch.varietal, batch.brand)
        product = by_key.get(key)
        if product is None:
            var = data.VARIETALS[batch.varietal][0]
            code = f"{var}-{data.BRAND_CODES[batch.brand]}-{batch.vintage % 100:02d}-6"
            name = (f"{batch.vintage} {data.WINERY_NAME.rsplit(' ', 1)[0]} {batch.brand} "
                    f"{batch.varietal}, 6 x 750 mL")
            product = by_key[key] = _Product(len(by_key) + 1, code, name, batch.vintage,
                                             batch.varietal, batch.brand, batch.colour)
        batch.product = product
    return list(by_key.values())


def _materials() -> dict[str, _Material]:
    found: dict[str, _Material] = {}
    for name, unit, price, _, _, (pack_name, per_pack) in data.ADDITIVES:
        found[name] = _Material(name, name, unit, "additives", data.ADDITIVE_SELLERS,
                                _q4(price * Decimal("0.96")), _q4(price * Decimal("1.06")),
                                per_pack, pack_name)
    for key, (desc, unit, low, high, _, sells, pack) in data.DRY_GOODS.items():
        found[key] = _Material(key, desc, unit, "dry_goods", sells, low, high, Decimal(pack), desc)
    return found


# ---------------------------------------------------------------------------------------------
# the year, day by day


@dataclass
class _Order:
    """An invoiced sales order remembered for refunds (recent ones only)."""

    id: int
    customer_id: int
    invoice_date: date
    lines: list[dict[str, Any]]
    wet_rate: Decimal | None  # WET per A$ of wine line amount, when the sale carried WET


class _Year:
    """Documents, operations and cost entries, one working day after another, so that every
    stock movement sees the stock the days before left."""

    def __init__(self, seeder: _Seeder) -> None:
        self.s = seeder
        self.w = seeder.writer
        self.rng = random.Random(f"{seeder.seed}/year")
        self.days = seeder.working
        self.index = {day: i for i, day in enumerate(self.days)}
        self.ops = self.w.buffer(hs.operations)
        self.entries = self.w.buffer(hs.cost_entries)
        self.op_id = self.entry_id = 0
        self.numbers: dict[str, int] = {}
        self.so_id = self.so_line_id = self.po_id = self.po_line_id = 0
        self.rf_id = self.rf_line_id = 0
        self.recent: deque[_Order] = deque(maxlen=2000)
        self.supplier_invoice = {sup["id"]: self.rng.randint(1000, 90000) for sup in seeder.suppliers}
        self.sellers: dict[str, list[dict[str, Any]]] = {}
        for sup in seeder.suppliers:
            self.sellers.setdefault(sup["sells"], []).append(sup)
        self.target = seeder.cost_target
        self.used = 0
        self._products_on_sale: dict[bool, tuple[list[_Product], list[float]]] | None = None
        self.archived_done = False

    # planning ---------------------------------------------------------------------------------

    def run(self) -> None:
        s, rng, days = self.s, self.rng, self.days
        n = len(days)
        counts = s.doc_counts
        self.sales = _allocate(counts["so", "invoiced"],
                               [_SALES_MONTH[d.month] * rng.uniform(.5, 1.5) for d in days])
        self.bills = _allocate(counts["po", "billed"],
                               [_PURCHASE_MONTH[d.month] * rng.uniform(.5, 1.5) for d in days])
        # Refunds credit earlier sales, so they start the day after the first invoice.
        after = min(next((i for i, c in enumerate(self.sales) if c), n - 1) + 1, n - 1)
        self.refund_days = [0] * after + _allocate(counts["rf", "approved"],
                                                   [rng.uniform(.5, 1.5) for _ in days[after:]])
        self.cancelled = _allocate(counts["so", "cancelled"], [rng.random() for _ in days])
        tail = _tail_allocator(n)
        self.drafts, self.confirmed = tail(counts["so", "draft"], 15), tail(counts["so", "confirmed"], 15)
        self.received, self.ordered = tail(counts["po", "received"], 15), tail(counts["po", "ordered"], 20)
        self.refund_drafts = tail(counts["rf", "draft"], 8)
        self.customer_cum = _cumulative([c["weight"] for c in s.customers])
        self.n_billed = counts["po", "billed"]
        self.archived_at = int(self.n_billed * 0.92) if self.n_billed else -1
        self.billed = 0

        self._open(days[0])
        self._plan_needs()
        self._plan_entries()
        for i, day in enumerate(days):
            self._day(i, day)
            if self.w.full():
                self.w.flush()

    def _open(self, first: date) -> None:
        """The stock on hand when the ERP went live: bulk wine of earlier vintages, cased wine,
        additives and dry goods (the state the opening stock take records)."""
        start = self.s.start
        rng = random.Random(f"{self.s.seed}/opening")
        self.opening: list[tuple[tuple[str, ...], Any, Decimal, Decimal]] = []
        for batch in self.s.batches:
            before = [p for p in batch.parcels if p.day < start]
            if not before:
                continue
            litres = Decimal(sum(p.litres for p in before))
            if batch.runs:
                planned = sum(b for _, b in batch.runs)
                pending = sum(b for d, b in batch.runs if d >= start)
                batch.done_runs = sum(1 for d, _ in batch.runs if d < start)
                share = Decimal(pending) / planned if planned else ZERO
            else:  # bulk wine sells over the year or two after its vintage
                months = _months_between(batch.crushed, start)
                share = Decimal(str(max(0.0, min(1.0, 1 - (months - 3) / 14))))
            litres = _whole(litres * share)
            if litres > 0:
                self.opening.append((OPEN_BULK, batch, litres, _money(litres * batch.cpl)))
        for product in self.s.products:
            cases, cost = ZERO, ZERO
            for batch in self.s.batches:
                if batch.product is not product:
                    continue
                for day, bottles in batch.runs:
                    if day >= start:
                        continue
                    keep = max(0.0, 1 - _months_between(day, start) / 22)
                    made = _whole(Decimal(bottles) / 6 * Decimal(str(keep)))
                    cases += made
                    cost += _money(made * batch.case_cost)
            if cases > 0:
                product.released = first
                self.opening.append((OPEN_CASED, product, cases, cost))
        for material in self.s.materials.values():
            packs = rng.randint(3, 8) if material.stage == "additives" else rng.randint(1, 3)
            quantity = material.pack * packs
            price = _q4(material.low + (material.high - material.low) * Decimal(rng.randint(0, 100)) / 100)
            movement = OPEN_ADDITIVES if material.stage == "additives" else OPEN_DRY
            self.opening.append((movement, material, quantity, _money(quantity * price)))

    def _plan_needs(self) -> None:
        """Grower invoices, one per fruit parcel, dated the day it is crushed."""
        self.needs: list[_Need] = []
        self.crush_days: dict[date, list[tuple[_Batch, _Parcel]]] = {}
        for batch in self.s.batches:
            for parcel in batch.parcels:
                i = self.index.get(parcel.day)
                if i is not None:
                    self.needs.append(_Need(i, i, "fruit", parcel=(batch, parcel)))
                    self.crush_days.setdefault(parcel.day, []).append((batch, parcel))
        self.runs_on: dict[date, list[tuple[_Batch, int, int]]] = {}
        self.runs_ahead: list[tuple[date, _Batch, int]] = []
        for batch in self.s.batches:
            for r, (day, bottles) in enumerate(batch.runs):
                if r >= batch.done_runs and day in self.index:
                    self.runs_on.setdefault(day, []).append((batch, r, bottles))
                    self.runs_ahead.append((day, batch, bottles))
        self.runs_ahead.sort(key=lambda item: (item[0], item[1].id))

    def _plan_entries(self) -> None:
        """How many entries each day takes: the calendar's operations first, the cellar's
        everyday work (additions, labour, transfers, blends, losses) in what is left."""
        s, rng, days = self.s, self.rng, self.days
        n = len(days)
        # The last working day of each month (today only when it is one: no charge mid-month).
        month_ends = {a for a, b in zip(days, days[1:] + [None], strict=True)
                      if (b or _working_on_or_after(a + timedelta(days=1))).month != a.month}
        self.month_end = month_ends
        known = [0] * n
        barrel = [0] * n
        known[0] += len(self.opening)
        for day, pairs in self.crush_days.items():
            known[self.index[day]] += len(pairs)
        for day, runs in self.runs_on.items():
            known[self.index[day]] += 3 * len(runs)
        for batch in s.batches:
            if batch.barrel_fill in self.index:
                barrel[self.index[batch.barrel_fill]] += 1
        for day in month_ends:
            barrel[self.index[day]] += sum(1 for b in s.batches if b.in_barrel(day))
        # Wine lines per invoice, by the customers' weights (updated as sales are made).
        weights = [(c["weight"], data.CHANNEL_TERMS[c["channel"]]) for c in s.customers]
        self.lines_per_sale = (sum(w * (t[3] + t[4]) / 2 for w, t in weights)
                               / sum(w for w, _ in weights)) * 0.97
        self.lines_seen = [0, 0]  # wine lines, invoiced sales
        dispatch = [self.sales[i] * self.lines_per_sale for i in range(n)]
        mandatory = sum(known)
        thinnable = sum(barrel) + sum(dispatch)
        room = .8 * self.target - mandatory
        self.keep_barrel = self.keep_dispatch = 1.0
        if thinnable > room:  # few entries asked for: sample barrel charges, then dispatches
            self.keep_barrel = max(0.0, min(1.0, (room - sum(dispatch)) / max(1, sum(barrel))))
            if room < sum(dispatch):
                self.keep_barrel = 0.0
                self.keep_dispatch = max(0.0, room / max(1.0, sum(dispatch)))
        self.known = [k + b * self.keep_barrel for k, b in zip(known, barrel, strict=True)]
        self.known_after = _suffix([float(k) for k in self.known])
        self.filler_weight = [_CELLAR_MONTH[d.month] * rng.uniform(.7, 1.3) for d in days]
        self.weight_after = _suffix(self.filler_weight)
        self.sales_after = _suffix([float(x) for x in self.sales])

    # a day ------------------------------------------------------------------------------------

    def _day(self, i: int, day: date) -> None:
        self.day = day
        self.day_value = self.w.date(day)
        self.clock = datetime.combine(day, time(7))
        self.step = timedelta(seconds=36000 // max(1, int(self.known[i] + self.filler_weight[i] * 20)))
        if i == 0:
            self._op_opening()
        self._purchasing(i, day)
        for batch, parcel in self.crush_days.get(day, ()):
            self._op_crush(batch, parcel)
        for batch in self.s.batches:
            if batch.barrel_fill == day and batch.active and self._keep(self.keep_barrel):
                self._op_barrel(batch, first=True)
        if day in self.month_end:
            for batch in self.s.batches:
                if batch.in_barrel(day) and batch.active and self._keep(self.keep_barrel):
                    self._op_barrel(batch, first=False)
        for batch, run, bottles in self.runs_on.get(day, ()):
            self._op_bottling(batch, run, bottles)
        self._sales_day(i, day)
        self._start_cellar_day(day)
        self._fill(i)

    def _keep(self, probability: float) -> bool:
        return probability >= 1.0 or self.rng.random() < probability

    def _room(self, n: int) -> bool:
        return self.used + n <= self.target

    # documents: purchases ----------------------------------------------------------------------

    def _purchasing(self, i: int, day: date) -> None:
        self._look_ahead(i, day)
        slots = self.bills[i]
        due = sorted((n for n in self.needs if n.deadline <= i), key=lambda n: (n.deadline, n.earliest))
        ready = sorted((n for n in self.needs if n.deadline > i and n.earliest <= i),
                       key=lambda n: (n.deadline, n.earliest))
        for need in due:
            if slots == 0:
                slots += self._borrow(i)
            if slots == 0:
                self._drop(need)  # too few bills asked for: the stock goes without
                continue
            self._bill_need(need)
            slots -= 1
        if slots and not self.archived_done and 0 <= self.archived_at <= self.billed:
            self._other_bill(day)  # the deliberate one, coded to the archived account
            slots -= 1
        for need in ready:
            if slots == 0:
                break
            self._bill_need(need)
            slots -= 1
        if slots and i + 1 < len(self.days):
            # Bills the cellar will need later come first: keep slots for them when the year
            # has few (a small dataset), carried to the next day.
            spare = sum(self.bills[i + 1:]) - self._needs_ahead(i)
            held = min(slots, max(0, -spare))
            self.bills[i + 1] += held
            slots -= held
        for _ in range(slots):
            self._other_bill(day)
        for _ in range(self.ordered[i]):
            self._purchase_order(day, "ordered")
        for _ in range(self.received[i]):
            self._purchase_order(day, "received")

    def _needs_ahead(self, i: int) -> int:
        """Bills the cellar will need after day i: a grower's invoice per parcel still to come,
        dry goods for each week with bottling runs (one bill per kind of supplier), additives."""
        day = self.days[i]
        parcels = sum(1 for need in self.needs if need.parcel is not None and need.deadline > i)
        weeks = {d.isocalendar()[:2] for d, _, _ in self.runs_ahead if d > day}
        return parcels + 4 * math.ceil(len(weeks) / 3) + (len(self.days) - i) // 40

    def _borrow(self, i: int) -> int:
        """A bill the cellar needs today, taken from the next day that has one to spare."""
        for j in range(i + 1, len(self.bills)):
            if self.bills[j]:
                self.bills[j] -= 1
                return 1
        return 0

    def _drop(self, need: _Need) -> None:
        self.needs.remove(need)
        for material, units in need.lines:
            material.on_order -= units

    def _look_ahead(self, i: int, day: date) -> None:
        """Order dry goods for the bottling runs of the next weeks, and additives running low.
        A winery with few bills a year (a small dataset) orders for longer at a time."""
        stretch = max(1.0, min(6.0, 1 / max(self.s.ratio, 0.01)))
        soon, horizon = day + DRY_LOOKAHEAD, day + DRY_LOOKAHEAD * stretch
        required: dict[str, Decimal] = {}
        first_day: dict[str, date] = {}
        for run_day, batch, planned in self.runs_ahead:
            if run_day < day:
                continue
            if run_day > horizon:
                break
            bottles = Decimal(planned)
            pending = len(batch.runs) - batch.done_runs
            if batch.active and pending > 0:  # the runs share what is in the tank now
                bottles = max(bottles, _whole(batch.wine.quantity * LINE_YIELD / BOTTLE_L / pending))
            for key in data.bottling_recipe(batch.brand, batch.colour):
                material = self.s.materials[key]
                units = bottles if data.DRY_GOODS[key][4] == "bottle" else _whole(bottles / 6) + 1
                required[key] = required.get(key, ZERO) + units
                if material.stock.quantity + material.on_order < required[key] and run_day <= soon:
                    first_day.setdefault(key, run_day)
        by_seller: dict[str, _Need] = {}
        for key, when in first_day.items():
            material = self.s.materials[key]
            short = required[key] * Decimal("1.2") - material.stock.quantity - material.on_order
            units = _round_up(max(short, material.pack), material.pack)
            need = by_seller.get(material.sells)
            deadline = self.index.get(when, i)
            if need is None:
                need = by_seller[material.sells] = _Need(i, deadline, material.sells)
            need.deadline = min(need.deadline, deadline)
            need.lines.append((material, units))
            material.on_order += units
        additives = [m for m in self.s.materials.values() if m.stage == "additives" and m.used_recently > 0]
        low = [m for m in additives
               if m.stock.quantity + m.on_order < m.used_recently * ADDITIVE_COVER_DAYS]
        if low:  # one order tops up every additive that will run low soon
            need = _Need(i, min(i + 3, len(self.days) - 1), data.ADDITIVE_SELLERS)
            for material in additives:
                cover = material.used_recently * ADDITIVE_COVER_DAYS
                if material in low or material.stock.quantity + material.on_order < cover * 2:
                    wanted = cover * 2 * Decimal(str(stretch))
                    units = _round_up(max(wanted - material.stock.quantity - material.on_order,
                                          material.pack), material.pack)
                    need.lines.append((material, units))
                    material.on_order += units
            self.needs.append(need)
        self.needs.extend(by_seller.values())

    def _bill_need(self, need: _Need) -> None:
        self.needs.remove(need)
        day = self.day
        if need.parcel is not None:
            batch, parcel = need.parcel
            supplier = self._supplier("fruit")
            amount = _money(parcel.tonnes * batch.fruit_price)
            parcel.billed = amount
            line = self._line(
                None, f"{batch.vintage} {batch.varietal} grapes, {parcel.block}: {parcel.tonnes} t "
                      f"at A${_thousands(batch.fruit_price)}/t, for {batch.code}",
                parcel.tonnes, batch.fruit_price, chart.FRUIT_INVENTORY, "INPUT")
            line.update(vintage=batch.vintage_s, brand=batch.brand)
            self._bill(day, supplier, [line], received=day)
            return
        supplier = self._supplier(need.sells)
        lines = []
        for material, units in need.lines:
            material.on_order -= units
            lines.append(self._stock_line(material, units))
        self._bill(day, supplier, lines, freight=True)

    def _stock_line(self, material: _Material, units: Decimal) -> dict[str, Any]:
        """A bill line for stock: the pack price the supplier charged, into the stock's average."""
        rng = self.rng
        unit_price = _q4(material.low + (material.high - material.low) * Decimal(rng.randint(0, 100)) / 100)
        if material.stage == "additives":
            packs = units / material.pack
            pack_price = _q4(unit_price * material.pack)
            line = self._line(None, f"{material.pack_name} ({packs} x, {units} {material.unit})",
                              packs, pack_price, material.account, "INPUT")
        else:
            line = self._line(None, f"{material.name} ({_thousands(int(units))} {material.unit}s)",
                              units, unit_price, material.account, "INPUT")
        material.stock.add(units, _money(line["quantity"] * line["unit_price"]))
        return line

    def _other_bill(self, day: date) -> None:
        """What suppliers bill beyond the cellar's needs: barrels, services, freight, top-ups."""
        rng = self.rng
        sellable = [k for k in self.sellers if k != "fruit"]
        weights = [_BUYING_MONTH.get(k, {}).get(day.month, _BUYING_DEFAULT.get(k, .5)) for k in sellable]
        archived = not self.archived_done and 0 <= self.archived_at <= self.billed
        self.archived_done = self.archived_done or archived
        sells = "barrels" if archived else rng.choices(sellable, weights)[0]
        supplier = self._supplier(sells)
        lines: list[dict[str, Any]] = []
        if sells in data.PURCHASE_ITEMS:
            lines = self._catalogue_lines(sells)
        else:  # more stock than the cellar needs just now
            stock = [m for m in self.s.materials.values() if m.sells == sells]
            for material in _distinct(rng, stock, rng.randint(1, min(3, len(stock)))):
                lines.append(self._stock_line(material, material.pack * rng.randint(1, 4)))
        if archived:  # the one bill that still books barrels to the archived account
            lines.append(self._line(
                None, "Reconditioned barrels, shaved and re-toasted (old barrel stock)",
                Decimal(rng.randint(4, 12)), Decimal("185.0000"), ARCHIVED_ACCOUNT, "INPUT"))
        self._bill(day, supplier, lines, freight=sells not in ("lab", "freight", "bottling"))

    def _catalogue_lines(self, sells: str) -> list[dict[str, Any]]:
        rng = self.rng
        catalogue = data.PURCHASE_ITEMS[sells]
        lines = []
        for desc, unit, p_lo, p_hi, q_lo, q_hi, account, tax in _distinct(
                rng, catalogue, rng.randint(min(2, len(catalogue)), min(len(catalogue), 5))):
            quantity = Decimal(rng.randint(q_lo, q_hi))
            if unit == "bottle" and quantity > 100:
                quantity = quantity // 100 * 100
            price = _q4(p_lo + (p_hi - p_lo) * Decimal(rng.randint(0, 100)) / 100)
            lines.append(self._line(None, f"{desc} ({_thousands(int(quantity))} {unit}s)",
                                    quantity, price, account, tax))
        return lines

    def _supplier(self, sells: str) -> dict[str, Any]:
        return self.rng.choice(self.sellers[sells])

    def _bill(self, day: date, supplier: dict[str, Any], lines: list[dict[str, Any]],
              received: date | None = None, freight: bool = False) -> None:
        rng, s = self.rng, self.s
        if freight and rng.random() < .5:
            name, lo, hi = data.INBOUND_FREIGHT
            price = Decimal(rng.randint(int(lo * 100), int(hi * 100))) / 100
            lines.append(self._line(None, name, Decimal(1), price, chart.FREIGHT_AND_CARTAGE, "INPUT"))
        self.billed += 1
        received = received or max(s.start, day - timedelta(days=rng.randint(0, 10)))
        order_date = max(s.start, received - timedelta(days=rng.randint(3, 30)))
        self.supplier_invoice[supplier["id"]] += rng.randint(1, 40)
        number = f"{supplier['prefix']}-{self.supplier_invoice[supplier['id']]}"
        self._write_po(day, supplier, lines, "billed", order_date, received, day,
                       day + timedelta(days=30), number)

    def _purchase_order(self, day: date, status: str) -> None:
        """Ordered or received, not billed yet: nothing reaches the books."""
        rng, s = self.rng, self.s
        sells = rng.choice(sorted(self.sellers))
        supplier = self._supplier(sells)
        if sells == "fruit":
            vintage = day.year + (1 if day.month >= 5 else 0)
            varietal = rng.choice(tuple(data.VARIETALS))
            price = data.VARIETALS[varietal][2]
            tonnes = Decimal(rng.randint(100, 1000)) / 100
            lines = [self._line(None, f"{vintage} {varietal} grapes, contracted: {tonnes} t "
                                      f"at A${_thousands(price)}/t",
                                tonnes, price, chart.FRUIT_INVENTORY, "INPUT")]
        elif sells in data.PURCHASE_ITEMS:
            lines = self._catalogue_lines(sells)
        else:
            stock = [m for m in s.materials.values() if m.sells == sells]
            lines = []
            for m in _distinct(rng, stock, rng.randint(1, min(3, len(stock)))):
                price = _q4((m.low + m.high) / 2 * (m.pack if m.stage == "additives" else 1))
                quantity = Decimal(rng.randint(1, 4)) * (1 if m.stage == "additives" else m.pack)
                lines.append(self._line(None, m.pack_name if m.stage == "additives" else m.name,
                                        quantity, price, m.account, "INPUT"))
        received_date = day if status == "received" else None
        order_date = max(s.start, day - timedelta(days=rng.randint(3, 25)))
        self._write_po(day, supplier, lines, status, order_date, received_date, None, None, "")

    def _write_po(self, day: date, supplier: dict[str, Any], lines: list[dict[str, Any]],
                  status: str, order_date: date, received: date | None, bill_date: date | None,
                  due: date | None, invoice_number: str) -> None:
        self.po_id += 1
        self.w.add(hs.purchase_orders, {
            "id": self.po_id, "number": f"PO-{self.po_id:05d}", "supplier_id": supplier["id"],
            "order_date": order_date, "received_date": received, "bill_date": bill_date,
            "due_date": due, "supplier_invoice_number": invoice_number, "status": status,
            "currency": data.CURRENCY, "line_amount_types": "Exclusive", "total": _total(lines),
            "updated_at": self.s.stamp(datetime.combine(day, time(11))
                                       + timedelta(minutes=self.rng.randint(0, 300))),
        })
        for no, line in enumerate(lines, 1):
            self.po_line_id += 1
            line.update(id=self.po_line_id, purchase_order_id=self.po_id, line_no=no)
            self.w.add(hs.purchase_order_lines, line)

    @staticmethod
    def _line(item_code: str | None, description: str, quantity: Decimal, unit_price: Decimal,
              account: str, tax_type: str, product: _Product | _Batch | None = None) -> dict[str, Any]:
        amount = _money(quantity * unit_price)
        tax = _money(amount * GST) if tax_type in TAXED else _money(ZERO)
        return {
            "item_code": item_code, "description": description, "quantity": quantity,
            "unit_price": unit_price, "account_code": account, "tax_type": tax_type,
            "tax_amount": tax, "vintage": str(product.vintage) if product else None,
            "brand": product.brand if product else None,
        }

    # documents: sales and refunds -------------------------------------------------------------

    def _sales_day(self, i: int, day: date) -> None:
        self._products_on_sale = None
        todays: list[_Order] = []
        for _ in range(self.refund_days[i]):
            self._refund(day, "approved")
        for _ in range(self.refund_drafts[i]):
            self._refund(day, "draft")
        for _ in range(self.cancelled[i]):
            self._sales_order(i, day, "cancelled")
        for _ in range(self.sales[i]):
            order = self._sales_order(i, day, "invoiced")
            if order is not None:
                todays.append(order)
        for _ in range(self.confirmed[i]):
            self._sales_order(i, day, "confirmed")
        for _ in range(self.drafts[i]):
            self._sales_order(i, day, "draft")
        self.recent.extend(todays)

    def _on_sale(self, trade: bool) -> tuple[list[_Product], list[float]]:
        """Cased wine in stock, with how often each sells (newer vintages more). The Cellar Door
        label is sold only at the cellar door (and online, and to club members)."""
        if self._products_on_sale is None:
            self._products_on_sale = {}
        found = self._products_on_sale.get(trade)
        if found is None:
            items = [p for p in self.s.products if p.cases.quantity > 0 and p.released
                     and p.released <= self.day and not (trade and p.brand == "Cellar Door")]
            weights = [_BRAND_SALES_WEIGHT[p.brand] * _AGE_SALES_WEIGHT.get(self.day.year - p.vintage, .15)
                       for p in items]
            found = self._products_on_sale[trade] = (items, _cumulative(weights) if items else [])
        return found

    def _sales_order(self, i: int, day: date, status: str) -> _Order | None:
        rng, s = self.rng, self.s
        customer = s.customers[_pick(rng, self.customer_cum)]
        channel = customer["channel"]
        bulk = [b for b in self._bulk_on_sale(day)] if channel == "bulk" else []
        if channel == "bulk" and not bulk:
            customer = s.customers[0]
            channel = customer["channel"]
        export = channel == "export"
        invoiced = status == "invoiced"
        self.so_id += 1
        so_id = self.so_id
        number = f"SO-{so_id:06d}"
        lines: list[dict[str, Any]] = []
        moved: list[tuple[Any, Decimal]] = []
        account, tax_type = (chart.EXPORT_SALES, "EXEMPTEXPORT") if export else (chart.WINE_SALES, "OUTPUT")
        price_factor, c_lo, c_hi, l_lo, l_hi, freight_p = data.CHANNEL_TERMS[channel]
        quoted = channel in data.WET_QUOTED
        suffix = " (under quote: no WET)" if quoted else ""
        record = invoiced and self._keep(self.keep_dispatch)

        if channel == "bulk":
            for batch in _distinct(rng, bulk, rng.randint(l_lo, l_hi)):
                litres = _whole(Decimal(rng.randint(c_lo // 100, c_hi // 100) * 100)
                                * min(s.volume, Decimal(20)))
                if invoiced and litres * Decimal("1.5") >= batch.wine.quantity:
                    litres = batch.wine.quantity  # the last of it: the tank is emptied
                litres = min(litres, batch.wine.quantity)
                price = _q4(data.BULK_PRICE_PER_LITRE[batch.varietal] * Decimal(rng.randint(92, 110)) / 100)
                lines.append(self._line(
                    f"BULK-{data.VARIETALS[batch.varietal][0]}-{batch.vintage % 100:02d}",
                    f"Bulk wine, {batch.vintage} Barossa {batch.varietal} ({batch.code}), "
                    f"{_thousands(litres)} L ex-tank{suffix}", litres, price, account, tax_type, batch))
                moved.append((batch, litres))
        else:
            items, cum = self._on_sale(channel != "cellar_door")
            for product in _distinct(rng, items, rng.randint(l_lo, l_hi), cum):
                cases = Decimal(rng.randint(c_lo, c_hi))
                if record:
                    cases = min(cases, product.cases.quantity)
                if cases <= 0:
                    continue
                base = (data.BRAND_CASE_PRICE[product.brand] * data.VARIETAL_PRICE_FACTOR[product.varietal]
                        * price_factor)
                price = _q4(base * (1 - rng.choice(data.DISCOUNTS)))
                if channel in data.WET_INCLUDED:  # the retail price includes WET: split it out
                    price = _q4(price * (1 - data.WET_RATE * data.WET_HALF_RETAIL))
                lines.append(self._line(product.code, f"{product.name}{suffix}", cases, price,
                                        account, tax_type, product))
                moved.append((product, cases))
        wet_rate = None
        wine = sum((_money(ln["quantity"] * ln["unit_price"]) for ln in lines), ZERO)
        if lines and channel in data.WET_ON_TOP:
            wet_rate = data.WET_RATE
            lines.append(self._line("WET", f"Wine equalisation tax: 29% of the wholesale value "
                                           f"A${wine:,.2f}", Decimal(1), _money(wine * wet_rate),
                                    chart.WET_PAYABLE, "OUTPUT"))
        elif lines and channel in data.WET_INCLUDED:
            half = data.WET_RATE * data.WET_HALF_RETAIL
            wet_rate = half / (1 - half)
            retail = _money(wine / (1 - half))
            lines.append(self._line("WET", f"Wine equalisation tax included in the retail price: 29% "
                                           f"of the notional wholesale value A${_money(retail / 2):,.2f} "
                                           f"(half the retail price)", Decimal(1),
                                    _money(wine * wet_rate), chart.WET_PAYABLE, "OUTPUT"))
        if lines and rng.random() < freight_p:
            if export:
                desc = (f"Export freight and documents, Port Adelaide to "
                        f"{data.EXPORT_PORTS[customer['country']]}")
                price = Decimal(rng.randint(85000, 240000)) / 100
            else:
                desc = f"Freight, {rng.choice(data.FREIGHT_ROUTES)}"
                price = Decimal(rng.randint(4500, 65000)) / 100
            lines.append(self._line("FREIGHT", desc, Decimal(1), price, chart.FREIGHT_RECOVERED, tax_type))
        if not lines:  # nothing in stock for this customer: a tasting and event fee instead
            lines.append(self._line("EVENT", "Tasting and event hosting", Decimal(1),
                                    Decimal(rng.randint(150, 600)), chart.WINE_SALES,
                                    "EXEMPTEXPORT" if export else "OUTPUT"))
        invoice_date = due = None
        order_date = day
        if invoiced:
            invoice_date, due = day, day + timedelta(days=30)
            if channel != "cellar_door":
                order_date = max(s.start, day - timedelta(days=rng.randint(0, 8)))
        reference = self._reference(customer, day)
        stamp = datetime.combine(invoice_date or order_date, time(9)) + timedelta(minutes=rng.randint(0, 480))
        self.w.add(hs.sales_orders, {
            "id": so_id, "number": number, "customer_id": customer["id"], "order_date": order_date,
            "invoice_date": invoice_date, "due_date": due, "status": status, "currency": data.CURRENCY,
            "line_amount_types": "Exclusive", "reference": reference, "total": _total(lines),
            "updated_at": s.stamp(stamp),
        })
        for no, line in enumerate(lines, 1):  # after the header: a flush writes parents first
            self.so_line_id += 1
            line.update(id=self.so_line_id, sales_order_id=so_id, line_no=no)
            self.w.add(hs.sales_order_lines, line)
        if not invoiced:
            return None
        self.lines_seen[0] += len(moved)
        self.lines_seen[1] += 1
        if moved and record:
            if channel == "bulk":
                self._op_bulk_sale(number, customer["name"], moved)
            else:
                self._op_dispatch(number, customer["name"], moved)
        if channel == "bulk":
            return None
        return _Order(so_id, customer["id"], day, lines, wet_rate)

    def _bulk_on_sale(self, day: date) -> list[_Batch]:
        return [b for b in self.s.batches if b.brand == "Bulk" and b.active
                and b.parcels[-1].day + timedelta(days=45) <= day]

    def _reference(self, customer: dict[str, Any], day: date) -> str:
        rng = self.rng
        channel = customer["channel"]
        if channel == "cellar_door":
            if customer["name"].startswith("Online"):
                return f"Web order #{rng.randint(10000, 99999)}"
            if customer["name"].startswith("Wine Club"):
                return f"Wine club release {_MONTHS[day.month - 1]} {day.year}"
            return f"Cellar door till {day.isoformat()}"
        if channel == "export":
            return f"{customer['country']}-PO-{rng.randint(1000, 9999)}"
        if channel == "bulk":
            return f"Bulk contract BC-{day.year}-{rng.randint(10, 99)}"
        return f"PO {rng.randint(10000, 99999)}"

    def _refund(self, day: date, status: str) -> None:
        rng = self.rng
        order = self.recent[rng.randrange(len(self.recent))] if self.recent else None
        self.rf_id += 1
        lines: list[dict[str, Any]] = []
        reason = rng.choice(data.REFUND_REASONS)
        if order is not None:
            wine = [ln for ln in order.lines if ln["item_code"] not in ("FREIGHT", "WET", "EVENT")]
            for src in _distinct(rng, wine, rng.choice((1, 1, 2, 3))):
                quantity = Decimal(rng.randint(1, max(1, min(3, int(src["quantity"])))))
                line = {k: src[k] for k in ("item_code", "description", "unit_price", "account_code",
                                             "tax_type", "vintage", "brand")}
                amount = _money(quantity * src["unit_price"])
                line.update(quantity=quantity, tax_amount=_money(amount * GST)
                            if src["tax_type"] in TAXED else _money(ZERO))
                lines.append(line)
            if lines and order.wet_rate is not None:  # the WET charged on the wine comes back too
                credited = sum((_money(ln["quantity"] * ln["unit_price"]) for ln in lines), ZERO)
                lines.append(self._line("WET", f"Wine equalisation tax on the wine credited "
                                               f"(A${credited:,.2f})", Decimal(1),
                                        _money(credited * order.wet_rate), chart.WET_PAYABLE, "OUTPUT"))
            customer_id, order_id = order.customer_id, order.id
        if not lines:  # no earlier sale in the window: a goodwill credit at the cellar door
            customer_id, order_id = self.s.customers[0]["id"], None
            lines = [self._line(None, "Goodwill credit", Decimal(1), Decimal("50.00"),
                                chart.WINE_SALES, "OUTPUT")]
        self.w.add(hs.refunds, {
            "id": self.rf_id, "number": f"RF-{self.rf_id:05d}", "customer_id": customer_id,
            "sales_order_id": order_id, "refund_date": day, "status": status,
            "currency": data.CURRENCY, "line_amount_types": "Exclusive", "reason": reason,
            "total": _total(lines),
            "updated_at": self.s.stamp(datetime.combine(day, time(10))
                                       + timedelta(minutes=rng.randint(0, 400))),
        })
        for no, line in enumerate(lines, 1):
            self.rf_line_id += 1
            line.update(id=self.rf_line_id, refund_id=self.rf_id, line_no=no)
            self.w.add(hs.refund_lines, line)

    # operations and their cost entries --------------------------------------------------------

    def _op(self, prefix: str, op_type: str, batch: _Batch | None, description: Callable[[str], str],
            entries: int) -> tuple[int, str] | None:
        """A new operation with room for `entries` cost entries, or None when the entries asked
        for are used up."""
        if not self._room(entries):
            return None
        self.used += entries
        self.numbers[prefix] = number = self.numbers.get(prefix, 0) + 1
        code = f"{prefix}-{number:04d}"
        self.op_id += 1
        text = description(code)
        self.ops.append((self.op_id, code, op_type, self.day_value, batch.id if batch else None, text))
        return self.op_id, text

    def _entry(self, op_id: int, movement: tuple[str, ...], amount: Decimal, description: str,
               batch: _Batch | None = None, product: _Product | None = None,
               litres: Decimal | None = None, cases: Decimal | None = None) -> None:
        self.entry_id += 1
        self.clock += self.step
        stamp = self.w.stamp(self.s.stamp(self.clock))
        owner = batch or product
        number = self.w.number
        self.entries.append((
            self.entry_id, op_id, self.day_value, movement[0], movement[1], number(amount),
            movement[2], movement[3], batch.id if batch else None,
            str(owner.vintage) if owner else None, owner.brand if owner else None,
            description[:400], product.id if product else None, number(litres), number(cases),
            stamp, stamp,
        ))

    def _op_opening(self) -> None:
        groups = ((OPEN_BULK, "bulk wine in tank and barrel"), (OPEN_CASED, "cased wine"),
                  (OPEN_ADDITIVES, "additives in store"), (OPEN_DRY, "dry goods in store"))
        for movement, what in groups:
            items = [row for row in self.opening if row[0] is movement]
            room = self.target - self.used
            items = items[:max(0, room)]
            if not items:
                continue
            made = self._op("OPEN", "stock_take", None, lambda code, what=what: (
                f"Opening stock {code}: {what} counted at go-live, {self.day.isoformat()}"), len(items))
            assert made is not None
            op, desc = made
            for _, item, quantity, cost in items:
                if movement is OPEN_BULK:
                    item.wine.add(quantity, cost)
                    self._entry(op, movement, cost, f"{desc}: {item.label} ({item.code}), "
                                f"{_thousands(int(quantity))} L at ${_money(cost / quantity)}/L",
                                batch=item, litres=quantity)
                elif movement is OPEN_CASED:
                    item.cases.add(quantity, cost)
                    self._entry(op, movement, cost, f"{desc}: {item.code} {item.label}, "
                                f"{_thousands(int(quantity))} cases at ${_money(cost / quantity)}/case",
                                product=item, cases=quantity)
                else:
                    item.stock.add(quantity, cost)
                    self._entry(op, movement, cost, f"{desc}: {item.name}, {quantity} {item.unit}")

    def _op_crush(self, batch: _Batch, parcel: _Parcel) -> None:
        amount = parcel.billed if parcel.billed is not None else ZERO
        made = self._op("CR", "crush", batch, lambda code: (
            f"Crush {code}: {batch.label} ({batch.code}), {parcel.tonnes} t from {parcel.block} "
            f"at A${_thousands(batch.fruit_price)}/t"), 1)
        if made is None:
            return
        op, desc = made
        litres = Decimal(parcel.litres)
        batch.wine.add(litres, amount)
        self._entry(op, CRUSH, amount, f"{desc}, {_thousands(parcel.litres)} L of juice"
                    + ("" if parcel.billed is not None else " (no grower invoice)"),
                    batch=batch, litres=litres)

    def _op_barrel(self, batch: _Batch, first: bool) -> None:
        day = self.day
        if first:
            made = self._op("BAR", "barrel_fill", batch, lambda code: (
                f"Barrel fill {code}: {batch.label} ({batch.code}) into {batch.barrels} barrels"), 1)
            note = f"first month at ${batch.barrel_rate}/barrel"
        else:
            month = f"{_MONTHS[day.month - 1]} {day.year}"
            made = self._op("BAR", "barrel_ageing", batch, lambda code: (
                f"Barrel ageing {code}: {batch.label} ({batch.code}), {batch.barrels} barrels, {month}"), 1)
            note = f"at ${batch.barrel_rate}/barrel-month"
        if made is None:
            return
        op, desc = made
        amount = batch.barrels * batch.barrel_rate
        batch.wine.add(ZERO, amount)
        self._entry(op, BARREL, amount, f"{desc} {note}" if not first else f"{desc}, {note}", batch=batch)

    def _op_bottling(self, batch: _Batch, run: int, planned: int) -> None:
        if not batch.active or batch.product is None:
            return
        last = run == len(batch.runs) - 1
        draw = batch.wine.quantity if last else min(
            batch.wine.quantity, _whole(Decimal(planned) * BOTTLE_L / LINE_YIELD))
        bottles = int(draw * LINE_YIELD / BOTTLE_L) // 6 * 6
        if bottles == 0:  # a few litres left: tank bottoms, not a bottling run
            self._op_loss(batch, batch.wine.quantity, "tank bottoms written off after bottling")
            return
        product = batch.product
        made = self._op("BTL", "bottling", batch, lambda code: (
            f"Bottling {code}: {batch.label}, {_thousands(bottles)} bottles"), 3)
        if made is None:
            return
        op, desc = made
        cases = Decimal(bottles // 6)
        wine = batch.wine.take(draw)
        self._entry(op, BOTTLING_WINE, wine,
                    f"{desc}: wine from {batch.code}, {_thousands(int(draw))} L at actual cost "
                    f"${_money(wine / draw) if draw else ZERO}/L", batch=batch, product=product,
                    litres=draw, cases=cases)
        dry, short = ZERO, []
        for key in data.bottling_recipe(batch.brand, batch.colour):
            material = self.s.materials[key]
            need = Decimal(bottles) if data.DRY_GOODS[key][4] == "bottle" else cases
            taken = min(need, material.stock.quantity)
            dry += material.stock.take(taken) if taken else ZERO
            if taken < need:
                short.append(material.name)
        self._entry(op, BOTTLING_DRY, dry,
                    f"{desc}: glass, closures, labels and cartons at average cost"
                    + (f" (short: {', '.join(short)})" if short else ""), batch=batch, product=product)
        labour = Decimal(bottles) * data.BOTTLING_LABOUR_PER_BOTTLE
        self._entry(op, BOTTLING_LABOUR, labour,
                    f"{desc}: bottling line labour at ${data.BOTTLING_LABOUR_PER_BOTTLE}/bottle",
                    batch=batch, product=product)
        product.cases.add(cases, wine + dry + labour)
        product.released = product.released or self.day
        self._products_on_sale = None
        batch.done_runs = run + 1

    def _op_dispatch(self, number: str, customer: str, moved: list[tuple[Any, Decimal]]) -> None:
        cases = sum(q for _, q in moved)
        made = self._op("DSP", "dispatch", None, lambda code: (
            f"Dispatch {code}: {number} {customer}, {cases} cases"), len(moved))
        if made is None:
            return
        op, desc = made
        for product, quantity in moved:
            cost = product.cases.take(quantity)
            self._entry(op, DISPATCH, cost, f"{desc}: {quantity} cases {product.code} {product.label} "
                        f"at ${_money(cost / quantity)}/case", product=product, cases=quantity)
            if not product.cases.quantity:
                self._products_on_sale = None

    def _op_bulk_sale(self, number: str, customer: str, moved: list[tuple[Any, Decimal]]) -> None:
        litres = sum(q for _, q in moved)
        made = self._op("BLK", "bulk_sale", moved[0][0], lambda code: (
            f"Bulk sale {code}: {number} {customer}, {_thousands(int(litres))} L"), len(moved))
        if made is None:
            return
        op, desc = made
        for batch, quantity in moved:
            cost = batch.wine.take(quantity)
            self._entry(op, BULK_SALE, cost, f"{desc}: {_thousands(int(quantity))} L {batch.label} "
                        f"({batch.code}) at ${_money(cost / quantity)}/L", batch=batch, litres=quantity)

    def _op_loss(self, batch: _Batch, litres: Decimal, reason: str) -> int:
        made = self._op("LOS", "loss", batch, lambda code: (
            f"Loss {code}: {_thousands(int(litres))} L {batch.label} ({batch.code}), {reason}"), 1)
        if made is None:
            return 0
        op, desc = made
        cost = batch.wine.take(litres)
        self._entry(op, LOSS, cost, f"{desc} at ${_money(cost / litres)}/L", batch=batch, litres=litres)
        return 1

    # the cellar's everyday work -----------------------------------------------------------------

    def _start_cellar_day(self, day: date) -> None:
        self.bulk = [b for b in self.s.batches if b.active]
        self.fermenting = [b for b in self.bulk if b.fermenting(day)]
        self.settled = [b for b in self.bulk if b.settled(day)]
        self.by_colour: dict[str, list[_Batch]] = {}
        for b in self.settled:
            self.by_colour.setdefault(b.colour, []).append(b)
        kinds = (_FILLER_HARVEST if day.month in (2, 3, 4)
                 else _FILLER_AFTER if day.month in (5, 6, 7) else _FILLER_REST)
        self.kinds = [k for k, _ in kinds]
        self.kind_cum = _cumulative([w for _, w in kinds])
        for material in self.s.materials.values():
            material.used_recently *= Decimal("0.9")

    def _fill(self, i: int) -> None:
        """The everyday work, in the entries left for today (see _plan_entries)."""
        remaining = self.target - self.used
        last = i == len(self.days) - 1
        if last:
            quota = remaining
        else:
            seen_lines, seen_sales = self.lines_seen
            per_sale = (seen_lines / seen_sales) if seen_sales >= 20 else self.lines_per_sale
            future = self.known_after[i + 1] + self.sales_after[i + 1] * per_sale * self.keep_dispatch
            share = self.filler_weight[i] / self.weight_after[i]
            quota = max(0, min(remaining - int(future), round((remaining - future) * share)))
        rng = self.rng
        stuck = 0
        while quota > 0 and self.bulk:
            kind = self.kinds[_pick(rng, self.kind_cum)]
            if kind == "transfer" and quota >= 2:
                made = self._transfer()
            elif kind == "blend" and quota >= 2:
                made = self._blend(quota)
            elif kind == "loss":
                made = self._loss()
            elif kind == "labour":
                made = self._labour(quota)
            else:
                made = self._addition(quota)
            quota -= made
            stuck = 0 if made else stuck + 1
            if stuck > 20:
                made = self._labour(1)
                quota -= made
                if not made and stuck > 200:
                    break

    def _addition(self, room: int) -> int:
        rng = self.rng
        fermenting = bool(self.fermenting) and rng.random() < .75
        batch = rng.choice(self.fermenting if fermenting else self.bulk)
        if not batch.active:
            return 0
        usable = [a for a in data.ADDITIVES if _additive_fits(a[4], batch, fermenting)
                  and self.s.materials[a[0]].stock.quantity > 0]
        chosen = _distinct(rng, usable, min(room, rng.randint(1, 3)))
        if not chosen:
            return 0
        litres = max(500, int(batch.wine.quantity * rng.randint(20, 100) / 100) // 100 * 100)
        made = self._op("ADD", "addition", batch, lambda code: (
            f"Addition {code}: {batch.label} ({batch.code}), {_thousands(litres)} L"), len(chosen))
        if made is None:
            return 0
        op, desc = made
        for name, unit, _, dose, _, _ in chosen:
            material = self.s.materials[name]
            quantity = (dose * litres / 1000 * Decimal(rng.randint(80, 120)) / 100).quantize(CENT)
            quantity = max(CENT, min(quantity, material.stock.quantity))
            cost = material.stock.take(quantity)
            material.used_recently += quantity / 10
            batch.wine.add(ZERO, cost)
            self._entry(op, ADDITION, cost, f"{desc}: {name} {quantity} {unit} at average "
                        f"${_money(cost / quantity)}/{unit}", batch=batch)
        return len(chosen)

    def _labour(self, room: int) -> int:
        rng = self.rng
        fermenting = bool(self.fermenting) and rng.random() < .7
        pool = self.fermenting if fermenting else self.bulk
        if not pool:
            return 0
        batch = rng.choice(pool)
        if not batch.active:
            return 0
        task = rng.choice(data.LABOUR_TASKS_FERMENT if fermenting else data.LABOUR_TASKS_CELLAR)
        role, rate = rng.choice(data.LABOUR_RATES)
        hours = Decimal(rng.randint(2, 24)) / 2
        overhead = room >= 2 and rng.random() < .35
        made = self._op("LAB", "labour", batch, lambda code: (
            f"Labour {code}: {task}, {batch.label} ({batch.code})"), 2 if overhead else 1)
        if made is None:
            return 0
        op, desc = made
        cost = hours * rate
        batch.wine.add(ZERO, cost)
        self._entry(op, LABOUR, cost, f"{desc}: {role} {hours} h at ${rate}/h", batch=batch)
        if overhead:
            item, per_litre = rng.choice(data.OVERHEAD_ITEMS)
            litres = batch.wine.quantity
            cost = _money(litres * per_litre)
            batch.wine.add(ZERO, cost)
            self._entry(op, LABOUR_OVERHEAD, cost,
                        f"{desc}: {item}, {_thousands(int(litres))} L at ${per_litre}/L", batch=batch)
            return 2
        return 1

    def _partners(self, source: _Batch) -> list[_Batch]:
        return [b for b in self.by_colour.get(source.colour, ())
                if b is not source and b.active and source.blends_into(b) and b.room() >= 100]

    def _transfer(self) -> int:
        rng = self.rng
        if not self.settled:
            return 0
        source = rng.choice(self.settled)
        partners = self._partners(source)
        if not source.active or not partners:
            return 0
        same = [b for b in partners if b.varietal == source.varietal]
        dest = rng.choice(same if same and rng.random() < .8 else partners)
        litres = min(Decimal(rng.randint(4, 60) * 50), source.spare(), dest.room())
        if litres < 50:
            return 0
        made = self._op("TRF", "transfer", dest, lambda code: (
            f"Transfer {code}: {_thousands(int(litres))} L {source.code} → {dest.code}"), 2)
        if made is None:
            return 0
        op, desc = made
        cost = source.wine.take(litres)
        dest.wine.add(litres, cost)
        self._entry(op, TRANSFER, cost, f"{desc}: into {dest.label} ({dest.code})", batch=dest,
                    litres=litres)
        self._entry(op, TRANSFER, -cost, f"{desc}: out of {source.label} ({source.code}) at "
                    f"${_money(cost / litres)}/L", batch=source, litres=-litres)
        return 2

    def _blend(self, room: int) -> int:
        rng = self.rng
        if not self.settled:
            return 0
        dest = rng.choice(self.settled)
        if not dest.active:
            return 0
        others = [b for b in self.by_colour.get(dest.colour, ()) if b is not dest and b.active
                  and b.blends_into(dest)]
        sources = _distinct(rng, others, min(room - 1, rng.randint(1, 3)))
        space = dest.room()
        parts: list[tuple[_Batch, Decimal]] = []
        for batch in sources:
            litres = min(Decimal(rng.randint(2, 30) * 50), batch.spare(), space)
            if batch.brand == "Bulk" and batch.wine.quantity <= min(Decimal(1500), space):
                litres = batch.wine.quantity  # a small remainder is blended away: the tank empties
            if litres >= 50:
                parts.append((batch, litres))
                space -= litres
        if not parts:
            return 0
        total = sum(litres for _, litres in parts)
        made = self._op("BLD", "blend", dest, lambda code: (
            f"Blend {code}: {_thousands(int(total))} L into {dest.label} ({dest.code}) from "
            + ", ".join(f"{_thousands(int(litres))} L {b.code}" for b, litres in parts)), 1 + len(parts))
        if made is None:
            return 0
        op, desc = made
        costs = [batch.wine.take(litres) for batch, litres in parts]
        dest.wine.add(total, sum(costs, ZERO))
        self._entry(op, BLEND, sum(costs, ZERO), f"{desc}: into {dest.code}", batch=dest, litres=total)
        for (batch, litres), cost in zip(parts, costs, strict=True):
            self._entry(op, BLEND, -cost,
                        f"{desc}: {_thousands(int(litres))} L out of {batch.label} ({batch.code}) "
                        f"at ${_money(cost / litres)}/L", batch=batch, litres=-litres)
        return 1 + len(parts)

    def _loss(self) -> int:
        rng = self.rng
        batch = rng.choice(self.bulk)
        litres = min(Decimal(rng.randint(5, 180)), _whole(batch.wine.quantity / 100))
        if litres < 1:
            return 0
        return self._op_loss(batch, litres, rng.choice(data.LOSS_REASONS))


def _additive_fits(use: str, batch: _Batch, fermenting: bool) -> bool:
    if use == "ferment":
        return fermenting
    if use in ("red", "white"):
        return batch.colour == use
    if use == "bulk":
        return batch.brand in ("Bulk", "Cellar Door", "Estate")
    return True


def _total(lines: list[dict[str, Any]]) -> Decimal:
    subtotal = sum((_money(ln["quantity"] * ln["unit_price"]) for ln in lines), ZERO)
    tax = sum((ln["tax_amount"] for ln in lines), ZERO)
    return _money(subtotal + tax)


def _tail_allocator(n: int) -> Callable[[int, int], list[int]]:
    def tail(count: int, last: int) -> list[int]:
        last = max(1, min(last, n))
        return [0] * (n - last) + _allocate(count, [1.0] * last)
    return tail


def _suffix(values: Iterable[float]) -> list[float]:
    """suffix[i] = sum(values[i:]), with suffix[len] = 0."""
    values = list(values)
    out = [0.0] * (len(values) + 1)
    for i in range(len(values) - 1, -1, -1):
        out[i] = out[i + 1] + values[i]
    return out
