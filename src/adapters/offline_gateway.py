"""A gateway for a host that has not configured Xero: reads say 'not connected', nothing is sent.

Previews still work without Xero (they say what could not be checked); syncs stop with the
plain reason instead of failing somewhere deeper.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from ..domain.errors import NotConnected


class OfflineGateway:
    def connection(self) -> None:
        return None

    def web_url(self, kind, xero_id: str) -> str:
        return ""

    def tracking_categories(self):
        raise NotConnected()

    def chart(self):
        raise NotConnected()

    def prepare_contacts(self, documents: Sequence) -> None:
        raise NotConnected()

    def push_invoices(self, documents: Sequence, idempotency_key: str):
        raise NotConnected()

    def push_credit_notes(self, documents: Sequence, idempotency_key: str):
        raise NotConnected()

    def push_manual_journals(self, journals: Sequence, mode, idempotency_key: str):
        raise NotConnected()

    def find_existing(self, kind, records: Sequence) -> dict[str, str]:
        raise NotConnected()

    # Xero's side of the books: nothing can be read or changed without a connection.

    def find_by_number(self, document_type: str, numbers: Sequence[str]) -> dict[str, str]:
        raise NotConnected()

    def object_states(self, kind, xero_ids: Sequence[str]):
        raise NotConnected()

    def changed_since(self, kind, since, page: int = 1):
        raise NotConnected()

    def update_documents(self, updates: Sequence, idempotency_key: str):
        raise NotConnected()

    def update_manual_journals(self, updates: Sequence, mode, idempotency_key: str):
        raise NotConnected()

    def change_status(self, changes: Sequence, idempotency_key: str):
        raise NotConnected()

    def allocate(self, allocations: Sequence, idempotency_key: str):
        raise NotConnected()

    def trial_balance(self, day):
        raise NotConnected()

    def journals(self, offset: int = 0):
        raise NotConnected()
    def forget_chart(self) -> None:
        return None

    def currencies(self) -> frozenset[str]:
        raise NotConnected()

    @contextmanager
    def observe(self, listener: Callable[[str], None]) -> Iterator[None]:
        yield


class NoConnectionKeeper:
    """Offline: there is no connection to keep alive."""

    def keep_alive(self) -> None:
        return None
