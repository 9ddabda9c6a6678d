"""The Xero sandbox in its own process (Xero is another machine: its work must not share the
measured process's interpreter), and the consent click that connects Accounts Sync to it.

    with SandboxProcess(FAST) as sandbox:           # or LIMITS, or LIMITS with time_scale=10
        connect(container, sandbox.url)
        sandbox.counters()["api_calls"]

`python -m bench.sandbox CONFIG_JSON TIME_SCALE` serves one and prints its URL. With a time
scale K the sandbox's clock runs K times faster than the wall clock, so its fixed minute window
lasts 60/K seconds: `--quick` runs the rate-limited measurements that way.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from accounts_sync.container import Container
from accounts_sync.demo.xero_sandbox.consent import grant_consent
from accounts_sync.demo.xero_sandbox.seed import AU_TENANT_ID

CLIENT_ID = "accounts-sync-demo"  # the sandbox's demo client
CLIENT_SECRET = "accounts-sync-demo-secret"  # noqa: S105 - the sandbox's demo client, not a secret
SECRET_KEY = "bench-token-encryption-key-0123456789abcdef"  # noqa: S105 - encrypts the bench's sandbox tokens
REDIRECT_URI = "http://localhost:5000/accounts/sync/xero/callback"
ROOT = Path(__file__).resolve().parents[1]  # the project, where `python -m bench...` resolves

# Fast mode: Xero's limits and schema validation off, so the plugin's own throughput shows.
FAST: dict[str, Any] = {"RATE_LIMIT_PER_MINUTE": 0, "CONCURRENCY_LIMIT": 0, "DAILY_LIMIT": 0,
                        "APP_RATE_LIMIT_PER_MINUTE": 0, "VALIDATE_SCHEMA": False}
# Xero's real limits per organisation, and bodies validated against Xero's OpenAPI spec.
LIMITS: dict[str, Any] = {"RATE_LIMIT_PER_MINUTE": 60, "CONCURRENCY_LIMIT": 5, "DAILY_LIMIT": 5000,
                          "APP_RATE_LIMIT_PER_MINUTE": 10_000, "VALIDATE_SCHEMA": True}


class SandboxProcess:
    def __init__(self, config: dict[str, Any], time_scale: float = 1.0) -> None:
        self.config = dict(config)
        self.time_scale = time_scale
        self.process: subprocess.Popen[str] | None = None
        self.url = ""
        self.http = requests.Session()

    def __enter__(self) -> SandboxProcess:
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "bench.sandbox", json.dumps(self.config), str(self.time_scale)],
            stdout=subprocess.PIPE, text=True, cwd=ROOT,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.startswith("http"):
            self.stop()
            raise RuntimeError(f"the sandbox did not start: {line!r}")
        self.url = line
        self.clear_lock_dates()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.http.close()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def reset(self) -> None:
        """Back to its seed: documents, contacts, counters, limits, grants."""
        self.http.post(f"{self.url}/_reset", json={"keep_connections": False}, timeout=30).raise_for_status()
        self.clear_lock_dates()

    def clear_lock_dates(self) -> None:
        # The seeded year must not fall inside the demo organisation's lock period.
        self.http.post(f"{self.url}/_faults", json={
            "kind": "lock_dates", "tenant_id": AU_TENANT_ID, "period_lock_date": None,
            "end_of_year_lock_date": None,
        }, timeout=30).raise_for_status()

    def state(self) -> dict[str, Any]:
        answer = self.http.get(f"{self.url}/_state.json", params={"limit": 1}, timeout=60)
        answer.raise_for_status()
        return answer.json()

    def counters(self) -> dict[str, Any]:
        return self.state()["counters"]


def container_settings(database_url: str, sandbox_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "database_url": database_url,
        "base_url": "http://127.0.0.1:5000",
        "gateway": "xero",
        "secret_key": SECRET_KEY,
        "xero_base_url": sandbox_url,
        "xero_client_id": CLIENT_ID,
        "xero_client_secret": CLIENT_SECRET,
        "scheduler": "off",  # no schedule thread polling the database while it is measured
        **extra,
    }


def connect(container: Container, sandbox_url: str) -> str:
    """Connect to the sandbox's Australian organisation the way a user does: the consent page,
    one organisation ticked, Allow. The tokens land (encrypted) in the plugin's tables."""
    connector = container.xero_connector()
    authorize_url, state = connector.authorization_url(REDIRECT_URI)
    callback = grant_consent(sandbox_url, authorize_url, (AU_TENANT_ID,))
    tenants = connector.complete(REDIRECT_URI, callback, state, "bench")
    return tenants[0].tenant_id


def _serve(config: dict[str, Any], time_scale: float) -> None:
    from accounts_sync.demo.xero_sandbox import create_app
    from accounts_sync.demo.xero_sandbox.server import run_in_thread

    if time_scale != 1.0:
        origin = time.time()
        config["CLOCK"] = lambda: origin + (time.time() - origin) * time_scale
    server = run_in_thread(create_app({"TEST_HOOKS": True, **config}))
    print(server.base_url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    _serve(json.loads(sys.argv[1]), float(sys.argv[2]))
