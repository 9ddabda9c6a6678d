"""`python -m bench`: Accounts Sync at winery scale, against Xero's limits and a per-document
client. Prints the results as JSON and writes them to bench/results/.

Full run (`make bench`, 15-30 minutes the first time, seeding included): 1k / 10k / 100k trade
documents (10k / 100k / 1M cost entries) on SQLite and PostgreSQL; fast-mode syncs of 10k and
100k documents; 3,000 invoices at Xero's real limits (≥ 60 s by design); the per-document client
on 300 invoices at the same limits (about 4 minutes). Writes bench/results/latest.json and
latest.md.

`--quick` (`make bench-quick`, under two minutes once seeded): 1k and 10k only; fast-mode syncs
of 1k and 10k; the rate-limited runs on a clock running 5× faster (both the sandbox and the
client's pacing), so one of Xero's minutes lasts 12 s. Writes quick.json and quick.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import datasets, machine, reads, report, sync
from .sandbox import FAST, LIMITS, SandboxProcess

RESULTS = Path(__file__).resolve().parent / "results"


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmarks of Accounts Sync at winery scale: previews, lists and journal "
                    "details on SQLite and PostgreSQL; syncs against the local Xero sandbox, in "
                    "fast mode and at Xero's limits, against a per-document client.",
    )
    parser.add_argument("--quick", action="store_true",
                        help="small scale, under two minutes; writes bench/results/quick.json")
    parser.add_argument("--only", default="reads,sync,limits",
                        help="comma-separated parts to run: reads, sync, limits (default: all)")
    parser.add_argument("--backends", default="sqlite,postgresql",
                        help="databases for the read measurements (default: sqlite,postgresql)")
    parser.add_argument("--sync-backend", default="sqlite", choices=datasets.BACKENDS,
                        help="database for the runs at Xero's limits and the per-document client "
                             "(default: sqlite, the embedded default)")
    parser.add_argument("--fast-backends", default="sqlite,postgresql",
                        help="databases for the fast-mode syncs (default: sqlite,postgresql)")
    parser.add_argument("--postgres-url", default=datasets.DEFAULT_POSTGRES_URL,
                        help="PostgreSQL server for the postgresql datasets (a schema per scale)")
    parser.add_argument("--repeat", type=int, default=None,
                        help="timed runs per read measurement after the warm-up (default 15, quick 7)")
    parser.add_argument("--per-document", type=int, default=None,
                        help="invoices the per-document client sends (default 300, quick 150)")
    parser.add_argument("--reseed", action="store_true", help="seed the datasets again even if they match")
    parser.add_argument("--output", type=Path, default=None,
                        help="results file (default bench/results/latest.json, or quick.json)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    quick = args.quick
    parts = {p.strip() for p in args.only.split(",") if p.strip()}
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    scales = ["1k", "10k"] if quick else ["1k", "10k", "100k"]
    sync_scales = ["1k", "10k"] if quick else ["10k", "100k"]
    repeat = args.repeat or (7 if quick else 15)
    warmup = 2 if quick else 3
    time_scale = 5.0 if quick else 1.0
    per_document = args.per_document or (150 if quick else 300)
    closing = datasets.closing_date()
    started = time.perf_counter()
    uses_postgres = ("postgresql" in backends or args.sync_backend == "postgresql"
                     or "postgresql" in args.fast_backends)
    when = datetime.now(UTC).replace(microsecond=0).isoformat()
    about = machine.describe(args.postgres_url if uses_postgres else None)
    loads = {"start": machine.load()}

    def ensure(backend: str, scale: datasets.Scale) -> str:
        return datasets.ensure(backend, scale, args.postgres_url, reseed=args.reseed, log=_log)

    urls: dict[tuple[str, str], str] = {}
    if "reads" in parts:
        for backend in backends:
            for scale in scales:
                urls[(backend, scale)] = ensure(backend, datasets.SCALES[scale])
    fast_backends = [b.strip() for b in args.fast_backends.split(",") if b.strip()]
    if "sync" in parts:
        for backend in fast_backends:
            for scale in sync_scales:
                urls[(backend, scale)] = ensure(backend, datasets.SCALES[scale])
    limit_url = ensure(args.sync_backend, datasets.LIMIT_SCALE) if "limits" in parts else ""
    _log(f"datasets ready after {time.perf_counter() - started:.0f} s")

    loads["seeded"] = machine.load()
    read_results: dict[tuple[str, str], reads.ReadResults] = {}
    fast: dict[str, Any] = {}
    if parts & {"reads", "sync"}:
        with SandboxProcess(FAST) as sandbox:
            if "reads" in parts:
                for backend in backends:
                    for scale in scales:
                        _log(f"reads: {backend} {scale}")
                        read_results[(backend, scale)] = reads.measure(
                            urls[(backend, scale)], sandbox.url, closing, warmup, repeat, log=_log)
            if "sync" in parts:
                for backend in fast_backends:
                    fast[backend] = {}
                    for scale in sync_scales:
                        _log(f"fast sync: {scale} on {backend}")
                        done = fast[backend][scale] = sync.fast_sync(urls[(backend, scale)], sandbox,
                                                                     closing)
                        _log(f"    {done['documents']:,} documents, {done['docs_per_s']:,} docs/s, "
                             f"{done['api_calls']} calls, peak RSS {done['peak_rss_mb']} MB")

    loads["reads_and_fast_sync"] = machine.load()
    limit = perdoc = None
    if "limits" in parts:
        # Quick: on a clock 5× faster, the sandbox's schema validation would take a share of
        # Xero's (shortened) minute five times larger than in a real-time run; it is left off.
        limits = LIMITS if not quick else {**LIMITS, "VALIDATE_SCHEMA": False}
        with SandboxProcess(limits, time_scale=time_scale) as sandbox:
            _log(f"{datasets.LIMIT_DOCUMENTS:,} invoices at Xero's limits"
                 + (f" (clock {time_scale:g}× faster)" if time_scale != 1 else ""))
            limit = sync.limit_run(limit_url, sandbox, closing, time_scale)
            _log(f"    {limit['wall_s']} s for a bound of {limit['bound_s']} s, {limit['api_calls']} "
                 f"calls, {limit['rate_limited']} × 429")
            _log(f"per-document client: {per_document} invoices at the same limits")
            perdoc = sync.per_document(limit_url, sandbox, closing, per_document, time_scale)
            _log(f"    {perdoc['docs_per_min']} docs/min, {perdoc['api_calls']} calls, "
                 f"{perdoc['rate_limited']} × 429")

    body = report.build("quick" if quick else "full", about, when, scales, backends, read_results,
                        fast, limit, perdoc, args.sync_backend)
    loads["end"] = machine.load()
    body["details"]["duration_s"] = round(time.perf_counter() - started, 1)
    # Another process busy on the machine shows here; compare runs only when these are low.
    body["details"]["load_average"] = loads
    output = args.output or RESULTS / ("quick.json" if quick else "latest.json")
    output.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(body, indent=2, ensure_ascii=False)
    output.write_text(text + "\n")
    output.with_suffix(".md").write_text(report.markdown(body))
    print(text)
    _log(f"wrote {output} and {output.with_suffix('.md').name} in {body['details']['duration_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
