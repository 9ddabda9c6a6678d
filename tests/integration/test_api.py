"""The JSON API's description and its answers to bad input: every route described, every
error the documented shape with the right status, none of the issue's 500s left (SQLite and
PostgreSQL)."""

from __future__ import annotations

import base64
import re

import pytest
from openapi_pydantic import OpenAPI

from accounts_sync.web import api
from accounts_sync.web.api_models import Error
from tests.fakes import FakeClock, FakeGateway

from .web_host import bearer, logged_in, make_host_app

HUGE = "99999999999999999999"
TOKEN = bearer("accountant")


@pytest.fixture
def app(clean_db, db_url):
    app = make_host_app(db_url)
    container = app.extensions["accounts_sync"].container
    container.clock.override(FakeClock())
    container.gateway.override(FakeGateway())
    yield app
    container.job_queue().shutdown()


def spec(app) -> dict:
    return app.test_client().get("/accounts/sync/api/openapi.json", headers=TOKEN).json


def assert_error(response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    body = Error.model_validate(response.json)
    assert body.error.message and "Traceback" not in body.error.message
    if code:
        assert body.error.code == code


def test_the_description_is_openapi_3_1_and_covers_every_api_route(app):
    document = spec(app)
    assert document["openapi"] == "3.1.0"
    OpenAPI.model_validate(document)
    described = {(path, method.upper()) for path, item in document["paths"].items() for method in item}
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("accounts_sync.") and "/api/" in rule.rule:
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
            routes |= {(path, method) for method in rule.methods - {"HEAD", "OPTIONS"}}
    hidden = {(f"/accounts/sync{op.rule}".replace("<path:filename>", "{filename}"), op.method)
              for op in api.OPERATIONS if not op.in_spec}
    assert routes - hidden == described, "an API route without models: declare it with @operation"


def test_every_operation_documents_its_errors_with_the_error_model(app):
    for path, item in spec(app)["paths"].items():
        for method, operation in item.items():
            for status in ("401", "403", "500"):
                schema = operation["responses"][status]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (path, method, status)


def test_sync_links_to_its_run_for_stateful_clients(app):
    links = spec(app)["paths"]["/accounts/sync/api/sync"]["post"]["responses"]["202"]["links"]
    assert links["getRun"]["parameters"] == {"run_id": "$response.body#/run/id"}


@pytest.mark.parametrize("body", [[1, 2], "sales_orders", 5, None, {"kind": 123},
                                  {"kind": "journals", "mode": 5},
                                  {"kind": "sales_orders", "closing_date": 20261203},
                                  {"kind": "sales_orders", "closing_date": "0"},
                                  {"kind": "sales_orders", "closing_date_typo": "2026-11-01"}])
def test_bad_sync_bodies_are_a_400_not_a_500(app, body):
    response = app.test_client().post("/accounts/sync/api/sync", json=body, headers=TOKEN)
    assert_error(response, 400)
    assert app.extensions["accounts_sync"].container.list_runs().execute(limit=5) == []


def test_a_body_that_is_not_json_is_a_400(app):
    client = app.test_client()
    assert_error(client.post("/accounts/sync/api/sync", data="{nope", content_type="application/json",
                             headers=TOKEN), 400)
    assert_error(client.post("/accounts/sync/api/sync", data=b"\xff\xfe", content_type="application/json",
                             headers=TOKEN), 400)
    assert_error(client.post("/accounts/sync/api/sync", data="kind=refunds", content_type="text/plain",
                             headers=TOKEN), 400)


def test_form_bodies_still_start_a_sync_for_the_console(app):
    client = logged_in(app, "accountant")
    token = re.search(r'data-csrf="([^"]+)"', client.get("/accounts/sync/").get_data(as_text=True)).group(1)
    response = client.post("/accounts/sync/api/sync", data={"kind": "refunds"},
                           headers={"X-CSRFToken": token})
    assert response.status_code == 202 and response.json["started"] is True


API = "/accounts/sync/api"


@pytest.mark.parametrize("path", [f"{API}/runs/{HUGE}", f"{API}/runs/{2**31}", f"{API}/runs/0",
                                  f"{API}/runs/abc", f"{API}/runs?before={HUGE}",
                                  f"{API}/runs?before={2**31}", f"{API}/documents/journals",
                                  f"{API}/documents/nope",
                                  "/accounts/sync/api/documents/sales_orders?page_size=0",
                                  "/accounts/sync/api/documents/sales_orders?page_size=5.0",
                                  "/accounts/sync/api/preview?closing_date=0"])
def test_out_of_range_and_malformed_parameters_are_a_400(app, path):
    assert_error(app.test_client().get(path, headers=TOKEN), 400)


@pytest.mark.parametrize("erp_id", [HUGE, str(2**31), "-1", "x"])
def test_a_cursor_holding_a_huge_or_bad_id_is_a_400(app, erp_id):
    cursor = base64.urlsafe_b64encode(f"2026-01-01|{erp_id}".encode()).rstrip(b"=").decode()
    response = app.test_client().get(f"/accounts/sync/api/documents/sales_orders?after={cursor}",
                                     headers=TOKEN)
    assert_error(response, 400, "invalid_request")


def test_a_run_that_does_not_exist_is_a_404(app):
    assert_error(app.test_client().get(f"/accounts/sync/api/runs/{2**31 - 1}", headers=TOKEN), 404,
                 "not_found")


def test_the_history_and_run_pages_take_huge_numbers_calmly(app):
    client = logged_in(app, "accountant")
    assert client.get(f"/accounts/sync/history?before={HUGE}").status_code == 200
    assert client.get("/accounts/sync/history?before=-5").status_code == 200
    assert client.get(f"/accounts/sync/runs/{HUGE}").status_code == 404


def test_the_docs_page_works_offline(app):
    client = logged_in(app, "accountant")
    page = client.get("/accounts/sync/api/docs")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="swagger-ui"' in html
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html), "nothing may come from a CDN"
    for asset in re.findall(r'(?:src|href)="(/accounts/sync/[^"]+)"', html):
        assert client.get(asset).status_code == 200, asset
    assert client.get("/accounts/sync/api/docs/assets/../../views.py").status_code == 404
