"""Editing the demo ERP after a sync (accounts_sync.demo.erp_edits): what the corrections demo
and its browser test rely on. Every change stamps the row, as a real ERP's save does."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from accounts_sync.adapters.erp_sql import host_schema as hs

from .fixtures import HostErp, line
from .test_demo_host import _app, _database, _login, _token

OLD = datetime(2026, 1, 1)


@pytest.fixture
def erp_db(tmp_path: Path):
    url, engine = _database(tmp_path)
    erp = HostErp(engine)
    customer = erp.customer("Harbour Wines")
    so = erp.sales_order(customer, number="SO-000001", updated_at=OLD, lines=[
        line("2024 Reserve Shiraz", "12", "25.00", tax="30.00", account="4000", tax_type="OUTPUT")])
    op = erp.operation("ADD-0001", "Addition: tartaric acid", op_type="addition")
    entry = erp.cost_entry(op, date(2026, 11, 18), "addition", "additive", "250.0000", "additives",
                           "bulk_wine", vintage="2025", brand="Reserve", created_at=OLD)
    yield url, engine, so, op, entry
    engine.dispose()


def client_of(url: str, user: str = "accountant"):
    client = _app(url).test_client()
    assert _login(client, user).status_code == 302
    return client


def test_an_edit_recomputes_tax_and_total_and_stamps_the_order(erp_db):
    url, engine, so, _, _ = erp_db
    client = client_of(url)
    page = client.get(f"/erp/sales-orders/{so}")
    line_id = engine.connect().execute(select(hs.sales_order_lines.c.id)).scalar()
    response = client.post(f"/erp/sales-orders/{so}/lines", data={
        "csrf_token": _token(page.data), f"quantity-{line_id}": "12", f"price-{line_id}": "25.00",
        "new_description": "Freight", "new_quantity": "1", "new_price": "50"})
    assert response.status_code == 302
    with engine.connect() as conn:
        order = conn.execute(select(hs.sales_orders).where(hs.sales_orders.c.id == so)).mappings().one()
        lines = conn.execute(select(hs.sales_order_lines)).mappings().all()
    assert Decimal(order["total"]) == Decimal("385.00")  # 300 + 30 + 50 + 5
    assert [Decimal(ln["tax_amount"]) for ln in lines] == [Decimal("30.00"), Decimal("5.00")]
    assert order["updated_at"] > OLD


def test_a_bad_number_is_refused_with_a_sentence_and_nothing_changes(erp_db):
    url, engine, so, _, _ = erp_db
    client = client_of(url)
    page = client.get(f"/erp/sales-orders/{so}")
    line_id = engine.connect().execute(select(hs.sales_order_lines.c.id)).scalar()
    response = client.post(f"/erp/sales-orders/{so}/lines", data={
        "csrf_token": _token(page.data), f"price-{line_id}": "lots"}, follow_redirects=True)
    assert "must be a number" in response.get_data(as_text=True)
    with engine.connect() as conn:
        assert conn.execute(select(hs.sales_orders.c.updated_at)).scalar() == OLD


def test_cancel_and_costs_and_who_may(erp_db):
    url, engine, so, op, entry = erp_db
    cellarhand = client_of(url, "cellarhand")
    token = _token(cellarhand.get("/").data)
    assert cellarhand.post(f"/erp/sales-orders/{so}/cancel",
                           data={"csrf_token": token}).status_code == 403
    client = client_of(url)
    assert client.post(f"/erp/sales-orders/{so}/cancel").status_code == 400, "CSRF required"
    token = _token(client.get(f"/erp/operations/{op}").data)
    client.post(f"/erp/sales-orders/{so}/cancel", data={"csrf_token": token})
    client.post(f"/erp/operations/{op}/costs", data={"csrf_token": token, "amount": "1000",
                                                     "entry_date": "2026-11-18"})
    client.post(f"/erp/cost-entries/{entry}", data={"csrf_token": token, "amount": "260"})
    with engine.connect() as conn:
        assert conn.execute(select(hs.sales_orders.c.status)).scalar() == "cancelled"
        amounts = sorted(Decimal(a) for a in conn.execute(select(hs.cost_entries.c.amount)).scalars())
        assert amounts == [Decimal("260"), Decimal("1000")]
        stamps = conn.execute(select(hs.cost_entries.c.updated_at)).scalars().all()
        assert all(s > OLD for s in stamps)
    client.post(f"/erp/cost-entries/{entry}", data={"csrf_token": token, "remove": "1"})
    with create_engine(url).connect() as conn:
        assert conn.execute(select(hs.cost_entries.c.id)).scalars().all() != [entry]
        assert entry not in conn.execute(select(hs.cost_entries.c.id)).scalars().all()
