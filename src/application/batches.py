"""What every batch sent to Xero shares, creations and corrections alike."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from ..domain.sync import SyncRecord


def batch_key(records: Sequence[SyncRecord]) -> str:
    """One Idempotency-Key per request: the same records on the same attempt, the same key."""
    joined = "|".join(f"{r.idempotency_key}#{r.attempts}" for r in records)
    return "as-batch-" + hashlib.sha256(joined.encode()).hexdigest()[:40]
