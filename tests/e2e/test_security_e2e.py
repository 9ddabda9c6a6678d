"""In the browser: no page of the demo (host, plugin, API docs, sandbox) breaks its
Content-Security-Policy, and the API docs page renders the description from the plugin's own
files (no CDN)."""

from __future__ import annotations

from .conftest import login

PAGES = ["/", "/erp/sales-orders", "/accounts/sync/", "/accounts/sync/preview",
         "/accounts/sync/history", "/accounts/sync/settings", "/accounts/sync/api/docs",
         "/xero-sandbox/"]

WATCH = """() => { window.__csp = []; document.addEventListener('securitypolicyviolation',
    e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI)); }"""


def test_no_page_breaks_its_content_security_policy(demo, page):
    violations: list[str] = []
    external: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("request", lambda r: external.append(r.url) if not r.url.startswith(demo) else None)
    page.add_init_script(WATCH)
    login(page, demo, "accountant")
    for path in PAGES:
        page.goto(demo + path)
        page.wait_for_load_state("networkidle")
        violations += page.evaluate("window.__csp || []")
        if path.endswith("/api/docs"):
            page.wait_for_selector("#operations-runs-startSync", timeout=15_000)
            page.shots("api-docs")
    assert violations == []
    assert external == []
