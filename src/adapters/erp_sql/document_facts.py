"""The values the sync's checks look at, over every document of a kind, kept between previews
and between processes.

The preview runs the sync's own checks over every unsynced document (application/checks.py):
it asks for the distinct values the documents carry (accounts, tax types, tracking options,
currencies, missing due dates, ...), checks those, and asks for the documents that carry a
refused one. Reading every line of 100,000 documents takes a second or two, yet lines hardly
change between two previews, so each document's values are kept per database and kind
(`_FactCache`), as a *signature* shared by the many documents that carry the same values (a
thousand signatures for 100,000 documents), and brought up to date from the documents stamped
since (the host stamps `updated_at` when it edits a document or its lines, as
changed_after_sync relies on too; new documents have higher ids; a count that differs reveals
deletions, found by comparing the ids).

Between processes the signatures live in the plugin's tables: each signature with how many
documents carry it (`accounts_sync_fact_signatures`), which signature each document carries
(`accounts_sync_fact_members`), and per kind when they were read and a version
(`accounts_sync_fact_state`). A process loads the signatures and their counts (not the
100,000 documents: which documents carry a refused signature is asked of the members table)
and catches up as above. What it found changed is kept in memory (`pending`) and written back
once the call's transaction has ended, only onto the version it was derived from, as the
cost-flow sums are (sqlalchemy_documents._FlowCache); a process that finds another version
loads that one instead. While a call reads the tables, PostgreSQL holds a share lock on the
kind's state row, so no write lands between two of its statements (writers do not wait for
it: they leave the write to a later call).

Which documents are unsynced, dated up to the closing date, inside a lock period or with a
contact whose name Xero would refuse is always asked of the database, never kept.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import (
    Engine,
    String,
    bindparam,
    cast,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    union,
    update,
)
from sqlalchemy import event as sa_event
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, SessionTransaction, aliased

from ...application.ports import DocumentFacts, RefusalFilter
from ...domain.sync import SyncState
from .plugin_tables import FactMemberRow, FactSignatureRow, FactStateRow, SyncRecordRow

log = logging.getLogger(__name__)

IN_CHUNK = 500
# Below this many sendable documents of a kind, their values are read afresh on every call
# (milliseconds); above it, they are kept between calls (_FactCache.shared).
FACT_CACHE_MIN_DOCUMENTS = 1_000
# Documents stamped this long before the last read are read again: a host transaction may
# commit a while after it stamped its rows (as for the cost flows).
STAMP_LOOKBACK = timedelta(minutes=15)
_ROWS_PER_INSERT = 5_000
_PERSIST_HOOK = "accounts_sync_fact_signatures_hook"

_Line = tuple[str, str, str, str]  # account code, tax type, vintage, brand ('' when empty)
_FIELD, _LINE = "\x1f", "\x1e"  # ASCII unit and record separators
_SIGNATURES = FactSignatureRow.__table__
_MEMBERS = FactMemberRow.__table__
_STATE = FactStateRow.__table__


@dataclass(frozen=True)
class _Signature:
    """What the checks see of a document, apart from its date and contact."""

    lines: frozenset[_Line]
    currency: str
    without_due_date: bool
    number_length: int

    @cached_property
    def encoded_lines(self) -> str:
        """The lines as the signatures table keeps them: fields joined by US, lines by RS (a
        thousand signatures split in a millisecond), or JSON after an RS when a value holds
        either character."""
        ordered = sorted(self.lines)
        if any(_FIELD in value or _LINE in value for line in ordered for value in line):
            return _LINE + json.dumps(ordered)
        return _LINE.join(_FIELD.join(line) for line in ordered)

    @cached_property
    def digest(self) -> str:
        """Names the signature by its content, the same in every process."""
        content = json.dumps([self.encoded_lines, self.currency, self.without_due_date,
                              self.number_length], separators=(",", ":"))
        return hashlib.blake2b(content.encode(), digest_size=16).hexdigest()

    @classmethod
    def decoded(cls, lines: str, currency: str, without_due_date: bool, number_length: int) -> _Signature:
        if not lines:
            found: frozenset[_Line] = frozenset()
        elif lines.startswith(_LINE):  # a line never starts with RS: it holds three USs
            found = frozenset(tuple(line) for line in json.loads(lines[1:]))  # type: ignore[misc]
        else:
            found = frozenset(tuple(line.split(_FIELD)) for line in lines.split(_LINE))  # type: ignore[misc]
        return cls(found, currency, bool(without_due_date), int(number_length))

    def attributes(self) -> set[tuple[tuple[str, str], ...]]:
        """The lines' batch attributes, as the documents hand them over (the mapping makes
        tracking of them, in the application)."""
        return {_attributes(vintage, brand) for _, _, vintage, brand in self.lines}

    def refused(self, refusal: RefusalFilter) -> bool:
        if refusal.currencies and self.currency in refusal.currencies:
            return True
        if refusal.without_due_date and self.without_due_date:
            return True
        if refusal.without_lines and not self.lines:
            return True
        if refusal.text_limit and not 1 <= self.number_length <= refusal.text_limit:
            return True
        for account, tax, vintage, brand in self.lines:
            if account in refusal.accounts or tax in refusal.tax_types:
                return True
            if refusal.attributes and _attributes(vintage, brand) in refusal.attributes:
                return True
        return False


class _FactCache:
    """The signatures of the documents of one kind in the status that makes them sendable, and
    how many documents carry each.

    The memory is either *backed*, the plugin's tables at `version` plus `pending` (documents
    whose signature changed since, by digest, None when they left), or, before its first write
    (or when the tables were emptied under it), standalone: `pending` then holds every
    document. Counts and signatures are always whole in memory; which document carries which
    signature is read from the members table only when a document changed or a refusal asks.
    """

    _caches: WeakKeyDictionary[Engine, dict[str, _FactCache]] = WeakKeyDictionary()
    _registry_lock = threading.Lock()

    def __init__(self, kind: str = "") -> None:
        self.kind = kind
        self.lock = threading.Lock()
        self.signatures: dict[str, _Signature] = {}  # by digest; every counted one is here
        self.counts: dict[str, int] = {}  # digest → documents carrying it (never 0)
        self.total = 0  # the sum of the counts
        self.pending: dict[int, str | None] = {}
        self.backed = False
        self.version: int | None = None  # the tables' snapshot the memory was loaded from or wrote
        self.read_at: datetime | None = None  # host-clock UTC time before the last read began
        self.top_id = 0  # the highest document id before the last read began
        self.touched: set[str] = set()  # digests whose count changed since the tables' version
        self.stored_read_at: datetime | None = None  # the read_at the tables hold for `version`
        # What was worked out from the signatures, until they change (a preview asks again
        # and again of data that has not moved).
        self._facts: DocumentFacts | None = None
        self._refused: dict[RefusalFilter, set[int]] = {}

    @classmethod
    def shared(cls, session: Session, kind: str) -> _FactCache:
        engine = _engine(session)
        with cls._registry_lock:
            per_kind = cls._caches.setdefault(engine, {})
            cache = per_kind.get(kind)
            if cache is None:
                cache = per_kind[kind] = cls(kind)
            return cache

    # ------------------------------------------------------------ reading

    def refresh(self, session: Session, spec: Any, count: int) -> None:
        """Bring the signatures up to date; `count`: the sendable documents, read just before."""
        started = datetime.now(UTC).replace(tzinfo=None)  # host stamps are naive UTC
        t = spec.table
        top = int(session.scalar(select(func.max(t.c.id))) or 0)
        query = select(_STATE.c.version, _STATE.c.read_at, _STATE.c.top_id).where(
            _STATE.c.kind == self.kind)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(read=True)  # see the module's docstring
        stored = session.execute(query).first()
        if stored is None:
            if self.backed:  # the tables were emptied: what the memory leant on is gone
                self._forget_all()
        elif stored.version != self.version:
            self._load(session, stored.version, stored.read_at, int(stored.top_id))
        if self.read_at is None:
            self._read_all(session, spec)
        else:
            since = self.read_at - STAMP_LOOKBACK
            ids = set(session.scalars(union(
                select(t.c.id).where(t.c.updated_at > since),
                select(t.c.id).where(t.c.id > self.top_id),
            )))
            if ids:
                self._reread(session, spec, ids)
            if count != self.total and self.backed:  # deleted, or left the status unstamped
                self._reread(session, spec, self._strays(session, spec) | set(self.pending))
            if count != self.total:
                self._read_all(session, spec)
        self.read_at, self.top_id = started, top

    def _forget_all(self) -> None:
        self.signatures, self.counts, self.total, self.pending = {}, {}, 0, {}
        self.backed, self.version, self.read_at, self.top_id = False, None, None, 0
        self.touched, self.stored_read_at = set(), None
        self._changed()

    def _changed(self) -> None:
        self._facts = None
        self._refused.clear()

    def _load(self, session: Session, version: int, read_at: datetime, top_id: int) -> None:
        """The memory becomes the tables' snapshot: the signatures and their counts."""
        s = _SIGNATURES.c
        self.signatures, self.counts = {}, {}
        for digest, lines, currency, no_due, length, documents in session.execute(
                select(s.digest, s.lines, s.currency, s.without_due_date, s.number_length,
                       s.documents).where(s.kind == self.kind, s.documents > 0)).tuples():
            self.signatures[digest] = _Signature.decoded(lines, currency, no_due, length)
            self.counts[digest] = int(documents)
        self.total = sum(self.counts.values())
        self.pending, self.touched, self.backed = {}, set(), True
        self.version = version
        self.read_at = read_at.replace(tzinfo=None) if read_at.tzinfo else read_at
        self.stored_read_at = self.read_at
        self.top_id = top_id
        self._changed()

    def _read_all(self, session: Session, spec: Any) -> None:
        """Every document's signature from the host's tables; the memory stands alone until it
        is written (over whatever version it had, when it had one)."""
        found = _host_signatures(session, spec, None)
        self.signatures, self.counts, self.pending = {}, {}, {}
        for doc_id, signature in found.items():
            digest = self._intern(signature)
            self.counts[digest] = self.counts.get(digest, 0) + 1
            self.pending[doc_id] = digest
        self.total = len(found)
        self.backed, self.touched = False, set()
        self._changed()

    def _reread(self, session: Session, spec: Any, ids: set[int]) -> None:
        """These documents' signatures again (those no longer sendable leave)."""
        if not ids:
            return
        now = _host_signatures(session, spec, ids)
        before = self._carried(session, ids)
        changed = False
        for doc_id in ids:
            old = before.get(doc_id)
            signature = now.get(doc_id)
            new = self._intern(signature) if signature is not None else None
            if old == new:
                continue
            if old is not None:
                self._count(old, -1)
            if new is not None:
                self._count(new, 1)
            self.pending[doc_id] = new
            changed = True
        if changed:
            self._changed()

    def _intern(self, signature: _Signature) -> str:
        digest = signature.digest
        self.signatures.setdefault(digest, signature)
        return digest

    def _count(self, digest: str, delta: int) -> None:
        left = self.counts.get(digest, 0) + delta
        if left:
            self.counts[digest] = left
        else:
            del self.counts[digest]
        self.total += delta
        self.touched.add(digest)

    def _carried(self, session: Session, ids: Iterable[int]) -> dict[int, str]:
        """The digest each of these documents carries in the memory (absent: not a member)."""
        found = {doc_id: digest for doc_id in ids
                 if (digest := self.pending.get(doc_id, "")) != "" and digest is not None}
        if not self.backed:
            return found
        m = _MEMBERS.c
        asked = sorted(doc_id for doc_id in ids if doc_id not in self.pending)
        for start in range(0, len(asked), IN_CHUNK):
            found.update((doc_id, digest) for doc_id, digest in session.execute(
                select(m.doc_id, m.digest).where(
                    m.kind == self.kind, m.doc_id.in_(asked[start:start + IN_CHUNK]))))
        return found

    def _strays(self, session: Session, spec: Any) -> set[int]:
        """Documents the members table and the host disagree on being sendable (the memory's
        pending ones aside, which are read again anyway): two anti-joins on primary keys."""
        t, m = spec.table, _MEMBERS.c
        gone = select(m.doc_id).where(m.kind == self.kind, ~exists().where(
            t.c.id == m.doc_id, t.c.status == spec.status))
        arrived = select(t.c.id).where(t.c.status == spec.status, ~exists().where(
            m.kind == self.kind, m.doc_id == t.c.id))
        return {int(i) for i in session.scalars(union(gone, arrived))}

    def facts(self) -> DocumentFacts:
        if self._facts is None:
            self._facts = self._gather()
        return self._facts

    def _gather(self) -> DocumentFacts:
        signatures = [self.signatures[digest] for digest in self.counts]
        if not signatures:
            return DocumentFacts()
        lengths = [s.number_length for s in signatures]
        return DocumentFacts(
            accounts=frozenset(line[0] for s in signatures for line in s.lines),
            tax_types=frozenset(line[1] for s in signatures for line in s.lines),
            attributes=frozenset(a for s in signatures for a in s.attributes()),
            currencies=frozenset(s.currency for s in signatures),
            without_due_date=any(s.without_due_date for s in signatures),
            without_lines=any(not s.lines for s in signatures),
            number_lengths=(min(lengths), max(lengths)),
        )

    def refused_ids(self, session: Session, refusal: RefusalFilter) -> set[int]:
        found = self._refused.get(refusal)
        if found is None:
            digests = {d for d in self.counts if self.signatures[d].refused(refusal)}
            found = {doc_id for doc_id, digest in self.pending.items() if digest in digests}
            if self.backed and digests:
                m = _MEMBERS.c
                ordered = sorted(digests)
                for start in range(0, len(ordered), IN_CHUNK):
                    found.update(doc_id for doc_id in session.scalars(select(m.doc_id).where(
                        m.kind == self.kind, m.digest.in_(ordered[start:start + IN_CHUNK])))
                        if doc_id not in self.pending)
            self._refused[refusal] = found
        return found

    # ------------------------------------------------------------ the plugin's tables

    def persist_after(self, session: Session) -> None:
        """Write what the tables lack once the session's transaction has ended."""
        key = (_PERSIST_HOOK, self.kind)
        if not self._unwritten() or session.info.get(key):
            return
        engine = _engine(session)
        done: list[bool] = []

        def after(_session: Session, transaction: SessionTransaction) -> None:
            if transaction.parent is not None or done:
                return
            done.append(True)
            self.persist(engine)

        session.info[key] = True
        sa_event.listen(session, "after_transaction_end", after)

    def _unwritten(self) -> bool:
        """Something the tables lack: documents changed, or the tables stand for nothing, or
        their read_at lags so far behind that a new process would read many documents again
        (nothing changed: the tables are right, only older; not written on every call)."""
        if self.read_at is None:
            return False
        if not self.backed or self.pending:
            return True
        return self.stored_read_at is None or self.read_at - self.stored_read_at > STAMP_LOOKBACK

    def persist(self, engine: Engine) -> None:
        with self.lock:
            if not self._unwritten():
                return
            try:
                self._write(engine)
            except OperationalError as error:
                if _lock_busy(error):  # a call is reading the tables: a later call writes
                    return
                log.warning("could not keep the documents' signatures in the plugin's tables",
                            exc_info=True)
            except Exception:  # a cache: the next process starts further behind, that's all
                log.warning("could not keep the documents' signatures in the plugin's tables",
                            exc_info=True)

    def _write(self, engine: Engine) -> None:
        s, m = _SIGNATURES.c, _MEMBERS.c
        with engine.begin() as connection:
            query = select(_STATE.c.version).where(_STATE.c.kind == self.kind)
            if connection.dialect.name == "postgresql":
                query = query.with_for_update(nowait=True)
            stored = connection.scalar(query)
            if stored != self.version:
                return  # another process wrote its snapshot: ours is loaded over next time
            if not self.backed:
                connection.execute(delete(_MEMBERS).where(m.kind == self.kind))
                connection.execute(delete(_SIGNATURES).where(s.kind == self.kind))
                self._insert_signatures(connection, list(self.counts))
            else:
                ordered = sorted(self.pending)
                for start in range(0, len(ordered), IN_CHUNK):
                    connection.execute(delete(_MEMBERS).where(
                        m.kind == self.kind, m.doc_id.in_(ordered[start:start + IN_CHUNK])))
                touched = sorted(self.touched)
                present: set[str] = set()
                for start in range(0, len(touched), IN_CHUNK):
                    present.update(connection.scalars(select(s.digest).where(
                        s.kind == self.kind, s.digest.in_(touched[start:start + IN_CHUNK]))))
                counted = [{"k": self.kind, "d": d, "n": self.counts[d]}
                           for d in touched if d in present and d in self.counts]
                if counted:
                    connection.execute(update(_SIGNATURES).where(
                        s.kind == bindparam("k"), s.digest == bindparam("d")
                    ).values(documents=bindparam("n")), counted)
                emptied = [d for d in touched if d in present and d not in self.counts]
                for start in range(0, len(emptied), IN_CHUNK):
                    connection.execute(delete(_SIGNATURES).where(
                        s.kind == self.kind, s.digest.in_(emptied[start:start + IN_CHUNK])))
                self._insert_signatures(connection, [d for d in touched
                                                     if d not in present and d in self.counts])
            rows = [{"kind": self.kind, "doc_id": doc_id, "digest": digest}
                    for doc_id, digest in self.pending.items() if digest is not None]
            for start in range(0, len(rows), _ROWS_PER_INSERT):
                connection.execute(insert(_MEMBERS), rows[start:start + _ROWS_PER_INSERT])
            # A new state starts anywhere, so that a process still holding the version of
            # tables since emptied never takes the new ones for its own.
            version = stored + 1 if stored is not None else random.randint(1, 2**40)
            values = {"version": version, "read_at": self.read_at, "top_id": self.top_id}
            if stored is None:
                connection.execute(delete(_STATE).where(_STATE.c.kind == self.kind))
                connection.execute(insert(_STATE).values(kind=self.kind, **values))
            else:
                connection.execute(update(_STATE).where(_STATE.c.kind == self.kind).values(**values))
        self.version, self.pending, self.touched = version, {}, set()
        self.backed, self.stored_read_at = True, self.read_at
        self.signatures = {digest: self.signatures[digest] for digest in self.counts}

    def _insert_signatures(self, connection: Any, digests: Sequence[str]) -> None:
        rows = [{"kind": self.kind, "digest": d, "lines": sig.encoded_lines,
                 "currency": sig.currency, "without_due_date": sig.without_due_date,
                 "number_length": sig.number_length, "documents": self.counts[d]}
                for d in digests for sig in (self.signatures[d],)]
        for start in range(0, len(rows), _ROWS_PER_INSERT):
            connection.execute(insert(_SIGNATURES), rows[start:start + _ROWS_PER_INSERT])


def _engine(session: Session) -> Engine:
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


def _lock_busy(error: OperationalError) -> bool:
    return getattr(error.orig, "sqlstate", None) == "55P03"  # lock_not_available (NOWAIT)


def _host_signatures(session: Session, spec: Any, ids: set[int] | None) -> dict[int, _Signature]:
    """The signatures of these sendable documents (every one when None), from the host's
    headers and lines; documents not in the sendable status are left out."""
    t, lt = spec.table, spec.lines
    parent = lt.c[spec.line_parent]
    due = t.c.due_date.is_(None) if spec.has_due_date else None
    stmt = (
        select(t.c.id, func.length(func.trim(t.c.number)), t.c.currency,
               *([due] if due is not None else []),
               lt.c.account_code, lt.c.tax_type, lt.c.vintage, lt.c.brand,
               lt.c.id.is_not(None))
        .select_from(t.outerjoin(lt, parent == t.c.id))
        .where(t.c.status == spec.status)
    )
    if ids is None:
        chunks: list[list[int] | None] = [None]
    else:
        ordered = sorted(ids)
        chunks = [ordered[i:i + IN_CHUNK] for i in range(0, len(ordered), IN_CHUNK)]
    found: dict[int, _Signature] = {}
    interned: dict[_Signature, _Signature] = {}
    for chunk in chunks:
        query = stmt if chunk is None else stmt.where(t.c.id.in_(chunk))
        heads: dict[int, tuple[int, str, bool]] = {}
        lines: dict[int, set[_Line]] = defaultdict(set)
        for row in session.execute(query).tuples():
            if due is not None:
                doc_id, length, currency, no_due, account, tax, vintage, brand, has_line = row
            else:
                doc_id, length, currency, account, tax, vintage, brand, has_line = row
                no_due = False
            heads[doc_id] = (int(length or 0), currency or "", bool(no_due))
            if has_line:
                lines[doc_id].add((account or "", tax or "", vintage or "", brand or ""))
        for doc_id, (length, currency, no_due) in heads.items():
            signature = _Signature(frozenset(lines.get(doc_id, ())), currency, no_due, length)
            found[doc_id] = interned.setdefault(signature, signature)
    return found


@contextmanager
def _signatures(session: Session, spec: Any) -> Iterator[_FactCache]:
    """The documents' signatures, up to date: read afresh for a small ERP, kept otherwise."""
    t = spec.table
    # Counted once per unit of work: a preview asks for the facts, then for the refused ones.
    key = ("accounts_sync_sendable", spec.kind.value)
    count = session.info.get(key)
    if count is None:
        count = session.info[key] = int(
            session.scalar(select(func.count()).where(t.c.status == spec.status)) or 0)
    if count < FACT_CACHE_MIN_DOCUMENTS:
        fresh = _FactCache(spec.kind.value)
        fresh._read_all(session, spec)
        yield fresh
        return
    cache = _FactCache.shared(session, spec.kind.value)
    with cache.lock:
        cache.refresh(session, spec, count)
        yield cache
    cache.persist_after(session)


def unsynced_facts(session: Session, spec: Any) -> DocumentFacts:
    with _signatures(session, spec) as cache:
        facts = cache.facts()
    contact = spec.contact
    shortest, longest = session.execute(
        select(func.min(func.length(func.trim(contact.c.name))),
               func.max(func.length(func.trim(contact.c.name))))
    ).one()
    return DocumentFacts(
        facts.accounts, facts.tax_types, facts.tracking, facts.currencies,
        facts.without_due_date, facts.without_lines, facts.number_lengths,
        (int(shortest or 0), int(longest or 0)) if longest is not None else (1, 1),
        facts.attributes,
    )


def refused_unsynced(
    session: Session, spec: Any, closing_date: date, refusal: RefusalFilter
) -> list[tuple[date, int]]:
    """(date, id) of every unsynced document up to the closing date that the refusal catches."""
    with _signatures(session, spec) as cache:
        candidates = cache.refused_ids(session, refusal)
    t = spec.table
    unsynced = _unsynced(spec, closing_date)
    found: set[tuple[date, int]] = set()
    ordered = sorted(candidates)
    for start in range(0, len(ordered), IN_CHUNK):
        chunk = ordered[start:start + IN_CHUNK]
        found.update(session.execute(
            select(spec.date, t.c.id).where(*unsynced, t.c.id.in_(chunk))).tuples())
    extra: list[Any] = []
    if refusal.dated_up_to is not None:
        extra.append(spec.date <= refusal.dated_up_to)
    if refusal.text_limit:
        contact = spec.contact
        name = func.length(func.trim(contact.c.name))
        bad = select(contact.c.id).where(or_(name < 1, name > refusal.text_limit,
                                             contact.c.name.is_(None)))
        extra.append(t.c[spec.contact_column].in_(bad))
    if extra:
        found.update(session.execute(
            select(spec.date, t.c.id).where(*unsynced, or_(*extra))).tuples())
    return sorted(found)


def _unsynced(spec: Any, closing_date: date) -> Sequence[Any]:
    record = aliased(SyncRecordRow, name="synced_record")
    t = spec.table
    synced = select(record.id).where(
        record.kind == spec.kind.value,
        record.state == SyncState.SYNCED.value,
        record.erp_id == cast(t.c.id, String),
    ).exists()
    return (t.c.status == spec.status, spec.date <= closing_date, ~synced)


def _attributes(vintage: str, brand: str) -> tuple[tuple[str, str], ...]:
    # As SqlDocumentSource hands them over on DocumentLine.attributes.
    return tuple((name, value) for name, value in (("brand", brand), ("vintage", vintage)) if value)
