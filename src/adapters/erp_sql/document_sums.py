"""The reconciliation's sums of the ERP's trade documents (DocumentSource.document_sums), kept
between calls.

Reconcile asks for every line of every document that counts (invoiced, billed, approved) up to
the closing date, summed per document type, sync state (synced / failed / not synced), earlier
than the financial year, account and batch attributes, and the documents' totals per state and
contact. Summing 325,000 lines joined to their sync records takes seconds at 100,000
documents (sqlalchemy_reconciliation.summed_document_sums, the reference, which an ERP of fewer
than DOCUMENT_SUMS_MIN_DOCUMENTS documents of a kind still gets), yet the lines hardly change
between two reconciliations. So, per database and kind, the process keeps (`_KindSums`):

- each counting document's date, contact and its lines summed per (account, vintage, brand)
  (net, tax, how many lines), as the reference computes them in SQL (the same expressions);
- those documents summed per day and per month, whatever their sync state.

It is brought up to date at each call as the other kept caches are (the cost-flow sums,
sqlalchemy_documents._FlowCache, and the documents' signatures, document_facts._FactCache):
the documents stamped (`updated_at`, which the host sets when it edits a document or its lines)
since the last read less STAMP_LOOKBACK (for a transaction that commits a while after it
stamps), and those with a higher id than it saw, are read again; a count of the counting
documents that differs from the kept one (a deletion, or a status changed without a stamp) is
settled by comparing the ids. A host that edits without stamping is not seen (as by those
caches, and by changed_after_sync).

What is never kept is which documents are synced. Each call asks the database for the
documents without a synced record (few, once most are synced: an anti-join with the records)
and their record's state; their kept contributions are taken out of the all-states sums and
put under their state, and what remains is synced. Everything summed comes from the kept
copy, so the parts always add up to the same documents: a document the host inserts between
the catch-up and that question is simply not there yet (as if inserted a moment later). One
deleted in between would be taken for synced; on PostgreSQL (read committed: each statement
sees its own moment) the count of the documents the catch-up knew is asked again after the
question, and the call starts over when it differs. SQLite's transaction reads one snapshot.

The first call of a process reads every line once (what the reference costs, a couple of
seconds at 100,000 documents); nothing is written to the plugin's tables.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, String, case, cast, exists, func, select, union
from sqlalchemy.orm import Session, aliased

from ...domain.documents import Kind
from ...domain.reconciliation import ContactSum, ErpState, LineSum
from .plugin_tables import SyncRecordRow
from .sqlalchemy_documents import SPECS, line_cents, scaled, unscaled
from .sqlalchemy_reconciliation import XERO_TYPES, kind_document_sums

# Below this many counting documents of a kind, the reference query sums them on every call
# (tens of milliseconds); above it, the sums are kept (_KindSums).
DOCUMENT_SUMS_MIN_DOCUMENTS = 1_000
# Documents stamped this long before the last read are read again (as for the other caches).
STAMP_LOOKBACK = timedelta(minutes=15)
IN_CHUNK = 500
# On PostgreSQL, a call starts over when a document it knew was deleted while it asked which
# are synced; after this many tries it sums in SQL (the reference), which is always right.
_TRIES = 3

_Key = tuple[Any, Any, Any]  # account code, vintage, brand, as the host has them (None kept)
_Group = tuple[_Key, int, int, int]  # key, net cents, tax cents, lines
_Doc = tuple[date, int, tuple[_Group, ...]]  # date, contact id, its lines summed per key


class _Sums:
    """Documents summed: per key [net, tax, lines], per contact [net + tax, lines]."""

    __slots__ = ("lines", "contacts")

    def __init__(self) -> None:
        self.lines: dict[_Key, list[int]] = {}
        self.contacts: dict[int, list[int]] = {}

    def add(self, doc: _Doc, sign: int) -> None:
        _, contact, groups = doc
        total = count = 0
        lines = self.lines
        for key, net, tax, n in groups:
            found = lines.get(key)
            if found is None:
                found = lines[key] = [0, 0, 0]
            found[0] += sign * net
            found[1] += sign * tax
            found[2] += sign * n
            if not found[2]:
                del lines[key]
            total += net + tax
            count += n
        if count:
            found = self.contacts.get(contact)
            if found is None:
                found = self.contacts[contact] = [0, 0]
            found[0] += sign * total
            found[1] += sign * count
            if not found[1]:
                del self.contacts[contact]


class _KindSums:
    """One kind's counting documents, each summed, and summed per day and month (see the
    module's docstring). One per database (Engine) and kind, for the life of the process."""

    _caches: WeakKeyDictionary[Engine, dict[Kind, _KindSums]] = WeakKeyDictionary()
    _registry_lock = threading.Lock()

    def __init__(self, kind: Kind) -> None:
        self.kind = kind
        self.spec = SPECS[kind]
        self.lock = threading.Lock()
        self.docs: dict[int, _Doc] = {}
        self.days: dict[date, _Sums] = defaultdict(_Sums)
        self.months: dict[date, _Sums] = defaultdict(_Sums)
        self.read_at: datetime | None = None  # host-clock UTC time before the last read began
        self.top_id = 0  # the highest document id before the last read began

    @classmethod
    def shared(cls, session: Session, kind: Kind) -> _KindSums:
        bind = session.get_bind()
        engine = bind if isinstance(bind, Engine) else bind.engine
        with cls._registry_lock:
            per_kind = cls._caches.setdefault(engine, {})
            found = per_kind.get(kind)
            if found is None:
                found = per_kind[kind] = cls(kind)
            return found

    # ------------------------------------------------------------ catching up

    def refresh(self, session: Session, top: int) -> int:
        """Bring the documents with ids up to `top` (the highest id, read just before) up to
        date; those above are left to the next call. Returns how many counted when it
        looked (on a first read, how many it kept)."""
        started = datetime.now(UTC).replace(tzinfo=None)  # host stamps are naive UTC
        t = self.spec.table
        if self.read_at is None:
            self._read(session, None, top)
            count = len(self.docs)
        else:
            since = self.read_at - STAMP_LOOKBACK
            # A UNION, not an OR: each side is a range scan of its own index.
            ids = set(session.scalars(union(
                select(t.c.id).where(t.c.updated_at > since, t.c.id <= top),
                select(t.c.id).where(t.c.id > self.top_id, t.c.id <= top),
            )))
            if ids:
                self._read(session, ids, top)
            count = _counted(session, self.spec, top)
            if count != len(self.docs):  # deleted, or left (joined) the status unstamped
                counting = set(session.scalars(select(t.c.id).where(*self._counting(),
                                                                     t.c.id <= top)))
                self._read(session, counting ^ self.docs.keys(), top)
        self.read_at, self.top_id = started, top
        return count

    def _counting(self) -> tuple[Any, ...]:
        spec = self.spec
        return (spec.table.c.status == spec.status, spec.date.is_not(None))

    def _read(self, session: Session, ids: set[int] | None, top: int) -> None:
        """These documents read again (every one when None): those that count replace what
        was kept of them, the others leave."""
        spec = self.spec
        t, lines = spec.table, spec.lines
        cents = line_cents(lines)
        tax = scaled(lines.c.tax_amount, 2)
        net = case((t.c.line_amount_types == "Inclusive", cents - tax), else_=cents)
        stmt = (select(t.c.id, spec.date, t.c[spec.contact_column], lines.c.account_code,
                       lines.c.vintage, lines.c.brand, net, tax, lines.c.id.is_not(None))
                .select_from(t.outerjoin(lines, lines.c[spec.line_parent] == t.c.id))
                .where(*self._counting(), t.c.id <= top))
        if ids is None:
            self.docs, self.days, self.months = {}, defaultdict(_Sums), defaultdict(_Sums)
            chunks: list[list[int] | None] = [None]
        else:
            ordered = sorted(ids)
            chunks = [ordered[i:i + IN_CHUNK] for i in range(0, len(ordered), IN_CHUNK)]
        keys: dict[_Key, _Key] = {}
        for chunk in chunks:
            query = stmt if chunk is None else stmt.where(t.c.id.in_(chunk))
            heads: dict[int, tuple[date, int]] = {}
            summed: dict[int, dict[_Key, list[int]]] = defaultdict(dict)
            # In batches: row by row is slow on psycopg, all at once holds every line.
            rows = (row for part in session.execute(
                query, execution_options={"yield_per": 10_000}).partitions() for row in part)
            for doc_id, day, contact, code, vintage, brand, net_cents, tax_cents, has_line in rows:
                heads[doc_id] = (day, contact)
                if has_line:
                    key = (code, vintage, brand)
                    key = keys.setdefault(key, key)
                    found = summed[doc_id].get(key)
                    if found is None:
                        summed[doc_id][key] = [int(net_cents or 0), int(tax_cents or 0), 1]
                    else:
                        found[0] += int(net_cents or 0)
                        found[1] += int(tax_cents or 0)
                        found[2] += 1
            for doc_id in (chunk if chunk is not None else heads):
                old = self.docs.pop(doc_id, None)
                if old is not None:
                    self._add(old, -1)
                head = heads.get(doc_id)
                if head is None:
                    continue
                groups = tuple((key, n, t_, c) for key, (n, t_, c)
                               in summed.get(doc_id, {}).items())
                doc = (head[0], int(head[1]), groups)
                self.docs[doc_id] = doc
                self._add(doc, 1)

    def _add(self, doc: _Doc, sign: int) -> None:
        day = doc[0]
        self.days[day].add(doc, sign)
        self.months[day.replace(day=1)].add(doc, sign)

    # ------------------------------------------------------------ the answer

    def sums(self, closing: date, start: date, unsynced: Iterable[tuple[int, str | None]]
             ) -> tuple[dict[tuple[str, bool, _Key], list[int]], dict[tuple[str, int], list[int]]]:
        """[net, tax, lines] per (state, earlier, key) and [total, lines] per (state, contact)
        of the documents dated up to the closing date; `unsynced`: (id, record state) of the
        documents without a synced record."""
        lines: dict[tuple[str, bool, _Key], list[int]] = {}
        contacts: dict[tuple[str, int], list[int]] = {}
        synced = ErpState.SYNCED.value

        def add(sums: _Sums, earlier: bool) -> None:
            for key, values in sums.lines.items():
                _bump(lines, (synced, earlier, key), values)
            for contact, values in sums.contacts.items():
                _bump(contacts, (synced, contact), values)

        month = closing.replace(day=1)
        partial = {month} | ({start.replace(day=1)} if start.day != 1 else set())
        for first, summed in self.months.items():
            if first < month and first not in partial:
                add(summed, first < start)  # a whole month on one side of the start
        for first in partial:
            day = first
            while day.month == first.month and day <= closing:
                summed = self.days.get(day)
                if summed is not None:
                    add(summed, day < start)
                day += timedelta(days=1)
        # The documents not synced: out of the synced sums, under their own state.
        docs = self.docs
        for doc_id, record_state in unsynced:
            doc = docs.get(doc_id)
            if doc is None or doc[0] > closing:
                continue  # not counting (or not yet known: read at the next call)
            state = ErpState.FAILED.value if record_state == "failed" else ErpState.NOT_SYNCED.value
            day, contact, groups = doc
            earlier = day < start
            total = count = 0
            for key, net, tax, n in groups:
                _bump(lines, (synced, earlier, key), (net, tax, n), -1)
                _bump(lines, (state, earlier, key), (net, tax, n))
                total += net + tax
                count += n
            if count:
                _bump(contacts, (synced, contact), (total, count), -1)
                _bump(contacts, (state, contact), (total, count))
        return lines, contacts


def _bump(sums: dict[Any, list[int]], key: Any, values: Sequence[int], sign: int = 1) -> None:
    """Add the values (signed) to the sums under `key`, which start at zero."""
    found = sums.get(key)
    if found is None:
        found = sums[key] = [0] * len(values)
    for i, value in enumerate(values):
        found[i] += sign * value


def _counted(session: Session, spec: Any, top: int) -> int:
    """The counting documents with ids up to `top`."""
    t = spec.table
    return int(session.scalar(select(func.count()).where(
        t.c.status == spec.status, spec.date.is_not(None), t.c.id <= top)) or 0)


def _unsynced(session: Session, kind: Kind) -> list[tuple[int, str | None]]:
    """(id, state of its record, None without one) of the documents in the counting status
    without a synced record: a probe per document into the records' covering (kind, erp_id,
    state) index, and one more for the few found, for their record's state."""
    spec = SPECS[kind]
    t = spec.table
    record = aliased(SyncRecordRow, name="reconciled_record")
    synced = aliased(SyncRecordRow, name="synced_record")
    state = (select(record.state)
             .where(record.kind == kind.value, record.erp_id == cast(t.c.id, String))
             .scalar_subquery())
    stmt = select(t.c.id, state).where(t.c.status == spec.status, ~exists().where(
        synced.kind == kind.value, synced.state == ErpState.SYNCED.value,
        synced.erp_id == cast(t.c.id, String)))
    return [(int(doc_id), found) for doc_id, found in session.connection().execute(stmt)]


def document_sums(session: Session, closing_date: date, period_start: date
                  ) -> tuple[list[LineSum], list[ContactSum]]:
    lines_out: list[LineSum] = []
    totals_out: list[ContactSum] = []
    for kind, spec in SPECS.items():
        kept = _KindSums.shared(session, kind).read_at is not None
        if not kept and int(session.scalar(select(func.count()).where(
                spec.table.c.status == spec.status, spec.date.is_not(None))) or 0) \
                < DOCUMENT_SUMS_MIN_DOCUMENTS:
            lines, totals = kind_document_sums(session, kind, closing_date, period_start)
        else:
            lines, totals = _kept_sums(session, kind, closing_date, period_start)
        lines_out.extend(lines)
        totals_out.extend(totals)
    return lines_out, totals_out


def _kept_sums(session: Session, kind: Kind, closing: date, start: date
               ) -> tuple[list[LineSum], list[ContactSum]]:
    spec = SPECS[kind]
    cache = _KindSums.shared(session, kind)
    # SQLite's transaction reads one snapshot. Under PostgreSQL's read committed, a document
    # the catch-up knew could be deleted or leave the status before the question of which are
    # synced is asked (it would be taken for synced): the count tells, and the call starts over.
    checked = session.get_bind().dialect.name == "postgresql"
    for _ in range(_TRIES):
        with cache.lock:
            top = int(session.scalar(select(func.max(spec.table.c.id))) or 0)
            counted = cache.refresh(session, top)
            unsynced = _unsynced(session, kind)
            if checked and _counted(session, spec, top) != counted:
                continue
            lines, contacts = cache.sums(closing, start, unsynced)
        return _rows(session, kind, lines, contacts)
    return kind_document_sums(session, kind, closing, start)


def _rows(session: Session, kind: Kind, lines: dict[tuple[str, bool, _Key], list[int]],
          contacts: dict[tuple[str, int], list[int]]) -> tuple[list[LineSum], list[ContactSum]]:
    spec = SPECS[kind]
    document_type = XERO_TYPES[kind]
    lines_out = []
    for (state, earlier, (code, vintage, brand)), (net, tax, n) in lines.items():
        if n > 0:
            attributes = tuple((a, v) for a, v in (("brand", brand), ("vintage", vintage)) if v)
            lines_out.append(LineSum(document_type, state, earlier, code or "", (),
                                     unscaled(net, 2), unscaled(tax, 2), attributes))
    ids = sorted({contact for (_, contact), (_, n) in contacts.items() if n > 0})
    names: dict[int, str] = {}
    contact = spec.contact
    for start in range(0, len(ids), IN_CHUNK):
        names.update((contact_id, name) for contact_id, name in session.execute(
            select(contact.c.id, contact.c.name).where(contact.c.id.in_(ids[start:start + IN_CHUNK]))))
    totals_out = [
        ContactSum(document_type, state, f"{spec.contact_prefix}:{contact_id}",
                   names[contact_id] or "", unscaled(total, 2))
        for (state, contact_id), (total, n) in contacts.items()
        if n > 0 and contact_id in names  # the reference joins the contact: none, no total
    ]
    return lines_out, totals_out
