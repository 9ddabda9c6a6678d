"""The real clock: aware UTC for timestamps, the host's calendar day for closing dates."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def host_zone(name: str | None = None) -> tzinfo:
    """The host's time zone: `name` (ACCOUNTS_SYNC_TIMEZONE), else the server's own as a zone
    with its DST rules (TZ, then /etc/localtime), else UTC."""
    for candidate in (name, os.environ.get("TZ", "").lstrip(":"), _etc_localtime()):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return UTC


def _etc_localtime() -> str:
    try:
        target = str(Path("/etc/localtime").resolve())
    except OSError:
        return ""
    marker = "zoneinfo/"
    return target.split(marker, 1)[1] if marker in target else ""


class SystemClock:
    def __init__(self, zone: tzinfo | None = None) -> None:
        self.zone = zone

    def now(self) -> datetime:
        return datetime.now(UTC)

    def today(self) -> date:
        """Today in the host's zone (a closing date of 'today' is the host's day, wherever the
        server runs); the server's own day when no zone is given."""
        return datetime.now(self.zone).date() if self.zone is not None else date.today()
