"""What the numbers were measured on."""

from __future__ import annotations

import os
import platform
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.pool import NullPool

from accounts_sync.adapters.erp_sql.engine import make_engine


def describe(postgres_url: str | None) -> dict[str, Any]:
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": _memory_gb(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": _postgres_version(postgres_url) if postgres_url else None,
    }


def load() -> list[float]:
    """The 1, 5 and 15 minute load averages: other work on the machine skews the numbers."""
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _postgres_version(url: str) -> str | None:
    engine = make_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return str(connection.scalar(text("SHOW server_version")))
    except Exception:
        return None
    finally:
        engine.dispose()
