"""`python -m bench.synced`: the preview once most of the books are in Xero, on its own.

Runs the two measurements of `python -m bench` that have 90% of the books synced, without the
rest of the reads: `mostly_synced` (bench/reads.py: 90% of documents and journals recorded as
synced) and `corrections` (bench/corrections.py: 90% synced with their content and lines
sent, then some of it changed in the ERP). Both are taken in the same process as in the full
run (after the warm-up previews), the dataset must already be seeded (`datasets.ensure`).

`--profile DIR` writes a cProfile of the timed previews of each measurement there instead of
timing them (`python -m pstats DIR/<backend>-<what>.prof`).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import sys
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from accounts_sync.application.preview_unsynced import PreviewRequest
from accounts_sync.container import build_container

from . import corrections, datasets, machine, reads, stats
from .sandbox import FAST, SandboxProcess, connect, container_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.synced", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--scale", default="100k", choices=sorted(datasets.SCALES))
    parser.add_argument("--postgres-url", default=datasets.DEFAULT_POSTGRES_URL)
    parser.add_argument("--only", default="mostly_synced,corrections",
                        help="comma-separated: mostly_synced, corrections")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--profile", type=Path, default=None,
                        help="a directory to write cProfile output of the timed previews into")
    args = parser.parse_args(argv)
    closing = datasets.closing_date()
    parts = {p.strip() for p in args.only.split(",") if p.strip()}
    out: dict[str, Any] = {}
    with SandboxProcess(FAST) as sandbox:
        for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
            url = datasets.ensure(backend, datasets.SCALES[args.scale], args.postgres_url,
                                  log=_log)
            container = build_container(container_settings(url, sandbox.url))
            found: dict[str, Any] = {"load_average": {"start": machine.load()}}
            try:
                connect(container, sandbox.url)
                # As in the full run: the previews before these leave the caches warm.
                request = PreviewRequest(closing)
                for _ in range(args.warmup):
                    container.preview_unsynced().execute(request)
                with _profiled(args.profile, f"{backend}-{args.scale}-mostly_synced"):
                    if "mostly_synced" in parts:
                        results = reads.ReadResults()
                        results.facts["sandbox_url"] = sandbox.url
                        reads._mostly_synced(container, closing, args.warmup, args.repeat, results)
                        found["mostly_synced"] = results.facts["mostly_synced"]
                        _log(f"{backend}: mostly_synced preview "
                             f"{found['mostly_synced']['preview_ms']['median']:g} ms")
                with _profiled(args.profile, f"{backend}-{args.scale}-corrections"):
                    if "corrections" in parts:
                        found["corrections"] = corrections.measure(
                            container, sandbox.url, closing, args.warmup, args.repeat)
                        c = found["corrections"]
                        _log(f"{backend}: corrections preview {c['preview_ms']['median']:g} ms, "
                             f"plan {c['plan_ms']['median']:g} ms; after a run: preview "
                             f"{c['after_a_corrections_run']['preview_ms']['median']:g} ms, plan "
                             f"{c['after_a_corrections_run']['plan_ms']['median']:g} ms "
                             f"({c['corrections']} corrections)")
            finally:
                container.engine().dispose()
            found["load_average"]["end"] = machine.load()
            found["measured_at"] = datetime.now(UTC).replace(microsecond=0).isoformat()
            out[f"{backend}/{args.scale}"] = found
    print(json.dumps(out, indent=2))
    return 0


@contextmanager
def _profiled(directory: Path | None, name: str) -> Any:
    if directory is None:
        yield
        return
    directory.mkdir(parents=True, exist_ok=True)
    profile = cProfile.Profile()
    original = stats.timed

    def timed(action: Any, warmup: int, repeat: int) -> Any:
        for _ in range(warmup):
            action()
        profile.enable()
        try:
            return original(action, 0, repeat)
        finally:
            profile.disable()

    reads.timed = corrections.timed = timed  # type: ignore[assignment]
    try:
        yield
    finally:
        reads.timed = corrections.timed = original  # type: ignore[assignment]
        profile.dump_stats(directory / f"{name}.prof")


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
