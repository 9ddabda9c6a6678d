"""What the host ERP holds at a date, for the inventory valuation (DocumentSource.stock_balances
and purchases_by_account): the cost entries' net effect per stage, category, batch, product
and batch attributes, and the bills' net line amounts per account.

Summing a million cost entries by batch and product takes seconds (SQLite sorts them to group
them), and a valuation is asked for again and again at month end. So, as for the cost flows,
the sums are kept per (day, movement) between calls and brought up to date from what changed
(_StockCache, with the flow cache's way of finding changes); below FLOW_CACHE_MIN_ENTRIES
entries one query sums them.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, case, func, select, union
from sqlalchemy.orm import Session

from ...domain.costs import CostCategory, Stage
from ...domain.documents import Kind
from ...domain.inventory import BatchRef, ProductRef, PurchaseBalance, StockBalance
from . import host_schema as host
from .links import ErpLinks
from .sqlalchemy_documents import (
    _REREAD_DAYS_PER_QUERY,
    FLOW_CACHE_MIN_ENTRIES,
    IN_CHUNK,
    SPECS,
    STAMP_LOOKBACK,
    _Lookup,
    line_cents,
    scaled,
    unscaled,
)

ce = host.cost_entries
_GROUP = (ce.c.from_stage, ce.c.to_stage, ce.c.cost_category, ce.c.batch_id, ce.c.product_id,
          ce.c.vintage, ce.c.brand)
_SUMS = (func.sum(scaled(ce.c.amount, 4)), func.sum(scaled(ce.c.litres, 4)),
         func.sum(scaled(ce.c.cases, 4)))
# (from_stage, to_stage, category, batch_id, product_id, vintage, brand, amount, litres, cases),
# the sums in 1/10000.
_Row = tuple[Any, ...]


def stock_balances(session: Session, links: ErpLinks, closing_date: date,
                   since: date | None = None) -> list[StockBalance]:
    entries = int(session.scalar(select(func.count()).select_from(ce)) or 0)
    if entries < FLOW_CACHE_MIN_ENTRIES:
        stmt = select(*_GROUP, *_SUMS).where(ce.c.entry_date <= closing_date).group_by(*_GROUP)
        if since is not None:
            stmt = stmt.where(ce.c.entry_date >= since)
        rows: Iterable[_Row] = session.execute(stmt).tuples()
    else:
        cache = _StockCache.of(session)
        with cache.lock:
            cache.refresh(session, entries)
            rows = cache.rows(closing_date, since)
    return _Balances(session, links).of(rows)


class _Balances:
    """Summed rows → StockBalances: each row adds to its to-stage and takes from its from-stage
    (a row within one stage is signed already and counts once)."""

    def __init__(self, session: Session, links: ErpLinks) -> None:
        self.session, self.links = session, links
        self.stages = _Lookup(Stage, "stage")
        self.categories = _Lookup(CostCategory, "cost category")

    def of(self, rows: Iterable[_Row]) -> list[StockBalance]:
        sums: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0, 0])
        for from_stage, to_stage, category, batch, product, vintage, brand, amount, litres, cases in rows:
            amount, litres, cases = int(amount or 0), int(litres or 0), int(cases or 0)
            into = sums[to_stage, category, batch, product, vintage, brand]
            into[0] += amount
            into[1] += litres
            into[2] += cases
            if from_stage != to_stage:
                out = sums[from_stage, category, batch, product, vintage, brand]
                out[0] -= amount
                out[1] -= litres
                out[2] -= cases
        batches = self._batches({key[2] for key in sums if key[2] is not None})
        products = self._products({key[3] for key in sums if key[3] is not None})
        return [
            StockBalance(
                stage=self.stages(stage),
                category=self.categories(category),
                amount=unscaled(amount, 4),
                litres=unscaled(litres, 4),
                cases=unscaled(cases, 4),
                batch=batches.get(batch) if batch is not None else None,
                product=products.get(product) if product is not None else None,
                attributes=tuple((name, value) for name, value in (("brand", brand), ("vintage", vintage))
                                 if value),
            )
            for (stage, category, batch, product, vintage, brand), (amount, litres, cases)
            in sorted(sums.items(), key=lambda item: tuple(str(k) for k in item[0]))
            if amount or litres or cases
        ]

    def _batches(self, ids: set[int]) -> dict[int, BatchRef]:
        b = host.batches
        found = {}
        ordered = sorted(ids)
        for start in range(0, len(ordered), IN_CHUNK):
            stmt = select(b.c.id, b.c.code, b.c.vintage, b.c.varietal, b.c.brand, b.c.vessel) \
                .where(b.c.id.in_(ordered[start:start + IN_CHUNK]))
            for row_id, code, vintage, varietal, brand, vessel in self.session.execute(stmt):
                found[row_id] = BatchRef(str(row_id), code, vintage or "", varietal or "", brand or "",
                                         vessel or "", self.links.batch_url(row_id))
        return found

    def _products(self, ids: set[int]) -> dict[int, ProductRef]:
        p = host.products
        found = {}
        ordered = sorted(ids)
        for start in range(0, len(ordered), IN_CHUNK):
            stmt = select(p.c.id, p.c.code, p.c.name).where(p.c.id.in_(ordered[start:start + IN_CHUNK]))
            for row_id, code, name in self.session.execute(stmt):
                found[row_id] = ProductRef(str(row_id), code, name or "", self.links.product_url(row_id))
        return found


def purchases_by_account(session: Session, account_codes: Sequence[str],
                         closing_date: date) -> list[PurchaseBalance]:
    """Each line rounded to the cent as Xero rounds it (half away from zero), in integers so
    SQLite's floating NUMERIC adds exact cents; a tax-inclusive line less its tax."""
    spec = SPECS[Kind.PURCHASE_ORDERS]
    t, lines = spec.table, spec.lines
    cents = line_cents(lines)
    net = case((t.c.line_amount_types == "Inclusive", cents - scaled(lines.c.tax_amount, 2)),
               else_=cents)
    stmt = (
        select(lines.c.account_code, lines.c.vintage, lines.c.brand, func.sum(net))
        .select_from(t.join(lines, lines.c[spec.line_parent] == t.c.id))
        .where(t.c.status == spec.status, spec.date <= closing_date,
               lines.c.account_code.in_(list(account_codes)))
        .group_by(lines.c.account_code, lines.c.vintage, lines.c.brand)
    )
    return [
        PurchaseBalance(code, unscaled(amount, 2),
                        tuple((n, v) for n, v in (("brand", brand), ("vintage", vintage)) if v))
        for code, vintage, brand, amount in sorted(session.execute(stmt).tuples(),
                                                   key=lambda r: (r[0], r[1] or "", r[2] or ""))
        if amount
    ]


# ------------------------------------------------------------------ the stock cache


@dataclass(frozen=True)
class _PairStock:
    """One (day, movement)'s entries summed by stage, category, batch, product, attributes."""

    entries: int
    rows: tuple[_Row, ...]


class _StockCache:
    """The valuation's sums per (day, movement) of one database, kept in memory between calls.

    Brought up to date as the flow cache is (DESIGN: what the host does when entries change):
    the days of entries stamped since the last read (less STAMP_LOOKBACK, for transactions that
    commit a while after they stamp) or with an id above the last read's highest are summed
    again; a count of all entries that differs from the kept counts reveals deletions, whose
    days are found by counting per (day, movement). One cache per Engine, for the process.
    """

    _caches: WeakKeyDictionary[Engine, _StockCache] = WeakKeyDictionary()
    _registry_lock = threading.Lock()

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pairs: dict[tuple[date, str], _PairStock] = {}
        self.order: list[tuple[date, str]] = []
        self.entries = 0
        self.read_at: datetime | None = None
        self.top_id = 0

    @classmethod
    def of(cls, session: Session) -> _StockCache:
        bind = session.get_bind()
        engine = bind if isinstance(bind, Engine) else bind.engine
        with cls._registry_lock:
            cache = cls._caches.get(engine)
            if cache is None:
                cache = cls._caches[engine] = cls()
            return cache

    def rows(self, closing_date: date, since: date | None) -> Iterable[_Row]:
        first = 0 if since is None else bisect_left(self.order, (since, ""))
        last = bisect_right(self.order, (closing_date, "\uffff"))
        for key in self.order[first:last]:
            yield from self.pairs[key].rows

    def refresh(self, session: Session, entries: int) -> None:
        """Bring the pairs up to date; `entries` is the count of all entries, read just before."""
        started = datetime.now(UTC).replace(tzinfo=None)  # host stamps are naive UTC
        top = int(session.scalar(select(func.max(ce.c.id))) or 0)
        if self.read_at is None:
            self._read(session, None)
        else:
            since = self.read_at - STAMP_LOOKBACK
            days = set(session.scalars(union(
                select(ce.c.entry_date).where(ce.c.created_at > since),
                select(ce.c.entry_date).where(ce.c.updated_at > since),
                select(ce.c.entry_date).where(ce.c.id > self.top_id),
            )))
            if days:
                self._read(session, days)
            if self.entries != entries:  # entries deleted (or moved away) since the last read
                counts = {(day, movement): int(n) for day, movement, n in session.execute(
                    select(ce.c.entry_date, ce.c.movement_type, func.count())
                    .group_by(ce.c.entry_date, ce.c.movement_type))}
                changed = {key for key in counts.keys() | self.pairs.keys()
                           if counts.get(key) != (self.pairs[key].entries if key in self.pairs else None)}
                self._read(session, {day for day, _ in changed})
        self.read_at, self.top_id = started, top

    def _read(self, session: Session, days: set[date] | None) -> None:
        keys = (ce.c.entry_date, ce.c.movement_type, *_GROUP)
        stmt = select(*keys, *_SUMS, func.count()).group_by(*keys)
        if days is None:
            chunks: list[list[date] | None] = [None]
            self.pairs = {}
        else:
            ordered = sorted(days)
            chunks = [ordered[i:i + _REREAD_DAYS_PER_QUERY]
                      for i in range(0, len(ordered), _REREAD_DAYS_PER_QUERY)]
            for key in [key for key in self.pairs if key[0] in days]:
                del self.pairs[key]
        for chunk in chunks:
            query = stmt if chunk is None else stmt.where(ce.c.entry_date.in_(chunk))
            by_pair: dict[tuple[date, str], list[_Row]] = defaultdict(list)
            counts: dict[tuple[date, str], int] = defaultdict(int)
            for row in session.execute(query).tuples():
                key = (row[0], row[1])
                by_pair[key].append(tuple(row[2:12]))
                counts[key] += int(row[12])
            for key, rows in by_pair.items():
                self.pairs[key] = _PairStock(counts[key], tuple(rows))
        self.order = sorted(self.pairs)
        self.entries = sum(pair.entries for pair in self.pairs.values())


__all__ = ["purchases_by_account", "stock_balances"]
