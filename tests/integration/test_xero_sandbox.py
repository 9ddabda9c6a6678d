"""The Xero sandbox over real HTTP, driven the way the product's adapter drives Xero."""

from __future__ import annotations

import html
import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from flask import Flask
from requests_oauthlib import OAuth2Session
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from accounts_sync.demo.xero_sandbox import create_app
from accounts_sync.demo.xero_sandbox.server import run_in_thread

AU = "6c3f6f8c-1b38-4d1e-9a3e-2f3f0c2b9a01"
NZ = "6c3f6f8c-1b38-4d1e-9a3e-2f3f0c2b9a02"
CLIENT_ID = "accounts-sync-demo"
SECRET = "accounts-sync-demo-secret"
REDIRECT = "http://localhost:8765/callback"
SCOPES = ["offline_access", "accounting.invoices", "accounting.manualjournals",
          "accounting.contacts", "accounting.settings.read"]


class FakeClock:
    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class Sandbox:
    """A running sandbox plus the calls a client makes to it."""

    def __init__(self, base_url: str, app, clock: FakeClock):
        self.url = base_url
        self.app = app
        self.sb = app.sandbox
        self.clock = clock
        self.token = self.sb.issue_tokens()

    @property
    def today(self) -> date:
        return date.fromtimestamp(self.clock())

    def headers(self, tenant: str = AU, token: str | None = None, **extra: str) -> dict:
        return {"Authorization": f"Bearer {token or self.token['access_token']}",
                "xero-tenant-id": tenant, "Accept": "application/json", **extra}

    def get(self, path: str, tenant: str = AU, **kw) -> requests.Response:
        return requests.get(f"{self.url}/api.xro/2.0/{path}", headers=self.headers(tenant),
                            timeout=10, **kw)

    def put(self, path: str, body, tenant: str = AU, key: str | None = None,
            summarize: bool = False) -> requests.Response:
        headers = self.headers(tenant, **({"Idempotency-Key": key} if key else {}))
        params = {} if summarize else {"summarizeErrors": "false"}
        return requests.put(f"{self.url}/api.xro/2.0/{path}", headers=headers, params=params,
                            data=json.dumps(body), timeout=10)

    def state(self) -> dict:
        return requests.get(f"{self.url}/_state.json", timeout=10).json()

    def inject(self, **fault) -> None:
        answer = requests.post(f"{self.url}/_faults", json=fault, timeout=10)
        assert answer.status_code == 200, answer.text


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sandbox(clock):
    app = create_app({"CLOCK": clock, "TEST_HOOKS": True})
    with run_in_thread(app) as (base_url, _stop):
        yield Sandbox(base_url, app, clock)


@pytest.fixture
def fast_sandbox(clock):
    """Limits off: for tests that make many calls about something else."""
    app = create_app({"CLOCK": clock, "RATE_LIMIT_PER_MINUTE": 0, "CONCURRENCY_LIMIT": 0,
                      "TEST_HOOKS": True})
    with run_in_thread(app) as (base_url, _stop):
        yield Sandbox(base_url, app, clock)


def invoice(n: int, day: date, **over) -> dict:
    body = {
        "Type": "ACCREC",
        "Contact": {"Name": "Cellar Door Sales"},
        "Date": day.isoformat(),
        "DueDate": (day + timedelta(days=30)).isoformat(),
        "LineAmountTypes": "Exclusive",
        "InvoiceNumber": f"SO-{n:05d}",
        "Reference": f"erp:sales:{n}",
        "Status": "AUTHORISED",
        "Url": f"https://erp.example/sales/{n}",
        "LineItems": [{"Description": "2022 Reserve Shiraz 6x750ml", "Quantity": 2,
                       "UnitAmount": 120.55, "AccountCode": "4000", "TaxType": "OUTPUT",
                       "Tracking": [{"Name": "Vintage", "Option": "2022"},
                                    {"Name": "Brand", "Option": "Reserve"}]}],
    }
    body.update(over)
    return body


def journal(narration: str, day: date, lines=None, **over) -> dict:
    body = {
        "Narration": narration,
        "Date": day.isoformat(),
        "Status": "DRAFT",
        "LineAmountTypes": "NoTax",
        "Url": "https://erp.example/journals/1",
        "JournalLines": lines if lines is not None else [
            {"LineAmount": 1234.56, "AccountCode": "1440", "Description": "Crush",
             "Tracking": [{"Name": "Vintage", "Option": "2024"}]},
            {"LineAmount": -1234.56, "AccountCode": "1410", "Description": "Fruit"},
        ],
    }
    body.update(over)
    return body


def messages(element: dict) -> list[str]:
    return [e["Message"] for e in element.get("ValidationErrors", [])]


# --- OAuth ---------------------------------------------------------------------------------

def _consent(sandbox: Sandbox, monkeypatch, decision: str = "allow", tenants=(AU,)):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    oauth = OAuth2Session(CLIENT_ID, redirect_uri=REDIRECT, scope=SCOPES)
    url, state = oauth.authorization_url(f"{sandbox.url}/identity/connect/authorize")
    page = requests.get(url, timeout=10)
    assert page.status_code == 200
    fields = {name: html.unescape(value) for name, value in
              re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page.text)}
    action = html.unescape(re.search(r'<form method="post" action="([^"]+)"', page.text)[1])
    answer = requests.post(urljoin(page.url, action),
                           data={**fields, "decision": decision, "tenant": list(tenants)},
                           allow_redirects=False, timeout=10)
    return oauth, state, page, answer


def test_authorize_page_and_allow_redirect_with_code_and_state(sandbox, monkeypatch):
    oauth, state, page, answer = _consent(sandbox, monkeypatch)
    assert "Accounts Sync (demo)" in page.text
    assert "Allow access" in page.text and "Cancel" in page.text
    assert "accounting.manualjournals" in page.text
    assert "Barossa Ridge Wines Pty Ltd" in page.text
    assert "Barossa Ridge Wines (NZ Demo)" in page.text
    # the first organisation is pre-checked, the second is not
    boxes = re.findall(r'name="tenant" value="([^"]+)"\s*(checked)?', page.text)
    assert boxes == [(AU, "checked"), (NZ, "")]
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == [state]
    assert query["code"][0]


def test_cancel_and_bad_clients(sandbox, monkeypatch):
    _, state, _, answer = _consent(sandbox, monkeypatch, decision="cancel")
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert query == {"error": ["access_denied"], "state": [state]}

    authorize = f"{sandbox.url}/identity/connect/authorize"
    base = {"response_type": "code", "scope": "offline_access", "state": "s1"}
    unknown = requests.get(authorize, params={**base, "client_id": "nope",
                                              "redirect_uri": REDIRECT}, timeout=10)
    assert unknown.status_code == 400 and "Unknown application" in unknown.text
    foreign = requests.get(authorize, params={**base, "client_id": CLIENT_ID,
                                              "redirect_uri": "https://evil.example/cb"},
                           timeout=10, allow_redirects=False)
    assert foreign.status_code == 400 and "redirect_uri" in foreign.text


def test_code_exchange_connections_and_api_call(sandbox, monkeypatch):
    oauth, _, _, answer = _consent(sandbox, monkeypatch, tenants=(AU, NZ))
    token = oauth.fetch_token(f"{sandbox.url}/identity/connect/token",
                              authorization_response=answer.headers["Location"],
                              client_secret=SECRET)
    assert token["token_type"] == "Bearer" and token["expires_in"] == 1800
    assert token["refresh_token"] and set(token["scope"]) == set(SCOPES)

    connections = oauth.get(f"{sandbox.url}/connections", timeout=10).json()
    assert {c["tenantId"] for c in connections} == {AU, NZ}
    row = next(c for c in connections if c["tenantId"] == AU)
    assert row["tenantType"] == "ORGANISATION"
    assert row["tenantName"] == "Barossa Ridge Wines Pty Ltd"
    assert set(row) >= {"id", "authEventId", "createdDateUtc", "updatedDateUtc"}

    org = oauth.get(f"{sandbox.url}/api.xro/2.0/Organisation",
                    headers={"xero-tenant-id": AU, "Accept": "application/json"}, timeout=10)
    assert org.status_code == 200
    assert org.json()["Organisations"][0]["BaseCurrency"] == "AUD"

    # the code was single use
    again = requests.post(f"{sandbox.url}/identity/connect/token", data={
        "grant_type": "authorization_code", "redirect_uri": REDIRECT,
        "code": parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0],
        "client_id": CLIENT_ID, "client_secret": SECRET}, timeout=10)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"

    # disconnecting a tenant makes it forbidden
    nz = next(c for c in connections if c["tenantId"] == NZ)
    assert oauth.delete(f"{sandbox.url}/connections/{nz['id']}", timeout=10).status_code == 204
    refused = oauth.get(f"{sandbox.url}/api.xro/2.0/Organisation",
                        headers={"xero-tenant-id": NZ}, timeout=10)
    assert refused.status_code == 403 and refused.json()["Detail"] == "AuthorizationUnsuccessful"


def _refresh(sandbox: Sandbox, refresh_token: str, basic: bool = True) -> requests.Response:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    if basic:
        return requests.post(f"{sandbox.url}/identity/connect/token", data=data,
                             auth=(CLIENT_ID, SECRET), timeout=10)
    return requests.post(f"{sandbox.url}/identity/connect/token",
                         data={**data, "client_id": CLIENT_ID, "client_secret": SECRET},
                         timeout=10)


def test_refresh_rotation_grace_and_revocation(sandbox):
    first = sandbox.token["refresh_token"]
    rotated = _refresh(sandbox, first)
    assert rotated.status_code == 200
    second = rotated.json()
    assert second["refresh_token"] != first and second["access_token"]

    # within the grace period the used token still answers, with a further new pair
    sandbox.clock.advance(600)
    grace = _refresh(sandbox, first, basic=False)
    assert grace.status_code == 200
    assert grace.json()["refresh_token"] not in (first, second["refresh_token"])

    sandbox.clock.advance(1300)  # past 30 minutes since first use
    late = _refresh(sandbox, first)
    assert late.status_code == 400 and late.json() == {"error": "invalid_grant"}

    wrong_secret = requests.post(f"{sandbox.url}/identity/connect/token", auth=(CLIENT_ID, "x"),
                                 data={"grant_type": "refresh_token",
                                       "refresh_token": second["refresh_token"]}, timeout=10)
    assert wrong_secret.status_code == 401

    revoked = requests.post(f"{sandbox.url}/identity/connect/revocation",
                            data={"token": second["refresh_token"]}, auth=(CLIENT_ID, SECRET),
                            timeout=10)
    assert revoked.status_code == 200
    after = _refresh(sandbox, grace.json()["refresh_token"])
    assert after.status_code == 400 and after.json()["error"] == "invalid_grant"
    api = requests.get(f"{sandbox.url}/api.xro/2.0/Organisation",
                       headers=sandbox.headers(token=second["access_token"]), timeout=10)
    assert api.status_code == 401

    counters = sandbox.state()["counters"]
    assert counters["refresh_calls"] == 5
    assert counters["refresh_token_grants"] == 2


def test_refresh_with_requests_oauthlib(sandbox, monkeypatch):
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    session = OAuth2Session(CLIENT_ID, token={**sandbox.token, "token_type": "Bearer"})
    token = session.refresh_token(f"{sandbox.url}/identity/connect/token",
                                  auth=(CLIENT_ID, SECRET))
    assert token["refresh_token"] != sandbox.token["refresh_token"]
    assert sandbox.state()["counters"]["refresh_calls"] == 1


# --- writes --------------------------------------------------------------------------------

def test_fifty_invoices_three_invalid_unsummarised(fast_sandbox):
    sb = fast_sandbox
    day = sb.today
    batch = [invoice(n, day) for n in range(50)]
    batch[5]["LineItems"][0]["AccountCode"] = "9999"
    batch[17]["LineItems"][0]["TaxType"] = "NOSUCHTAX"
    batch[33]["InvoiceNumber"] = batch[1]["InvoiceNumber"]
    answer = sb.put("Invoices", {"Invoices": batch})
    assert answer.status_code == 200
    elements = answer.json()["Invoices"]
    assert len(elements) == 50
    ok = [e for e in elements if e["StatusAttributeString"] == "OK"]
    bad = {i: e for i, e in enumerate(elements) if e["StatusAttributeString"] == "ERROR"}
    assert len(ok) == 47 and set(bad) == {5, 17, 33}
    assert all(re.fullmatch(r"[0-9a-f-]{36}", e["InvoiceID"]) for e in ok)
    assert messages(bad[5]) == ["Account code '9999' is not a valid code for this document."]
    assert messages(bad[17]) == ["The TaxType code 'NOSUCHTAX' does not exist or cannot be "
                                 "used for this type of transaction."]
    assert messages(bad[33]) == ["Invoice # must be unique."]
    assert all(e["Warnings"] == [] for e in elements)
    listed = sb.get("Invoices", params={"pageSize": 1000}).json()
    assert listed["pagination"]["itemCount"] == 47
    # exact money: 2 x 120.55 = 241.10, GST 24.11
    first = ok[0]
    assert first["SubTotal"] == 241.10 and first["TotalTax"] == 24.11
    assert '"Total": 265.21' in answer.text and '"AmountPaid": 0.00' in answer.text


def test_summarised_errors_answer_400_but_create_the_valid_ones(fast_sandbox):
    sb = fast_sandbox
    bad = invoice(2, sb.today)
    bad["LineItems"][0]["AccountCode"] = "9999"
    answer = sb.put("Invoices", {"Invoices": [invoice(1, sb.today), bad]}, summarize=True)
    assert answer.status_code == 400
    body = answer.json()
    assert body["ErrorNumber"] == 10 and body["Type"] == "ValidationException"
    assert len(body["Elements"]) == 1
    assert messages(body["Elements"][0]) == [
        "Account code '9999' is not a valid code for this document."]
    found = sb.get("Invoices", params={"InvoiceNumbers": "SO-00001,SO-00002"}).json()
    assert [i["InvoiceNumber"] for i in found["Invoices"]] == ["SO-00001"]


def test_schema_invalid_body_is_refused_whole(fast_sandbox):
    sb = fast_sandbox
    broken = invoice(1, sb.today)
    broken["LineItems"][0]["Quantity"] = "two"
    answer = sb.put("Invoices", {"Invoices": [broken]})
    assert answer.status_code == 400
    body = answer.json()
    assert body["Type"] == "ValidationException"
    assert "$.Invoices[0].LineItems[0].Quantity" in body["Message"]
    assert "is not of type 'number'" in body["Message"]
    assert sb.state()["counters"]["elements_created"] == 0
    not_json = requests.put(f"{sb.url}/api.xro/2.0/Invoices", data="{nope",
                            headers=sb.headers(), timeout=10)
    assert not_json.status_code == 400


def test_journal_rules_use_xeros_messages(fast_sandbox):
    sb = fast_sandbox
    day = sb.today
    lock = sb.state()["organisations"][0]["periodLockDate"]
    unbalanced = journal("Unbalanced", day, [
        {"LineAmount": 100, "AccountCode": "1440"}, {"LineAmount": -10, "AccountCode": "1410"}])
    one_line = journal("One line", day, [{"LineAmount": 0, "AccountCode": "1440"}])
    archived = journal("Archived", day, [
        {"LineAmount": 5, "AccountCode": "1460"}, {"LineAmount": -5, "AccountCode": "1410"}])
    bad_tax = journal("Bad tax", day, [
        {"LineAmount": 5, "AccountCode": "1440", "TaxType": "GSTX"},
        {"LineAmount": -5, "AccountCode": "1410"}])
    locked = journal("Locked", date.fromisoformat(lock), Status="POSTED")
    bad_tracking = journal("Tracking", day, [
        {"LineAmount": 5, "AccountCode": "1440", "Tracking": [{"Name": "Region", "Option": "N"}]},
        {"LineAmount": -5, "AccountCode": "1410",
         "Tracking": [{"Name": "Vintage", "Option": "1999"}]}])
    no_narration = journal("", day)
    good = journal("Crush 2024-03-01", day)
    answer = sb.put("ManualJournals", {"ManualJournals": [
        unbalanced, one_line, archived, bad_tax, locked, bad_tracking, no_narration, good]})
    assert answer.status_code == 200
    out = answer.json()["ManualJournals"]
    assert messages(out[0]) == ["The total debits (100.00) must equal total credits (-10.00)"]
    assert messages(out[1]) == ["A manual journal must have at least two journal lines."]
    assert messages(out[2]) == ["Account code '1460' has been archived, or deleted. Each line "
                                "item must reference a valid account."]
    assert messages(out[3]) == ["The TaxType code 'GSTX' does not exist or cannot be used for "
                                "this type of transaction."]
    lock_text = date.fromisoformat(lock).strftime("%d-%b-%Y")
    assert messages(out[4]) == ["The document date cannot be before the period lock date, "
                                f"currently set at {lock_text}"]
    assert messages(out[5]) == ["The tracking category Region does not exist",
                                "The tracking option 1999 does not exist for the tracking "
                                "category Vintage"]
    assert messages(out[6]) == ["Narration must be specified."]
    assert [e["StatusAttributeString"] for e in out] == ["ERROR"] * 7 + ["OK"]
    created = out[7]
    assert created["Status"] == "DRAFT" and created["LineAmountTypes"] == "NoTax"
    assert created["JournalLines"][0]["Tracking"][0]["Option"] == "2024"

    # Xero Central: with a lock date, draft manual journals can still be saved
    draft = sb.put("ManualJournals", {"ManualJournals": [journal("Draft", date.fromisoformat(lock))]})
    assert draft.json()["ManualJournals"][0]["StatusAttributeString"] == "OK"

    # an end-of-year lock (and an archived account) can be changed at run time
    sb.sb.inject("lock_dates", tenant_id=AU, end_of_year_lock_date=day.isoformat())
    again = sb.put("ManualJournals", {"ManualJournals": [journal("Now locked", day,
                                                                Status="POSTED")]})
    assert "end of year lock date" in messages(again.json()["ManualJournals"][0])[0]


def test_accrec_duplicate_number_refused_accpay_allowed(fast_sandbox):
    sb = fast_sandbox
    assert sb.put("Invoices", {"Invoices": [invoice(7, sb.today)]}).status_code == 200
    dup = sb.put("Invoices", {"Invoices": [invoice(7, sb.today)]}).json()["Invoices"][0]
    assert dup["StatusAttributeString"] == "ERROR"
    assert messages(dup) == ["Invoice # must be unique."]
    bill = invoice(7, sb.today, Type="ACCPAY", Contact={"Name": "Adelaide Glass & Closures"})
    bill["LineItems"][0].update(AccountCode="1430", TaxType="INPUT")
    bills = sb.put("Invoices", {"Invoices": [bill, bill]}).json()["Invoices"]
    assert [b["StatusAttributeString"] for b in bills] == ["OK", "OK"]


def test_contact_by_name_matches_or_creates_a_duplicate(fast_sandbox):
    sb = fast_sandbox
    exact = invoice(1, sb.today, Contact={"Name": "Cellar Door Sales"})
    typo = invoice(2, sb.today, Contact={"Name": "Cellar Door Sale"})
    missing = invoice(3, sb.today, Contact={"ContactID": "0b0b0b0b-0000-0000-0000-000000000000"})
    out = sb.put("Invoices", {"Invoices": [exact, typo, missing]}).json()["Invoices"]
    assert out[0]["StatusAttributeString"] == out[1]["StatusAttributeString"] == "OK"
    assert out[2]["StatusAttributeString"] == "ERROR"
    contacts = sb.get("Contacts", params={"searchTerm": "cellar door"}).json()["Contacts"]
    assert sorted(c["Name"] for c in contacts) == ["Cellar Door Sale", "Cellar Door Sales"]
    assert sb.state()["counters"]["contacts_created_by_name"] == 1


def test_idempotency_replay_then_window_expiry(fast_sandbox):
    sb = fast_sandbox
    body = {"ManualJournals": [journal("Bottling BTL-0412", sb.today)]}
    first = sb.put("ManualJournals", body, key="mj:42:abc")
    replay = sb.put("ManualJournals", body, key="mj:42:abc")
    assert first.status_code == replay.status_code == 200
    assert replay.json() == first.json()
    where = {"where": 'Narration=="Bottling BTL-0412"'}
    assert len(sb.get("ManualJournals", params=where).json()["ManualJournals"]) == 1
    sb.clock.advance(361)
    later = sb.put("ManualJournals", body, key="mj:42:abc")
    assert later.json()["ManualJournals"][0]["ManualJournalID"] != \
        first.json()["ManualJournals"][0]["ManualJournalID"]
    assert len(sb.get("ManualJournals", params=where).json()["ManualJournals"]) == 2
    too_long = sb.put("ManualJournals", body, key="k" * 129)
    assert too_long.status_code == 400
    assert sb.state()["counters"]["idempotent_replays"] == 1


def test_request_over_3_5_mb_is_413(fast_sandbox):
    sb = fast_sandbox
    huge = [invoice(n, sb.today, Reference="x" * 4000) for n in range(1000)]
    answer = sb.put("Invoices", {"Invoices": huge})
    assert answer.status_code == 413


# --- limits --------------------------------------------------------------------------------

def test_sixty_per_minute_then_429_with_retry_after(sandbox):
    seen = []
    for _ in range(60):
        answer = sandbox.get("Organisation")
        assert answer.status_code == 200
        assert "X-DayLimit-Remaining" in answer.headers
        assert "X-AppMinLimit-Remaining" in answer.headers
        seen.append(int(answer.headers["X-MinLimit-Remaining"]))
    assert seen[0] == 59 and seen[-1] == 0
    refused = sandbox.get("Organisation")
    assert refused.status_code == 429
    assert refused.headers["X-Rate-Limit-Problem"] == "minute"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["X-MinLimit-Remaining"] == "0"
    # another organisation has its own minute
    assert sandbox.get("Organisation", tenant=NZ).status_code == 200
    sandbox.clock.advance(int(refused.headers["Retry-After"]))
    assert sandbox.get("Organisation").status_code == 200
    counters = sandbox.state()["counters"]
    assert counters["rate_limited"] == 1
    assert counters["rate_limited_by_problem"] == {"minute": 1}
    assert any(c["status"] == 429 for c in sandbox.state()["calls"])


def test_sixth_call_in_flight_is_refused(sandbox):
    sandbox.inject(kind="delay", ms=700)

    def call(_):
        return sandbox.get("Organisation")

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(call, range(6)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] * 5 + [429]
    refused = next(a for a in answers if a.status_code == 429)
    assert refused.headers["X-Rate-Limit-Problem"] == "concurrent"
    assert int(refused.headers["Retry-After"]) >= 1


def test_auth_failures(sandbox):
    no_token = requests.get(f"{sandbox.url}/api.xro/2.0/Organisation",
                            headers={"xero-tenant-id": AU}, timeout=10)
    assert no_token.status_code == 401
    assert no_token.json()["Detail"] == "AuthenticationUnsuccessful"
    wrong_org = sandbox.get("Organisation", tenant="00000000-0000-0000-0000-000000000001")
    assert wrong_org.status_code == 403
    sandbox.clock.advance(1801)
    expired = sandbox.get("Organisation")
    assert expired.status_code == 401
    assert expired.json()["Detail"].startswith("TokenExpired: token expired at ")


# --- faults --------------------------------------------------------------------------------

def test_injected_5xx_drop_storm_and_expiry(fast_sandbox):
    sb = fast_sandbox
    sb.inject(kind="fail", status=503, count=2)
    first, second = sb.get("Organisation"), sb.get("Organisation")
    assert first.status_code == second.status_code == 503
    assert first.text == "Service Unavailable"
    sb.inject(kind="fail", status=500)
    assert sb.get("Organisation").status_code == 500
    assert sb.get("Organisation").status_code == 200

    sb.inject(kind="drop")
    with pytest.raises(requests.exceptions.ConnectionError):
        sb.get("Organisation")
    assert sb.get("Organisation").status_code == 200

    sb.inject(kind="rate_limit_storm", count=3, retry_after=7)
    storm = [sb.get("Organisation") for _ in range(3)]
    assert [s.status_code for s in storm] == [429] * 3
    assert storm[0].headers["Retry-After"] == "7"
    assert sb.get("Organisation").status_code == 200

    sb.sb.expire_tokens()
    expired = sb.get("Organisation")
    assert expired.status_code == 401 and "TokenExpired" in expired.json()["Detail"]

    counters = sb.state()["counters"]
    assert counters["faults_fired"] == {"fail": 3, "drop": 1, "rate_limit_storm": 3}
    assert counters["rate_limited"] == 3


def test_commit_then_drop_creates_and_loses_the_answer(fast_sandbox):
    sb = fast_sandbox
    sb.sb.inject("commit_then_drop")
    body = {"ManualJournals": [journal("Dispatch DSP-77", sb.today)]}
    with pytest.raises(requests.exceptions.ConnectionError):
        sb.put("ManualJournals", body, key="mj:77")
    found = sb.get("ManualJournals", params={"where": 'Narration=="Dispatch DSP-77"'}).json()
    assert len(found["ManualJournals"]) == 1
    # the immediate retry with the same key gets the first answer, not a second journal
    retry = sb.put("ManualJournals", body, key="mj:77")
    assert retry.json()["ManualJournals"][0]["ManualJournalID"] == \
        found["ManualJournals"][0]["ManualJournalID"]


def test_reset_returns_to_seed(fast_sandbox):
    sb = fast_sandbox
    sb.put("Invoices", {"Invoices": [invoice(1, sb.today, Contact={"Name": "Brand New"})]})
    sb.inject(kind="fail", status=503)
    sb.sb.archive_account("4000")
    answer = requests.post(f"{sb.url}/_reset", json={"keep_connections": True}, timeout=10)
    assert answer.status_code == 200
    state = sb.state()
    assert state["organisations"][0]["invoices"]["count"] == 0
    assert state["organisations"][0]["archivedAccounts"] == ["1460"]
    assert state["faults"]["fail"] == [] and state["counters"]["api_calls"] == 0
    assert sb.get("Contacts", params={"searchTerm": "Brand New"}).json()["Contacts"] == []
    requests.post(f"{sb.url}/_reset", timeout=10)
    assert sb.get("Organisation").status_code == 401  # grants went with the full reset


# --- reads ---------------------------------------------------------------------------------

def test_where_filters_and_paging(fast_sandbox):
    sb = fast_sandbox
    day = sb.today
    batch = [invoice(n, day, Status="DRAFT" if n % 2 else "AUTHORISED") for n in range(1, 121)]
    assert sb.put("Invoices", {"Invoices": batch}).status_code == 200

    def numbers(where, **params):
        answer = sb.get("Invoices", params={"where": where, **params})
        assert answer.status_code == 200, answer.text
        return [i["InvoiceNumber"] for i in answer.json()["Invoices"]]

    assert numbers('Reference=="erp:sales:7"') == ["SO-00007"]
    assert numbers('InvoiceNumber=="SO-00003" OR InvoiceNumber=="SO-00004"') == [
        "SO-00003", "SO-00004"]
    assert numbers('Reference.StartsWith("erp:sales:11") && Status=="DRAFT"') == [
        "SO-00011", "SO-00111", "SO-00113", "SO-00115", "SO-00117", "SO-00119"]
    assert numbers('Type=="ACCREC" AND Reference.Contains(":10") AND Status!="DRAFT"') == [
        "SO-00010", "SO-00100", "SO-00102", "SO-00104", "SO-00106", "SO-00108"]
    contact_id = sb.get("Contacts", params={"where": 'Name=="Cellar Door Sales"'}).json()[
        "Contacts"][0]["ContactID"]
    assert len(numbers(f'Contact.ContactID==Guid("{contact_id}")', pageSize=1000)) == 120
    iso = day.isoformat().replace("-", ", ")
    assert len(numbers(f"Date >= DateTime({iso}) AND Status==\"DRAFT\"", page=1)) == 60

    page1 = sb.get("Invoices").json()
    assert page1["pagination"] == {"page": 1, "pageSize": 100, "pageCount": 2, "itemCount": 120}
    page2 = sb.get("Invoices", params={"page": 2}).json()
    assert len(page2["Invoices"]) == 20

    bad = sb.get("Invoices", params={"where": 'Status=="DRAFT" AND ('})
    assert bad.status_code == 400 and bad.json()["Type"] == "ValidationException"
    unknown = sb.get("Invoices", params={"where": 'Colour=="red"'})
    assert unknown.status_code == 400 and "Colour" in unknown.json()["Message"]
    injection = sb.get("Invoices", params={"where": '__import__("os").system("true")'})
    assert injection.status_code == 400

    accounts = sb.get("Accounts", params={"where": 'Status=="ACTIVE" AND Type=="INVENTORY"'})
    assert sorted(a["Code"] for a in accounts.json()["Accounts"]) == [
        "1410", "1420", "1430", "1440", "1450"]
    rounding = sb.get("Accounts", params={"where": 'Code=="860"'}).json()["Accounts"][0]
    assert rounding["SystemAccount"] == "ROUNDING"


def test_dates_and_settings_shapes(fast_sandbox):
    sb = fast_sandbox
    answer = sb.put("Invoices", {"Invoices": [invoice(1, date(2019, 1, 1) + timedelta(
        days=(sb.today - date(2019, 1, 1)).days))]})
    created = answer.json()["Invoices"][0]
    day = sb.today
    epoch_ms = (day - date(1970, 1, 1)).days * 86_400_000
    assert created["Date"] == f"/Date({epoch_ms}+0000)/"
    assert created["DateString"] == f"{day.isoformat()}T00:00:00"
    assert re.fullmatch(r"/Date\(\d+\+0000\)/", created["UpdatedDateUTC"])
    assert re.fullmatch(r"/Date\(\d+\)/", answer.json()["DateTimeUTC"])
    one = sb.get(f"Invoices/{created['InvoiceID']}").json()["Invoices"][0]
    assert one["InvoiceNumber"] == "SO-00001" and one["LineItems"][0]["LineAmount"] == 241.1

    org = sb.get("Organisation").json()["Organisations"][0]
    assert re.fullmatch(r"/Date\(\d+\+0000\)/", org["PeriodLockDate"])
    assert "EndOfYearLockDate" not in org
    nz = sb.get("Organisation", tenant=NZ).json()["Organisations"][0]
    assert nz["BaseCurrency"] == "NZD" and "PeriodLockDate" not in nz
    rates = {r["TaxType"]: r for r in sb.get("TaxRates").json()["TaxRates"]}
    assert rates["OUTPUT"]["EffectiveRate"] == 10 and "EXEMPTEXPORT" in rates
    nz_rates = {r["TaxType"] for r in sb.get("TaxRates", tenant=NZ).json()["TaxRates"]}
    assert {"OUTPUT2", "INPUT2", "NONE", "ZERORATEDOUTPUT"} <= nz_rates
    tracking = sb.get("TrackingCategories").json()["TrackingCategories"]
    assert {c["Name"]: len(c["Options"]) for c in tracking} == {"Vintage": 8, "Brand": 5}


def test_inclusive_and_unitdp_amounts(fast_sandbox):
    sb = fast_sandbox
    inclusive = invoice(1, sb.today, LineAmountTypes="Inclusive")
    inclusive["LineItems"][0].update(Quantity=1, UnitAmount=110.00)
    precise = invoice(2, sb.today)
    precise["LineItems"][0].update(Quantity=3, UnitAmount=1.2345)
    answer = requests.put(f"{sb.url}/api.xro/2.0/Invoices",
                          params={"summarizeErrors": "false", "unitdp": "4"},
                          headers=sb.headers(), data=json.dumps(
                              {"Invoices": [inclusive, precise]}), timeout=10)
    first, second = answer.json()["Invoices"]
    assert (first["SubTotal"], first["TotalTax"], first["Total"]) == (100.0, 10.0, 110.0)
    # 3 x 1.2345 = 3.7035 -> 3.70 line, tax 0.37
    assert second["LineItems"][0]["UnitAmount"] == 1.2345
    assert (second["SubTotal"], second["TotalTax"]) == (3.70, 0.37)
    assert json.loads(answer.text, parse_float=Decimal)["Invoices"][1]["Total"] == \
        Decimal("4.07")


def test_pages_and_state_json(fast_sandbox):
    sb = fast_sandbox
    sb.put("ManualJournals", {"ManualJournals": [journal("Crush CR-001", sb.today)]})
    sb.put("Invoices", {"Invoices": [invoice(1, sb.today)]})
    page = requests.get(f"{sb.url}/", timeout=10)
    assert page.status_code == 200
    assert "Crush CR-001" in page.text and "DRAFT" in page.text and "SO-00001" in page.text
    assert "Barossa Ridge Wines (NZ Demo)" in page.text
    link = re.search(r'href="(/objects/manual-journals/[^"]+)"', page.text)[1]
    detail = requests.get(f"{sb.url}{link}", timeout=10)
    assert detail.status_code == 200
    assert "Bulk wine WIP" in detail.text and "Vintage: 2024" in detail.text
    assert "1,234.56" in detail.text

    state = sb.state()
    au = state["organisations"][0]
    assert au["manualJournals"]["count"] == 1 and au["invoices"]["count"] == 1
    assert au["manualJournals"]["items"][0]["Narration"] == "Crush CR-001"
    counters = state["counters"]
    assert counters["api_calls_by_org"] == {AU: 2}
    assert counters["documents_created"]["ManualJournals"] == 1
    call = state["calls"][-1]
    assert {"method", "path", "query", "status", "org", "time", "idempotencyKey",
            "elements"} <= set(call)
    assert call["elements"] == 1 and call["org"] == AU


def test_mounted_under_a_prefix(clock, monkeypatch):
    host = Flask("host")

    @host.get("/")
    def home():
        return "host"

    sandbox_app = create_app({"CLOCK": clock, "TEST_HOOKS": True})
    mounted = DispatcherMiddleware(host, {"/xero-sandbox": sandbox_app})
    with run_in_thread(mounted) as (base, _stop):
        assert requests.get(f"{base}/", timeout=10).text == "host"
        root = f"{base}/xero-sandbox"
        sb = Sandbox(root, sandbox_app, clock)
        sb.put("ManualJournals", {"ManualJournals": [journal("Mounted", sb.today)]})
        page = requests.get(f"{root}/", timeout=10).text
        assert 'href="/xero-sandbox/objects/manual-journals/' in page
        assert 'href="/xero-sandbox/_state.json"' in page
        _, state, consent, answer = _consent(sb, monkeypatch)
        assert 'action="/xero-sandbox/identity/connect/authorize"' in consent.text
        assert answer.headers["Location"].startswith(REDIRECT)
        assert parse_qs(urlsplit(answer.headers["Location"]).query)["state"] == [state]


def test_state_file_survives_restart(tmp_path, clock):
    path = tmp_path / "sandbox.json"
    first = create_app({"CLOCK": clock, "STATE_FILE": str(path)})
    with run_in_thread(first) as (url, _stop):
        sb = Sandbox(url, first, clock)
        assert sb.put("Invoices", {"Invoices": [invoice(1, sb.today)]}).status_code == 200
        token = sb.token
    second = create_app({"CLOCK": clock, "STATE_FILE": str(path)})
    with run_in_thread(second) as (url, _stop):
        answer = requests.get(f"{url}/api.xro/2.0/Invoices", timeout=10, headers={
            "Authorization": f"Bearer {token['access_token']}", "xero-tenant-id": AU})
        assert answer.status_code == 200
        assert answer.json()["Invoices"][0]["Total"] == 265.21
        assert requests.post(f"{url}/identity/connect/token", auth=(CLIENT_ID, SECRET), data={
            "grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
            timeout=10).status_code == 200


def test_server_helper_stops_cleanly(clock):
    app = create_app({"CLOCK": clock, "TEST_HOOKS": True})
    running = run_in_thread(app)
    base, stop = running
    assert requests.get(f"{base}/_state.json", timeout=10).status_code == 200
    stop()
    stop()  # idempotent
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{base}/_state.json", timeout=2)
    assert not [t for t in threading.enumerate() if t.name == f"xero-sandbox:{urlsplit(base).port}"]


def test_credit_notes_and_contacts(fast_sandbox):
    sb = fast_sandbox
    note = {"Type": "ACCRECCREDIT", "Contact": {"Name": "Cellar Door Sales"},
            "Date": sb.today.isoformat(), "CreditNoteNumber": "CN-R-1", "Status": "AUTHORISED",
            "LineAmountTypes": "Inclusive",
            "LineItems": [{"Description": "Refund: corked bottle", "Quantity": 1,
                           "UnitAmount": 45.00, "AccountCode": "4000", "TaxType": "OUTPUT"}]}
    out = sb.put("CreditNotes", {"CreditNotes": [note, note]}).json()["CreditNotes"]
    assert out[0]["StatusAttributeString"] == "OK"
    assert (out[0]["SubTotal"], out[0]["TotalTax"], out[0]["Total"]) == (40.91, 4.09, 45.0)
    assert messages(out[1]) == ["Credit Note # must be unique."]
    one = sb.get(f"CreditNotes/{out[0]['CreditNoteID']}").json()["CreditNotes"][0]
    assert one["CreditNoteNumber"] == "CN-R-1" and one["DateString"].endswith("T00:00:00")
    listed = sb.get("CreditNotes", params={"where": 'CreditNoteNumber=="CN-R-1"'}).json()
    assert listed["pagination"]["itemCount"] == 1

    contacts = sb.put("Contacts", {"Contacts": [{"Name": "Riverland Bulk Wine Co"},
                                                {"Name": "Cellar Door Sales"}, {}]})
    first, duplicate, nameless = contacts.json()["Contacts"]
    assert first["StatusAttributeString"] == "OK" and first["ContactID"]
    assert messages(duplicate) == ["The contact name Cellar Door Sales is already assigned to "
                                   "another contact. The contact name must be unique across "
                                   "all active contacts."]
    assert messages(nameless) == ["The contact name must be specified."]
    by_id = sb.get("Contacts", params={"IDs": first["ContactID"]}).json()["Contacts"]
    assert [c["Name"] for c in by_id] == ["Riverland Bulk Wine Co"]


def test_daily_limit(clock):
    app = create_app({"CLOCK": clock, "DAILY_LIMIT": 3})
    with run_in_thread(app) as (url, _stop):
        sb = Sandbox(url, app, clock)
        assert [sb.get("Organisation").status_code for _ in range(3)] == [200] * 3
        refused = sb.get("Organisation")
        assert refused.status_code == 429
        assert refused.headers["X-Rate-Limit-Problem"] == "day"
        assert refused.headers["X-DayLimit-Remaining"] == "0"
        assert 86_000 < int(refused.headers["Retry-After"]) <= 86_400


def test_code_expiry_and_pkce(sandbox, monkeypatch):
    oauth, _, _, answer = _consent(sandbox, monkeypatch)
    sandbox.clock.advance(301)
    with pytest.raises(Exception, match="invalid_grant"):
        oauth.fetch_token(f"{sandbox.url}/identity/connect/token",
                          authorization_response=answer.headers["Location"],
                          client_secret=SECRET)

    pkce = OAuth2Session(CLIENT_ID, redirect_uri=REDIRECT, scope=SCOPES, pkce="S256")
    url, _ = pkce.authorization_url(f"{sandbox.url}/identity/connect/authorize")
    page = requests.get(url, timeout=10)
    fields = {name: html.unescape(value) for name, value in
              re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page.text)}
    assert fields["code_challenge_method"] == "S256"
    allowed = requests.post(f"{sandbox.url}/identity/connect/authorize",
                            data={**fields, "decision": "allow", "tenant": AU},
                            allow_redirects=False, timeout=10)
    token = pkce.fetch_token(f"{sandbox.url}/identity/connect/token",
                             authorization_response=allowed.headers["Location"],
                             client_secret=SECRET)
    assert token["access_token"]


def test_schema_validation_can_be_switched_off(clock):
    app = create_app({"CLOCK": clock, "VALIDATE_SCHEMA": False, "RATE_LIMIT_PER_MINUTE": None})
    with run_in_thread(app) as (url, _stop):
        sb = Sandbox(url, app, clock)
        broken = invoice(1, sb.today)
        broken["LineItems"][0]["Quantity"] = "two"
        answer = sb.put("Invoices", {"Invoices": [broken]})
        assert answer.status_code == 200
        assert messages(answer.json()["Invoices"][0]) == [
            "Quantity on line item 1 must be a number."]
        assert "X-MinLimit-Remaining" not in answer.headers  # that limit is off


def test_answers_fit_the_official_response_schemas(fast_sandbox):
    from accounts_sync.demo.xero_sandbox.validation import spec_schemas

    sb = fast_sandbox
    schemas = spec_schemas()
    written = {
        "Invoices": sb.put("Invoices", {"Invoices": [invoice(1, sb.today), invoice(1, sb.today)]}),
        "ManualJournals": sb.put("ManualJournals", {"ManualJournals": [journal("J", sb.today)]}),
        "Contacts": sb.put("Contacts", {"Contacts": [{"Name": "Schema Check Pty Ltd"}]}),
    }
    read = {name: sb.get(path) for name, path in [
        ("Organisations", "Organisation"), ("Accounts", "Accounts"), ("TaxRates", "TaxRates"),
        ("TrackingCategories", "TrackingCategories"), ("Contacts", "Contacts"),
        ("Invoices", "Invoices"), ("ManualJournals", "ManualJournals"),
        ("CreditNotes", "CreditNotes")]}
    summarised = sb.put("Invoices", {"Invoices": [invoice(1, sb.today)]}, summarize=True)
    for name, answer in [*written.items(), *read.items(), ("Error", summarised)]:
        body = json.loads(answer.text, parse_float=Decimal)
        assert schemas.problems(name, body) == [], name
