"""Reconciliation's sums of the ERP's documents kept between calls (document_sums.py) are
exactly the sums taken afresh by the reference query (summed_document_sums), whatever the host
did since they were kept: lines edited, documents added (with new or old stamps), moved to
another day, cancelled, invoiced, deleted, a status changed without a stamp, a contact renamed;
and whatever the sync records say (synced, failed, in flight, none), at closing dates and
financial years that cut months in two (SQLite and PostgreSQL). A "process" is a fresh cache."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import delete, insert, select, update

from accounts_sync.adapters.erp_sql import document_sums as kept_module
from accounts_sync.adapters.erp_sql.document_sums import _KindSums
from accounts_sync.adapters.erp_sql.plugin_tables import SyncRecordRow
from accounts_sync.adapters.erp_sql.sqlalchemy_documents import SPECS
from accounts_sync.adapters.erp_sql.sqlalchemy_reconciliation import summed_document_sums
from accounts_sync.domain.documents import Kind

from .fixtures import line

FIRST_DAY = date(2025, 5, 20)
DAYS = [FIRST_DAY + timedelta(days=n) for n in range(0, 420, 9)]
# (closing date, first day of its financial year): month ends, mid-month closings, a year that
# starts in the middle of a month, a closing before every document and one after them all.
CUTS = [(date(2026, 6, 30), date(2025, 7, 1)), (date(2026, 3, 14), date(2025, 7, 1)),
        (date(2025, 12, 31), date(2025, 7, 1)), (date(2026, 2, 10), date(2025, 10, 16)),
        (date(2025, 9, 3), date(2025, 8, 16)), (date(2025, 1, 31), date(2024, 7, 1)),
        (date(2027, 1, 1), date(2026, 7, 1))]
SOME_CUTS = [CUTS[0], CUTS[3], CUTS[4]]
STATUS = {Kind.SALES_ORDERS: ("invoiced", "confirmed"), Kind.PURCHASE_ORDERS: ("billed", "received"),
          Kind.REFUNDS: ("approved", "draft")}


@pytest.fixture(autouse=True)
def kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every kind's sums are kept, as for an ERP of 1,000+ documents of a kind; each test
    starts with no process having run."""
    monkeypatch.setattr(kept_module, "DOCUMENT_SUMS_MIN_DOCUMENTS", 0)
    _KindSums._caches.clear()


def now() -> datetime:
    """What the host stamps an edited document with: its current time, naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


def new_process() -> None:
    _KindSums._caches.clear()


def answers(uow_factory, cuts=CUTS) -> list[tuple[Counter, Counter]]:
    with uow_factory() as uow:
        return [tuple(map(Counter, uow.documents.document_sums(c, s))) for c, s in cuts]


def reference(uow_factory, cuts=CUTS) -> list[tuple[Counter, Counter]]:
    with uow_factory() as uow:
        return [tuple(map(Counter, summed_document_sums(uow.session, c, s))) for c, s in cuts]


def assert_exact(uow_factory, cuts=CUTS) -> list[tuple[Counter, Counter]]:
    found = answers(uow_factory, cuts)
    assert found == reference(uow_factory, cuts)
    return found


def execute(engine, *statements) -> None:
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(statement)


def random_lines(rnd: random.Random) -> list:
    if rnd.random() < 0.06:
        return []
    return [line(quantity=rnd.choice(["1", "12", "2.5", "-3", "0.3333"]),
                 unit_price=rnd.choice(["25.00", "19.99", "0.015", "1234.5678"]),
                 tax=rnd.choice(["0.00", "2.50", "3.33", "-1.10"]),
                 account=rnd.choice(["4000", "4000", "4010", "1460", None]),
                 vintage=rnd.choice([None, "2024", "2025", ""]),
                 brand=rnd.choice([None, "Estate", "Reserve"]))
            for _ in range(rnd.randint(1, 4))]


class Winery:
    """A host ERP of all three kinds, and the plugin's sync records, changed at random."""

    def __init__(self, erp, engine, rnd: random.Random) -> None:
        self.erp, self.engine, self.rnd = erp, engine, rnd
        self.customers = [erp.customer(f"Customer {n}") for n in range(3)]
        self.suppliers = [erp.supplier(f"Supplier {n}") for n in range(2)]

    def add(self, kind: Kind, stamp: datetime, counting: bool = True) -> int:
        rnd, erp = self.rnd, self.erp
        status = STATUS[kind][0 if counting else 1]
        common = {"lines": random_lines(rnd), "total": "0", "updated_at": stamp, "status": status,
                  "line_amount_types": rnd.choice(["Exclusive", "Exclusive", "Inclusive"])}
        day = rnd.choice(DAYS)
        if kind is Kind.SALES_ORDERS:
            return erp.sales_order(rnd.choice(self.customers), invoice_date=day, **common)
        if kind is Kind.PURCHASE_ORDERS:
            return erp.purchase_order(rnd.choice(self.suppliers), bill_date=day, **common)
        return erp.refund(rnd.choice(self.customers), refund_date=day, **common)

    def fill(self, per_kind: int = 25) -> None:
        old = now() - timedelta(days=3)
        for kind in SPECS:
            for _ in range(per_kind):
                doc_id = self.add(kind, old, counting=self.rnd.random() < 0.85)
                if self.rnd.random() < 0.7:
                    self.record(kind, doc_id, self.rnd.choice(["synced", "synced", "failed", "pending"]))

    def ids(self, kind: Kind, counting: bool | None = True) -> list[int]:
        t = SPECS[kind].table
        query = select(t.c.id).order_by(t.c.id)
        if counting is not None:
            query = query.where(t.c.status == STATUS[kind][0 if counting else 1])
        with self.engine.connect() as connection:
            return list(connection.scalars(query))

    def record(self, kind: Kind, doc_id: int, state: str) -> None:
        r = SyncRecordRow.__table__
        execute(self.engine, delete(r).where(r.c.kind == kind.value, r.c.erp_id == str(doc_id)),
                insert(r).values(kind=kind.value, erp_id=str(doc_id), number=f"N-{doc_id}",
                                 fingerprint="f" * 64, state=state,
                                 idempotency_key=f"{kind.value}-{doc_id}", attempts=1,
                                 last_error="", updated_at=now()))

    def change(self, action: str, kind: Kind) -> None:
        """One thing the ERP (or a sync) does to one document of the kind."""
        rnd, engine, spec = self.rnd, self.engine, SPECS[kind]
        t, lt = spec.table, spec.lines
        ids = self.ids(kind) or self.ids(kind, None)
        doc_id = rnd.choice(ids)
        if action == "add":
            self.add(kind, now())
        elif action == "add_old_stamp":  # an import with the stamps of another system: a new id
            self.add(kind, now() - timedelta(days=30))
        elif action == "lines":  # saved with other lines, stamped
            execute(engine, delete(lt).where(lt.c[spec.line_parent] == doc_id))
            self.erp._lines(lt, spec.line_parent[:-3], doc_id, random_lines(rnd))
            execute(engine, update(t).where(t.c.id == doc_id).values(updated_at=now()))
        elif action == "redate":  # moved to another day (and month), stamped
            execute(engine, update(t).where(t.c.id == doc_id).values(
                {spec.date_column: rnd.choice(DAYS), "updated_at": now()}))
        elif action == "header":  # tax inclusive or not, another contact, stamped
            contacts = self.suppliers if kind is Kind.PURCHASE_ORDERS else self.customers
            execute(engine, update(t).where(t.c.id == doc_id).values(
                {"line_amount_types": rnd.choice(["Exclusive", "Inclusive"]),
                 spec.contact_column: rnd.choice(contacts), "updated_at": now()}))
        elif action == "cancel":  # leaves the counting status, stamped
            execute(engine, update(t).where(t.c.id == doc_id).values(
                status=STATUS[kind][1], updated_at=now()))
        elif action == "invoice":  # joins it, stamped
            waiting = self.ids(kind, counting=False)
            if waiting:
                execute(engine, update(t).where(t.c.id == rnd.choice(waiting)).values(
                    status=STATUS[kind][0], updated_at=now()))
        elif action == "delete":  # leaves no trace but a count that differs
            execute(engine, delete(lt).where(lt.c[spec.line_parent] == doc_id),
                    delete(t).where(t.c.id == doc_id))
        elif action == "unstamped":  # a status changed by hand in the database, no stamp
            execute(engine, update(t).where(t.c.id == doc_id).values(status=STATUS[kind][1]))
        elif action == "import_and_unstamped_leave":
            # Counts alone cannot tell: one document in (an old stamp, a new id), one out.
            self.add(kind, now() - timedelta(days=30))
            execute(engine, update(t).where(t.c.id == doc_id).values(status=STATUS[kind][1]))
        elif action == "rename":  # a contact renamed (its documents are not stamped)
            contact = spec.contact
            execute(engine, update(contact).values(name=f"Renamed {rnd.randint(1, 10**6)}")
                    .where(contact.c.id == rnd.choice(self.suppliers if kind is Kind.PURCHASE_ORDERS
                                                      else self.customers)))
        elif action in ("synced", "failed", "pending"):  # a sync run (or a retry) got to it
            self.record(kind, doc_id, action)
        elif action == "forgotten":  # its record deleted (the plugin's state reset)
            r = SyncRecordRow.__table__
            execute(engine, delete(r).where(r.c.kind == kind.value, r.c.erp_id == str(doc_id)))


ACTIONS = ["add", "add_old_stamp", "lines", "lines", "redate", "header", "cancel", "invoice",
           "delete", "unstamped", "import_and_unstamped_leave", "rename", "synced", "synced",
           "failed", "pending", "forgotten"]


def test_the_kept_sums_are_the_reference_whatever_the_host_and_the_syncs_do(uow_factory, erp, clean_db):
    rnd = random.Random(41)
    winery = Winery(erp, clean_db, rnd)
    winery.fill()
    first = assert_exact(uow_factory)
    states = {s.state for lines, _ in first for s in lines}
    assert states == {"synced", "failed", "not_synced"}, "every state has sums: the test means something"
    assert any(s.earlier for lines, _ in first for s in lines)
    for step in range(30):
        action, kind = rnd.choice(ACTIONS), rnd.choice(list(SPECS))
        winery.change(action, kind)
        assert_exact(uow_factory), (step, action, kind)
        if step % 10 == 9:
            new_process()  # a new process reads everything once, and is as exact


def test_each_change_alone_is_seen_by_a_process_that_kept_the_sums(uow_factory, erp, clean_db):
    rnd = random.Random(42)
    winery = Winery(erp, clean_db, rnd)
    winery.fill(15)
    assert_exact(uow_factory, SOME_CUTS)
    for action in ACTIONS:
        for kind in SPECS:
            winery.change(action, kind)
            assert_exact(uow_factory, SOME_CUTS), (action, kind)


def test_a_late_commit_stamped_before_the_last_read_is_seen(uow_factory, erp, clean_db):
    """A host transaction stamps a document, the sums are read, then it commits: its stamp is
    older than that read, yet within STAMP_LOOKBACK of it."""
    rnd = random.Random(43)
    winery = Winery(erp, clean_db, rnd)
    winery.fill(10)
    assert_exact(uow_factory)
    spec = SPECS[Kind.SALES_ORDERS]
    doc_id = winery.ids(Kind.SALES_ORDERS)[0]
    stamped = now() - timedelta(minutes=5)
    execute(clean_db, update(spec.lines).where(spec.lines.c.sales_order_id == doc_id)
            .values(quantity=777), update(spec.table).where(spec.table.c.id == doc_id)
            .values(updated_at=stamped))
    assert_exact(uow_factory)


def test_a_small_erp_is_summed_afresh_and_a_large_one_kept(uow_factory, erp, clean_db, monkeypatch):
    rnd = random.Random(44)
    winery = Winery(erp, clean_db, rnd)
    winery.fill(5)
    monkeypatch.setattr(kept_module, "DOCUMENT_SUMS_MIN_DOCUMENTS", 10**6)
    assert_exact(uow_factory)
    assert all(c.read_at is None for per_kind in _KindSums._caches.values() for c in per_kind.values())
    monkeypatch.setattr(kept_module, "DOCUMENT_SUMS_MIN_DOCUMENTS", 0)
    assert_exact(uow_factory)
    caches = [c for per_kind in _KindSums._caches.values() for c in per_kind.values()]
    assert len(caches) == 3 and all(c.read_at is not None for c in caches)


@pytest.mark.parametrize("what", ["delete", "cancel"])
def test_a_document_gone_while_a_call_asks_which_are_synced_is_not_taken_for_synced(
        uow_factory, erp, clean_db, monkeypatch, what):
    """PostgreSQL reads each statement at its own moment: a document deleted (or cancelled)
    after the catch-up read it, before the question of which documents are not synced, would
    be taken for synced. The call sees the count change and starts over."""
    if clean_db.dialect.name != "postgresql":
        pytest.skip("SQLite reads one snapshot per transaction (and runs one at a time)")
    rnd = random.Random(45)
    winery = Winery(erp, clean_db, rnd)
    winery.fill(12)
    assert_exact(uow_factory)
    spec = SPECS[Kind.SALES_ORDERS]
    t, r = spec.table, SyncRecordRow.__table__
    with clean_db.connect() as connection:
        unsynced = connection.scalar(select(t.c.id).where(
            t.c.status == "invoiced",
            ~select(r.c.id).where(r.c.kind == "sales_orders", r.c.erp_id == t.c.id.cast(r.c.erp_id.type),
                                  r.c.state == "synced").exists()).order_by(t.c.id).limit(1))
    assert unsynced is not None
    original = kept_module._unsynced
    done: list[bool] = []

    def racing(session, kind):
        if kind is Kind.SALES_ORDERS and not done:
            done.append(True)
            if what == "delete":
                execute(clean_db, delete(spec.lines).where(spec.lines.c.sales_order_id == unsynced),
                        delete(t).where(t.c.id == unsynced))
            else:
                execute(clean_db, update(t).where(t.c.id == unsynced).values(
                    status="cancelled", updated_at=now()))
        return original(session, kind)

    monkeypatch.setattr(kept_module, "_unsynced", racing)
    with uow_factory() as uow:
        found = [tuple(map(Counter, uow.documents.document_sums(c, s))) for c, s in CUTS]
    assert done
    assert found == reference(uow_factory)
