"""Billing imports and allocation give the same stored rows on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

from tests.collector import cur_fixture as cur
from tests.collector.billing_helpers import (
    billed_costs,
    conservation_errors,
    idle_amount,
    run_amount,
)
from xprof.collector.allocate import allocate_store
from xprof.collector.billing.aws_cur import import_cur
from xprof.store import Store


def test_cur_scenario_on_both_engines(any_store_url, tmp_path):
    """The CUR scenario imports, re-imports as a no-op, restates and allocates exactly, with
    aware UTC times and JSON details read back, on either engine."""
    store = Store.open(any_store_url)
    runs = cur.make_runs(store)
    folder = tmp_path / "exports" / "BILLING_PERIOD=2024-09"
    cur.write_parquet(folder, cur.line_items())
    first = import_cur(store, str(tmp_path / "exports"))
    assert first.inserted == len(cur.line_items())
    assert import_cur(store, str(tmp_path / "exports"), force=True).changed == 0
    allocate_store(store)
    expected = cur.expected()
    assert run_amount(store, runs["run1"]) == expected["run1"]["billed"]
    assert run_amount(store, runs["run3"], "effective") == expected["run3"]["effective"]
    assert idle_amount(store, cur.C) == Decimal("2.304")
    row = next(r for r in billed_costs(store) if r["run_id"] == runs["run2"])
    assert row["period_start"].tzinfo is not None
    assert row["detail"]["share"] == "4/8 GPUs"
    assert conservation_errors(store) == []
    assert store.run_costs([runs["run1"]])[runs["run1"]]["amount"] == expected["run1"]["billed"]
