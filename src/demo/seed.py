"""A deterministic year of Barossa Ridge Wines for the demo host ERP (see WINERY.md).

`seed(engine_or_connection, seed=2026, scale=1.0, today=None)` fills the host tables with the
twelve months up to `today`: customers and suppliers, wine batches of five vintages, sales
orders, purchase orders and refunds, and the cellar operations with their cost entries, in
the seasons of a southern-hemisphere winery (crush February to April, additions while
fermenting, barrel ageing charged monthly, bottling runs for older vintages, dispatch with
sales). The same arguments always give the same rows: every random choice comes from
`random.Random` seeded from `seed`, ids are assigned here, and the clock is read only when
`today` is not given.

`documents` and `cost_entries` ask for exact counts (benchmarks use 100,000 trade documents and
1,000,000 cost entries); rows are generated lazily and inserted with Core `insert()`
executemany in chunks, or COPY on PostgreSQL with psycopg, so memory stays flat.

A transfer or blend between batches is stored as signed entries of movement bulk_wine →
bulk_wine: the destination batch's entry carries +amount, each source batch's entry
-amount. Per day and account they sum to zero; by vintage or brand they move cost.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Connection, Engine, Table, insert, select
from werkzeug.security import generate_password_hash

from ..adapters.erp_sql import host_schema as hs
from ..domain.costs import CostCategory as Cat
from ..domain.costs import MovementType as Mv
from ..domain.costs import Stage as St
from . import seed_data as data

__all__ = ["ALLOWED_MOVEMENTS", "SeedSummary", "has_data", "seed", "seed_if_empty"]

CHUNK = 5000
BASE_COST_ENTRIES = 6000
# Trade documents at scale 1, by table and status.
BASE_DOCUMENTS = (
    ("so", "invoiced", 600), ("so", "confirmed", 18), ("so", "draft", 12), ("so", "cancelled", 3),
    ("po", "billed", 180), ("po", "received", 8), ("po", "ordered", 10),
    ("rf", "approved", 30), ("rf", "draft", 3),
)
ARCHIVED_ACCOUNT = "1460"  # "Old barrel stock", archived in the demo Xero: exactly one billed PO line uses it

CENT = Decimal("0.01")
Q4 = Decimal("0.0001")
GST = Decimal("0.10")
ZERO = Decimal("0")


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
ALLOWED_MOVEMENTS = frozenset({
    CRUSH, ADDITION, BARREL, LABOUR, LABOUR_OVERHEAD, TRANSFER, BLEND,
    BOTTLING_WINE, BOTTLING_DRY, BOTTLING_LABOUR, LOSS, DISPATCH, BULK_SALE,
})

_HOLIDAYS = {(1, 1), (1, 26), (4, 25), (12, 25), (12, 26)}
_SALES_MONTH = {1: .8, 2: .85, 3: .9, 4: .95, 5: 1.0, 6: 1.05, 7: 1.0, 8: 1.0, 9: 1.05, 10: 1.15,
                11: 1.35, 12: 1.5}
_PURCHASE_MONTH = {1: 1.1, 2: 1.4, 3: 1.6, 4: 1.5, 5: 1.2, 6: .9, 7: .9, 8: .9, 9: .9, 10: 1.0,
                   11: 1.0, 12: .9}
_CELLAR_MONTH = {1: .75, 2: 1.4, 3: 1.8, 4: 1.7, 5: 1.3, 6: 1.0, 7: .95, 8: .95, 9: .95, 10: 1.0,
                 11: 1.0, 12: .8}
# What suppliers are asked for, by month (fruit is paid in instalments after vintage).
_BUYING_MONTH = {
    "fruit": {1: .05, 2: .3, 3: 1.5, 4: 1.8, 5: 1.2, 6: .5, 7: .5, 8: .15, 9: .15, 10: .5, 11: .1, 12: .1},
    "barrels": {1: .5, 2: .3, 10: .4, 11: .7, 12: .7},
    "additives": {1: 2.5, 2: 3.0, 3: 3.0, 4: 2.0},
    "lab": {2: 2.0, 3: 2.5, 4: 2.0},
}
_BUYING_DEFAULT = {"barrels": .05, "additives": .8, "lab": 1.0, "glass": .5, "cartons": .5, "screwcaps": .5,
                   "corks": .3, "labels": .6}
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
_THINNABLE = ("dispatch", "bulk", "barrel")  # dropped at random when few cost entries are asked for
_AGE_SALES_WEIGHT = {0: 1.2, 1: 1.2, 2: 1.0, 3: .6, 4: .3}
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")


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
) -> SeedSummary:
    """Fill the (empty, already created) host tables with a year of the demo winery.

    Given an Engine, it commits; given a Connection, the caller's transaction holds the rows.
    """
    today = today or date.today()
    if scale < 0 or (documents or 0) < 0 or (cost_entries or 0) < 0:
        raise ValueError("scale, documents and cost_entries must not be negative")

    def run(conn: Connection) -> SeedSummary:
        if has_data(conn):
            raise ValueError("the host tables already hold data; seed() fills empty tables only "
                             "(seed_if_empty() skips a seeded database)")
        return _Seeder(conn, seed, scale, today, documents, cost_entries).run()

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


@dataclass
class _Batch:
    id: int
    code: str
    vintage: int
    varietal: str
    brand: str
    colour: str
    tonnes: Decimal
    litres: int
    fruit_price: Decimal  # A$ per tonne
    cpl: Decimal  # cost per litre of the wine in bulk
    case_cost: Decimal  # cost of a 6-bottle case when bottled
    dry_per_bottle: Decimal
    parcels: list[tuple[date, Decimal, str]]  # crush date, tonnes, vineyard block
    barrels: int = 0
    barrel_fill: date | None = None
    barrel_rate: Decimal = ZERO  # A$ per barrel-month
    runs: list[tuple[date, int]] = field(default_factory=list)  # bottling date, bottles
    sold_out: date | None = None  # bulk wine: the last of it sold
    vessel: str = ""

    @property
    def vintage_s(self) -> str:
        return str(self.vintage)

    @property
    def label(self) -> str:
        return f"{self.vintage} {self.brand} {self.varietal}"

    @property
    def item_code(self) -> str:
        var = data.VARIETALS[self.varietal][0]
        return f"{var}-{data.BRAND_CODES[self.brand]}-{self.vintage % 100:02d}-6"

    @property
    def crushed(self) -> date:
        return self.parcels[0][0]

    def in_bulk(self, day: date) -> bool:
        if day < self.crushed or (self.sold_out and day > self.sold_out):
            return False
        return not self.runs or day <= self.runs[-1][0]

    def settled(self, day: date) -> bool:
        """Past ferment and still in bulk: can be transferred or blended."""
        return self.in_bulk(day) and day > self.parcels[-1][0] + timedelta(days=30)

    def blends_into(self, other: _Batch) -> bool:
        if other.brand == "Single Vineyard" and self.varietal != other.varietal:
            return False
        return (self.colour == other.colour and abs(self.vintage - other.vintage) <= 1
                and (other.brand == "Bulk" or self.brand != "Bulk"))

    def fermenting(self, day: date) -> bool:
        return self.crushed <= day <= self.parcels[-1][0] + timedelta(days=18)

    def in_barrel(self, day: date) -> bool:
        if self.barrel_fill is None or day <= self.barrel_fill:
            return False
        return not self.runs or day < self.runs[0][0] - timedelta(days=10)


class _Writer:
    """Buffers rows per table; flushes all buffers, parents first, when one is full."""

    ORDER = (hs.users, hs.customers, hs.suppliers, hs.batches, hs.sales_orders, hs.purchase_orders,
             hs.refunds, hs.operations, hs.sales_order_lines, hs.purchase_order_lines,
             hs.refund_lines, hs.cost_entries)

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.buffers: dict[str, list[dict[str, Any]]] = {t.name: [] for t in self.ORDER}
        self.counts: dict[str, int] = {t.name: 0 for t in self.ORDER}
        self._copy = _copy_cursor_factory(conn)

    def buffer(self, table: Table) -> list[dict[str, Any]]:
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
            if self._copy is not None:
                self._copy(table, rows)
            else:
                self.conn.execute(insert(table), rows)
            self.counts[table.name] += len(rows)
            rows.clear()


def _copy_cursor_factory(conn: Connection) -> Callable[[Table, list[dict[str, Any]]], None] | None:
    """COPY FROM STDIN on PostgreSQL with psycopg 3 (several times faster than executemany)."""
    dialect = conn.dialect
    if dialect.name != "postgresql" or dialect.driver != "psycopg":
        return None
    raw = conn.connection.driver_connection
    preparer = dialect.identifier_preparer

    def copy(table: Table, rows: list[dict[str, Any]]) -> None:
        names = [c.name for c in table.columns]
        statement = (f"COPY {preparer.format_table(table)} "
                     f"({', '.join(preparer.quote(n) for n in names)}) FROM STDIN")
        with raw.cursor() as cursor, cursor.copy(statement) as copy_:
            for row in rows:
                copy_.write_row([row.get(n) for n in names])

    return copy


# ---------------------------------------------------------------------------------------------


class _Seeder:
    def __init__(self, conn: Connection, seed: int, scale: float, today: date,
                 documents: int | None, cost_entries: int | None) -> None:
        self.conn = conn
        self.seed = seed
        self.today = today
        self.start, self.end = _window(today)
        self.days = [self.start + timedelta(days=i) for i in range((today - self.start).days + 1)]
        self.working = [d for d in self.days if _is_working(d)]
        self.doc_counts = _document_counts(scale, documents)
        self.cost_target = (round(BASE_COST_ENTRIES * scale) if cost_entries is None
                            else cost_entries)
        self.writer = _Writer(conn)

    def run(self) -> SeedSummary:
        plan_rng = random.Random(f"{self.seed}/plan")
        self._users()
        self._parties()
        self.batches = _plan_batches(plan_rng, self.today)
        for b in self.batches:
            self.writer.add(hs.batches, {
                "id": b.id, "code": b.code, "vintage": b.vintage_s, "varietal": b.varietal,
                "brand": b.brand, "vessel": b.vessel,
            })
        self.writer.flush()
        dispatches = _Trade(self, random.Random(f"{self.seed}/documents")).run()
        _Cellar(self, random.Random(f"{self.seed}/costs"), dispatches).run()
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


def _plan_batches(rng: random.Random, today: date) -> list[_Batch]:
    """Five vintages of batches; the current vintage's exist only once crushed."""
    batches: list[_Batch] = []
    for vintage in range(today.year - 4, today.year + 1):
        for varietal, brand, count, t_lo, t_hi, barrel, bottling in data.BATCH_PLAN:
            for k in range(1, count + 1):
                batch = _plan_batch(rng, vintage, varietal, brand, k, t_lo, t_hi, barrel, bottling)
                if batch.crushed <= today:
                    batch.id = len(batches) + 1
                    batches.append(batch)
    return batches


def _plan_batch(rng: random.Random, vintage: int, varietal: str, brand: str, k: int, t_lo: int,
                t_hi: int, barrel: bool, bottling: tuple[int, int] | None) -> _Batch:
    var_code, colour, base_price, litres_per_t = data.VARIETALS[varietal]
    tonnes = Decimal(rng.randint(t_lo * 10, t_hi * 10)) / 10
    litres = int(tonnes * litres_per_t)
    jitter = Decimal(rng.randint(950, 1050)) / 1000
    fruit_price = (base_price * data.BRAND_FRUIT_FACTOR[brand] * jitter / 10).quantize(Decimal(1)) * 10
    cpl = _q4((fruit_price / litres_per_t + data.BRAND_PROCESS_COST[brand])
              * Decimal(rng.randint(960, 1040)) / 1000)
    dry = data.BRAND_DRY_GOODS.get(brand, ZERO)
    case_cost = _q4(6 * (Decimal("0.75") * cpl + dry + data.BOTTLING_LABOUR_PER_BOTTLE))

    (m1, d1), (m2, d2) = _CRUSH_WINDOWS[varietal]
    first, last = date(vintage, m1, d1), date(vintage, m2, d2)
    day = _working_on_or_after(first + timedelta(days=rng.randint(0, (last - first).days)))
    n_parcels = 1 if tonnes < 12 else rng.randint(1, 3)
    parcels: list[tuple[date, Decimal, str]] = []
    left = tonnes
    for p in range(n_parcels):
        part = left if p == n_parcels - 1 else (tonnes / n_parcels * Decimal(rng.randint(80, 120)) / 100
                                               ).quantize(Decimal("0.1"))
        left -= part
        parcels.append((day, part, rng.choice(data.BLOCKS)))
        day = _working_on_or_after(day + timedelta(days=1))

    batch = _Batch(
        id=0, code=f"{vintage % 100:02d}-{var_code}-{data.BRAND_CODES[brand]}-{k:02d}",
        vintage=vintage, varietal=varietal, brand=brand, colour=colour, tonnes=tonnes,
        litres=litres, fruit_price=fruit_price, cpl=cpl, case_cost=case_cost, dry_per_bottle=dry,
        parcels=parcels,
    )
    if barrel:
        share = Decimal("1") if brand in ("Reserve", "Single Vineyard") else Decimal("0.6")
        batch.barrels = max(1, int(litres * share / 225))
        batch.barrel_fill = _working_on_or_after(parcels[-1][0] + timedelta(days=rng.randint(18, 35)))
        rate = rng.randint(2650, 3400) if brand in ("Reserve", "Single Vineyard") else rng.randint(1200, 1800)
        batch.barrel_rate = Decimal(rate) / 100
        batch.vessel = f"{batch.barrels} barrels, barrel hall {rng.choice('ABC')}"
    else:
        batch.vessel = f"Tank {'B' if brand == 'Bulk' else 'T'}{rng.randint(1, 40):02d}"
    if brand == "Bulk":
        months = vintage * 12 + rng.randint(14, 20)
        batch.sold_out = date(months // 12, months % 12 + 1, rng.randint(1, 28))
    if bottling:
        months = vintage * 12 + rng.randint(*bottling)
        day = _working_on_or_after(date(months // 12, months % 12 + 1, rng.randint(1, 24)))
        bottles = int(litres * Decimal("0.95") / Decimal("0.75")) // 12 * 12
        n_runs = max(1, math.ceil(bottles / 12000))
        each = bottles // n_runs // 12 * 12
        for r in range(n_runs):
            batch.runs.append((day, each if r < n_runs - 1 else bottles - each * (n_runs - 1)))
            day = _working_on_or_after(day + timedelta(days=1))
    return batch


# ---------------------------------------------------------------------------------------------
# trade documents


@dataclass
class _Order:
    """An invoiced sales order remembered for refunds (recent ones only)."""

    id: int
    customer_id: int
    invoice_date: date
    lines: list[dict[str, Any]]


class _Trade:
    def __init__(self, seeder: _Seeder, rng: random.Random) -> None:
        self.s = seeder
        self.rng = rng
        self.w = seeder.writer
        self.so_id = self.so_line_id = self.po_id = self.po_line_id = 0
        self.rf_id = self.rf_line_id = 0
        self.recent: deque[_Order] = deque(maxlen=2000)
        # invoice date → [("dispatch" | "bulk", SO number, customer name, [(batch, cases or litres)])]
        self.dispatches: dict[date, list[tuple[str, str, str, list[tuple[_Batch, Decimal]]]]] = {}

    def run(self) -> dict[date, list[tuple[str, str, str, list[tuple[_Batch, Decimal]]]]]:
        s, rng, days = self.s, self.rng, self.s.working
        n = len(days)
        counts = s.doc_counts
        sales = _allocate(counts["so", "invoiced"],
                          [_SALES_MONTH[d.month] * rng.uniform(.5, 1.5) for d in days])
        bills = _allocate(counts["po", "billed"],
                          [_PURCHASE_MONTH[d.month] * rng.uniform(.5, 1.5) for d in days])
        # Refunds credit earlier sales, so they start the day after the first invoice.
        after = min(next((i for i, c in enumerate(sales) if c), n - 1) + 1, n - 1)
        refund_days = [0] * after + _allocate(counts["rf", "approved"],
                                              [rng.uniform(.5, 1.5) for _ in days[after:]])
        cancelled = _allocate(counts["so", "cancelled"], [rng.random() for _ in days])
        tail = _tail_allocator(n)
        drafts, confirmed = tail(counts["so", "draft"], 15), tail(counts["so", "confirmed"], 15)
        received, ordered = tail(counts["po", "received"], 15), tail(counts["po", "ordered"], 20)
        refund_drafts = tail(counts["rf", "draft"], 8)

        self.items_by_day = {False: _items_by_day(s.batches, days, trade=False),
                             True: _items_by_day(s.batches, days, trade=True)}
        self.bulk_by_day = _bulk_by_day(s.batches, days)
        self.customer_cum = _cumulative([c["weight"] for c in s.customers])
        self.n_billed = counts["po", "billed"]
        self.archived_at = int(self.n_billed * 0.92) if self.n_billed else -1
        self.billed = 0
        self.supplier_invoice = {sup["id"]: rng.randint(1000, 90000) for sup in s.suppliers}

        for i, day in enumerate(days):
            todays: list[_Order] = []
            for _ in range(refund_days[i]):
                self._refund(day, "approved")
            for _ in range(refund_drafts[i]):
                self._refund(day, "draft")
            for _ in range(cancelled[i]):
                self._sales_order(i, day, "cancelled")
            for _ in range(sales[i]):
                order = self._sales_order(i, day, "invoiced")
                if order is not None:
                    todays.append(order)
            for _ in range(confirmed[i]):
                self._sales_order(i, day, "confirmed")
            for _ in range(drafts[i]):
                self._sales_order(i, day, "draft")
            for _ in range(ordered[i]):
                self._purchase_order(day, "ordered")
            for _ in range(received[i]):
                self._purchase_order(day, "received")
            for _ in range(bills[i]):
                self._purchase_order(day, "billed")
            self.recent.extend(todays)
        return self.dispatches

    # sales ------------------------------------------------------------------------------------

    def _sales_order(self, i: int, day: date, status: str) -> _Order | None:
        rng, s = self.rng, self.s
        customer = s.customers[_pick(rng, self.customer_cum)]
        channel = customer["channel"]
        bulk_batches = self.bulk_by_day[i]
        if channel == "bulk" and not bulk_batches:
            customer = s.customers[0]
            channel = customer["channel"]
        export = channel == "export"
        self.so_id += 1
        so_id = self.so_id
        number = f"SO-{so_id:06d}"
        lines: list[dict[str, Any]] = []
        moved: list[tuple[_Batch, Decimal]] = []
        account, tax_type = ("4010", "EXEMPTEXPORT") if export else ("4000", "OUTPUT")
        price_factor, c_lo, c_hi, l_lo, l_hi, freight_p = data.CHANNEL_TERMS[channel]

        if channel == "bulk":
            for batch in _distinct(rng, bulk_batches, rng.randint(l_lo, l_hi)):
                litres = Decimal(rng.randint(c_lo // 100, c_hi // 100) * 100)
                price = _q4(data.BULK_PRICE_PER_LITRE[batch.varietal] * Decimal(rng.randint(92, 110)) / 100)
                lines.append(self._line(
                    f"BULK-{data.VARIETALS[batch.varietal][0]}-{batch.vintage % 100:02d}",
                    f"Bulk wine, {batch.vintage} Barossa {batch.varietal} ({batch.code}), "
                    f"{_thousands(int(litres))} L ex-tank", litres, price, account, tax_type, batch))
                moved.append((batch, litres))
        else:
            items, cum = self.items_by_day[channel != "cellar_door"][i]
            for batch in _distinct(rng, items, rng.randint(l_lo, l_hi), cum):
                cases = Decimal(rng.randint(c_lo, c_hi))
                base = (data.BRAND_CASE_PRICE[batch.brand] * data.VARIETAL_PRICE_FACTOR[batch.varietal]
                        * price_factor)
                price = _q4(base * (1 - rng.choice(data.DISCOUNTS)))
                lines.append(self._line(
                    batch.item_code,
                    f"{batch.vintage} {data.WINERY_NAME.rsplit(' ', 1)[0]} {batch.brand} {batch.varietal}, "
                    f"6 x 750 mL", cases, price, account, tax_type, batch))
                moved.append((batch, cases))
            if lines and rng.random() < freight_p:
                if export:
                    desc = (f"Export freight and documents, Port Adelaide to "
                            f"{data.EXPORT_PORTS[customer['country']]}")
                    price = Decimal(rng.randint(85000, 240000)) / 100
                else:
                    desc = f"Freight, {rng.choice(data.FREIGHT_ROUTES)}"
                    price = Decimal(rng.randint(4500, 65000)) / 100
                lines.append(self._line("FREIGHT", desc, Decimal(1), price, "4100", tax_type, None))
        invoice_date = due = None
        order_date = day
        if status == "invoiced":
            invoice_date, due = day, day + timedelta(days=30)
            if channel != "cellar_door":
                order_date = max(s.start, day - timedelta(days=rng.randint(0, 8)))
        reference = self._reference(customer, day)
        stamp = datetime.combine(invoice_date or order_date, time(9)) + timedelta(minutes=rng.randint(0, 480))
        self.w.add(hs.sales_orders, {
            "id": so_id, "number": number, "customer_id": customer["id"], "order_date": order_date,
            "invoice_date": invoice_date, "due_date": due, "status": status, "currency": data.CURRENCY,
            "line_amount_types": "Exclusive", "reference": reference, "total": _total(lines),
            "updated_at": stamp,
        })
        for no, line in enumerate(lines, 1):  # after the header: a flush writes parents first
            self.so_line_id += 1
            line.update(id=self.so_line_id, sales_order_id=so_id, line_no=no)
            self.w.add(hs.sales_order_lines, line)
        if status != "invoiced":
            return None
        if moved:
            kind = "bulk" if channel == "bulk" else "dispatch"
            self.dispatches.setdefault(day, []).append((kind, number, customer["name"], moved))
        if channel == "bulk":
            return None
        return _Order(so_id, customer["id"], day, lines)

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

    @staticmethod
    def _line(item_code: str | None, description: str, quantity: Decimal, unit_price: Decimal,
              account: str, tax_type: str, batch: _Batch | None) -> dict[str, Any]:
        amount = _money(quantity * unit_price)
        tax = _money(amount * GST) if tax_type in ("OUTPUT", "INPUT") else _money(ZERO)
        return {
            "item_code": item_code, "description": description, "quantity": quantity,
            "unit_price": unit_price, "account_code": account, "tax_type": tax_type,
            "tax_amount": tax, "vintage": batch.vintage_s if batch else None,
            "brand": batch.brand if batch else None,
        }

    # refunds ----------------------------------------------------------------------------------

    def _refund(self, day: date, status: str) -> None:
        rng = self.rng
        order = self.recent[rng.randrange(len(self.recent))] if self.recent else None
        self.rf_id += 1
        lines: list[dict[str, Any]] = []
        reason = rng.choice(data.REFUND_REASONS)
        if order is not None:
            wine = [ln for ln in order.lines if ln["item_code"] != "FREIGHT"]
            for src in _distinct(rng, wine, rng.choice((1, 1, 2, 3))):
                quantity = Decimal(rng.randint(1, max(1, min(3, int(src["quantity"])))))
                line = {k: src[k] for k in ("item_code", "description", "unit_price", "account_code",
                                             "tax_type", "vintage", "brand")}
                amount = _money(quantity * src["unit_price"])
                line.update(quantity=quantity, tax_amount=_money(amount * GST)
                            if src["tax_type"] == "OUTPUT" else _money(ZERO))
                lines.append(line)
            customer_id, order_id = order.customer_id, order.id
        else:  # no earlier sale in the window: a goodwill credit at the cellar door
            customer_id, order_id = self.s.customers[0]["id"], None
            lines.append(self._line(None, "Goodwill credit", Decimal(1), Decimal("50.00"), "4000",
                                    "OUTPUT", None))
        self.w.add(hs.refunds, {
            "id": self.rf_id, "number": f"RF-{self.rf_id:05d}", "customer_id": customer_id,
            "sales_order_id": order_id, "refund_date": day, "status": status,
            "currency": data.CURRENCY, "line_amount_types": "Exclusive", "reason": reason,
            "total": _total(lines),
            "updated_at": datetime.combine(day, time(10)) + timedelta(minutes=rng.randint(0, 400)),
        })
        for no, line in enumerate(lines, 1):
            self.rf_line_id += 1
            line.update(id=self.rf_line_id, refund_id=self.rf_id, line_no=no)
            self.w.add(hs.refund_lines, line)

    # purchases --------------------------------------------------------------------------------

    def _purchase_order(self, day: date, status: str) -> None:
        rng, s = self.rng, self.s
        weights = [_BUYING_MONTH.get(sup["sells"], {}).get(day.month, _BUYING_DEFAULT.get(sup["sells"], 1.0))
                   for sup in s.suppliers]
        archived_line = status == "billed" and self.billed == self.archived_at
        if archived_line:  # the one bill that still books barrels to the archived account
            weights = [float(sup["sells"] == "barrels") for sup in s.suppliers]
        supplier = rng.choices(s.suppliers, weights)[0]
        sells = supplier["sells"]
        self.po_id += 1
        lines: list[dict[str, Any]] = []
        if sells == "fruit":
            vintage = day.year if day.month >= 2 else day.year - 1
            for _ in range(rng.randint(1, 3)):
                varietal = rng.choice(tuple(data.VARIETALS))
                _, _, base, _ = data.VARIETALS[varietal]
                brand = rng.choice(("Estate", "Estate", "Reserve", "Cellar Door", "Bulk"))
                per_t = (base * data.BRAND_FRUIT_FACTOR[brand] * Decimal(rng.randint(95, 105)) / 1000
                         ).quantize(Decimal(1)) * 10
                tonnes = Decimal(rng.randint(100, 1000)) / 100
                line = self._line(None, f"{vintage} {varietal} grapes, {rng.choice(data.BLOCKS)}: "
                                        f"{tonnes} t at A${_thousands(per_t)}/t",
                                  tonnes, per_t, "1410", "INPUT", None)
                line["vintage"] = str(vintage)
                lines.append(line)
        else:
            catalogue = data.PURCHASE_ITEMS[sells]
            for desc, unit, p_lo, p_hi, q_lo, q_hi, account in _distinct(
                    rng, catalogue, rng.randint(min(2, len(catalogue)), min(len(catalogue), 5))):
                quantity = Decimal(rng.randint(q_lo, q_hi))
                if unit in ("bottle", "cap", "cork", "capsule", "set", "carton") and quantity > 100:
                    quantity = quantity // 100 * 100
                price = _q4(p_lo + (p_hi - p_lo) * Decimal(rng.randint(0, 100)) / 100)
                lines.append(self._line(None, f"{desc} ({_thousands(int(quantity))} {unit}s)",
                                        quantity, price, account, "INPUT", None))
            if sells not in ("lab", "freight", "bottling") and rng.random() < .5:
                name, lo, hi = data.INBOUND_FREIGHT
                price = Decimal(rng.randint(int(lo * 100), int(hi * 100))) / 100
                lines.append(self._line(None, name, Decimal(1), price, "6200", "INPUT", None))
        invoice_number = ""
        bill_date = due = received_date = None
        order_date = day
        if status == "billed":
            if archived_line:
                lines.append(self._line(
                    None, "Reconditioned barrels, shaved and re-toasted (old barrel stock)",
                    Decimal(rng.randint(4, 12)), Decimal("185.0000"), ARCHIVED_ACCOUNT, "INPUT", None))
            self.billed += 1
            bill_date, due = day, day + timedelta(days=30)
            received_date = max(s.start, day - timedelta(days=rng.randint(0, 10)))
            order_date = max(s.start, received_date - timedelta(days=rng.randint(3, 30)))
            self.supplier_invoice[supplier["id"]] += rng.randint(1, 40)
            invoice_number = f"{supplier['prefix']}-{self.supplier_invoice[supplier['id']]}"
        elif status == "received":
            received_date = day
            order_date = max(s.start, day - timedelta(days=rng.randint(3, 25)))
        self.w.add(hs.purchase_orders, {
            "id": self.po_id, "number": f"PO-{self.po_id:05d}", "supplier_id": supplier["id"],
            "order_date": order_date, "received_date": received_date, "bill_date": bill_date,
            "due_date": due, "supplier_invoice_number": invoice_number, "status": status,
            "currency": data.CURRENCY, "line_amount_types": "Exclusive", "total": _total(lines),
            "updated_at": datetime.combine(day, time(11)) + timedelta(minutes=rng.randint(0, 300)),
        })
        for no, line in enumerate(lines, 1):
            self.po_line_id += 1
            line.update(id=self.po_line_id, purchase_order_id=self.po_id, line_no=no)
            self.w.add(hs.purchase_order_lines, line)


def _total(lines: list[dict[str, Any]]) -> Decimal:
    subtotal = sum((_money(ln["quantity"] * ln["unit_price"]) for ln in lines), ZERO)
    tax = sum((ln["tax_amount"] for ln in lines), ZERO)
    return _money(subtotal + tax)


def _tail_allocator(n: int) -> Callable[[int, int], list[int]]:
    def tail(count: int, last: int) -> list[int]:
        last = max(1, min(last, n))
        return [0] * (n - last) + _allocate(count, [1.0] * last)
    return tail


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


def _items_by_day(batches: list[_Batch], days: list[date],
                  trade: bool) -> list[tuple[list[_Batch], list[float]]]:
    """Bottled wine on sale each working day, with how often each sells (newer vintages more).

    The Cellar Door label is sold only at the cellar door (and online, and to club members).
    """
    out: list[tuple[list[_Batch], list[float]]] = []
    cache: dict[tuple[int, tuple[int, ...]], tuple[list[_Batch], list[float]]] = {}
    for day in days:
        items = [b for b in batches if b.runs and b.runs[0][0] <= day and day.year - b.vintage <= 5
                 and not (trade and b.brand == "Cellar Door")]
        key = (day.year, tuple(b.id for b in items))
        if key not in cache:
            weights = [_BRAND_SALES_WEIGHT[b.brand] * _AGE_SALES_WEIGHT.get(day.year - b.vintage, .15)
                       for b in items]
            cache[key] = (items, _cumulative(weights))
        out.append(cache[key])
    return out


def _bulk_by_day(batches: list[_Batch], days: list[date]) -> list[list[_Batch]]:
    return [[b for b in batches if b.brand == "Bulk" and b.parcels[-1][0] + timedelta(days=45) <= day
             and b.in_bulk(day)] for day in days]


# ---------------------------------------------------------------------------------------------
# cellar operations and cost entries


class _Cellar:
    """Writes operations and their cost entries day by day, to an exact total count."""

    def __init__(self, seeder: _Seeder, rng: random.Random,
                 dispatches: dict[date, list[tuple[str, str, str, list[tuple[_Batch, Decimal]]]]]) -> None:
        self.s = seeder
        self.rng = rng
        self.w = seeder.writer
        self.dispatches = dispatches
        self.op_id = 0
        self.entry_id = 0
        self.numbers: dict[str, int] = {}
        self.ops = self.w.buffer(hs.operations)
        self.entries = self.w.buffer(hs.cost_entries)

    def run(self) -> None:
        s, rng = self.s, self.rng
        days = s.working
        structural = self._structural()
        target = s.cost_target
        planned = sum(n for ops in structural.values() for n, _ in ops)
        fixed = sum(n for ops in structural.values() for n, op in ops if op[0] not in _THINNABLE)
        if planned > .8 * target:  # few entries asked for: keep a sample of dispatches and charges
            keep = max(0.0, (.8 * target - fixed) / max(1, planned - fixed))
            structural = {d: [(n, op) for n, op in ops
                              if op[0] not in _THINNABLE or rng.random() < keep]
                          for d, ops in structural.items()}
        kept = 0
        for day in days:  # never more than asked for
            ops = []
            for n, op in structural.get(day, []):
                if kept + n <= target:
                    ops.append((n, op))
                    kept += n
            structural[day] = ops
        filler = _allocate(target - kept, [_CELLAR_MONTH[d.month] * rng.uniform(.7, 1.3) for d in days])

        for i, day in enumerate(days):
            todays = structural.get(day, [])
            quota = filler[i] + sum(n for n, _ in todays)
            if not quota:
                continue
            self._start_day(day, quota)
            for _, op in todays:
                getattr(self, f"_op_{op[0]}")(day, *op[1:])
            self._fill(day, filler[i])
            if self.w.full():
                self.w.flush()

    # planning ---------------------------------------------------------------------------------

    def _structural(self) -> dict[date, list[tuple[int, tuple[Any, ...]]]]:
        """Operations the calendar dictates: crush, barrel fill and ageing, bottling, dispatch."""
        s = self.s
        plan: dict[date, list[tuple[int, tuple[Any, ...]]]] = {}
        working = set(s.working)

        def put(day: date, n: int, op: tuple[Any, ...]) -> None:
            if day in working:
                plan.setdefault(day, []).append((n, op))

        month_ends: list[date] = []
        for a, b in zip(s.working, s.working[1:] + [None], strict=True):
            if b is None or b.month != a.month:
                month_ends.append(a)
        for batch in s.batches:
            for day, tonnes, block in batch.parcels:
                put(day, 1, ("crush", batch, tonnes, block))
            if batch.barrel_fill:
                put(batch.barrel_fill, 1, ("barrel_fill", batch))
            for day, bottles in batch.runs:
                put(day, 3, ("bottling", batch, bottles))
        for day in month_ends:
            for batch in s.batches:
                if batch.in_barrel(day):
                    put(day, 1, ("barrel", batch))
        for day, orders in self.dispatches.items():
            for kind, number, customer, moved in orders:
                put(day, len(moved), (kind, number, customer, moved))
        return plan

    # bookkeeping ------------------------------------------------------------------------------

    def _start_day(self, day: date, quota: int) -> None:
        self.day = day
        self.stamp = datetime.combine(day, time(7))
        self.step = timedelta(seconds=36000 // quota)
        self.bulk = [b for b in self.s.batches if b.in_bulk(day)] or self.s.batches
        self.fermenting = [b for b in self.bulk if b.fermenting(day)]
        self.settled = [b for b in self.bulk if b.settled(day)]
        self.partners: dict[int, list[_Batch]] = {}
        kinds = (_FILLER_HARVEST if day.month in (2, 3, 4)
                 else _FILLER_AFTER if day.month in (5, 6, 7) else _FILLER_REST)
        self.kinds = [k for k, _ in kinds]
        self.kind_cum = _cumulative([w for _, w in kinds])

    def _op(self, prefix: str, op_type: str, batch: _Batch | None,
            describe: Callable[[str], str]) -> tuple[int, str]:
        self.numbers[prefix] = number = self.numbers.get(prefix, 0) + 1
        code = f"{prefix}-{number:04d}"
        self.op_id += 1
        description = describe(code)
        self.ops.append({"id": self.op_id, "number": code, "op_type": op_type, "op_date": self.day,
                         "batch_id": batch.id if batch else None, "description": description})
        return self.op_id, description

    def _entry(self, op_id: int, movement: tuple[str, ...], amount: Decimal, batch: _Batch,
               description: str) -> None:
        self.entry_id += 1
        self.stamp += self.step
        self.entries.append({
            "id": self.entry_id, "operation_id": op_id, "entry_date": self.day,
            "movement_type": movement[0], "cost_category": movement[1], "amount": amount,
            "from_stage": movement[2], "to_stage": movement[3], "batch_id": batch.id,
            "vintage": batch.vintage_s, "brand": batch.brand, "description": description[:400],
            "created_at": self.stamp, "updated_at": self.stamp,
        })

    # structural operations ----------------------------------------------------------------------

    def _op_crush(self, day: date, batch: _Batch, tonnes: Decimal, block: str) -> None:
        op, desc = self._op("CR", "crush", batch, lambda code: (
            f"Crush {code}: {batch.label} ({batch.code}), {tonnes} t from {block} "
            f"at A${_thousands(batch.fruit_price)}/t"))
        self._entry(op, CRUSH, _q4(tonnes * batch.fruit_price), batch, desc)

    def _op_barrel_fill(self, day: date, batch: _Batch) -> None:
        op, desc = self._op("BAR", "barrel_fill", batch, lambda code: (
            f"Barrel fill {code}: {batch.label} ({batch.code}) into {batch.barrels} barrels"))
        self._entry(op, BARREL, _q4(batch.barrels * batch.barrel_rate), batch,
                    f"{desc}, first month at ${batch.barrel_rate}/barrel")

    def _op_barrel(self, day: date, batch: _Batch) -> None:
        month = f"{_MONTHS[day.month - 1]} {day.year}"
        op, desc = self._op("BAR", "barrel_ageing", batch, lambda code: (
            f"Barrel ageing {code}: {batch.label} ({batch.code}), {batch.barrels} barrels, {month}"))
        self._entry(op, BARREL, _q4(batch.barrels * batch.barrel_rate), batch,
                    f"{desc} at ${batch.barrel_rate}/barrel-month")

    def _op_bottling(self, day: date, batch: _Batch, bottles: int) -> None:
        op, desc = self._op("BTL", "bottling", batch, lambda code: (
            f"Bottling {code}: {batch.label}, {_thousands(bottles)} bottles"))
        litres = Decimal(bottles) * Decimal("0.75")
        self._entry(op, BOTTLING_WINE, _q4(litres * batch.cpl), batch,
                    f"{desc}: wine {_thousands(int(litres))} L at ${batch.cpl}/L")
        self._entry(op, BOTTLING_DRY, _q4(bottles * batch.dry_per_bottle), batch,
                    f"{desc}: glass, closures, labels and cartons at ${batch.dry_per_bottle}/bottle")
        self._entry(op, BOTTLING_LABOUR, _q4(bottles * data.BOTTLING_LABOUR_PER_BOTTLE), batch,
                    f"{desc}: bottling line labour at ${data.BOTTLING_LABOUR_PER_BOTTLE}/bottle")

    def _op_dispatch(self, day: date, number: str, customer: str,
                     moved: list[tuple[_Batch, Decimal]]) -> None:
        cases = sum(q for _, q in moved)
        op, desc = self._op("DSP", "dispatch", moved[0][0], lambda code: (
            f"Dispatch {code}: {number} {customer}, {cases} cases"))
        for batch, quantity in moved:
            self._entry(op, DISPATCH, _q4(quantity * batch.case_cost), batch,
                        f"{desc}: {quantity} cases {batch.label} at ${batch.case_cost}/case")

    def _op_bulk(self, day: date, number: str, customer: str,
                 moved: list[tuple[_Batch, Decimal]]) -> None:
        litres = sum(q for _, q in moved)
        op, desc = self._op("BLK", "bulk_sale", moved[0][0], lambda code: (
            f"Bulk sale {code}: {number} {customer}, {_thousands(int(litres))} L"))
        for batch, quantity in moved:
            self._entry(op, BULK_SALE, _q4(quantity * batch.cpl), batch,
                        f"{desc}: {_thousands(int(quantity))} L {batch.label} ({batch.code}) "
                        f"at ${batch.cpl}/L")

    # filler operations ------------------------------------------------------------------------

    def _fill(self, day: date, quota: int) -> None:
        rng = self.rng
        while quota > 0:
            kind = self.kinds[_pick(rng, self.kind_cum)]
            if kind == "transfer" and quota >= 2:
                quota -= self._transfer()
            elif kind == "blend" and quota >= 2:
                quota -= self._blend(quota)
            elif kind == "loss":
                quota -= self._loss()
            elif kind == "labour":
                quota -= self._labour(quota)
            else:
                quota -= self._addition(quota)

    def _addition(self, room: int) -> int:
        rng = self.rng
        fermenting = bool(self.fermenting) and rng.random() < .75
        batch = rng.choice(self.fermenting if fermenting else self.bulk)
        usable = [a for a in data.ADDITIVES if _additive_fits(a[4], batch, fermenting)]
        chosen = _distinct(rng, usable, min(room, rng.randint(1, 3)))
        litres = max(500, int(batch.litres * rng.randint(20, 100) / 100) // 100 * 100)
        op, desc = self._op("ADD", "addition", batch, lambda code: (
            f"Addition {code}: {batch.label} ({batch.code}), {_thousands(litres)} L"))
        for name, unit, price, dose, _ in chosen:
            quantity = (dose * litres / 1000 * Decimal(rng.randint(80, 120)) / 100).quantize(CENT)
            self._entry(op, ADDITION, _q4(quantity * price), batch,
                        f"{desc}: {name} {quantity} {unit} at ${price}/{unit}")
        return len(chosen)

    def _labour(self, room: int) -> int:
        rng = self.rng
        fermenting = bool(self.fermenting) and rng.random() < .7
        batch = rng.choice(self.fermenting if fermenting else self.bulk)
        task = rng.choice(data.LABOUR_TASKS_FERMENT if fermenting else data.LABOUR_TASKS_CELLAR)
        role, rate = rng.choice(data.LABOUR_RATES)
        hours = Decimal(rng.randint(2, 24)) / 2
        op, desc = self._op("LAB", "labour", batch, lambda code: (
            f"Labour {code}: {task}, {batch.label} ({batch.code})"))
        self._entry(op, LABOUR, _q4(hours * rate), batch, f"{desc}: {role} {hours} h at ${rate}/h")
        if room >= 2 and rng.random() < .35:
            item, per_litre = rng.choice(data.OVERHEAD_ITEMS)
            litres = batch.litres
            self._entry(op, LABOUR_OVERHEAD, _q4(litres * per_litre), batch,
                        f"{desc}: {item}, {_thousands(litres)} L at ${per_litre}/L")
            return 2
        return 1

    def _partners(self, batch: _Batch) -> list[_Batch]:
        """Settled batches that may take wine from `batch` (same colour, vintage ±1, ...)."""
        found = self.partners.get(batch.id)
        if found is None:
            found = self.partners[batch.id] = [b for b in self.settled
                                               if b is not batch and batch.blends_into(b)]
        return found

    def _transfer(self) -> int:
        rng = self.rng
        if not self.settled:
            return 0
        source = rng.choice(self.settled)
        partners = self._partners(source)
        if not partners:
            return 0
        same = [b for b in partners if b.varietal == source.varietal]
        dest = rng.choice(same if same and rng.random() < .8 else partners)
        litres = rng.randint(4, 60) * 50
        amount = _q4(litres * source.cpl)
        op, desc = self._op("TRF", "transfer", dest, lambda code: (
            f"Transfer {code}: {_thousands(litres)} L {source.code} → {dest.code}"))
        self._entry(op, TRANSFER, amount, dest, f"{desc}: into {dest.label} ({dest.code})")
        self._entry(op, TRANSFER, -amount, source, f"{desc}: out of {source.label} ({source.code})")
        return 2

    def _blend(self, room: int) -> int:
        rng = self.rng
        if not self.settled:
            return 0
        dest = rng.choice(self.settled)
        others = [b for b in self.settled if b is not dest and b.blends_into(dest)]
        sources = _distinct(rng, others, min(room - 1, rng.randint(1, 3)))
        if not sources:
            return 0
        parts = [(b, rng.randint(2, 30) * 50) for b in sources]
        amounts = [_q4(litres * b.cpl) for b, litres in parts]
        total_litres = sum(litres for _, litres in parts)
        op, desc = self._op("BLD", "blend", dest, lambda code: (
            f"Blend {code}: {_thousands(total_litres)} L into {dest.label} ({dest.code}) from "
            + ", ".join(f"{_thousands(litres)} L {b.code}" for b, litres in parts)))
        self._entry(op, BLEND, sum(amounts, ZERO), dest, f"{desc}: into {dest.code}")
        for (batch, litres), amount in zip(parts, amounts, strict=True):
            self._entry(op, BLEND, -amount, batch,
                        f"{desc}: {_thousands(litres)} L out of {batch.label} ({batch.code})")
        return 1 + len(parts)

    def _loss(self) -> int:
        rng = self.rng
        batch = rng.choice(self.bulk)
        litres = rng.randint(5, 180)
        reason = rng.choice(data.LOSS_REASONS)
        op, desc = self._op("LOS", "loss", batch, lambda code: (
            f"Loss {code}: {litres} L {batch.label} ({batch.code}), {reason}"))
        self._entry(op, LOSS, _q4(litres * batch.cpl), batch, f"{desc} at ${batch.cpl}/L")
        return 1


def _additive_fits(use: str, batch: _Batch, fermenting: bool) -> bool:
    if use == "ferment":
        return fermenting
    if use in ("red", "white"):
        return batch.colour == use
    if use == "bulk":
        return batch.brand in ("Bulk", "Cellar Door", "Estate")
    return True
