"""Repeated timings: a warm-up, then several runs, summarised as median, p95, min and max."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Stats:
    """Milliseconds (or whatever unit the samples are in), rounded for reading."""

    median: float
    p95: float
    min: float
    max: float
    n: int

    @classmethod
    def of(cls, samples: list[float]) -> Stats:
        ordered = sorted(samples)
        # Nearest rank: the smallest sample with at least 95% of the samples at or below it.
        p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
        return cls(_round(statistics.median(ordered)), _round(p95), _round(ordered[0]),
                   _round(ordered[-1]), len(ordered))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _round(value: float) -> float:
    return round(value, 2 if value < 100 else 1)


def timed(action: Callable[[], Any], warmup: int, repeat: int) -> tuple[Stats, list[float], Any]:
    """Run `action` warmup + repeat times; the repeats' wall times in milliseconds."""
    result = None
    for _ in range(warmup):
        result = action()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = action()
        samples.append((time.perf_counter() - started) * 1000)
    return Stats.of(samples), samples, result


def once_ms(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return round((time.perf_counter() - started) * 1000, 1), result
