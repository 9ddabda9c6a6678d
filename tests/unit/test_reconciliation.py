"""The reconciliation's arithmetic (domain.reconciliation): how documents post to accounts as
Xero posts them, which cause each part of a difference gets, and what stays unexplained."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from accounts_sync.domain.documents import TrackingRef
from accounts_sync.domain.reconciliation import (
    AccountInfo,
    Cause,
    Chart,
    ContactSum,
    ErpState,
    LineSum,
    ReconcileInput,
    XeroLineSum,
    reconcile,
)

D = Decimal
V25 = (TrackingRef("Vintage", "2025"),)
CHART = Chart(
    accounts={"4000": AccountInfo("4000", "Wine sales", "REVENUE"),
              "1440": AccountInfo("1440", "Bulk wine WIP", "INVENTORY"),
              "1410": AccountInfo("1410", "Fruit", "INVENTORY"),
              "5000": AccountInfo("5000", "COGS", "DIRECTCOSTS")},
    inventory=frozenset({"1410", "1440"}),
)
START = date(2026, 7, 1)


def data(**parts) -> ReconcileInput:
    return ReconcileInput(date(2026, 11, 30), START, CHART, **parts)


def sale(state, net="100.00", tax="10.00", earlier=False, contact="customer:1"):
    return ([LineSum("ACCREC", state, earlier, "4000", (), D(net), D(tax))],
            [ContactSum("ACCREC", state, contact, "Harbour Wines", D(net) + D(tax))])


def xero_of_sale(net="100.00", tax="10.00", ours=True, earlier=False):
    total = D(net) + D(tax)
    return [XeroLineSum("4000", earlier, ours, -D(net)), XeroLineSum("820", earlier, ours, -D(tax)),
            XeroLineSum("610", False, ours, total, "customer:1", "Harbour Wines")]


def balances(lines):
    out: dict[str, Decimal] = {}
    for x in lines:
        code = "960" if x.earlier and x.account_code in ("4000", "5000") else x.account_code
        out[code] = out.get(code, D(0)) + x.amount
    return out


def test_a_sale_posts_as_xero_posts_it_and_reconciles():
    lines, totals = sale(ErpState.SYNCED)
    sent_lines, sent_totals = sale("posted")
    xero = xero_of_sale()
    result = reconcile(data(erp_lines=lines, erp_totals=totals, sent_lines=sent_lines,
                            sent_totals=sent_totals, xero_lines=xero,
                            trial_balance=balances(xero)))
    assert result.reconciled
    assert {a.code: a.figures.erp for a in result.accounts} == {
        "610": D("110.00"), "820": D("-10.00"), "4000": D("-100.00")}
    receivable = result.account("610")
    assert receivable.breakdown == "contact"
    assert [p.label for p in receivable.parts] == ["Harbour Wines"]
    assert all(a.figures.difference == 0 for a in result.accounts)


def test_unsynced_failed_and_edited_documents_are_named_causes():
    new_lines, new_totals = sale(ErpState.NOT_SYNCED, "20.00", "2.00")
    failed_lines, failed_totals = sale(ErpState.FAILED, "5.00", "0.50")
    edited_lines, edited_totals = sale(ErpState.SYNCED, "150.00", "15.00")
    sent_lines, sent_totals = sale("posted")
    xero = xero_of_sale()
    result = reconcile(data(erp_lines=new_lines + failed_lines + edited_lines,
                            erp_totals=new_totals + failed_totals + edited_totals,
                            sent_lines=sent_lines, sent_totals=sent_totals, xero_lines=xero,
                            trial_balance=balances(xero)))
    assert result.reconciled
    revenue = result.account("4000").figures
    assert (revenue.erp, revenue.sent, revenue.xero) == (D("-175.00"), D("-100.00"), D("-100.00"))
    assert dict(revenue.causes) == {Cause.NOT_SYNCED: D("-20.00"), Cause.FAILED: D("-5.00"),
                                    Cause.CORRECTION: D("-50.00")}


def test_drafts_and_other_peoples_postings_are_named_and_a_changed_object_is_not():
    lines, totals = sale(ErpState.SYNCED)
    sent_lines, sent_totals = sale("draft")
    payment = [XeroLineSum("090", False, False, D("55.00")),
               XeroLineSum("610", False, False, D("-55.00"))]
    result = reconcile(data(erp_lines=lines, erp_totals=totals, sent_lines=sent_lines,
                            sent_totals=sent_totals, xero_lines=payment,
                            trial_balance=balances(payment)))
    assert result.reconciled
    assert result.account("4000").figures.cause(Cause.AWAITING_APPROVAL) == D("-100.00")
    assert result.account("090").figures.cause(Cause.OTHERS) == D("-55.00")
    assert {p.label for p in result.account("610").parts} == {"Harbour Wines", "No contact"}

    # Someone edited our invoice in Xero: 100 became 90 there, and nothing explains it.
    changed = xero_of_sale("90.00", "9.00")
    result = reconcile(data(erp_lines=lines, erp_totals=totals, sent_lines=sent_lines[:0] + sale(
        "posted")[0], sent_totals=sale("posted")[1], xero_lines=changed,
        trial_balance=balances(changed)))
    assert not result.reconciled
    assert {a.code: a.figures.unexplained for a in result.unexplained} == {
        "4000": D("-10.00"), "820": D("-1.00"), "610": D("11.00")}


def test_the_trial_balance_is_xeros_figure_and_a_gap_with_its_journals_is_unexplained():
    lines, totals = sale(ErpState.SYNCED)
    sent_lines, sent_totals = sale("posted")
    xero = xero_of_sale()
    tb = balances(xero)
    tb["4000"] -= D("0.01")
    result = reconcile(data(erp_lines=lines, erp_totals=totals, sent_lines=sent_lines,
                            sent_totals=sent_totals, xero_lines=xero, trial_balance=tb))
    assert [(a.code, a.figures.unexplained) for a in result.unexplained] == [("4000", D("0.01"))]


def test_earlier_years_revenue_sits_in_retained_earnings_and_inventory_by_tracking():
    lines, totals = sale(ErpState.SYNCED, earlier=True)
    sent_lines, sent_totals = sale("posted", earlier=True)
    cost = [LineSum("", ErpState.SYNCED, False, "1440", V25, D("12.34")),
            LineSum("", ErpState.SYNCED, False, "1410", V25, D("-12.34"))]
    sent_cost = [replace(c, state="posted") for c in cost]
    xero = xero_of_sale(earlier=True) + [XeroLineSum("1440", False, True, D("12.34"), tracking=V25),
                                         XeroLineSum("1410", False, True, D("-12.34"), tracking=V25)]
    result = reconcile(data(erp_lines=lines + cost, erp_totals=totals,
                            sent_lines=sent_lines + sent_cost, sent_totals=sent_totals,
                            xero_lines=xero, trial_balance=balances(xero)))
    assert result.reconciled
    assert result.account("4000") is None
    assert result.account("960").figures.erp == D("-100.00")
    bulk = result.account("1440")
    assert bulk.breakdown == "tracking" and [p.label for p in bulk.parts] == ["Vintage: 2025"]


amounts = st.decimals(min_value=D("-5000"), max_value=D("5000"), places=2)


@given(st.lists(st.tuples(st.sampled_from(["ACCREC", "ACCPAY", "ACCRECCREDIT", ""]),
                          st.sampled_from(list(ErpState)), st.sampled_from(["4000", "1440", "5000"]),
                          amounts, amounts, st.booleans()), max_size=12),
       st.lists(st.tuples(st.sampled_from(["090", "1440", "610"]), amounts), max_size=4))
def test_whatever_the_erp_holds_each_difference_is_explained_to_the_cent(docs, others):
    """ERP = synced + not synced + failed; Xero = what was sent + others' postings: the causes
    account for ERP − Xero exactly on every account, whatever the signs and kinds."""
    erp_lines, erp_totals, sent_lines, sent_totals, xero = [], [], [], [], []
    for doc_type, state, code, net, tax, sent_differs in docs:
        tax = tax if doc_type else D(0)
        erp_lines.append(LineSum(doc_type, state, False, code, (), net, tax))
        if doc_type:
            erp_totals.append(ContactSum(doc_type, state, "c:1", "One", net + tax))
        if state is ErpState.SYNCED:
            sent_net = net + D("1.00") if sent_differs else net
            sent_lines.append(LineSum(doc_type, "posted", False, code, (), sent_net, tax))
            if doc_type:
                sent_totals.append(ContactSum(doc_type, "posted", "c:1", "One", sent_net + tax))
    # Xero holds exactly what was sent (as its ledger would post it), plus others' postings.
    posted = reconcile(data(sent_lines=sent_lines, sent_totals=sent_totals))
    for account in posted.accounts:
        for part in account.parts or ():
            xero.append(XeroLineSum(account.code, False, True, part.figures.sent, part.key, "One"))
        if not account.parts:
            xero.append(XeroLineSum(account.code, False, True, account.figures.sent))
    for code, amount in others:
        xero.append(XeroLineSum(code, False, False, amount))
    result = reconcile(data(erp_lines=erp_lines, erp_totals=erp_totals, sent_lines=sent_lines,
                            sent_totals=sent_totals, xero_lines=xero,
                            trial_balance=balances(xero)))
    assert result.reconciled, [(a.code, a.figures) for a in result.unexplained]


def test_parts_that_cancel_out_in_the_account_still_count_as_unexplained():
    lines, totals = sale(ErpState.SYNCED)
    sent_lines, sent_totals = sale("posted")
    xero = xero_of_sale()
    # Xero holds the receivable against another contact (moved there by someone in Xero).
    xero[-1] = XeroLineSum("610", False, True, D("110.00"), "customer:2", "Cellar Door")
    result = reconcile(data(erp_lines=lines, erp_totals=totals, sent_lines=sent_lines,
                            sent_totals=sent_totals, xero_lines=xero,
                            trial_balance=balances(xero)))
    receivable = result.account("610")
    assert receivable.figures.unexplained == 0
    assert not receivable.reconciled and not result.reconciled
    assert {p.label: p.figures.unexplained for p in receivable.unexplained_parts} == {
        "Harbour Wines": D("110.00"), "Cellar Door": D("-110.00")}
