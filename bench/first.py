"""`python -m bench.first`: the first preview of a new process (`preview_first_ms`), on its own.

Runs what `python -m bench` measures as `preview_first_ms` without the rest of the reads: the
dataset must match (`datasets.ensure`, as in the full run, which empties the plugin's state but
keeps the cost-flow sums and the document signatures), one preview in this process (so the
sums an earlier process leaves in the plugin's tables are there and current, as after any
restart), then `--processes` fresh processes (`python -m bench.child preview`), each timing its
first preview and its second; the median of the first is `preview_first_ms`. `--warm N` also
times N previews in this process after that (`preview_ms`, warm). `--no-gc` runs the children
with the garbage collector disabled (to see its share); `--profile DIR` writes a cProfile of
each child's first preview there (`python -m pstats DIR/<backend>-first-<i>.prof`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from accounts_sync.application.preview_unsynced import PreviewRequest
from accounts_sync.container import build_container

from . import datasets, machine
from .sandbox import FAST, SandboxProcess, connect, container_settings
from .stats import timed

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.first",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--scale", default="100k", choices=sorted(datasets.SCALES))
    parser.add_argument("--postgres-url", default=datasets.DEFAULT_POSTGRES_URL)
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--warm", type=int, default=0,
                        help="also time this many warm previews in this process (after 3 warm-ups)")
    parser.add_argument("--no-gc", action="store_true", help="children run with gc disabled")
    parser.add_argument("--profile", type=Path, default=None,
                        help="a directory to write a cProfile of each child's first preview into")
    args = parser.parse_args(argv)
    closing = datasets.closing_date()
    out: dict[str, Any] = {}
    with SandboxProcess(FAST) as sandbox:
        for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
            url = datasets.ensure(backend, datasets.SCALES[args.scale], args.postgres_url,
                                  log=_log)
            container = build_container(container_settings(url, sandbox.url))
            found: dict[str, Any] = {"load_average": {"start": machine.load()}}
            try:
                connect(container, sandbox.url)
                request = PreviewRequest(closing)
                container.preview_unsynced().execute(request)
                runs = []
                for i in range(args.processes):
                    extra = ["--no-gc"] if args.no_gc else []
                    if args.profile is not None:
                        args.profile.mkdir(parents=True, exist_ok=True)
                        extra += ["--profile", str(args.profile / f"{backend}-first-{i}.prof")]
                    runs.append(_child(url, sandbox.url, closing.isoformat(), extra))
                    _log(f"{backend}: first {runs[-1]['first_ms']:g} ms "
                         f"(CPU {runs[-1]['first_cpu_ms']:g} ms), second {runs[-1]['second_ms']:g} ms")
                found["runs"] = runs
                found["preview_first_ms"] = statistics.median(r["first_ms"] for r in runs)
                found["preview_first_cpu_ms"] = statistics.median(r["first_cpu_ms"] for r in runs)
                if args.warm:
                    preview = container.preview_unsynced
                    stats, _, _ = timed(lambda p=preview, r=request: p().execute(r), 3, args.warm)
                    found["preview_ms"] = stats.as_dict()
                    _log(f"{backend}: warm preview median {stats.median:g} ms")
            finally:
                container.engine().dispose()
            found["load_average"]["end"] = machine.load()
            out[f"{backend}/{args.scale}"] = found
            _log(f"{backend}: preview_first_ms {found['preview_first_ms']:g}")
    print(json.dumps(out, indent=2))
    return 0


def _child(database_url: str, sandbox_url: str, closing: str, extra: list[str]) -> dict[str, Any]:
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "bench.child", "preview", database_url, sandbox_url, closing,
         *extra], capture_output=True, text=True, check=False, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"bench.child preview failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
