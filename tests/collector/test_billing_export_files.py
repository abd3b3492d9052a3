"""Formats users have in hand (issue 15 #5): Azure cost details exports (CSV and Parquet,
actual and amortized), the GCP billing export table as files (Parquet, JSON, CSV; detailed
and standard), FOCUS 0.5. Small generated files in the real column layouts:

- Azure: Microsoft's "Understand cost details fields" / cost-usage-details-mca dataset
  schema (2023-12-01-preview): date (MM/DD/YYYY in MCA CSVs), costInBillingCurrency,
  billingCurrency, resourceId, quantity, unitOfMeasure, meterCategory, chargeType,
  pricingModel, …;
- GCP: "Structure of Detailed data export": service.description, sku.id, usage_start_time,
  resource.global_name, cost, currency, usage.amount/unit, credits[], …;
- FOCUS 0.5: ChargeType, UsageQuantity, UsageUnit.

Expected amounts are computed here from the rows written, with Decimal/Fraction.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from tests.collector.billing_helpers import run_amount, run_on
from tests.collector.helpers import utc
from xprof.collector.allocate import allocate_store
from xprof.collector.billing import BillingInputError
from xprof.collector.billing.azure_export import import_azure_export
from xprof.collector.billing.bill import whole_bill
from xprof.collector.billing.focus import import_focus
from xprof.collector.billing.gcp_export import import_gcp_export

NANO = Decimal("1e-9")
SUB = "8d10da13-8125-4ba9-a717-bf7490507b3d"
VM = f"/subscriptions/{SUB}/resourceGroups/ML/providers/Microsoft.Compute/virtualMachines/gpu-1"
AZURE_COLUMNS = (
    "invoiceId", "billingAccountId", "billingAccountName", "billingProfileId",
    "billingPeriodStartDate", "billingPeriodEndDate", "date", "serviceFamily", "meterId",
    "meterName", "meterCategory", "meterSubCategory", "meterRegion", "ProductName",
    "SubscriptionId", "subscriptionName", "publisherType", "resourceGroupName", "resourceId",
    "resourceLocation", "location", "effectivePrice", "quantity", "unitOfMeasure",
    "chargeType", "billingCurrency", "pricingCurrency", "costInBillingCurrency", "costInUsd",
    "paygCostInBillingCurrency", "paygPrice", "unitPrice", "pricingModel", "benefitId",
    "reservationId", "tags", "additionalInfo")
AZURE_ROWS = [  # date, meter category, meter name, resource, qty, unit, charge type, cost
    ("09/02/2024", "Virtual Machines", "NC6s v3", VM, "24", "1 Hour", "Usage", "73.44"),
    ("09/02/2024", "Storage", "P10 Disks", VM.replace("virtualMachines/gpu-1",
                                                     "disks/gpu-1-os"), "1", "1/Month",
     "Usage", "0.6334"),
    ("09/02/2024", "Bandwidth", "Standard Data Transfer Out", VM, "12.5", "1 GB", "Usage",
     "1.0875"),
    ("09/03/2024", "Virtual Machines", "NC6s v3", VM, "2.4", "10 Hours", "Usage", "73.44"),
    ("09/03/2024", "", "", "", "", "", "Refund", "-5.00"),
]


def _azure_rows() -> list[dict[str, str]]:
    rows = []
    for date, category, meter, resource, qty, unit, charge, cost in AZURE_ROWS:
        row = {name: "" for name in AZURE_COLUMNS}
        row.update({"invoiceId": "E0600ABCDE", "billingAccountId": "1234567",
                    "billingPeriodStartDate": "09/01/2024", "billingPeriodEndDate": "09/30/2024",
                    "date": date, "meterCategory": category, "meterName": meter,
                    "meterId": f"m-{category}-{meter}", "SubscriptionId": SUB,
                    "resourceId": resource, "resourceLocation": "EastUS", "quantity": qty,
                    "unitOfMeasure": unit, "chargeType": charge, "billingCurrency": "USD",
                    "costInBillingCurrency": cost, "pricingModel": "OnDemand",
                    "paygPrice": {"1 Hour": "3.06", "10 Hours": "30.6"}.get(unit, ""),
                    "tags": '{"project":"vision"}', "additionalInfo": ""})
        rows.append(row)
    return rows


def _write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _cost(text: str) -> Decimal:
    return Decimal(text).quantize(NANO, ROUND_HALF_EVEN)


def _azure_run(store) -> str:
    return run_on(store, "02aab8a4-74ef-476e-8182-f6d2ba4166a6", utc(2024, 9, 2, 10, 0), 7200,
                  provider="azure", instance_type="Standard_NC6s_v3", cloud={
                      "source": "imds", "resource_id": VM.replace("/ML/", "/ml/")})


def test_azure_actual_csv_bills_the_vm_run(store, xprof, tmp_path):
    """`xprof collect --azure-export costdetails.csv` (MCA layout, MM/DD/YYYY dates): the run
    of 2 h on the VM pays 2/24 of the day's VM cost (24 hours used), the rest of the VM's
    day is idle; the bill is Σ costInBillingCurrency, the refund a credit."""
    run_id = _azure_run(store)
    export = _write_csv(tmp_path / "part_0_0001.csv", _azure_rows())
    result = xprof("collect", "--azure-export", str(export))
    assert result.returncode == 0, result.stdout + result.stderr
    day_vm = _cost("73.44") + _cost("1.0875")  # the VM's resource id: hours and egress
    assert abs(Fraction(run_amount(store, run_id)) - Fraction(day_vm) / 12) <= Fraction(1, 10**9)
    [bill] = whole_bill(store)
    assert bill.total == sum(_cost(r[-1]) for r in AZURE_ROWS) == bill.items_total
    assert bill.other_by_category == {"storage": _cost("0.6334"), "credits": Decimal("-5")}
    assert bill.by["region"] == {"eastus": bill.total}
    assert bill.by["account"] == {SUB: bill.total}
    assert "bill 2024-09 billed $" in result.stdout


def test_azure_hours_units_are_scaled(store, tmp_path):
    """'10 Hours' × 2.4 is 24 hours: the day's VM item is fully used, as '1 Hour' × 24."""
    import_azure_export(store, str(_write_csv(tmp_path / "a.csv", _azure_rows())))
    from xprof import schema

    with store.read() as conn:
        rows = conn.execute(schema.billing_items.select().where(
            schema.billing_items.c.service == "Virtual Machines")).mappings().all()
    assert sorted((r["usage_quantity"], r["usage_unit"]) for r in rows) == [
        (24.0, "Hours"), (24.0, "Hours")]
    assert {r["charge_period_end"] - r["charge_period_start"] for r in rows} == {
        dt.timedelta(days=1)}
    assert {r["list_cost"] for r in rows} == {Decimal("73.44")}


def test_azure_amortized_parquet(store, tmp_path):
    """The same export as Parquet with typed columns, amortized: the amounts are the billed
    and the effective cost, the bill its sum."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = _azure_rows()
    table = {name: [r[name] for r in rows] for name in AZURE_COLUMNS}
    table["date"] = [dt.datetime.strptime(r["date"], "%m/%d/%Y") for r in rows]
    table["costInBillingCurrency"] = [float(r["costInBillingCurrency"]) for r in rows]
    table["quantity"] = [float(r["quantity"]) if r["quantity"] else None for r in rows]
    path = tmp_path / "amortized.parquet"
    pq.write_table(pa.table(table), path)
    result = import_azure_export(store, str(path), cost_type="amortized")
    assert result.rows == len(AZURE_ROWS)
    [bill] = whole_bill(store)
    assert bill.total == sum(_cost(r[-1]) for r in AZURE_ROWS)
    [effective] = whole_bill(store, basis="effective")
    assert effective.total == bill.total


def test_azure_bad_date_names_row_and_column(store, tmp_path):
    rows = _azure_rows()
    rows[2]["date"] = "2024-13-45"
    with pytest.raises(BillingInputError, match=r"data row 3, column date: not a date"):
        import_azure_export(store, str(_write_csv(tmp_path / "bad.csv", rows)))


# -- GCP ----------------------------------------------------------------------------------------
GCP_ID = "4520539719284738291"
GLOBAL = f"//compute.googleapis.com/projects/ml-prod/zones/us-central1-a/instances/{GCP_ID}"


def _gcp_records(detailed: bool = True) -> list[dict]:
    """Three hourly rows of the detailed export: VM cores with a sustained-use credit, VM
    RAM, and a bucket's storage (no VM); as BigQuery's records are nested."""
    def record(sku: str, service: str, cost: str, credits: list[dict], resource: str | None,
               unit: str, amount: float) -> dict:
        rec = {"billing_account_id": "01A2B3-C4D5E6-F7G8H9",
               "service": {"id": "6F81-5844-456A", "description": service},
               "sku": {"id": sku, "description": f"{sku} in Americas"},
               "usage_start_time": "2024-09-05 14:00:00 UTC",
               "usage_end_time": "2024-09-05 15:00:00 UTC",
               "project": {"id": "ml-prod", "name": "ML prod"},
               "location": {"location": "us-central1", "region": "us-central1",
                            "zone": "us-central1-a"},
               "cost": float(cost), "currency": "USD",
               "usage": {"amount": amount, "unit": unit},
               "credits": credits, "invoice": {"month": "202409"}, "cost_type": "regular",
               "export_time": "2024-09-05 18:03:11.123 UTC"}
        if detailed:
            rec["resource"] = {"name": resource, "global_name": resource and GLOBAL}
        return rec
    return [
        record("CP-N1-CORE", "Compute Engine", "0.379992", [
            {"name": "Sustained Usage Discount", "amount": -0.075998,
             "type": "SUSTAINED_USAGE_DISCOUNT"}],
            "trainer-1", "seconds", 28800.0),
        record("CP-N1-RAM", "Compute Engine", "0.101856", [], "trainer-1", "byte-seconds",
               1.1e14),
        record("GCS-STD", "Cloud Storage", "0.0132", [], None, "byte-seconds", 2.0e12),
    ]


def _gcp_expected() -> tuple[Decimal, Decimal]:
    """(the VM's hour: cost + credits, the whole file)."""
    vm = _cost("0.379992") + _cost("-0.075998") + _cost("0.101856")
    return vm, vm + _cost("0.0132")


def _write_gcp(path: Path, records: list[dict]) -> Path:
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist(records)
        for name in ("usage_start_time", "usage_end_time"):
            stamps = [dt.datetime.strptime(r[name], "%Y-%m-%d %H:%M:%S UTC").replace(
                tzinfo=dt.UTC) for r in records]
            table = table.set_column(table.schema.get_field_index(name), name,
                                     pa.array(stamps, pa.timestamp("us", tz="UTC")))
        pq.write_table(table, path)
    elif path.suffix == ".json":
        path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    else:  # CSV from a flattening query: dotted names, credits summed
        flat = []
        for r in records:
            row = {"billing_account_id": r["billing_account_id"],
                   "service.description": r["service"]["description"], "sku.id": r["sku"]["id"],
                   "usage_start_time": r["usage_start_time"],
                   "usage_end_time": r["usage_end_time"], "project.id": r["project"]["id"],
                   "location.region": r["location"]["region"],
                   "resource.name": (r.get("resource") or {}).get("name") or "",
                   "resource.global_name": (r.get("resource") or {}).get("global_name") or "",
                   "cost": repr(r["cost"]), "currency": r["currency"],
                   "usage.amount": repr(r["usage"]["amount"]), "usage.unit": r["usage"]["unit"],
                   "credits": str(sum(Decimal(str(c["amount"])) for c in r["credits"])),
                   "cost_type": r["cost_type"], "invoice.month": r["invoice"]["month"],
                   "export_time": r["export_time"]}
            flat.append(row)
        _write_csv(path, flat)
    return path


@pytest.mark.parametrize("name", ["export.parquet", "export.json", "export.csv"])
def test_gcp_export_files_bill_the_vm_run(store, tmp_path, name):
    """The detailed export as Parquet, newline-delimited JSON or flattened CSV: credits are
    their own items, the run covering the VM's whole hour pays the VM's hour (cost + credit),
    the bucket is other spend, the bill is the file's sum."""
    run_id = run_on(store, GCP_ID, utc(2024, 9, 5, 14, 0), 3600, provider="gcp",
                    instance_type="n1-standard-8")
    result = import_gcp_export(store, str(_write_gcp(tmp_path / name, _gcp_records())))
    assert result.rows == 4  # 3 rows + 1 credit
    allocate_store(store)
    vm, total = _gcp_expected()
    assert run_amount(store, run_id) == vm
    [bill] = whole_bill(store)
    assert (bill.total, bill.runs, bill.idle, bill.other) == (total, vm, 0, _cost("0.0132"))
    assert bill.by["service"] == {"Compute Engine": vm, "Cloud Storage": _cost("0.0132")}


def test_gcp_standard_export_says_why_runs_are_not_billed(store, xprof, tmp_path):
    """The standard export has no resource columns: its amounts are in the bill, the run
    stays unbilled, and collect says why in its summary."""
    run_id = run_on(store, GCP_ID, utc(2024, 9, 5, 14, 0), 3600, provider="gcp",
                    instance_type="n1-standard-8")
    path = _write_gcp(tmp_path / "standard.json", _gcp_records(detailed=False))
    result = xprof("collect", "--gcp-export", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is the standard usage cost export (no resource.name)" in result.stdout
    assert "no run can be billed from it" in result.stdout
    assert run_amount(store, run_id) == 0
    [bill] = whole_bill(store)
    assert bill.total == _gcp_expected()[1] == bill.other


# -- FOCUS 0.5 and wrong files ---------------------------------------------------------------
def test_focus_0_5_file_imports(store, tmp_path):
    """FOCUS 0.5 (ChargeType, UsageQuantity, UsageUnit) is read as 1.0 names them."""
    path = tmp_path / "focus05.csv"
    path.write_text(
        "BilledCost,BillingCurrency,ChargePeriodStart,ChargePeriodEnd,ChargeType,ResourceId,"
        "ProviderName,ServiceName,UsageQuantity,UsageUnit\n"
        "0.384,USD,2024-09-01T10:00:00Z,2024-09-01T11:00:00Z,Usage,i-0abc1234def567890,AWS,"
        "Amazon Elastic Compute Cloud,1,Hours\n"
        "0.05,USD,2024-09-01T00:00:00Z,2024-10-01T00:00:00Z,Tax,,AWS,Tax,,\n",
        encoding="utf-8")
    assert import_focus(store, str(path)).rows == 2
    [bill] = whole_bill(store)
    assert bill.total == Decimal("0.434")
    assert bill.other_by_category == {"tax": Decimal("0.05"),
                                      "compute (no run)": Decimal("0.384")}


def test_azure_export_given_as_focus_names_the_option(store, tmp_path):
    path = _write_csv(tmp_path / "costdetails.csv", _azure_rows())
    with pytest.raises(BillingInputError, match=r"missing column BilledCost \(an Azure cost "
                                                r"details export: import it with --azure-export"):
        import_focus(store, str(path))
