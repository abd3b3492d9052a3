"""The real FOCUS 1.0 sample (FinOps Foundation, CC BY 4.0) imports cleanly and its EC2
instance rows join runs created on their resource ids and charge periods."""

from __future__ import annotations

import csv
from decimal import ROUND_HALF_EVEN, Decimal

import sqlalchemy as sa

from tests.collector.billing_helpers import (
    FOCUS_SAMPLE,
    conservation_errors,
    idle_amount,
    run_amount,
    run_on,
)
from tests.collector.helpers import utc
from xprof import schema
from xprof.collector.allocate import allocate_store
from xprof.collector.billing.focus import import_focus


def _csv_rows() -> list[dict[str, str]]:
    with open(FOCUS_SAMPLE, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _items(store) -> list[dict]:
    with store.read() as conn:
        return [dict(r) for r in conn.execute(sa.select(schema.billing_items)).mappings()]


def test_every_row_imports_with_its_amounts(store):
    """All 1,000 rows are stored, and the stored billed, list and effective sums equal the
    file's (each amount rounded to the nano-unit)."""
    result = import_focus(store, str(FOCUS_SAMPLE))
    assert (result.rows, result.inserted) == (1000, 1000)
    items = _items(store)
    assert len(items) == 1000
    rows = _csv_rows()
    for column, name in (("BilledCost", "billed_cost"), ("ListCost", "list_cost"),
                         ("EffectiveCost", "effective_cost")):
        expected = sum(Decimal(r[column]).quantize(Decimal("1e-9"), ROUND_HALF_EVEN)
                       for r in rows if r[column] not in ("", "NULL"))
        assert sum(i[name] for i in items if i[name] is not None) == expected, column
    assert sum(i["billed_cost"] for i in items) == Decimal("20.520226737")


def test_untidy_values_are_read_the_documented_way(store):
    """Literal NULL and empty fields are null, enumerations are lowercased, zone-less times
    are UTC, providers are named as xprof names them."""
    import_focus(store, str(FOCUS_SAMPLE))
    items = _items(store)
    assert sum(1 for i in items if i["resource_id"] is None) == 75  # 75 'NULL' ResourceIds
    assert {i["charge_category"] for i in items} == {"usage", "credit", "adjustment"}
    assert {i["provider"] for i in items} == {"aws", "azure", "oracle"}
    assert all(i["currency"] == "USD" for i in items)
    credit = next(i for i in items if i["charge_category"] == "credit")
    assert credit["billed_cost"] == Decimal("-2.6137")
    g5 = next(i for i in items if i["resource_id"] == "i-09ba12e1l5743720b")
    assert g5["charge_period_start"] == utc(2024, 9, 21, 1, 0)
    assert (g5["usage_quantity"], g5["usage_unit"], g5["instance_type"]) == \
        (0.296111, "Hours", "g5.4xlarge")
    oracle = [i for i in items if i["provider"] == "oracle"]
    assert oracle and all(i["account_id"] is not None for i in oracle)


def test_ec2_instance_rows_join_runs(store):
    """Runs on the sample's instances get their share of its hours: half of a c5.2xlarge hour,
    all of a g5.4xlarge partial hour the run covered, and the list price of a Savings-Plan
    hour billed at $0."""
    half = run_on(store, "i-081360af1l266l589", utc(2024, 9, 26, 0, 15), 1800,
                  instance_type="c5.2xlarge")
    partial = run_on(store, "i-09ba12e1l5743720b", utc(2024, 9, 21, 1, 0), 0.296111 * 3600,
                     instance_type="g5.4xlarge")
    covered = run_on(store, "i-0lbaaa6a98751b841", utc(2024, 9, 4, 4, 0), 3600,
                     instance_type="t2.medium")
    import_focus(store, str(FOCUS_SAMPLE))
    allocation = allocate_store(store)
    assert run_amount(store, half) == Decimal("0.17")
    assert idle_amount(store, "i-081360af1l266l589") == Decimal("0.17")
    assert run_amount(store, partial) == Decimal("0.480884264")
    assert idle_amount(store, "i-09ba12e1l5743720b") == 0
    assert run_amount(store, covered) == 0
    assert run_amount(store, covered, basis="list") == Decimal("0.0464")
    costs = store.run_costs([half, partial, covered])
    assert {c["source"] for c in costs.values()} == {"billed"}
    assert costs[half]["amount"] == Decimal("0.17")
    assert allocation.runs_billed == 3


def test_sample_conservation(store):
    """For every resource and day of the sample, run shares + idle equal the bill exactly."""
    run_on(store, "i-081360af1l266l589", utc(2024, 9, 26, 0, 15), 1800)
    run_on(store, "i-0l251231281ee8756", utc(2024, 9, 13, 6, 50), 40 * 60)
    import_focus(store, str(FOCUS_SAMPLE))
    result = allocate_store(store)
    assert result.resources > 250  # every EC2 instance, Azure VM and OCI instance
    assert conservation_errors(store) == []


def test_the_sample_as_parquet_gives_the_same_rows(store, tmp_path):
    """The sample written as Parquet (typed timestamps and decimals) imports to exactly the
    rows, row keys included, that the CSV gives."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    table = pacsv.read_csv(FOCUS_SAMPLE, convert_options=pacsv.ConvertOptions(
        column_types={name: pa.string() for name in _csv_rows()[0]}))
    for name in ("ChargePeriodStart", "ChargePeriodEnd", "BillingPeriodStart"):
        table = table.set_column(table.schema.get_field_index(name), name,
                                 pc.cast(table[name], pa.timestamp("us")))
    for name in ("BilledCost", "ListCost"):
        table = table.set_column(table.schema.get_field_index(name), name,
                                 pc.cast(table[name], pa.decimal128(38, 11)))
    parquet = tmp_path / "focus.parquet"
    pq.write_table(table, parquet)
    import_focus(store, str(FOCUS_SAMPLE))
    import_focus(store, str(parquet))
    with store.read() as conn:
        rows = conn.execute(sa.select(schema.billing_items.c.source,
                                      schema.billing_items.c.row_key)).all()
    by_source: dict[str, set[str]] = {}
    for source, key in rows:
        by_source.setdefault(source, set()).add(key)
    assert len(by_source) == 2
    csv_keys, parquet_keys = by_source.values()
    assert len(csv_keys) == 1000 and csv_keys == parquet_keys
