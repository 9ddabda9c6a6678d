"""Drive the sandbox's consent page as a person would: open it, tick organisations, press a
button. Tests and the benchmarks connect through it, so they exercise the real OAuth flow."""

from __future__ import annotations

from collections.abc import Sequence
from html import unescape
from html.parser import HTMLParser

import requests


class ConsentRefused(RuntimeError):
    """The consent page did not answer as Xero's does."""


class _Form(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hidden: dict[str, str] = {}
        self.tenants: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "input":
            return
        values = {k: unescape(v or "") for k, v in attrs}
        if values.get("type") == "hidden":
            self.hidden[values["name"]] = values.get("value", "")
        elif values.get("type") == "checkbox" and values.get("name") == "tenant":
            self.tenants.append(values.get("value", ""))


def grant_consent(base_url: str, authorize_url: str, tenants: Sequence[str],
                  decision: str = "allow", timeout: float = 30) -> str:
    """Answer the consent page at `authorize_url`; returns the callback URL it redirects to."""
    with requests.Session() as browser:
        page = browser.get(authorize_url, timeout=timeout)
        if page.status_code != 200:
            raise ConsentRefused(f"the consent page answered {page.status_code}: {page.text[:300]}")
        form = _Form()
        form.feed(page.text)
        if not set(tenants) <= set(form.tenants):
            raise ConsentRefused(f"the consent page offers {form.tenants}, not {list(tenants)}")
        answer = browser.post(f"{base_url}/identity/connect/authorize",
                              data={**form.hidden, "decision": decision, "tenant": list(tenants)},
                              allow_redirects=False, timeout=timeout)
    if answer.status_code != 302:
        raise ConsentRefused(f"the consent page answered {answer.status_code}: {answer.text[:300]}")
    return answer.headers["Location"]
