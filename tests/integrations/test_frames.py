"""`xprof.runs()` gives one typed row a run (params, final metrics, usage, energy, cost,
efficiency); `xprof.samples()` and `frames.metrics()`/`costs()` give every stored row."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pandas as pd
import pytest

import xprof
from tests.integrations.seed import T0, seed_runs
from xprof import frames


@pytest.fixture
def seeded(store):
    return seed_runs(store)


def test_runs_frame(store, seeded):
    """Newest first, one row a run, with the declared dtypes and exact values."""
    df = xprof.runs(project="vision", store=store)
    assert list(df["name"]) == ["resnet-c", "resnet-b", "resnet-a"]
    declared = {name: dtype for name, dtype in frames.RUN_COLUMNS.items() if dtype != "decimal"}
    assert {c: str(df[c].dtype) for c in declared} == declared
    assert df["cost"].dtype == object
    a = df.set_index("name").loc["resnet-a"]
    assert a["cost"] == Decimal("1.234567891") and isinstance(a["cost"], Decimal)
    assert (a["currency"], a["cost_source"]) == ("USD", "billed")
    assert a["started_at"] == pd.Timestamp(T0)
    assert a["duration_s"] == 1800.0 and a["exit_code"] == 0
    assert (a["instance_type"], a["gpu_model"], a["gpus_used"]) == ("g5.xlarge",
                                                                    "NVIDIA A10G", 1)
    assert a["objective"] == pytest.approx(0.91)
    assert a["efficiency"] == pytest.approx(0.91 / 1.234567891)
    assert (a["energy_kwh"], a["energy_method"]) == (0.25, "measured")
    assert (a["param.lr"], a["param.batch"], a["param.optimizer"]) == (0.1, 64, "sgd")
    assert str(df["param.lr"].dtype) == "float64" and str(df["param.batch"].dtype) == "Int64"
    assert str(df["param.optimizer"].dtype) == "string"
    assert a["metric.loss"] == 0.125


def test_runs_filters(store, seeded):
    """Status, tags and time filters select rows; a project without runs is an empty frame
    with the same columns."""
    assert list(xprof.runs(status="failed", store=store)["name"]) == ["resnet-c"]
    assert list(xprof.runs(tags={"seed": "1"}, store=store)["name"]) == ["resnet-b"]
    since = T0 + dt.timedelta(minutes=90)
    assert list(xprof.runs(since=since, store=store)["name"]) == ["resnet-c"]
    empty = xprof.runs(project="nothing-here", store=store)
    assert empty.empty and list(empty.columns) == list(frames.RUN_COLUMNS)


def test_samples_frames(store, seeded):
    """Every sample in time order with a UTC time column; GPU samples per device; metrics in
    logging order with nullable steps."""
    run_id = seeded[0]
    samples = xprof.samples(run_id, store=store)
    assert len(samples) == 5
    assert list(samples["cpu_seconds_total"]) == [0.0, 1.5, 3.0, 4.5, 6.0]
    assert str(samples["rss_bytes"].dtype) == "Int64"
    assert samples["read_bytes_total"].isna().all()
    assert samples["time"].iloc[0] == pd.Timestamp(T0)
    gpu = xprof.samples(run_id, gpu=True, store=store)
    assert list(gpu["util_gpu_pct"]) == [40.0, 41.0, 42.0, 43.0, 44.0]
    assert str(gpu["used_by_run"].dtype) == "boolean" and gpu["used_by_run"].all()
    metrics = frames.metrics(run_id, store=store)
    assert list(metrics["key"]) == ["accuracy"] * 5 + ["loss"]
    assert metrics["step"].isna().tolist() == [False] * 5 + [True]
    costs = frames.costs("vision", store=store)
    assert sorted(costs["amount"]) == [Decimal("0.75"), Decimal("1.234567891"), Decimal("2.5")]
