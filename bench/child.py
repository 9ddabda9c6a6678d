"""What runs in a fresh process, so that its peak RSS and its wall time are its own.

    python -m bench.child sync     DB_URL SANDBOX_URL CLOSING_DATE KIND[,KIND...] [--limits] [--time-scale K]
    python -m bench.child perdoc   DB_URL SANDBOX_URL CLOSING_DATE DOCUMENTS [--time-scale K]
    python -m bench.child preview  DB_URL SANDBOX_URL CLOSING_DATE [--no-gc] [--profile FILE]

`preview` times the first preview of a process that has just started (its imports and container
are built before the clock starts): what a user meets after a restart or a deploy.

`sync` runs Accounts Sync's SyncDocuments for each kind, exactly as the CLI does (the container,
the Xero adapter over HTTP). Without --limits the adapter's own pacing is opened up (the sandbox
is in fast mode); with --limits it keeps Xero's 60 calls a minute and 5 in flight.

`perdoc` is the client the official SDK examples make: a loop with one PUT /Invoices per
document, paced to Xero's minute limit (or it would be refused from its 61st call), waiting out
any 429. It reads the same documents through Accounts Sync's SQL adapter and builds the same
invoice bodies, so the two differ only in how they use the API.

Both print one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import resource
import sys
import time
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import requests
from dependency_injector import providers

from accounts_sync.adapters.xero.client import InProcessRateLimiter
from accounts_sync.adapters.xero.payloads import encode_json, invoice_payload, wrap
from accounts_sync.application.checks import with_defaults
from accounts_sync.application.sync_documents import SyncDocumentsRequest
from accounts_sync.container import build_container
from accounts_sync.domain.documents import Kind

from .sandbox import container_settings

UNLIMITED = {"xero_calls_per_minute": 10**9, "xero_concurrency": 5, "xero_calls_per_day": 10**9}


def _status_mb(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def rss_mb() -> float:
    """The current resident set, from /proc (no psutil needed)."""
    return _status_mb("VmRSS:") or 0.0


def peak_rss_mb() -> float:
    """This process's peak resident set. VmHWM, not getrusage's ru_maxrss: that one keeps the
    high-water mark of the parent this process was forked from (it survives exec)."""
    peak = _status_mb("VmHWM:")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def scaled_clock(scale: float) -> tuple[Callable[[], float], Callable[[float], None]]:
    """A monotonic clock running `scale` times faster, and the sleep that goes with it."""
    if scale == 1.0:
        return time.monotonic, time.sleep
    origin = time.monotonic()
    return (lambda: origin + (time.monotonic() - origin) * scale,
            lambda seconds: time.sleep(max(seconds, 0.0) / scale))


def sync(args: argparse.Namespace) -> dict[str, Any]:
    extra = {} if args.limits else UNLIMITED
    container = build_container(container_settings(args.db, args.sandbox, **extra))
    if args.time_scale != 1.0:
        clock, sleep = scaled_clock(args.time_scale)
        settings = container.xero_settings()
        container.rate_limiter.override(providers.Object(InProcessRateLimiter(
            settings.calls_per_minute, settings.concurrency, settings.calls_per_day,
            clock=clock, sleep=sleep)))
    closing = date.fromisoformat(args.closing)
    use_case = container.sync_documents()
    rss_before = rss_mb()
    runs = []
    started_all = time.perf_counter()
    for kind in [Kind(k) for k in args.kinds.split(",")]:
        started = time.perf_counter()
        run = use_case.execute(SyncDocumentsRequest(kind, closing, "bench"))
        wall = time.perf_counter() - started
        runs.append({
            "kind": kind.value, "state": run.state.value, "documents": run.total,
            "created": run.created, "failed": run.failed, "wall_s": round(wall, 3),
            "message": run.message,
            "failures": [list(f) for f in run.failures[:5]],
        })
    peak = peak_rss_mb()  # before anything else is read: the sandbox's call log is not ours
    return {
        "wall_s": round(time.perf_counter() - started_all, 3),
        "runs": runs,
        "rss_before_mb": round(rss_before, 1),
        "peak_rss_mb": round(peak, 1),
    }


def perdoc(args: argparse.Namespace) -> dict[str, Any]:
    container = build_container(container_settings(args.db, args.sandbox))
    closing = date.fromisoformat(args.closing)
    with container.unit_of_work() as uow:
        mapping = uow.settings.mapping()
        documents = [with_defaults(d, mapping) for d in
                     uow.documents.next_unsynced(Kind.SALES_ORDERS, closing, None, args.documents)]
    connector = container.xero_connector()
    tenant = connector.active_tenant_id()
    token = connector.access_token(tenant)
    settings = container.xero_settings()
    clock, sleep = scaled_clock(args.time_scale)
    # What an SDK user must add to survive Xero's minute limit: one call at a time, 60 a minute
    # (over a window a little longer than Xero's, so that network jitter never costs a 429).
    limiter = InProcessRateLimiter(settings.calls_per_minute, 1, None, window=60.5, clock=clock,
                                   sleep=sleep)
    url = f"{settings.api_base_url}/Invoices"
    http = requests.Session()
    calls = throttled = created = 0
    errors: list[str] = []
    done_at: list[float] = []
    started = time.perf_counter()
    for document in documents:
        body = encode_json(wrap("Invoices", [invoice_payload(document, settings.invoice_status)]))
        key = f"perdoc-{document.erp_id}-{uuid.uuid4().hex[:8]}"
        while True:
            with limiter.acquire(tenant):
                calls += 1
                answer = http.put(url, data=body, params={"summarizeErrors": "false", "unitdp": "4"},
                                  headers={"Authorization": f"Bearer {token}", "xero-tenant-id": tenant,
                                           "Accept": "application/json", "Idempotency-Key": key,
                                           "Content-Type": "application/json; charset=utf-8"},
                                  timeout=120)
            if answer.status_code == 429:
                throttled += 1
                sleep(float(answer.headers.get("Retry-After", "60")))
                continue
            if answer.status_code == 401:
                token = connector.refresh(tenant, stale_token=token)
                continue
            break
        element = (answer.json().get("Invoices") or [{}])[0] if answer.ok else {}
        if element.get("StatusAttributeString") == "OK":
            created += 1
        elif len(errors) < 5:
            errors.append(f"{answer.status_code}: {answer.text[:200]}")
        done_at.append(time.perf_counter() - started)
    wall = time.perf_counter() - started
    return {"documents": len(documents), "created": created, "api_calls": calls, "throttled": throttled,
            "wall_s": round(wall, 3), "done_at_s": [round(t, 3) for t in done_at], "errors": errors}


def preview(args: argparse.Namespace) -> dict[str, Any]:
    from accounts_sync.application.preview_unsynced import PreviewRequest

    container = build_container(container_settings(args.db, args.sandbox))
    request = PreviewRequest(date.fromisoformat(args.closing))
    if args.no_gc:
        gc.disable()
    profile = cProfile.Profile() if args.profile else None
    try:
        started, cpu = time.perf_counter(), time.process_time()
        if profile is not None:
            profile.enable()
        result = container.preview_unsynced().execute(request)
        if profile is not None:
            profile.disable()
        first_ms = (time.perf_counter() - started) * 1000
        first_cpu_ms = (time.process_time() - cpu) * 1000
        if profile is not None:
            profile.dump_stats(args.profile)
        started = time.perf_counter()
        container.preview_unsynced().execute(request)
        second_ms = (time.perf_counter() - started) * 1000
    finally:
        container.engine().dispose()
    # This process's CPU time too (not the database server's): on a busy machine the wall
    # time includes waiting for a core.
    return {"first_ms": round(first_ms, 2), "second_ms": round(second_ms, 2),
            "first_cpu_ms": round(first_cpu_ms, 2), "journals": len(result.journals)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.child")
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("sync")
    one.add_argument("db")
    one.add_argument("sandbox")
    one.add_argument("closing")
    one.add_argument("kinds")
    one.add_argument("--limits", action="store_true")
    one.add_argument("--time-scale", type=float, default=1.0)
    each = commands.add_parser("perdoc")
    each.add_argument("db")
    each.add_argument("sandbox")
    each.add_argument("closing")
    each.add_argument("documents", type=int)
    each.add_argument("--time-scale", type=float, default=1.0)
    first = commands.add_parser("preview")
    first.add_argument("db")
    first.add_argument("sandbox")
    first.add_argument("closing")
    first.add_argument("--no-gc", action="store_true", help="with the garbage collector disabled")
    first.add_argument("--profile", default=None, help="write a cProfile of the first preview here")
    args = parser.parse_args(argv)
    result = {"sync": sync, "perdoc": perdoc, "preview": preview}[args.command](args)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
