"""The values the sync's checks look at, over every document of a kind, kept between previews.

The preview runs the sync's own checks over every unsynced document (application/checks.py):
it asks for the distinct values the documents carry (accounts, tax types, tracking options,
currencies, missing due dates, ...), checks those, and asks for the documents that carry a
refused one. Reading every line of 100,000 documents takes half a second, yet lines hardly
change between two previews, so each document's values are kept per database and kind
(`_FactCache`), as a *signature* shared by the many documents that carry the same values, and
brought up to date from the documents stamped since (the host stamps `updated_at` when it
edits a document or its lines, as changed_after_sync relies on too; new documents have higher
ids; a count that differs reveals deletions).

Which documents are unsynced, dated up to the closing date, inside a lock period or with a
contact whose name Xero would refuse is always asked of the database, never kept.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, String, cast, func, or_, select, union
from sqlalchemy.orm import Session, aliased

from ...application.ports import DocumentFacts, RefusalFilter
from ...domain.sync import SyncState
from .plugin_tables import SyncRecordRow

IN_CHUNK = 500
# Below this many sendable documents of a kind, their values are read afresh on every call
# (milliseconds); above it, they are kept between calls (_FactCache.shared).
FACT_CACHE_MIN_DOCUMENTS = 1_000
# Documents stamped this long before the last read are read again: a host transaction may
# commit a while after it stamped its rows (as for the cost flows).
STAMP_LOOKBACK = timedelta(minutes=15)

_Line = tuple[str, str, str, str]  # account code, tax type, vintage, brand ('' when empty)


@dataclass(frozen=True)
class _Signature:
    """What the checks see of a document, apart from its date and contact."""

    lines: frozenset[_Line]
    currency: str
    without_due_date: bool
    number_length: int

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
    """Each document (of the status that makes it sendable) → its signature, for one kind."""

    _caches: WeakKeyDictionary[Engine, dict[str, _FactCache]] = WeakKeyDictionary()
    _registry_lock = threading.Lock()

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.documents: dict[int, _Signature] = {}
        self.members: dict[_Signature, set[int]] = defaultdict(set)
        self.read_at: datetime | None = None
        self.top_id = 0
        # What was worked out from the signatures, until they change (a preview asks again
        # and again of data that has not moved).
        self._facts: DocumentFacts | None = None
        self._refused: dict[RefusalFilter, set[int]] = {}

    @classmethod
    def shared(cls, session: Session, kind: str) -> _FactCache:
        bind = session.get_bind()
        engine = bind if isinstance(bind, Engine) else bind.engine
        with cls._registry_lock:
            per_kind = cls._caches.setdefault(engine, {})
            cache = per_kind.get(kind)
            if cache is None:
                cache = per_kind[kind] = cls()
            return cache

    def refresh(self, session: Session, spec: Any, count: int) -> None:
        """Bring the signatures up to date; `count`: the sendable documents, read just before."""
        started = datetime.now(UTC).replace(tzinfo=None)  # host stamps are naive UTC
        t = spec.table
        top = int(session.scalar(select(func.max(t.c.id))) or 0)
        if self.read_at is None:
            self._read(session, spec, None)
        else:
            since = self.read_at - STAMP_LOOKBACK
            ids = set(session.scalars(union(
                select(t.c.id).where(t.c.updated_at > since),
                select(t.c.id).where(t.c.id > self.top_id),
            )))
            if ids:
                self._read(session, spec, ids)
            if count != len(self.documents):  # deleted, or left the status unstamped
                self._read(session, spec, None)
        self.read_at, self.top_id = started, top

    def _read(self, session: Session, spec: Any, ids: set[int] | None) -> None:
        self._facts = None
        self._refused.clear()
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
            self.documents.clear()
            self.members.clear()
            chunks: list[list[int] | None] = [None]
        else:
            ordered = sorted(ids)
            chunks = [ordered[i:i + IN_CHUNK] for i in range(0, len(ordered), IN_CHUNK)]
            for doc_id in ordered:
                self._forget(doc_id)
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
            interned: dict[_Signature, _Signature] = {s: s for s in self.members}
            for doc_id, (length, currency, no_due) in heads.items():
                signature = _Signature(frozenset(lines.get(doc_id, ())), currency, no_due, length)
                signature = interned.setdefault(signature, signature)
                self.documents[doc_id] = signature
                self.members[signature].add(doc_id)

    def _forget(self, doc_id: int) -> None:
        signature = self.documents.pop(doc_id, None)
        if signature is not None:
            members = self.members[signature]
            members.discard(doc_id)
            if not members:
                del self.members[signature]

    def facts(self) -> DocumentFacts:
        if self._facts is None:
            self._facts = self._gather()
        return self._facts

    def _gather(self) -> DocumentFacts:
        signatures = list(self.members)
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

    def refused_ids(self, refusal: RefusalFilter) -> set[int]:
        found = self._refused.get(refusal)
        if found is None:
            found = set()
            for signature, members in self.members.items():
                if signature.refused(refusal):
                    found |= members
            self._refused[refusal] = found
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
        fresh = _FactCache()
        fresh._read(session, spec, None)
        yield fresh
        return
    cache = _FactCache.shared(session, spec.kind.value)
    with cache.lock:
        cache.refresh(session, spec, count)
        yield cache


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
        candidates = cache.refused_ids(refusal)
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
