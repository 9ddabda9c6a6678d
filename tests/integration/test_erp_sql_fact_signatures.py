"""The documents' signatures kept in the plugin's tables between processes (document_facts.py):
a new process loads the signatures and their counts instead of reading every line of every
document, and what the preview is told (the values the checks look at, the documents a refusal
catches) is still exactly what a fresh read of the documents gives, whatever changed while no
process was looking, and whichever process wrote last (SQLite and PostgreSQL). A "process"
here is a fresh _FactCache: each process has its own."""

from __future__ import annotations

import random
import threading
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select, update

from accounts_sync.adapters.erp_sql import document_facts
from accounts_sync.adapters.erp_sql import host_schema as host
from accounts_sync.adapters.erp_sql.document_facts import _FactCache, _Signature
from accounts_sync.adapters.erp_sql.plugin_tables import FactMemberRow, FactSignatureRow, FactStateRow
from accounts_sync.adapters.erp_sql.sqlalchemy_documents import SPECS
from accounts_sync.application.ports import RefusalFilter
from accounts_sync.domain.documents import Kind

from .fixtures import line

KIND = Kind.SALES_ORDERS
SPEC = SPECS[KIND]
CLOSING = date(2026, 12, 31)
DAYS = [date(2026, 3, 2), date(2026, 5, 14), date(2026, 9, 30)]
REFUSALS = [
    RefusalFilter(accounts=frozenset({"1460"})),
    RefusalFilter(tax_types=frozenset({"GSTX"})),
    RefusalFilter(currencies=frozenset({"JPY"})),
    RefusalFilter(without_due_date=True),
    RefusalFilter(without_lines=True),
    RefusalFilter(attributes=frozenset({(("vintage", "1999"),)})),
    RefusalFilter(text_limit=9),
]
_ORIGINAL_MINIMUM = document_facts.FACT_CACHE_MIN_DOCUMENTS
_stamp_lock = threading.Lock()


@pytest.fixture(autouse=True)
def kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every kind's signatures are kept, as for an ERP of 1,000+ documents; each test starts
    with no process having run."""
    monkeypatch.setattr(document_facts, "FACT_CACHE_MIN_DOCUMENTS", 0)
    _FactCache._caches.clear()


def now() -> datetime:
    """What the host stamps an edited document with: its current time, naive UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


def new_process() -> None:
    _FactCache._caches.clear()


@contextmanager
def read_afresh():
    """The small-ERP path: every document's lines read again, nothing kept (the oracle)."""
    document_facts.FACT_CACHE_MIN_DOCUMENTS = 10**9
    try:
        yield
    finally:
        document_facts.FACT_CACHE_MIN_DOCUMENTS = 0


def told(uow_factory) -> tuple:
    with uow_factory() as uow:
        facts = uow.documents.unsynced_facts(KIND, CLOSING)
        refused = [document_facts.refused_unsynced(uow.session, SPEC, CLOSING, r) for r in REFUSALS]
    return facts, refused


def assert_exact(uow_factory) -> tuple:
    kept_answer = told(uow_factory)
    with read_afresh():
        fresh_answer = told(uow_factory)
    assert kept_answer == fresh_answer
    return kept_answer


def stored(engine) -> tuple[int | None, int, int]:
    """The stored version, members and the documents the signatures count."""
    with engine.connect() as connection:
        version = connection.scalar(select(FactStateRow.version).where(FactStateRow.kind == KIND.value))
        members = connection.scalar(select(func.count()).select_from(FactMemberRow)
                                    .where(FactMemberRow.kind == KIND.value))
        counted = connection.scalar(select(func.coalesce(func.sum(FactSignatureRow.documents), 0))
                                    .where(FactSignatureRow.kind == KIND.value))
    return version, members, counted


def no_full_read(monkeypatch: pytest.MonkeyPatch) -> list:
    """Fail the test if a kept cache reads every document again; collect what it re-reads."""
    reread: list = []
    original_read_all, original_reread = _FactCache._read_all, _FactCache._reread

    def shared(cache: _FactCache) -> bool:
        return any(cache is c for per_kind in _FactCache._caches.values() for c in per_kind.values())

    def read_all(self, session, spec):
        assert not shared(self), "a full read: the stored signatures were not used"
        return original_read_all(self, session, spec)

    def reread_some(self, session, spec, ids):
        reread.append(set(ids))
        return original_reread(self, session, spec, ids)

    monkeypatch.setattr(_FactCache, "_read_all", read_all)
    monkeypatch.setattr(_FactCache, "_reread", reread_some)
    return reread


def random_lines(rnd: random.Random) -> list:
    if rnd.random() < 0.08:
        return []
    return [line(account=rnd.choice(["4000", "4000", "4010", "1460", None]),
                 tax_type=rnd.choice(["OUTPUT", "OUTPUT", "EXEMPTEXPORT", "GSTX", None]),
                 vintage=rnd.choice([None, "2024", "2025", "1999"]),
                 brand=rnd.choice([None, "Estate", "Reserve"]))
            for _ in range(rnd.randint(1, 3))]


def add_order(erp, rnd: random.Random, customer: int, stamp: datetime, status: str = "invoiced") -> int:
    return erp.sales_order(
        customer, number=f"SO-{rnd.randint(1, 10**9)}{'-LONGER' if rnd.random() < 0.1 else ''}",
        status=status, invoice_date=rnd.choice(DAYS),
        due_date=None if rnd.random() < 0.08 else DAYS[-1] + timedelta(days=30),
        currency="JPY" if rnd.random() < 0.06 else "AUD",
        lines=random_lines(rnd), total="0", updated_at=stamp)


def winery(erp, rnd: random.Random, documents: int = 60) -> int:
    customer = erp.customer("Harbour Wine Distributors")
    old = now() - timedelta(days=3)
    for _ in range(documents):
        add_order(erp, rnd, customer, old, status="invoiced" if rnd.random() < 0.85 else "confirmed")
    return customer


def order_ids(engine, status: str | None = "invoiced") -> list[int]:
    so = host.sales_orders
    query = select(so.c.id).order_by(so.c.id)
    if status is not None:
        query = query.where(so.c.status == status)
    with engine.connect() as connection:
        return list(connection.scalars(query))


def execute(engine, *statements) -> None:
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(statement)


def new_lines(erp, engine, rnd: random.Random, doc_id: int) -> None:
    """The ERP saves the order with other lines, and stamps it."""
    lt = host.sales_order_lines
    execute(engine, delete(lt).where(lt.c.sales_order_id == doc_id))
    erp._lines(lt, "sales_order", doc_id, random_lines(rnd))
    execute(engine, update(host.sales_orders).where(host.sales_orders.c.id == doc_id)
            .values(updated_at=now()))


def remove(engine, doc_id: int) -> None:
    execute(engine, delete(host.sales_order_lines).where(host.sales_order_lines.c.sales_order_id == doc_id),
            delete(host.sales_orders).where(host.sales_orders.c.id == doc_id))


def change(erp, engine, rnd: random.Random, customer: int, action: str) -> None:
    """One thing the ERP does to its orders."""
    so = host.sales_orders
    ids = order_ids(engine)
    if action == "add":
        add_order(erp, rnd, customer, now())
    elif action == "add_old_stamp":  # an import with the stamps of another system: a new id
        add_order(erp, rnd, customer, now() - timedelta(days=30))
    elif action == "lines":
        new_lines(erp, engine, rnd, rnd.choice(ids))
    elif action == "header":
        execute(engine, update(so).where(so.c.id == rnd.choice(ids)).values(
            currency=rnd.choice(["AUD", "JPY"]), due_date=rnd.choice([None, DAYS[-1]]),
            number=f"SO-{rnd.randint(1, 10**9)}", updated_at=now()))
    elif action == "cancel":  # leaves the sendable status, stamped
        execute(engine, update(so).where(so.c.id == rnd.choice(ids)).values(status="cancelled",
                                                                           updated_at=now()))
    elif action == "invoice":  # a confirmed order invoiced, stamped
        confirmed = order_ids(engine, "confirmed")
        if confirmed:
            execute(engine, update(so).where(so.c.id == rnd.choice(confirmed)).values(
                status="invoiced", updated_at=now()))
    elif action == "delete":  # leaves no trace but a count that differs
        remove(engine, rnd.choice(ids))
    elif action == "unstamped":  # a status changed by hand in the database, no stamp
        execute(engine, update(so).where(so.c.id == rnd.choice(ids)).values(status="draft"))


# ------------------------------------------------------------------ one process after another


def test_the_first_use_stores_the_signatures_and_a_new_process_starts_from_them(
        uow_factory, erp, clean_db, monkeypatch):
    winery(erp, random.Random(31))
    assert stored(clean_db) == (None, 0, 0)
    facts, refused = assert_exact(uow_factory)
    assert all(refused), "every refusal catches some order: the comparison means something"
    version, members, counted = stored(clean_db)
    assert version is not None and members == counted == len(order_ids(clean_db))
    new_process()
    reread = no_full_read(monkeypatch)
    assert assert_exact(uow_factory) == (facts, refused)
    assert reread == []  # nothing changed: no document read at all
    assert stored(clean_db)[0] == version  # and nothing written


def test_changes_made_while_no_process_ran_are_seen_by_the_next(uow_factory, erp, clean_db, monkeypatch):
    rnd = random.Random(32)
    customer = winery(erp, rnd)
    assert_exact(uow_factory)
    version = stored(clean_db)[0]
    ids = order_ids(clean_db)
    new_lines(erp, clean_db, rnd, ids[0])
    new_lines(erp, clean_db, rnd, ids[1])
    for action in ("add", "add_old_stamp", "header", "cancel", "invoice", "delete", "unstamped"):
        change(erp, clean_db, rnd, customer, action)
    new_process()
    reread = no_full_read(monkeypatch)
    assert_exact(uow_factory)
    assert reread and len(set().union(*reread)) < len(ids) // 2  # the changed ones, not all
    after = stored(clean_db)
    assert after[0] == version + 1 and after[1] == after[2] == len(order_ids(clean_db))
    new_process()
    assert_exact(uow_factory)


def test_a_save_that_changed_nothing_is_read_again_but_written_only_once_the_tables_lag(
        uow_factory, erp, clean_db, monkeypatch):
    rnd = random.Random(39)
    winery(erp, rnd, 40)
    assert_exact(uow_factory)
    version = stored(clean_db)[0]
    doc_id = order_ids(clean_db)[2]
    execute(clean_db, update(host.sales_orders).where(host.sales_orders.c.id == doc_id)
            .values(updated_at=now()))  # saved as it was
    new_process()
    reread = no_full_read(monkeypatch)
    assert_exact(uow_factory)
    assert doc_id in set().union(*reread)
    assert stored(clean_db)[0] == version  # the tables are still right: no write per call
    monkeypatch.setattr(document_facts, "STAMP_LOOKBACK", timedelta(0))
    assert_exact(uow_factory)
    assert stored(clean_db)[0] == version + 1  # they lag behind: their read_at moves on


def test_an_edit_that_drops_the_last_document_with_a_value_drops_the_value(
        uow_factory, erp, clean_db, monkeypatch):
    customer = erp.customer("Harbour Wine Distributors")
    old = now() - timedelta(days=2)
    for n in range(12):
        erp.sales_order(customer, number=f"SO-OK-{n}", updated_at=old, lines=[line()])
    odd = erp.sales_order(customer, number="SO-ODD", updated_at=old,
                          lines=[line(account="1460", tax_type="GSTX")])
    facts, refused = assert_exact(uow_factory)
    assert "1460" in facts.accounts and "GSTX" in facts.tax_types and refused[0]
    new_process()
    no_full_read(monkeypatch)
    lt = host.sales_order_lines
    execute(clean_db, update(lt).where(lt.c.sales_order_id == odd).values(account_code="4000",
                                                                         tax_type="OUTPUT"),
            update(host.sales_orders).where(host.sales_orders.c.id == odd).values(updated_at=now()))
    facts, refused = assert_exact(uow_factory)
    assert "1460" not in facts.accounts and "GSTX" not in facts.tax_types and not refused[0]
    new_process()
    facts, refused = assert_exact(uow_factory)  # and so say the stored counts
    assert "1460" not in facts.accounts and not refused[0]


def test_kept_in_one_process_edits_and_deletions_seen(uow_factory, erp, clean_db):
    rnd = random.Random(33)
    customer = winery(erp, rnd)
    assert_exact(uow_factory)
    for action in ("lines", "header", "cancel", "delete", "unstamped", "add", "invoice"):
        change(erp, clean_db, rnd, customer, action)
        assert_exact(uow_factory), action


# ------------------------------------------------------------------ processes side by side


def test_two_processes_take_turns_and_neither_goes_wrong(uow_factory, erp, clean_db):
    rnd = random.Random(34)
    customer = winery(erp, rnd, 50)
    first, second = _FactCache(KIND.value), _FactCache(KIND.value)
    actions = ["add", "add_old_stamp", "lines", "lines", "header", "cancel", "invoice", "delete",
               "unstamped", "none"]
    for step in range(30):
        action = rnd.choice(actions)
        if action != "none":
            change(erp, clean_db, rnd, customer, action)
        process = rnd.choice([first, second])
        _FactCache._caches[clean_db] = {KIND.value: process}  # this step's call runs there
        assert_exact(uow_factory), (step, action)
        assert stored(clean_db)[1] == stored(clean_db)[2] == len(order_ids(clean_db)), (step, action)


def test_a_stale_process_never_writes_over_a_newer_snapshot(uow_factory, erp, clean_db):
    rnd = random.Random(35)
    customer = winery(erp, rnd, 40)
    assert_exact(uow_factory)
    stale = _FactCache._caches[clean_db][KIND.value]
    new_process()
    change(erp, clean_db, rnd, customer, "lines")
    assert_exact(uow_factory)  # another process writes the next version
    version = stored(clean_db)[0]
    doc_id = order_ids(clean_db)[3]
    stale.pending = {doc_id: None}  # as if it had seen the order leave, on its old version
    stale.persist(clean_db)
    assert stored(clean_db)[0] == version  # refused: it was derived from the version before
    _FactCache._caches[clean_db] = {KIND.value: stale}
    assert_exact(uow_factory)  # it loads the newer version and goes on from there


def test_a_writer_never_waits_for_nor_writes_under_a_reading_preview(uow_factory, erp, clean_db):
    """PostgreSQL: a call reading the tables holds a share lock on the kind's state row until
    its transaction ends; a process with something to write meanwhile leaves it for later."""
    if clean_db.dialect.name != "postgresql":
        pytest.skip("SQLite runs one unit of work at a time: nothing writes under a reader")
    rnd = random.Random(36)
    customer = winery(erp, rnd, 40)
    assert_exact(uow_factory)
    reader, writer = _FactCache(KIND.value), _FactCache(KIND.value)
    _FactCache._caches[clean_db] = {KIND.value: reader}
    with uow_factory() as reading:
        reading.documents.unsynced_facts(KIND, CLOSING)
        version = stored(clean_db)[0]
        change(erp, clean_db, rnd, customer, "lines")
        _FactCache._caches[clean_db] = {KIND.value: writer}
        assert_exact(uow_factory)  # exact, though its finding could not be written
        assert stored(clean_db)[0] == version and writer.pending
        _FactCache._caches[clean_db] = {KIND.value: reader}
        document_facts.refused_unsynced(reading.session, SPEC, CLOSING, REFUSALS[0])
    assert stored(clean_db)[0] == version + 1  # the reader's own finding, once it had ended
    _FactCache._caches[clean_db] = {KIND.value: writer}
    assert_exact(uow_factory)
    assert not writer.pending and writer.version == stored(clean_db)[0]  # it took that one up
    _FactCache._caches[clean_db] = {KIND.value: reader}
    assert_exact(uow_factory)


# ------------------------------------------------------------------ the tables as a cache


def test_emptied_tables_are_filled_again(uow_factory, erp, clean_db):
    rnd = random.Random(37)
    customer = winery(erp, rnd, 40)
    assert_exact(uow_factory)
    execute(clean_db, delete(FactMemberRow), delete(FactSignatureRow), delete(FactStateRow))
    change(erp, clean_db, rnd, customer, "lines")
    assert_exact(uow_factory)  # the memory leant on the tables: it reads the documents again
    version, members, counted = stored(clean_db)
    assert version is not None and members == counted == len(order_ids(clean_db))
    new_process()
    assert_exact(uow_factory)


def test_a_failed_write_costs_nothing_but_time(uow_factory, erp, clean_db, monkeypatch):
    rnd = random.Random(38)
    customer = winery(erp, rnd, 40)

    def broken(self, engine):
        raise RuntimeError("disk full")

    monkeypatch.setattr(_FactCache, "_write", broken)
    assert_exact(uow_factory)
    assert stored(clean_db) == (None, 0, 0)
    change(erp, clean_db, rnd, customer, "lines")
    change(erp, clean_db, rnd, customer, "delete")
    assert_exact(uow_factory)  # the memory alone, still right
    monkeypatch.undo()
    monkeypatch.setattr(document_facts, "FACT_CACHE_MIN_DOCUMENTS", 0)
    assert_exact(uow_factory)
    assert stored(clean_db)[1] == len(order_ids(clean_db))
    new_process()
    assert_exact(uow_factory)


def test_signatures_come_back_from_the_table_as_they_went_in():
    odd = _Signature(frozenset({("4000", "OUTPUT", "20\x1e24", "Es\x1ftate"), ("", "", "", "")}),
                     "AUD", True, 7)
    plain = _Signature(frozenset({("4000", "OUTPUT", "2024", "Estate"), ("4010", "", "", "")}),
                       "JPY", False, 12)
    empty = _Signature(frozenset(), "AUD", False, 3)
    one_blank = _Signature(frozenset({("", "", "", "")}), "AUD", False, 3)
    for signature in (odd, plain, empty, one_blank):
        back = _Signature.decoded(signature.encoded_lines, signature.currency,
                                  signature.without_due_date, signature.number_length)
        assert back == signature and back.digest == signature.digest
    assert len({s.digest for s in (odd, plain, empty, one_blank)}) == 4
