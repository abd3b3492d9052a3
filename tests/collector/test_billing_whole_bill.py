"""The whole bill (issue 15 #1): every imported amount in exactly one bucket per currency,
runs + idle + other = the source's sum, shown by `xprof collect`, `xprof report` (JSON,
Markdown, HTML) and the breakdowns by provider, service, region and account.

Expected values are computed here from the CSV itself with Decimal, not from xprof."""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from decimal import ROUND_HALF_EVEN, Decimal

import pytest

from tests.collector.billing_helpers import FOCUS_SAMPLE, run_amount, run_on
from tests.collector.helpers import utc
from xprof.collector.billing.bill import other_category, whole_bill
from xprof.collector.billing.focus import import_focus
from xprof.collector.billing.normalise import resource_key

NANO = Decimal("1e-9")
PROVIDERS = {"AWS": "aws", "Microsoft": "azure", "Oracle": "oracle"}


def _rows() -> list[dict[str, str]]:
    with open(FOCUS_SAMPLE, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _null(value: str) -> str | None:
    return None if value.strip() in ("", "NULL") else value.strip()


def _cost(row: dict[str, str]) -> Decimal:
    return Decimal(row["BilledCost"]).quantize(NANO, ROUND_HALF_EVEN)


def _by(column: str) -> dict[str, Decimal]:
    out: dict[str, Decimal] = defaultdict(Decimal)
    for row in _rows():
        out[_null(row[column]) or "(none)"] += _cost(row)
    return dict(out)


def _plain(rows: list[dict]) -> dict[str, Decimal]:
    return {r["key"]: Decimal(r["amount"]) for r in rows}


@pytest.fixture
def sample_runs(store) -> dict[str, str]:
    """Two runs on the sample's EC2 instances (so the runs bucket is not empty)."""
    return {"half": run_on(store, "i-081360af1l266l589", utc(2024, 9, 26, 0, 15), 1800,
                           instance_type="c5.2xlarge"),
            "partial": run_on(store, "i-09ba12e1l5743720b", utc(2024, 9, 21, 1, 0),
                              0.296111 * 3600, instance_type="g5.4xlarge")}


def test_report_json_bill_is_the_files_sum(store, sample_runs, xprof, tmp_path):
    """After `xprof collect --focus sample`, `xprof report --from 2024-09-01 --to 2024-09-30
    --format json` bills $20.52 (Σ BilledCost), runs + idle + other sum to it exactly, and the
    provider and service breakdowns are the file's."""
    collected = xprof("collect", "--focus", str(FOCUS_SAMPLE))
    assert collected.returncode == 0, collected.stdout + collected.stderr
    file_total = sum(_cost(r) for r in _rows())
    assert file_total.quantize(Decimal("0.01")) == Decimal("20.52")
    assert "bill 2024-09 billed $20.52 = runs $0.65 + idle $" in collected.stdout

    out = tmp_path / "report.json"
    made = xprof("report", "--from", "2024-09-01", "--to", "2024-09-30", "--format", "json",
                 "--out", str(out))
    assert made.returncode == 0, made.stderr
    [bill] = json.loads(out.read_text())["bill"]
    total, runs, idle, other = (Decimal(bill[k]) for k in ("total", "runs", "idle", "other"))
    assert bill["currency"] == "USD"
    assert total == file_total == runs + idle + other
    expected_runs = run_amount(store, sample_runs["half"]) + \
        run_amount(store, sample_runs["partial"])
    assert runs == expected_runs == Decimal("0.17") + Decimal("0.480884264")
    assert _plain(bill["by_provider"]) == {PROVIDERS.get(k, k.lower()): v
                                           for k, v in _by("ProviderName").items()}
    assert _plain(bill["by_service"]) == _by("ServiceName")
    assert _plain(bill["by_region"]) == _by("RegionId")
    assert sum(_plain(bill["other_by_category"]).values()) == other
    assert sum(_plain(bill["by_account"]).values()) == file_total

    for fmt in ("md", "html"):
        text_out = tmp_path / f"report.{fmt}"
        made = xprof("report", "--from", "2024-09-01", "--to", "2024-09-30", "--format", fmt,
                     "--out", str(text_out))
        assert made.returncode == 0, made.stderr
        text = text_out.read_text().replace("\\$", "$")  # Markdown escapes $
        assert "Bill $20.52 (USD): runs $0.65 + idle $" in text
        assert "$20.52" in text.split('id="h-bill"' if fmt == "html" else "The whole bill")[1]


def test_other_spend_is_what_no_machine_holds(store, sample_runs):
    """Other spend = the items on no machine (EC2 i-…, Azure VM, OCI instance: the resources
    allocation takes), by category from the charge category
    (credits, adjustments) or the service; credits without a resource are in it."""
    import_focus(store, str(FOCUS_SAMPLE))
    from xprof.collector.allocate import allocate_store

    allocate_store(store)
    [bill] = whole_bill(store)
    machines = {resource_key(r["ResourceId"]) for r in _rows()
                if resource_key(_null(r["ResourceId"])) is not None and (
                    (resource_key(r["ResourceId"]) or "").startswith("i-")
                    or "virtualmachines/" in r["ResourceId"].lower()
                    or re.match(r"ocid[0-9]*\.instance\.", r["ResourceId"].lower()))}
    expected: dict[str, Decimal] = defaultdict(Decimal)
    for row in _rows():
        if resource_key(_null(row["ResourceId"])) not in machines:
            expected[other_category(_null(row["ChargeCategory"]), _null(row["ServiceName"]),
                                    _null(row["ConsumedUnit"]))] += _cost(row)
    assert bill.other == sum(expected.values())
    assert bill.other_by_category == dict(expected)
    assert bill.other_by_category["credits"] < 0
    assert bill.runs + bill.idle == sum(_cost(r) for r in _rows()) - bill.other


def test_several_currencies_never_mix(store, tmp_path):
    """A EUR file beside the USD sample: two bills, each the sum of its own items."""
    eur = tmp_path / "eur.csv"
    eur.write_text("BilledCost,BillingCurrency,ChargePeriodStart,ChargePeriodEnd,ChargeCategory,"
                   "ServiceName,ProviderName\n"
                   "12.50,EUR,2024-09-02T00:00:00Z,2024-09-03T00:00:00Z,Usage,Blob Storage,"
                   "Microsoft\n"
                   "-1.00,EUR,2024-09-02T00:00:00Z,2024-09-03T00:00:00Z,Credit,,Microsoft\n"
                   "2.10,EUR,2024-09-01T00:00:00Z,2024-10-01T00:00:00Z,Tax,Tax,Microsoft\n",
                   encoding="utf-8")
    import_focus(store, str(FOCUS_SAMPLE))
    import_focus(store, str(eur))
    bills = {b.currency: b for b in whole_bill(store)}
    assert set(bills) == {"EUR", "USD"}
    assert bills["EUR"].total == Decimal("13.60") == bills["EUR"].other
    assert bills["EUR"].other_by_category == {"storage": Decimal("12.50"),
                                              "credits": Decimal("-1.00"),
                                              "tax": Decimal("2.10")}
    assert bills["USD"].total == sum(_cost(r) for r in _rows())
