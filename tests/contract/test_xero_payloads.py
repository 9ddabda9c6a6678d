"""Every request body the Xero adapter builds validates against Xero's own OpenAPI schemas,
and money, dates and batch limits are serialised exactly as Xero needs them."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from decimal import Decimal

import pytest

from accounts_sync.adapters.xero import payloads
from accounts_sync.adapters.xero.payloads import PayloadProblem
from accounts_sync.application.ports import Allocation
from accounts_sync.domain.costs import MovementType
from accounts_sync.domain.documents import (
    Contact,
    DocumentLine,
    Kind,
    LineAmountTypes,
    TrackingRef,
    TradeDocument,
)
from accounts_sync.domain.journals import AccountJournal, JournalLine, reference_marker
from accounts_sync.domain.sync import JournalMode

from .spec import assert_valid, problems

CONTACT_ID = "3f2c1a8e-8d4b-4c55-9e0f-0a1b2c3d4e5f"
VINTAGE = TrackingRef("Vintage", "2024")
BRAND = TrackingRef("Brand", "Reserve")


def document(
    kind: Kind = Kind.SALES_ORDERS,
    number: str = "SO-1001",
    lat: LineAmountTypes = LineAmountTypes.EXCLUSIVE,
    tracking: tuple[TrackingRef, ...] = (),
    unit_amount: Decimal = Decimal("24.5000"),
    quantity: Decimal = Decimal("12"),
    reference: str = "PO 7781 from the customer",
    due_date: date | None = date(2026, 4, 30),
    lines: int = 2,
    description: str = "Shiraz 2022 750ml",
) -> TradeDocument:
    return TradeDocument(
        kind=kind,
        erp_id="42",
        number=number,
        contact=Contact("customer:7", "Vintage Cellars Distribution Pty Ltd", "orders@vc.example"),
        date=date(2026, 3, 31),
        due_date=due_date,
        currency="aud",
        lines=tuple(
            DocumentLine(f"{description} #{i}", quantity, unit_amount, "4000", "OUTPUT",
                         tax_amount=Decimal("29.40"), tracking=tracking)
            for i in range(lines)
        ),
        line_amount_types=lat,
        reference=reference,
        url=f"https://erp.example/sales/{number}",
    )


def journal() -> AccountJournal:
    return AccountJournal(
        key="2026-03-04-bottling",
        date=date(2026, 3, 4),
        movement_type=MovementType.BOTTLING,
        narration="Bottling on 2026-03-04: 3 cost entries [AS:2026-03-04-bottling]",
        lines=(
            JournalLine("1450", Decimal("1000.01"), (VINTAGE, BRAND), "Wine, Dry goods"),
            JournalLine("1440", Decimal("-700.00"), (VINTAGE,), "Wine"),
            JournalLine("1430", Decimal("-300.00"), (), "Dry goods"),
            JournalLine("860", Decimal("-0.01"), (), "Rounding", is_rounding=True),
        ),
        entry_count=3,
        url="https://erp.example/accounts/sync/journals/2026-03-04-bottling",
    )


def body(payload: dict) -> dict:
    """What Xero receives: the exact bytes, parsed back with exact decimals."""
    return json.loads(payloads.encode_json(payload), parse_float=Decimal)


# ------------------------------------------------------------------ invoices and bills


@pytest.mark.parametrize("lat", list(LineAmountTypes))
@pytest.mark.parametrize("tracking", [(), (VINTAGE,), (VINTAGE, BRAND)], ids=["none", "one", "two"])
@pytest.mark.parametrize("contact_id", [CONTACT_ID, None], ids=["contact-id", "contact-name"])
def test_sales_invoice_matches_the_spec(lat, tracking, contact_id):
    payload = body(payloads.invoice_payload(document(lat=lat, tracking=tracking), "AUTHORISED", contact_id))

    assert_valid("Invoice", payload)
    assert_valid("Invoices", {"Invoices": [payload]})
    assert payload["Type"] == "ACCREC"
    assert payload["LineAmountTypes"] == lat.value
    assert payload["InvoiceNumber"] == "SO-1001"
    assert payload["Reference"] == "PO 7781 from the customer"
    assert payload["CurrencyCode"] == "AUD"
    assert payload["Status"] == "AUTHORISED"
    assert payload["Url"] == "https://erp.example/sales/SO-1001"
    if contact_id:
        assert payload["Contact"] == {"ContactID": CONTACT_ID}
    else:
        assert payload["Contact"] == {"Name": "Vintage Cellars Distribution Pty Ltd"}
    line = payload["LineItems"][0]
    assert line["Quantity"] == Decimal("12") and line["UnitAmount"] == Decimal("24.5000")
    assert line["AccountCode"] == "4000" and line["TaxType"] == "OUTPUT"
    assert line.get("Tracking", []) == [{"Name": t.category, "Option": t.option} for t in tracking]


def test_bill_carries_the_suppliers_invoice_number_and_the_po_number_as_reference():
    doc = replace(document(kind=Kind.PURCHASE_ORDERS, number="PO-2044", reference="ignored"),
                  supplier_invoice_number="KRV-18822")
    payload = body(payloads.invoice_payload(doc, "AUTHORISED", CONTACT_ID))

    assert_valid("Invoice", payload)
    assert_valid("Invoices", {"Invoices": [payload]})
    assert payload["Type"] == "ACCPAY"
    assert payload["InvoiceNumber"] == "KRV-18822"
    assert payload["Reference"] == "PO-2044"  # what find_existing looks the bill up by


def test_a_bill_without_the_suppliers_number_goes_without_one_never_with_ours():
    doc = document(kind=Kind.PURCHASE_ORDERS, number="PO-2044", reference="ignored")
    payload = body(payloads.invoice_payload(doc, "AUTHORISED", CONTACT_ID))

    assert_valid("Invoice", payload)
    assert "InvoiceNumber" not in payload
    assert payload["Reference"] == "PO-2044"
    with pytest.raises(PayloadProblem, match="no number"):
        payloads.invoice_payload(replace(doc, number=" ", supplier_invoice_number="X-1"), "AUTHORISED")
    with pytest.raises(PayloadProblem, match="255"):
        payloads.invoice_payload(replace(doc, supplier_invoice_number="9" * 256), "AUTHORISED")


def test_credit_note_matches_the_spec():
    doc = document(kind=Kind.REFUNDS, number="RF-12", reference="SO-1001", due_date=None,
                   tracking=(VINTAGE,))
    for contact_id in (CONTACT_ID, None):
        payload = body(payloads.credit_note_payload(doc, "AUTHORISED", contact_id))
        assert_valid("CreditNote", payload)
        assert_valid("CreditNotes", {"CreditNotes": [payload]})
        assert payload["Type"] == "ACCRECCREDIT"
        assert payload["CreditNoteNumber"] == "RF-12"
        assert payload["Reference"] == "SO-1001"
        assert "InvoiceNumber" not in payload
        assert "Url" not in payload  # Xero's CreditNote has no Url field


def test_kinds_go_to_their_own_endpoint_only():
    with pytest.raises(PayloadProblem):
        payloads.invoice_payload(document(kind=Kind.REFUNDS), "AUTHORISED")
    with pytest.raises(PayloadProblem):
        payloads.credit_note_payload(document(kind=Kind.SALES_ORDERS), "AUTHORISED")


XERO_ID = "7b2d4c1e-55aa-4f0e-9c3b-2e8d6f1a0b99"


@pytest.mark.parametrize("kind, xero_type, schema", [
    (Kind.PURCHASE_ORDERS, "ACCPAYCREDIT", "CreditNote"),  # a bill lowered
    (Kind.SALES_ORDERS, "ACCRECCREDIT", "CreditNote"),  # a sale lowered
    (Kind.REFUNDS, "ACCREC", "Invoice"),  # a refund lowered: the customer owes again
    (Kind.PURCHASE_ORDERS, "ACCPAY", "Invoice"),  # a bill raised
])
def test_adjustments_are_built_as_their_xero_type(kind, xero_type, schema):
    doc = replace(document(kind=kind, number="X-1-A1"), document_type=xero_type, fingerprint="")
    payload = body(payloads.document_payload(doc, "AUTHORISED", CONTACT_ID))
    assert_valid(schema, payload)
    assert payload["Type"] == xero_type
    build = payloads.invoice_payload if schema == "CreditNote" else payloads.credit_note_payload
    with pytest.raises(PayloadProblem):
        build(doc, "AUTHORISED")  # the other endpoint refuses it


@pytest.mark.parametrize("kind", [Kind.SALES_ORDERS, Kind.REFUNDS])
def test_an_update_is_the_creation_body_with_the_id_and_keeps_the_status_unless_given(kind):
    doc = document(kind=kind, due_date=None if kind is Kind.REFUNDS else date(2026, 4, 30))
    schema, id_field = ("Invoice", "InvoiceID") if kind is Kind.SALES_ORDERS else (
        "CreditNote", "CreditNoteID")
    created = body(payloads.document_payload(doc, "AUTHORISED", CONTACT_ID))
    kept = body(payloads.document_payload(doc, "", CONTACT_ID, XERO_ID))
    assert_valid(schema, kept)
    assert_valid(f"{schema}s", {f"{schema}s": [kept]})
    assert kept[id_field] == XERO_ID and "Status" not in kept
    assert {k: v for k, v in kept.items() if k != id_field} == {
        k: v for k, v in created.items() if k != "Status"}
    authorised = body(payloads.document_payload(doc, "AUTHORISED", CONTACT_ID, XERO_ID))
    assert authorised["Status"] == "AUTHORISED" and len(authorised["LineItems"]) == 2


@pytest.mark.parametrize("document_type, status, schema", [
    ("ACCREC", "VOIDED", "Invoice"), ("ACCPAY", "DELETED", "Invoice"),
    ("ACCRECCREDIT", "VOIDED", "CreditNote"), ("ACCPAYCREDIT", "DELETED", "CreditNote"),
    ("MANJOURNAL", "VOIDED", "ManualJournal"),
])
def test_voids_and_deletes_are_status_updates_that_match_the_spec(document_type, status, schema):
    payload = body(payloads.status_payload(document_type, XERO_ID, status, "Bottling [AS:k]"))
    assert_valid(schema, payload)  # ManualJournal requires its Narration: it is sent
    assert payload["Status"] == status and XERO_ID in payload.values()
    with pytest.raises(PayloadProblem):
        payloads.status_payload("RECEIPT", XERO_ID, status)


def test_a_journal_rewrite_carries_its_id_and_the_same_body():
    mode = JournalMode.DRAFT
    created = body(payloads.manual_journal_payload(journal(), mode))
    rewrite = body(payloads.manual_journal_payload(journal(), mode, xero_id=XERO_ID))
    assert_valid("ManualJournal", rewrite)
    assert_valid("ManualJournals", {"ManualJournals": [rewrite]})
    assert rewrite.pop("ManualJournalID") == XERO_ID and rewrite == created


def test_an_allocation_matches_the_spec_and_is_never_zero():
    allocation = Allocation("rf-1", XERO_ID, CONTACT_ID, Decimal("27.449"), date(2026, 3, 31))
    payload = body(payloads.allocation_payload(allocation))
    assert_valid("Allocation", payload)
    assert_valid("Allocations", {"Allocations": [payload]})
    assert payload == {"Invoice": {"InvoiceID": CONTACT_ID}, "Amount": Decimal("27.45"),
                       "Date": "2026-03-31"}
    with pytest.raises(PayloadProblem):
        payloads.allocation_payload(replace(allocation, amount=Decimal("0.004")))


def test_if_modified_since_goes_out_in_whole_utc_seconds():
    from datetime import UTC, datetime, timedelta, timezone

    moment = datetime(2026, 11, 26, 19, 30, 5, 999000, tzinfo=timezone(timedelta(hours=10)))
    assert payloads.http_timestamp(moment) == "2026-11-26T09:30:05"
    assert payloads.parse_xero_datetime("/Date(1796288467361+0000)/") == datetime(
        2026, 12, 3, 9, 1, 7, 361000, tzinfo=UTC)


def test_contacts_to_create_match_the_spec():
    contacts = [payloads.contact_payload(Contact("customer:1", "  Cellar   Door Sales ")),
                payloads.contact_payload(Contact("supplier:2", "Tonnellerie du Sud", "a@b.example"))]
    assert_valid("Contacts", body(payloads.wrap("Contacts", contacts)))
    assert contacts[0] == {"Name": "Cellar Door Sales"}
    assert contacts[1] == {"Name": "Tonnellerie du Sud", "EmailAddress": "a@b.example"}


def test_strict_validation_catches_a_misspelt_field():
    payload = payloads.invoice_payload(document(), "AUTHORISED", CONTACT_ID)
    payload["Lineitems"] = payload.pop("LineItems")
    assert problems("Invoice", body(payload))


# ------------------------------------------------------------------ journals


@pytest.mark.parametrize("mode", list(JournalMode))
def test_manual_journal_matches_the_spec(mode):
    payload = body(payloads.manual_journal_payload(journal(), mode))

    assert_valid("ManualJournal", payload)
    assert_valid("ManualJournals", {"ManualJournals": [payload]})
    assert payload["Status"] == mode.value
    assert payload["LineAmountTypes"] == "NoTax"
    assert reference_marker("2026-03-04-bottling") in payload["Narration"]
    assert payload["Date"] == "2026-03-04"
    assert payload["Url"].endswith("/journals/2026-03-04-bottling")
    amounts = [line["LineAmount"] for line in payload["JournalLines"]]
    assert amounts == [Decimal("1000.01"), Decimal("-700.00"), Decimal("-300.00"), Decimal("-0.01")]
    assert sum(amounts) == 0
    assert payload["JournalLines"][0]["Tracking"] == [{"Name": "Vintage", "Option": "2024"},
                                                      {"Name": "Brand", "Option": "Reserve"}]
    assert payload["JournalLines"][3] == {"LineAmount": Decimal("-0.01"), "AccountCode": "860",
                                          "Description": "Rounding"}
    assert all("TaxType" not in line for line in payload["JournalLines"])


def test_journal_tax_type_only_when_mapped_and_marker_always_present():
    bare = AccountJournal(
        key="2026-03-05-crush", date=date(2026, 3, 5), movement_type=MovementType.CRUSH,
        narration="Crush", lines=(JournalLine("1440", Decimal("5")), JournalLine("1410", Decimal("-5"))),
        entry_count=1,
    )
    payload = body(payloads.manual_journal_payload(bare, JournalMode.DRAFT, tax_type="BASEXCLUDED"))
    assert_valid("ManualJournal", payload)
    assert payload["Narration"] == "Crush [AS:2026-03-05-crush]"
    assert [line["TaxType"] for line in payload["JournalLines"]] == ["BASEXCLUDED", "BASEXCLUDED"]
    assert "Url" not in payload


def test_an_unbalanced_or_one_line_journal_is_never_built():
    one = AccountJournal("k", date(2026, 3, 5), MovementType.CRUSH, "n",
                         (JournalLine("1440", Decimal("5")),), 1)
    off = AccountJournal("k", date(2026, 3, 5), MovementType.CRUSH, "n",
                         (JournalLine("1440", Decimal("5")), JournalLine("1410", Decimal("-4.99"))), 1)
    for bad in (one, off):
        with pytest.raises(PayloadProblem):
            payloads.manual_journal_payload(bad, JournalMode.POSTED)


# ------------------------------------------------------------------ exact money and dates


def test_decimal_amounts_are_written_exactly_never_through_float():
    doc = document(unit_amount=Decimal("0.1") + Decimal("0.2"), quantity=Decimal("3"), lines=1)
    text = payloads.encode_json(payloads.invoice_payload(doc, "DRAFT", CONTACT_ID)).decode()
    assert '"UnitAmount":0.3,' in text
    assert "0.30000000000000004" not in text

    big = document(unit_amount=Decimal("1234567.8900"), quantity=Decimal("1.5000"), lines=1)
    text = payloads.encode_json(payloads.invoice_payload(big, "DRAFT", CONTACT_ID)).decode()
    assert '"UnitAmount":1234567.8900' in text
    assert '"Quantity":1.5000' in text

    assert payloads.encode_json({"a": Decimal("-0.00"), "b": Decimal("1E+3")}) == b'{"a":0.00,"b":1000}'
    with pytest.raises(TypeError):
        payloads.encode_json({"amount": 0.3})
    with pytest.raises(ValueError):
        payloads.encode_json({"amount": Decimal("NaN")})


def test_text_is_utf8_and_escaped():
    encoded = payloads.encode_json({"Description": 'COGS – wine "reserve"\n'})
    assert encoded == '{"Description":"COGS – wine \\"reserve\\"\\n"}'.encode()


def test_unit_prices_beyond_four_places_send_the_erp_line_amount():
    doc = document(unit_amount=Decimal("1.234567"), quantity=Decimal("1000"), lines=1)
    line = body(payloads.invoice_payload(doc, "DRAFT", CONTACT_ID))["LineItems"][0]
    assert "UnitAmount" not in line
    assert line["LineAmount"] == Decimal("1234.57") and line["Quantity"] == Decimal("1000")
    assert_valid("LineItem", line)


def test_dates_are_plain_calendar_days():
    payload = body(payloads.invoice_payload(document(), "DRAFT", CONTACT_ID))
    assert payload["Date"] == "2026-03-31" and payload["DueDate"] == "2026-04-30"
    assert "DueDate" not in payloads.invoice_payload(document(due_date=None), "DRAFT")


@pytest.mark.parametrize("raw, expected", [
    ("/Date(1546214400000+0000)/", date(2018, 12, 31)),
    ("/Date(1546300800000)/", date(2019, 1, 1)),
    ("/Date(1546343999000+1300)/", date(2019, 1, 1)),
    ("2019-01-01T00:00:00", date(2019, 1, 1)),
    ("2019-01-01", date(2019, 1, 1)),
    ("", None),
    (None, None),
])
def test_xero_dates_are_read_without_a_day_shift(raw, expected):
    assert payloads.parse_xero_date(raw) == expected


def test_more_than_two_tracking_categories_is_refused():
    with pytest.raises(PayloadProblem, match="at most 2"):
        payloads.invoice_payload(document(tracking=(VINTAGE, BRAND, TrackingRef("Region", "Barossa"))),
                                 "DRAFT")


# ------------------------------------------------------------------ batch limits


def test_batches_keep_at_most_fifty_elements_in_order():
    elements = [{"InvoiceNumber": f"SO-{i}"} for i in range(120)]
    plan = payloads.plan_requests("Invoices", elements)
    assert [len(r.positions) for r in plan.requests] == [50, 50, 20]
    assert [p for r in plan.requests for p in r.positions] == list(range(120))
    first = json.loads(plan.requests[0].body)
    assert [e["InvoiceNumber"] for e in first["Invoices"]] == [f"SO-{i}" for i in range(50)]


def test_batches_split_on_the_byte_limit_and_refuse_a_single_oversized_element():
    elements = [payloads.invoice_payload(document(number=f"SO-{i}", lines=40, description="x" * 200),
                                         "DRAFT", CONTACT_ID) for i in range(10)]
    size = len(payloads.encode_json(elements[0]))
    limit = size * 3 + 100  # three fit, a fourth does not
    elements.insert(4, {"Description": "y" * (limit + 1)})
    plan = payloads.plan_requests("Invoices", elements, max_bytes=limit)

    assert plan.too_large == (4,)
    assert all(len(r.body) <= limit for r in plan.requests)
    assert [r.positions for r in plan.requests] == [(0, 1, 2), (3, 5, 6), (7, 8, 9), (10,)]
    for request in plan.requests:
        sent = json.loads(request.body)["Invoices"]
        assert [e["InvoiceNumber"] for e in sent] == [elements[p]["InvoiceNumber"] for p in request.positions]
        assert_valid("Invoices", json.loads(request.body, parse_float=Decimal))


def test_the_default_limits_are_xeros():
    assert payloads.MAX_ELEMENTS_PER_REQUEST == 50
    assert payloads.MAX_REQUEST_BYTES == 3_500_000


def test_encoding_is_json_with_exact_decimals_and_refuses_floats_and_odd_keys():
    import pytest

    text = 'Müller & "Söhne" \\ tab\t line\n \x01 \u2028 emoji 🍷'
    body = {"Reference": text, "Amounts": [Decimal("-0.00"), Decimal("1234567.8900"), 3],
            "Flags": [True, False, None]}
    encoded = payloads.encode_json(body)
    assert encoded.decode("utf-8") == (
        '{"Reference":' + json.dumps(text, ensure_ascii=False)
        + ',"Amounts":[0.00,1234567.8900,3],"Flags":[true,false,null]}')
    assert json.loads(encoded, parse_float=Decimal)["Amounts"][1] == Decimal("1234567.8900")
    with pytest.raises(TypeError, match="floats"):
        payloads.encode_json({"Amount": 1.1})
    with pytest.raises(TypeError, match="keys must be text"):
        payloads.encode_json({1: "x"})
