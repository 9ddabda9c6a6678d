"""Settings of the Xero adapter: where Xero is, who we are to it, and how hard we may push."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

# Apps created from March 2026 on use granular scopes; older apps swap the three accounting.*
# write scopes for `accounting.transactions` (valid until September 2027), and the trial
# balance scope for `accounting.reports.read`, in configuration. Reconciliation reads the
# general ledger (`accounting.journals.read`) and the trial balance.
DEFAULT_SCOPES = (
    "offline_access",
    "accounting.invoices",
    "accounting.manualjournals",
    "accounting.contacts",
    "accounting.settings.read",
    "accounting.journals.read",
    "accounting.reports.trialbalance.read",
)

XERO_AUTHORIZE_URL = "https://login.xero.com/identity/connect/authorize"
XERO_TOKEN_URL = "https://identity.xero.com/connect/token"  # noqa: S105 - a URL, not a secret
XERO_REVOKE_URL = "https://identity.xero.com/connect/revocation"
XERO_CONNECTIONS_URL = "https://api.xero.com/connections"
XERO_API_BASE_URL = "https://api.xero.com/api.xro/2.0"

MAX_ELEMENTS_PER_REQUEST = 50
MAX_REQUEST_BYTES = 3_500_000  # Xero: 3.5 MB per request


@dataclass(frozen=True)
class XeroSettings:
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    scopes: tuple[str, ...] = DEFAULT_SCOPES

    authorize_url: str = XERO_AUTHORIZE_URL
    token_url: str = XERO_TOKEN_URL
    revoke_url: str = XERO_REVOKE_URL
    connections_url: str = XERO_CONNECTIONS_URL
    api_base_url: str = XERO_API_BASE_URL
    # oauthlib refuses plain http; only a local sandbox may turn this on.
    allow_insecure_transport: bool = False

    # Xero's limits per organisation (the windows are Xero's and cannot be raised).
    calls_per_minute: int = 60
    concurrency: int = 5
    calls_per_day: int = 5000

    connect_timeout: float = 10.0
    read_timeout: float = 120.0  # a batch of 50 invoices can take Xero a while

    # Transport failures (5xx, timeouts, refused connections): tries in all, backoff between.
    max_attempts: int = 5
    backoff_initial: float = 1.0
    backoff_max: float = 30.0
    backoff_jitter: float = 1.0
    # 429s waited out per request before giving up with RateLimited; a Retry-After longer than
    # max_retry_after (a day limit) is never slept through: the run stops and says when to retry.
    max_rate_limit_waits: int = 5
    max_retry_after: float = 90.0

    # Refresh the access token when it has less than this left (it lives 30 minutes).
    refresh_margin: float = 120.0
    # A token re-read inside the refresh lock that is still valid this long was refreshed by
    # another worker meanwhile: use it instead of refreshing again.
    reuse_margin: float = 60.0

    invoice_status: str = "AUTHORISED"
    credit_note_status: str = "AUTHORISED"
    journal_tax_type: str = ""  # sent on journal lines only when set
    chart_cache_seconds: float = 300.0
    rate_limit_persist_seconds: float = 30.0

    # Where a person opens a created object; {id} is Xero's id. Real Xero's pages by default.
    invoice_web_url: str = "https://go.xero.com/AccountsReceivable/View.aspx?InvoiceID={id}"
    bill_web_url: str = "https://go.xero.com/AccountsPayable/View.aspx?InvoiceID={id}"
    credit_note_web_url: str = (
        "https://go.xero.com/AccountsReceivable/ViewCreditNote.aspx?creditNoteID={id}"
    )
    journal_web_url: str = "https://go.xero.com/Journal/View.aspx?invoiceID={id}"

    max_elements: int = MAX_ELEMENTS_PER_REQUEST
    max_request_bytes: int = MAX_REQUEST_BYTES

    @classmethod
    def for_sandbox(cls, base_url: str, **overrides: Any) -> XeroSettings:
        """Every URL pointed at a Xero-compatible sandbox mounted at `base_url`."""
        base = base_url.rstrip("/")
        values: dict[str, Any] = {
            "authorize_url": f"{base}/identity/connect/authorize",
            "token_url": f"{base}/identity/connect/token",
            "revoke_url": f"{base}/identity/connect/revocation",
            "connections_url": f"{base}/connections",
            "api_base_url": f"{base}/api.xro/2.0",
            "invoice_web_url": f"{base}/objects/invoices/{{id}}",
            "bill_web_url": f"{base}/objects/invoices/{{id}}",
            "credit_note_web_url": f"{base}/objects/credit-notes/{{id}}",
            "journal_web_url": f"{base}/objects/manual-journals/{{id}}",
            "allow_insecure_transport": urlsplit(base).scheme == "http",
        }
        values.update(overrides)
        return cls(**values)

    @classmethod
    def from_config(cls, config: Mapping[str, Any], prefix: str = "ACCOUNTS_SYNC_XERO_") -> XeroSettings:
        """From Flask-style configuration: `ACCOUNTS_SYNC_XERO_CLIENT_ID`, `..._BASE_URL`, ...

        `BASE_URL` points every URL at a sandbox; `SCOPES` is a space-separated list; any
        other field is read from `<prefix><FIELD NAME IN CAPITALS>` and converted to its type.
        """
        values: dict[str, Any] = {}
        for name, default in _defaults().items():
            key = prefix + name.upper()
            if key not in config or config[key] in (None, ""):
                continue
            values[name] = _convert(config[key], default)
        base = config.get(prefix + "BASE_URL")
        if base:
            return cls.for_sandbox(str(base), **values)
        return cls(**values)

    def with_overrides(self, **changes: Any) -> XeroSettings:
        return replace(self, **changes)

    @property
    def scope_text(self) -> str:
        return " ".join(self.scopes)


def _defaults() -> dict[str, Any]:
    return {name: f.default for name, f in XeroSettings.__dataclass_fields__.items()}


def _convert(raw: Any, default: Any) -> Any:
    if isinstance(default, tuple):
        return tuple(raw.split()) if isinstance(raw, str) else tuple(raw)
    if isinstance(default, bool):
        return raw if isinstance(raw, bool) else str(raw).strip().lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return str(raw)
