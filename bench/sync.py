"""Sync measurements: each starts from "nothing synced" (plugin state emptied, sandbox back to
its seed, a fresh consent) and runs in a child process (bench.child) for its own wall time and
peak RSS; the sandbox counts the API calls and any 429."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from datetime import date
from typing import Any

from accounts_sync.container import build_container
from accounts_sync.domain.documents import TRADE_KINDS

from . import datasets
from .sandbox import ROOT, SandboxProcess, connect, container_settings

BATCH = 50  # elements per request: Xero's recommended maximum, the adapter's batch size
XERO_CALLS_PER_MINUTE = 60


def _prepare(database_url: str, sandbox: SandboxProcess) -> None:
    datasets.reset_plugin_state(database_url)
    sandbox.reset()
    container = build_container(container_settings(database_url, sandbox.url))
    try:
        connect(container, sandbox.url)
    finally:
        container.engine().dispose()


def _child(*args: str) -> dict[str, Any]:
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "bench.child", *args], capture_output=True, text=True, check=False,
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench.child {args[0]} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def fast_sync(database_url: str, sandbox: SandboxProcess, closing: date) -> dict[str, Any]:
    """Every unsynced trade document, kind after kind, with Xero's limits off."""
    _prepare(database_url, sandbox)
    runs = []
    for kind in TRADE_KINDS:  # a process per kind: the sandbox's counters are read from here
        before = sandbox.counters()
        result = _child("sync", database_url, sandbox.url, closing.isoformat(), kind.value)
        after = sandbox.counters()
        run = result["runs"][0]
        run.update(api_calls=after["api_calls"] - before["api_calls"],
                   rate_limited=after["rate_limited"] - before["rate_limited"],
                   bound=math.ceil(run["documents"] / BATCH) + 5,
                   rss_before_mb=result["rss_before_mb"], peak_rss_mb=result["peak_rss_mb"])
        runs.append(run)
    counters = sandbox.counters()
    documents = sum(run["documents"] for run in runs)
    wall = sum(run["wall_s"] for run in runs)
    datasets.reset_plugin_state(database_url)
    return {
        "runs": runs,
        "documents": documents,
        "wall_s": round(wall, 3),
        "docs_per_s": round(documents / wall, 1),
        "api_calls": counters["api_calls"],
        "calls_per_document": round(counters["api_calls"] / max(documents, 1), 4),
        "rate_limited": counters["rate_limited"],
        "created_in_xero": counters["elements_created"],
        "peak_rss_mb": max(run["peak_rss_mb"] for run in runs),
    }


def limit_run(database_url: str, sandbox: SandboxProcess, closing: date,
              time_scale: float) -> dict[str, Any]:
    """3,000 invoices at Xero's limits, one SyncDocuments run, against the bound."""
    _prepare(database_url, sandbox)
    args = ["sync", database_url, sandbox.url, closing.isoformat(), "sales_orders", "--limits"]
    result = _child(*args, "--time-scale", str(time_scale))
    state = sandbox.state()
    run = result["runs"][0]
    run["api_calls"] = state["counters"]["api_calls"]
    calls = [c for c in state["calls"] if "/api.xro/2.0/" in c["path"]]
    by_kind: dict[str, int] = {}
    for call in calls:
        name = f"{call['method']} {call['path'].rsplit('/', 1)[-1]}"
        by_kind[name] = by_kind.get(name, 0) + 1
    wall = run["wall_s"] * time_scale  # in the sandbox's (Xero's) seconds
    bound = math.ceil(run["documents"] / BATCH) / XERO_CALLS_PER_MINUTE * 60
    contact_calls = sum(n for name, n in by_kind.items() if name.endswith("Contacts"))
    datasets.reset_plugin_state(database_url)
    return {
        "documents": run["documents"], "created": run["created"], "failed": run["failed"],
        "wall_s": round(wall, 2), "bound_s": round(bound, 2),
        "of_bound": round(bound / wall, 3) if wall else None,
        "api_calls": run["api_calls"], "calls_by_endpoint": by_kind,
        "api_calls_contacts_known": run["api_calls"] - contact_calls,
        "rate_limited": state["counters"]["rate_limited"],
        "time_scale": time_scale, "measured_wall_s": run["wall_s"],
    }


def per_document(database_url: str, sandbox: SandboxProcess, closing: date, documents: int,
                 time_scale: float) -> dict[str, Any]:
    """The SDK-style loop on `documents` invoices at the same limits."""
    _prepare(database_url, sandbox)
    result = _child("perdoc", database_url, sandbox.url, closing.isoformat(), str(documents),
                    "--time-scale", str(time_scale))
    counters = sandbox.counters()
    done_at = [t * time_scale for t in result.pop("done_at_s")]
    wall = result["wall_s"] * time_scale
    # Xero's window lets 60 calls through at once, then 60 more a minute later, and so on: the
    # first minute's burst flatters a short sample. The steady rate is what the whole minutes
    # after the first one saw.
    whole = int(done_at[-1] // 60) if done_at else 0
    steady = [t for t in done_at if 60.0 <= t < whole * 60.0]
    steady_per_min = len(steady) / (whole - 1) if whole >= 2 else None
    datasets.reset_plugin_state(database_url)
    return {
        **result,
        "wall_s": round(wall, 2),
        "docs_per_min": round(result["documents"] / wall * 60, 1),
        "steady_docs_per_min": round(steady_per_min, 1) if steady_per_min else None,
        "calls_per_document": round(result["api_calls"] / max(result["documents"], 1), 3),
        "sandbox_api_calls": counters["api_calls"],
        "rate_limited": counters["rate_limited"],
        "time_scale": time_scale, "measured_wall_s": result["wall_s"],
    }
