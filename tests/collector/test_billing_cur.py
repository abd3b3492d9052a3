"""AWS CUR 2.0 Parquet and legacy gzip CSV, from a folder or S3, give the allocation worked
out by hand from the runs that wrote them; re-imports read only what changed."""

from __future__ import annotations

import json
import os
import time
from decimal import Decimal

import pytest

from tests.collector import cur_fixture as cur
from tests.collector.billing_helpers import (
    conservation_errors,
    idle_amount,
    item_count,
    run_amount,
)
from xprof.collector.allocate import allocate_store
from xprof.collector.billing.aws_cur import cur_column_name, import_cur

PERIOD = "xprof-cur/data/BILLING_PERIOD=2024-09"


def _assert_scenario(store, runs):
    allocate_store(store)
    expected = cur.expected()
    for name in ("run1", "run2", "run3"):
        for basis, value in expected[name].items():
            assert run_amount(store, runs[name], basis) == value, (name, basis)
    assert idle_amount(store, cur.A) == expected["idle_A"]["billed"]
    assert idle_amount(store, cur.A, "list") == expected["idle_A_list"]["list"]
    assert idle_amount(store, cur.B, "effective") == expected["idle_B"]["effective"]
    assert idle_amount(store, cur.B) == 0
    assert idle_amount(store, cur.C) == expected["idle_C"]["billed"]
    assert conservation_errors(store) == []


def test_cur2_parquet_folder(store, tmp_path):
    """A Data Exports folder (Parquet, BILLING_PERIOD partition, manifest) allocates as
    worked out by hand."""
    runs = cur.make_runs(store)
    items = cur.line_items()
    cur.write_parquet(tmp_path / "exports" / PERIOD, items)
    meta = tmp_path / "exports" / "xprof-cur" / "metadata" / "BILLING_PERIOD=2024-09"
    meta.mkdir(parents=True)
    (meta / "xprof-cur-Manifest.json").write_text(json.dumps({"dataFiles": []}))
    result = import_cur(store, str(tmp_path / "exports"))
    assert (result.rows, result.inserted, result.groups_read) == (len(items), len(items), 1)
    _assert_scenario(store, runs)


def test_legacy_gzip_csv(store, tmp_path):
    """A legacy CUR (category/Column headers, gzip CSV in an assembly folder) allocates the
    same way."""
    runs = cur.make_runs(store)
    cur.write_legacy_csv(tmp_path / "cur" / "report" / "20240901-20241001" / "a1b2" /
                         "report-1.csv.gz", cur.line_items())
    result = import_cur(store, str(tmp_path / "cur"))
    assert result.inserted == len(cur.line_items())
    _assert_scenario(store, runs)


def test_legacy_headers_read_as_parquet_names():
    """Legacy headers map to the Athena/Parquet names the CUR 2.0 columns use."""
    assert cur_column_name("lineItem/UsageStartDate") == "line_item_usage_start_date"
    assert cur_column_name("reservation/ReservationARN") == "reservation_reservation_a_r_n"
    assert cur_column_name("savingsPlan/SavingsPlanEffectiveCost") == \
        "savings_plan_savings_plan_effective_cost"
    assert cur_column_name("line_item_unblended_cost") == "line_item_unblended_cost"


@pytest.fixture
def s3(monkeypatch):
    """An S3 client on moto's in-process AWS, with dummy credentials."""
    from moto import mock_aws

    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        import boto3

        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="billing-exports")
        yield client


def _upload(s3, folder, prefix):
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            s3.upload_file(str(path), "billing-exports",
                           f"{prefix}/{path.relative_to(folder).as_posix()}")


def test_s3_prefix_and_unchanged_export_skipped(store, tmp_path, s3):
    """CUR 2.0 files under an s3:// prefix import like local ones; a second import of the
    unchanged export downloads and changes nothing."""
    runs = cur.make_runs(store)
    cur.write_parquet(tmp_path / "local" / PERIOD, cur.line_items())
    _upload(s3, tmp_path / "local", "cur/exports")
    first = import_cur(store, "s3://billing-exports/cur/exports", s3_client=s3)
    assert first.inserted == len(cur.line_items())
    _assert_scenario(store, runs)
    again = import_cur(store, "s3://billing-exports/cur/exports", s3_client=s3)
    assert (again.groups_skipped, again.groups_read, again.changed) == (1, 0, 0)


def test_new_period_reads_only_its_files(store, tmp_path):
    """After a new billing period's folder appears, only that period is read."""
    cur.write_parquet(tmp_path / "exports" / PERIOD, cur.line_items())
    import_cur(store, str(tmp_path / "exports"))
    october = [dict(row, line_item_usage_start_date=row["line_item_usage_start_date"]
                    .replace(month=10), line_item_usage_end_date=row["line_item_usage_end_date"]
                    .replace(month=10)) for row in cur.line_items()[:3]]
    cur.write_parquet(tmp_path / "exports" / "xprof-cur/data/BILLING_PERIOD=2024-10", october,
                      files=1)
    result = import_cur(store, str(tmp_path / "exports"))
    assert (result.groups_read, result.groups_skipped, result.inserted) == (1, 1, 3)
    assert item_count(store) == len(cur.line_items()) + 3


def test_restated_hour_replaces_the_old_amount(store, tmp_path):
    """AWS re-delivers September with 11:00 on instance A at $30.00: the row is updated (not
    added), run 2's share follows, and shares + idle still equal the bill."""
    runs = cur.make_runs(store)
    folder = tmp_path / "exports" / PERIOD
    cur.write_parquet(folder, cur.line_items())
    import_cur(store, str(tmp_path / "exports"))
    allocate_store(store)
    before = run_amount(store, runs["run2"])
    restated = cur.line_items()
    for row in restated:
        if row["line_item_resource_id"] == cur.A and row["line_item_usage_start_date"].hour == 11 \
                and row["line_item_line_item_type"] == "Usage":
            row["line_item_unblended_cost"] = Decimal("30.00")
    time.sleep(0.01)
    cur.write_parquet(folder, restated)
    result = import_cur(store, str(tmp_path / "exports"))
    assert (result.inserted, result.updated, result.deleted) == (0, 1, 0)
    assert result.keys == {cur.A}
    allocate_store(store, result.keys)
    assert run_amount(store, runs["run2"]) == before + (Decimal("30") - cur.P4D) / 2
    assert conservation_errors(store) == []


def test_newest_legacy_assembly_wins(store, tmp_path):
    """Of two deliveries (assembly folders) of one period, only the newest is imported."""
    runs = cur.make_runs(store)
    period = tmp_path / "cur" / "report" / "20240901-20241001"
    stale = [dict(row, line_item_unblended_cost=Decimal("99")) for row in cur.line_items()]
    old = cur.write_legacy_csv(period / "0000-old" / "report-1.csv.gz", stale)
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    cur.write_legacy_csv(period / "ffff-new" / "report-1.csv.gz", cur.line_items())
    import_cur(store, str(tmp_path / "cur"))
    assert item_count(store) == len(cur.line_items())
    _assert_scenario(store, runs)
