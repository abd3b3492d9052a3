"""Azure actual and amortized cost exports of the same days are counted once (issue 15): the
billed (and list) bill counts the actual export, as invoiced, and says how many amortized
rows it skipped; the effective bill counts the amortized export; a day only the amortized
export covers still counts."""

from __future__ import annotations

import json
from decimal import Decimal

from tests.collector.test_billing_export_files import (
    AZURE_ROWS,
    _azure_rows,
    _cost,
    _write_csv,
)
from xprof.collector.allocate import allocate_store
from xprof.collector.billing.azure_export import import_azure_export
from xprof.collector.billing.bill import whole_bill


def _exports(tmp_path):
    """(actual path, amortized path, Σ actual, Σ amortized, Σ amortized of 09/04 only)."""
    actual = _azure_rows()
    purchase = dict(actual[-1], date="09/02/2024", meterCategory="Reservations",
                    meterName="NC6s v3 1 year", meterId="m-ri", chargeType="Purchase",
                    costInBillingCurrency="30.00", pricingModel="Reservation")
    actual.append(purchase)
    amortized = _azure_rows()
    amortized[0]["costInBillingCurrency"] = "74.44"  # the VM day with its share of the RI
    amortized[0]["pricingModel"] = "Reservation"
    extra = dict(amortized[1], date="09/04/2024", costInBillingCurrency="0.6334")
    amortized.append(extra)
    a = _write_csv(tmp_path / "actual.csv", actual)
    m = _write_csv(tmp_path / "amortized.csv", amortized)
    total = lambda rows: sum(_cost(r["costInBillingCurrency"]) for r in rows)  # noqa: E731
    return a, m, total(actual), total(amortized), _cost("0.6334")


def test_both_exports_bill_once(store, tmp_path):
    """Actual + amortized of the same days: the billed bill is the actual export (plus the
    day only the amortized one covers), the effective bill the amortized export."""
    a, m, actual, amortized, only_amortized = _exports(tmp_path)
    import_azure_export(store, str(a), cost_type="actual")
    import_azure_export(store, str(m), cost_type="amortized")
    allocate_store(store)
    [bill] = whole_bill(store)
    assert actual == sum(_cost(r[-1]) for r in AZURE_ROWS) + 30
    assert bill.total == bill.items_total == actual + only_amortized
    assert bill.total != actual + amortized  # what loading both used to bill
    assert bill.skipped["items"] == len(AZURE_ROWS)
    assert bill.skipped["amount"] == amortized - only_amortized
    [effective] = whole_bill(store, basis="effective")
    assert effective.total == amortized and not effective.skipped


def test_collect_says_which_basis_it_counts(store, xprof, tmp_path):
    """`xprof collect --json` after both exports: the bill counts once and says what it
    skipped and which basis it counts."""
    a, m, actual, _, only_amortized = _exports(tmp_path)
    first = xprof("collect", "--azure-export", str(a))
    assert first.returncode == 0, first.stderr
    second = xprof("collect", "--azure-export", str(m), "--azure-cost-type", "amortized",
                   "--json")
    assert second.returncode == 0, second.stderr
    summary = json.loads(second.stdout)["billing"]
    [bill] = summary["bill"]["currencies"]
    assert Decimal(bill["total"]) == actual + only_amortized
    assert bill["skipped"]["items"] == len(AZURE_ROWS)
    assert "Azure amortized row(s)" in summary["summary"]
    assert "the bill counts actual cost (as invoiced)" in summary["summary"]
