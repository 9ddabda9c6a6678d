"""The sandbox's whole state behind one lock, and the operations the HTTP layer calls.

`Sandbox` is what `app.sandbox` is: tests use it to inject faults, move the clock's effects
(lock dates, archived accounts, expired tokens), mint tokens, read counters and reset.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import tempfile
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from . import formats
from .documents import (
    BUILDERS,
    ZERO_ID,
    Built,
    WriteContext,
    build_allocation,
    build_payment,
)
from .faults import Faults
from .limits import RateLimiter
from .oauth import DEFAULT_CLIENTS, REFRESH_TOKEN_TTL_SECONDS, OAuthStore
from .render import render, render_allocation, render_payment
from .seed import seed_organisations
from .state import KINDS, Kind, Org, org_from_dict, org_to_dict
from .state import MANUAL_JOURNALS as MANUAL_JOURNALS_KIND
from .validation import spec_schemas
from .where import WhereError, parse_where

DEFAULTS: dict[str, Any] = {
    "ACCESS_TOKEN_TTL": 1800,
    "REFRESH_GRACE_SECONDS": 1800,
    "REFRESH_TOKEN_TTL": REFRESH_TOKEN_TTL_SECONDS,
    "IDEMPOTENCY_WINDOW_SECONDS": 360,
    "RATE_LIMIT_PER_MINUTE": 60,
    "CONCURRENCY_LIMIT": 5,
    "DAILY_LIMIT": 5000,
    "APP_RATE_LIMIT_PER_MINUTE": 10000,
    "VALIDATE_SCHEMA": True,
    "ENFORCE_SCOPES": True,
    "STATE_FILE": None,
    "CLIENTS": None,  # None -> the demo client only
    "ALLOW_ANY_LOCALHOST_REDIRECT": True,
    "CLOCK": None,  # callable -> epoch seconds (float) or datetime; default time.time
    "SPEC_PATH": None,  # default: the vendored spec
    "MAX_REQUEST_BYTES": int(3.5 * 1024 * 1024),
    "RECOMMENDED_ELEMENTS_PER_REQUEST": 50,
    "CALL_LOG_SIZE": 10_000,
    "PAGE_SIZE": 100,
    # /_state.json, /_faults and /_reset: only when switched on (tests, benchmarks), and then
    # never for a request another site started.
    "TEST_HOOKS": False,
}

STATE_FILE_VERSION = 1
UPDATABLE = ("Invoices", "CreditNotes", "ManualJournals")  # POST with an id updates these


class ApiProblem(Exception):
    """An Accounting API error answer (status + Xero-shaped JSON body)."""

    def __init__(self, status: int, body: dict | str, headers: dict | None = None):
        super().__init__(str(body))
        self.status = status
        self.body = body
        self.headers = headers or {}


def validation_exception(message: str, elements: list[dict] | None = None) -> ApiProblem:
    return ApiProblem(400, {"ErrorNumber": 10, "Type": "ValidationException",
                            "Message": message, "Elements": elements or []})


class IdempotencyStore:
    """First answers by (organisation, path, key), kept for the window Xero honours keys.

    Bodies are compressed: a benchmark replaying nothing still stores every answer for
    the window, and invoice JSON compresses about tenfold.
    """

    def __init__(self, window: float):
        self.window = window
        self.entries: dict[tuple[str, str, str], dict] = {}
        self._order: deque[tuple[float, tuple[str, str, str]]] = deque()

    def _prune(self, now: float) -> None:
        while self._order and self._order[0][0] + self.window <= now:
            at, key = self._order.popleft()
            entry = self.entries.get(key)
            if entry is not None and entry["at"] == at:
                del self.entries[key]

    def get(self, key: tuple[str, str, str], now: float) -> dict | None:
        if not self.window:
            return None
        self._prune(now)
        entry = self.entries.get(key)
        if entry is None:
            return None
        return {"status": entry["status"], "body": zlib.decompress(entry["body"]).decode()}

    def put(self, key: tuple[str, str, str], now: float, status: int, body: str) -> None:
        if not self.window:
            return
        self.entries[key] = {"at": now, "status": status,
                             "body": zlib.compress(body.encode(), 1)}
        self._order.append((now, key))

    def clear(self) -> None:
        self.entries.clear()
        self._order.clear()


def _new_counters() -> dict[str, Any]:
    return {
        "api_calls": 0,
        "api_calls_by_org": {},
        "writes": 0,
        "elements_received": 0,
        "elements_created": 0,
        "elements_rejected": 0,
        "documents_created": {kind.name: 0 for kind in KINDS.values()},
        "documents_updated": {},
        "contacts_created_by_name": 0,
        "requests_over_recommended_elements": 0,
        "max_elements_in_request": 0,
        "requests_too_large": 0,
        "schema_rejections": 0,
        "idempotent_replays": 0,
        "rate_limited": 0,
        "rate_limited_by_problem": {},
        "rate_limited_by_org": {},
        "unauthorised": 0,
        "forbidden": 0,
        "token_requests": 0,
        "authorization_code_grants": 0,
        "refresh_calls": 0,
        "refresh_token_grants": 0,
        "refresh_failures": 0,
        "revocations": 0,
        "faults_fired": {},
    }


def _bump(mapping: dict, key: str, by: int = 1) -> None:
    mapping[key] = mapping.get(key, 0) + by


class Sandbox:
    def __init__(self, config: dict[str, Any] | None = None):
        cfg = dict(DEFAULTS)
        cfg.update(config or {})
        self.config = cfg
        self.lock = threading.RLock()
        self._clock: Callable[[], Any] = cfg["CLOCK"] or time.time
        self.state_file = Path(cfg["STATE_FILE"]) if cfg["STATE_FILE"] else None
        self.oauth = OAuthStore(
            clients=dict(cfg["CLIENTS"] or DEFAULT_CLIENTS),
            allow_localhost=bool(cfg["ALLOW_ANY_LOCALHOST_REDIRECT"]),
            access_ttl=int(cfg["ACCESS_TOKEN_TTL"]),
            refresh_grace=int(cfg["REFRESH_GRACE_SECONDS"]),
            refresh_ttl=int(cfg["REFRESH_TOKEN_TTL"]),
        )
        self.limits = RateLimiter(
            per_minute=cfg["RATE_LIMIT_PER_MINUTE"] or None,
            per_day=cfg["DAILY_LIMIT"] or None,
            concurrency=cfg["CONCURRENCY_LIMIT"] or None,
            app_per_minute=cfg["APP_RATE_LIMIT_PER_MINUTE"] or None,
        )
        self.faults = Faults()
        self.idempotency = IdempotencyStore(float(cfg["IDEMPOTENCY_WINDOW_SECONDS"] or 0))
        self.counters = _new_counters()
        self.calls: deque[dict] = deque(maxlen=int(cfg["CALL_LOG_SIZE"]))
        self.orgs: dict[str, Org] = {}
        self._seed()
        if self.state_file and self.state_file.exists():
            self._load()

    # --- time ---------------------------------------------------------------------------

    def now(self) -> float:
        value = self._clock()
        if isinstance(value, datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=UTC)
            return value.timestamp()
        return float(value)

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    def today(self) -> str:
        return formats.utc_day(self.now()).isoformat()

    # --- seed, reset, persistence -------------------------------------------------------

    def _seed(self) -> None:
        now = self.now()
        self.orgs = seed_organisations(formats.utc_day(now), int(now * 1000))

    def reset(self, keep_connections: bool = False) -> None:
        """Back to the seed: documents, contacts, settings, faults, counters, log, limits.

        OAuth grants go too unless `keep_connections`, so a test suite can keep one
        connected client across resets.
        """
        with self.lock:
            self._seed()
            self.faults = Faults()
            self.idempotency.clear()
            self.counters = _new_counters()
            self.calls.clear()
            self.limits.reset()
            if not keep_connections:
                self.oauth.load({})
                self.oauth.codes.clear()
            self.save()

    def save(self) -> None:
        """Write the state file atomically (when configured); call with the lock held."""
        if not self.state_file:
            return
        data = {
            "version": STATE_FILE_VERSION,
            "saved_at": self.now(),
            "orgs": [org_to_dict(org) for org in self.orgs.values()],
            "oauth": self.oauth.to_dict(),
            "counters": self.counters,
        }
        text = formats.dumps(data)
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".xero-sandbox-", dir=self.state_file.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.replace(tmp, self.state_file)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def _load(self) -> None:
        assert self.state_file is not None
        data = formats.loads(self.state_file.read_text(encoding="utf-8"))
        if data.get("version") != STATE_FILE_VERSION:
            return  # an incompatible file is ignored rather than half-read
        self.orgs = {org.tenant_id: org for org in map(org_from_dict, data["orgs"])}
        self.oauth.load(_floats(data.get("oauth", {})))
        counters = _new_counters()
        counters.update(data.get("counters", {}))
        self.counters = counters

    # --- faults and settings (tests, /_faults) ------------------------------------------

    def inject(self, kind: str, **params: Any) -> dict:
        """Schedule a fault or apply a change; returns the pending faults.

        Counted: fail(status=503|500, count), drop(count), commit_then_drop(count),
        token_commit_then_drop(count), rate_limit_storm(count, retry_after),
        delay(ms, count=None meaning every call until cleared).
        Immediate: expire_tokens(), lock_dates(tenant_id, period_lock_date,
        end_of_year_lock_date), archive_account(code, tenant_id=None),
        restore_account(code, tenant_id=None), revoke_connections() (what a user removing the
        app in Xero's settings does: every grant ends, every connection goes), clear().
        """
        with self.lock:
            if kind == "expire_tokens":
                self.oauth.expire_all(self.now())
            elif kind == "revoke_connections":
                self.oauth.revoke_all()
            elif kind == "lock_dates":
                self.set_lock_dates(**params)
            elif kind == "archive_account":
                self.set_account_status(params["code"], "ARCHIVED", params.get("tenant_id"))
            elif kind == "restore_account":
                self.set_account_status(params["code"], "ACTIVE", params.get("tenant_id"))
            elif kind == "clear":
                self.faults = Faults()
            else:
                self.faults.add(kind, params)
            self.save()
            return self.faults.pending()

    def clear_faults(self) -> None:
        self.inject("clear")

    def org(self, tenant_id: str | None) -> Org:
        org = self.orgs.get((tenant_id or "").lower())
        if org is None:
            raise KeyError(f"No organisation with tenant id {tenant_id!r}")
        return org

    _UNSET: Any = object()

    def set_lock_dates(self, tenant_id: str | None = None, period_lock_date: Any = _UNSET,
                       end_of_year_lock_date: Any = _UNSET) -> None:
        """Change lock dates (ISO dates; None clears; omitted leaves as is)."""
        with self.lock:
            targets = [self.org(tenant_id)] if tenant_id else list(self.orgs.values())[:1]
            for org in targets:
                if period_lock_date is not self._UNSET:
                    org.period_lock_date = _iso_or_none(period_lock_date)
                if end_of_year_lock_date is not self._UNSET:
                    org.end_of_year_lock_date = _iso_or_none(end_of_year_lock_date)
            self.save()

    def set_account_status(self, code: str, status: str, tenant_id: str | None = None) -> None:
        with self.lock:
            targets = [self.org(tenant_id)] if tenant_id else list(self.orgs.values())
            found = False
            for org in targets:
                account = org.accounts.get(str(code))
                if account is not None:
                    account["Status"] = status
                    account["UpdatedDateUTC"] = self.now_ms()
                    found = True
            if not found:
                raise KeyError(f"No account with code {code!r}")
            self.save()

    def archive_account(self, code: str, tenant_id: str | None = None) -> None:
        self.set_account_status(code, "ARCHIVED", tenant_id)

    def expire_tokens(self) -> None:
        self.inject("expire_tokens")

    def issue_tokens(self, client_id: str = "accounts-sync-demo",
                     tenant_ids: list[str] | None = None,
                     scope: str = ("offline_access accounting.invoices accounting.manualjournals "
                                   "accounting.contacts accounting.settings.read "
                                   "accounting.payments accounting.journals.read "
                                   "accounting.reports.trialbalance.read")) -> dict:
        """A token pair as if the user had clicked Allow (for tests not about OAuth)."""
        with self.lock:
            tenants = [t.lower() for t in (tenant_ids or list(self.orgs))]
            answer = self.oauth.issue_direct(client_id, tenants, scope, self.now())
            self.save()
            return answer

    # --- counters and the call log ------------------------------------------------------

    def count(self, name: str, by: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + by

    def count_in(self, name: str, key: str, by: int = 1) -> None:
        _bump(self.counters.setdefault(name, {}), key, by)

    def log_call(self, entry: dict) -> None:
        with self.lock:
            self.calls.append(entry)

    # --- reads --------------------------------------------------------------------------

    def query(self, kind: Kind, org: Org, args: dict[str, str],
              modified_since: int | None = None) -> tuple[list[dict], dict | None]:
        """Documents matching Xero's list parameters, one page of them, and the pagination.

        `IDs` is honoured where the spec has it (Invoices, Contacts) and, like any unknown
        parameter, ignored elsewhere; `modified_since` (epoch ms) is the If-Modified-Since
        header: documents whose UpdatedDateUTC is at or after it.
        """
        collection = org.collection(kind)
        predicates: list[Callable[[dict], bool]] = []
        candidates: list[dict] | None = None

        ids = _csv(args.get("ids")) if kind.name in ("Invoices", "Contacts") else []
        if ids:
            candidates = [doc for doc in (collection.get(i) for i in ids) if doc is not None]
        numbers = _csv(args.get("invoicenumbers")) if kind.name == "Invoices" else []
        if numbers:
            found = [doc for n in numbers for doc in collection.find("InvoiceNumber", n)]
            if candidates is not None:
                wanted = {doc[kind.id_field] for doc in candidates}
                found = [doc for doc in found if doc[kind.id_field] in wanted]
            candidates = found
        contact_ids = {c.lower() for c in _csv(args.get("contactids"))}
        if contact_ids:
            predicates.append(lambda d: d.get("Contact", {}).get("ContactID") in contact_ids)
        statuses = set(_csv(args.get("statuses")))
        if statuses:
            predicates.append(lambda d: d.get("Status") in statuses)
        if kind.name == "Contacts" and args.get("searchterm"):
            term = args["searchterm"].lower()
            predicates.append(lambda d: any(term in str(d.get(f) or "").lower() for f in (
                "Name", "FirstName", "LastName", "ContactNumber", "EmailAddress",
                "AccountNumber")))
        if kind.name == "Invoices" and args.get("searchterm"):
            needle = args["searchterm"].lower()
            predicates.append(lambda d: any(needle in str(d.get(f) or "").lower()
                                            for f in ("InvoiceNumber", "Reference")))
        if modified_since is not None:
            predicates.append(lambda d: d.get("UpdatedDateUTC", 0) >= modified_since)
        if kind.name == "Contacts" and args.get("includearchived", "").lower() != "true":
            predicates.append(lambda d: d.get("ContactStatus", "ACTIVE") != "ARCHIVED")
        if args.get("where"):
            condition = self._where(args["where"], kind)
            predicates.append(condition)
            if candidates is None:
                lookups = condition.lookups(collection.indexed())
                if lookups is not None:
                    candidates = [doc for field_name, value in lookups
                                  for doc in collection.find(field_name, value)]
        if candidates is not None:
            # one copy of each, in creation order, as a scan would have found them
            unique = {doc[kind.id_field]: doc for doc in candidates}
            candidates = sorted(unique.values(), key=collection.position)

        page_size = _int_arg(args.get("pagesize"), self.config["PAGE_SIZE"], 1, kind.max_page_size)
        page = _int_arg(args.get("page"), 1, 1, 10**9)
        start = (page - 1) * page_size
        order_by = args.get("order")
        if candidates is None and not predicates and not order_by:
            total = len(collection)
            items = list(itertools.islice(collection.docs.values(), start, start + page_size))
        else:
            pool = candidates if candidates is not None else collection.docs.values()
            matched = [doc for doc in pool if all(p(doc) for p in predicates)]
            if order_by:
                matched = _ordered(matched, order_by, kind)
            total = len(matched)
            items = matched[start:start + page_size]
        pagination = {"page": page, "pageSize": page_size,
                      "pageCount": (total + page_size - 1) // page_size, "itemCount": total}
        return items, pagination

    def _where(self, text: str, kind: Kind):
        try:
            return parse_where(text, kind.where_fields, kind.singular)
        except WhereError as exc:
            raise validation_exception(str(exc)) from exc

    def filter_settings(self, rows: list[dict], where_text: str | None, table: dict,
                        resource: str) -> list[dict]:
        if not where_text:
            return rows
        try:
            condition = parse_where(where_text, table, resource)
        except WhereError as exc:
            raise validation_exception(str(exc)) from exc
        return [row for row in rows if condition(row)]

    # --- writes -------------------------------------------------------------------------

    def write(self, kind: Kind, org: Org, elements: list[Any], summarize: bool, unitdp: int,
              is_post: bool, path_id: str | None = None) -> tuple[int, dict, int]:
        """Create (PUT, or POST without an id) or update (POST with the id, in the element or
        the path) what is valid; answer like Xero. Returns (status, body, changed count).

        In summarised mode (Xero's default) one bad element makes the answer a 400, yet the
        good elements are still stored and their ids are not returned: the duplicate
        factory that `summarizeErrors=false` exists to avoid.
        """
        ctx = self._context(org, unitdp, is_post)
        builder = BUILDERS[kind.name]
        collection = org.collection(kind)
        counts = {"created": 0, "updated": 0}

        def build(raw: dict) -> Built:
            target = (path_id or raw.get(kind.id_field)) if is_post else None
            if target and kind.name in UPDATABLE:
                existing = collection.get(str(target))
                if existing is None:
                    return Built([f"{kind.singular} {target} could not be found."], [])
                return builder(raw, ctx, existing)
            return builder(raw, ctx)

        def rendered(doc: dict, built: Built) -> dict:
            counts["updated" if built.updated else "created"] += 1
            return render(kind, doc, unitdp)

        status, body = self._write_elements(kind.name, kind.id_field, elements, summarize,
                                            build, rendered)
        created, updated = counts["created"], counts["updated"]
        self.counters["documents_created"][kind.name] = (
            self.counters["documents_created"].get(kind.name, 0) + created)
        if updated:
            self.count_in("documents_updated", kind.name, updated)
        self.count("contacts_created_by_name", len(ctx.contacts_created))
        return status, body, created + updated

    def pay(self, org: Org, elements: list[Any], summarize: bool) -> tuple[int, dict, int]:
        """PUT /Payments."""
        ctx = self._context(org, 2, False)

        def rendered(result: dict, built: Built) -> dict:
            return render_payment(result)

        status, body = self._write_elements("Payments", "PaymentID", elements, summarize,
                                            lambda raw: build_payment(raw, ctx), rendered)
        done = len([p for p in body.get("Payments", ()) if p.get("StatusAttributeString") == "OK"])
        return status, body, done

    def allocate(self, org: Org, credit_note_id: str, elements: list[Any],
                 summarize: bool) -> tuple[int, dict, int]:
        """PUT /CreditNotes/{id}/Allocations: each element sees what the ones before did."""
        ctx = self._context(org, 2, False)
        if org.credit_notes.get(credit_note_id) is None:
            raise ApiProblem(404, {"Title": "Not Found", "Status": 404,
                                   "Detail": f"No credit note {credit_note_id}"})

        def build(raw: dict) -> Built:
            credit = org.credit_notes.get(credit_note_id)
            assert credit is not None
            return build_allocation(raw, ctx, credit)

        def rendered(result: dict, built: Built) -> dict:
            return render_allocation(result)

        status, body = self._write_elements("Allocations", "AllocationID", elements, summarize,
                                            build, rendered)
        done = len([a for a in body.get("Allocations", ())
                    if a.get("StatusAttributeString") == "OK"])
        return status, body, done

    def _context(self, org: Org, unitdp: int, is_post: bool) -> WriteContext:
        return WriteContext(org=org, now_ms=self.now_ms(), today=self.today(), unitdp=unitdp,
                            is_post=is_post)

    def _write_elements(self, envelope: str, id_field: str, elements: list[Any],
                        summarize: bool, build: Callable[[dict], Built],
                        rendered: Callable[[dict, Built], dict]) -> tuple[int, dict]:
        answers: list[dict] = []
        failed: list[dict] = []
        done = 0
        for raw in elements:
            if not isinstance(raw, dict):
                element = {"ValidationErrors": [{"Message": "Each element must be an object."}]}
                answers.append({**element, "StatusAttributeString": "ERROR", "Warnings": []})
                failed.append(element)
                continue
            built = build(raw)
            if built.commit is None:
                element = {**raw, "HasErrors": True, "StatusAttributeString": "ERROR",
                           "ValidationErrors": [{"Message": m} for m in built.errors],
                           "Warnings": [{"Message": m} for m in built.warnings]}
                if not raw.get(id_field):
                    element[id_field] = ZERO_ID
                answers.append(element)
                failed.append(element)
                continue
            answer = rendered(built.commit(), built)
            done += 1
            answer.update(StatusAttributeString="OK", ValidationErrors=[],
                          Warnings=[{"Message": m} for m in built.warnings])
            answers.append(answer)
        self.count("elements_received", len(elements))
        self.count("elements_created", done)
        self.count("elements_rejected", len(elements) - done)
        if failed and summarize:
            return 400, {"ErrorNumber": 10, "Type": "ValidationException",
                         "Message": "A validation exception occurred", "Elements": failed}
        return 200, {envelope: answers}

    # --- what people do in Xero (tests) -------------------------------------------------

    def record_manual_journal(self, day: Any, lines: list[tuple[str, Any]],
                              narration: str = "Adjustment made in Xero", status: str = "POSTED",
                              tenant_id: str | None = None) -> str:
        """A manual journal made by someone else in Xero (not through Accounts Sync); returns
        its ManualJournalID. `lines` are (account code, amount), debit positive."""
        body = {"Narration": narration, "Date": str(day), "Status": status,
                "LineAmountTypes": "NoTax",
                "JournalLines": [{"LineAmount": formats.to_decimal(str(amount)),
                                  "AccountCode": code} for code, amount in lines]}
        return self._made_in_xero(MANUAL_JOURNALS_KIND, body, tenant_id)

    def pay_document(self, document_id: str, amount: Any, day: Any = None,
                     account_code: str = "090", tenant_id: str | None = None) -> str:
        """A payment entered in Xero against an invoice, bill or credit note; its PaymentID."""
        with self.lock:
            org = self.org(tenant_id) if tenant_id else next(iter(self.orgs.values()))
            target = ({"Invoice": {"InvoiceID": document_id}}
                      if org.invoices.get(document_id) is not None
                      else {"CreditNote": {"CreditNoteID": document_id}})
            raw = {**target, "Account": {"Code": account_code},
                   "Amount": formats.to_decimal(str(amount))}
            if day is not None:
                raw["Date"] = str(day)
            built = build_payment(raw, self._context(org, 2, False))
            if built.commit is None:
                raise ValueError("; ".join(built.errors))
            payment = built.commit()
            self.save()
            return payment["PaymentID"]

    def update_document(self, kind_name: str, document_id: str, changes: dict,
                        tenant_id: str | None = None) -> dict:
        """Someone edits (or voids, deletes, approves) a document in Xero; Xero's rules apply."""
        kind = KINDS[kind_name.lower()]
        with self.lock:
            org = self.org(tenant_id) if tenant_id else next(iter(self.orgs.values()))
            existing = org.collection(kind).get(document_id)
            if existing is None:
                raise KeyError(f"No {kind.singular} {document_id}")
            built = BUILDERS[kind.name](changes, self._context(org, 4, True), existing)
            if built.commit is None:
                raise ValueError("; ".join(built.errors))
            doc = built.commit()
            self.save()
            return render(kind, doc)

    def _made_in_xero(self, kind: Kind, body: dict, tenant_id: str | None) -> str:
        with self.lock:
            org = self.org(tenant_id) if tenant_id else next(iter(self.orgs.values()))
            built = BUILDERS[kind.name](body, self._context(org, 2, False))
            if built.commit is None:
                raise ValueError("; ".join(built.errors))
            doc = built.commit()
            self.save()
            return doc[kind.id_field]

    def schema_problems(self, schema_name: str, body: Any) -> list[str]:
        if not self.config["VALIDATE_SCHEMA"]:
            return []
        problems = spec_schemas(self.config["SPEC_PATH"]).problems(schema_name, body)
        # Missing fields are business rules with Xero's own per-element messages.
        return [p for p in problems if "is a required property" not in p]

    # --- state for people and tests -----------------------------------------------------

    def snapshot(self, page: int = 1, limit: int = 200) -> dict:
        """`/_state.json`: per organisation the same tables as `/`, plus counters and the log."""
        with self.lock:
            start = (page - 1) * limit
            orgs = []
            for org in self.orgs.values():
                tables = {}
                for table, kind, doc_type in UI_TABLES:
                    collection = org.collection(kind)
                    total = collection.count_type(doc_type) if doc_type else len(collection)
                    tables[table] = {
                        "count": total,
                        "items": [render(kind, doc) for doc in collection.page_of_type(
                            doc_type, start, start + limit)],
                    }
                orgs.append({
                    "tenantId": org.tenant_id,
                    "name": org.name,
                    "baseCurrency": org.base_currency,
                    "periodLockDate": org.period_lock_date,
                    "endOfYearLockDate": org.end_of_year_lock_date,
                    "archivedAccounts": sorted(code for code, a in org.accounts.items()
                                               if a["Status"] != "ACTIVE"),
                    "contacts": len(org.contacts),
                    **tables,
                })
            return {
                "generatedAt": formats.utc_iso(self.now()),
                "page": page,
                "limit": limit,
                "organisations": orgs,
                "counters": _copy(self.counters),
                "faults": self.faults.pending(),
                "connections": {client: sorted(conns) for client, conns in
                                self.oauth.connections.items()},
                "calls": list(self.calls),
            }


UI_TABLES: tuple[tuple[str, Kind, str | None], ...] = (
    ("invoices", KINDS["invoices"], "ACCREC"),
    ("bills", KINDS["invoices"], "ACCPAY"),
    ("creditNotes", KINDS["creditnotes"], None),
    ("manualJournals", KINDS["manualjournals"], None),
)


def _csv(value: str | None) -> list[str]:
    if not value:
        return []
    return [part.strip().strip('"').strip("'") for part in value.split(",") if part.strip()]


def _int_arg(value: str | None, default: int, low: int, high: int) -> int:
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except ValueError as exc:
        raise validation_exception(f"'{value}' is not a whole number") from exc
    return max(low, min(high, number))


def _ordered(docs: list[dict], order_by: str, kind: Kind) -> list[dict]:
    for clause in reversed([c.strip() for c in order_by.split(",") if c.strip()]):
        parts = clause.split()
        field = kind.where_fields.get(parts[0].lower())
        if field is None or len(parts) > 2 or (
                len(parts) == 2 and parts[1].upper() not in ("ASC", "DESC")):
            raise validation_exception(f"Cannot order {kind.name} by '{clause}'")
        descending = len(parts) == 2 and parts[1].upper() == "DESC"
        getter = field.get
        docs = sorted(docs, key=lambda d, g=getter: (g(d) is None, g(d) if g(d) is not None
                                                      else ""), reverse=descending)
    return docs


def _iso_or_none(value: Any) -> str | None:
    if value in (None, ""):
        return None
    return formats.parse_xero_date(str(value)).isoformat()


def _floats(obj: Any) -> Any:
    """The state file parses fractions as Decimal; OAuth times are floats."""
    if isinstance(obj, Decimal):
        return float(obj)
    if isinstance(obj, dict):
        return {key: _floats(value) for key, value in obj.items()}
    if isinstance(obj, list):
        return [_floats(value) for value in obj]
    return obj


def _copy(obj: Any) -> Any:
    """A copy of nested dicts, so a snapshot does not change while it is being serialised."""
    if isinstance(obj, dict):
        return {key: _copy(value) for key, value in obj.items()}
    return obj
