"""`xprof export mlflow` writes cost, usage summaries and open advice onto MLflow runs of a
real tracking store (SQLite backend), creating the runs it cannot match; values read back
with MlflowClient."""

from __future__ import annotations

from decimal import Decimal

import pytest
from click.testing import CliRunner

from tests.integrations.extra import require
from tests.integrations.seed import T0, seed_runs
from xprof.cli import cli

MlflowClient = require("mlflow.tracking").MlflowClient

pytestmark = pytest.mark.integrations


def export(*args: str):
    result = CliRunner().invoke(cli, ["export", "mlflow", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_export_creates_and_updates(store, mlflow_uri, tmp_path):
    """Three xprof runs become three MLflow runs with params, metric history and xprof.*
    metrics and tags; a second export updates the same runs."""
    project = f"vision-{tmp_path.name}"
    ids = seed_runs(store, project=project)
    out = export("--project", project, "--tracking-uri", mlflow_uri)
    assert out.count("(created") == 3
    client = MlflowClient(tracking_uri=mlflow_uri)
    experiment = client.get_experiment_by_name(project)
    found = {r.data.tags["xprof.run_id"]: r for r in client.search_runs(
        [experiment.experiment_id])}
    assert set(found) == set(ids)
    a = found[ids[0]]
    assert a.info.run_name == "resnet-a" and a.info.status == "FINISHED"
    assert a.info.start_time == int(T0.timestamp() * 1000)
    assert a.info.end_time == a.info.start_time + 30 * 60 * 1000
    assert found[ids[2]].info.status == "FAILED"
    assert a.data.metrics["xprof.cost"] == float(Decimal("1.234567891"))
    assert a.data.metrics["xprof.duration_s"] == 1800.0
    assert a.data.metrics["xprof.energy_kwh"] == 0.25
    assert a.data.metrics["xprof.gpu_util_p95"] == 80.0
    assert a.data.metrics["xprof.recommendations_open"] == 1.0
    assert a.data.metrics["xprof.saving_per_run"] == 0.3
    assert a.data.tags["xprof.cost_source"] == "billed"
    assert a.data.tags["xprof.cost_currency"] == "USD"
    assert a.data.tags["xprof.instance_type"] == "g5.xlarge"
    assert a.data.tags["xprof.recommendation.gpu_underused"].startswith("GPU 0 at 40 %")
    assert a.data.tags["team"] == "vision"
    assert a.data.params == {"lr": "0.1", "batch": "64", "optimizer": "sgd"}
    history = client.get_metric_history(a.info.run_id, "accuracy")
    assert [(m.step, round(m.value, 6)) for m in history] == [
        (s, round(0.81 + s / 40, 6)) for s in range(5)]
    assert store.run_details(ids[0])["tags"]["mlflow.run_id"] == a.info.run_id

    out = export("--project", project, "--tracking-uri", mlflow_uri)
    assert out.count("(updated") == 3
    assert len(client.search_runs([experiment.experiment_id])) == 3


def test_export_onto_the_users_mlflow_run(store, mlflow_uri, tmp_path):
    """A run that recorded the MLflow run it logged to (param mlflow.run_id, as the callbacks
    record it) gets xprof's figures on that MLflow run; nothing else is created."""
    client = MlflowClient(tracking_uri=mlflow_uri)
    experiment_id = client.create_experiment(f"own-{tmp_path.name}")
    own = client.create_run(experiment_id, run_name="users-own-run")
    ids = seed_runs(store, project=f"p-{tmp_path.name}")
    from xprof import schema

    with store.write() as conn:
        conn.execute(schema.run_params.insert().values(
            run_id=ids[1], key="mlflow.run_id", value=own.info.run_id, source="log"))
    out = export(ids[1], "--tracking-uri", mlflow_uri)
    assert f"MLflow run {own.info.run_id[:8]} (updated" in out
    updated = client.get_run(own.info.run_id)
    assert updated.data.metrics["xprof.cost"] == 2.5
    assert updated.data.tags["xprof.cost_source"] == "estimate"
    assert updated.data.params == {}  # the user's run keeps its own params
    assert client.get_experiment_by_name(f"p-{tmp_path.name}") is None


def test_export_again_writes_each_figure_once(store, mlflow_uri, tmp_path):
    """Exporting a run three times leaves one `xprof.cost` point (and one of every summary
    metric): a figure gets a new point only when it changed."""
    project = f"once-{tmp_path.name}"
    ids = seed_runs(store, project=project)
    for _ in range(3):
        export(ids[0], "--tracking-uri", mlflow_uri)
    client = MlflowClient(tracking_uri=mlflow_uri)
    mlflow_id = store.run_details(ids[0])["tags"]["mlflow.run_id"]
    history = client.get_metric_history(mlflow_id, "xprof.cost")
    assert [(m.step, m.value) for m in history] == [(0, float(Decimal("1.234567891")))]
    assert len(client.get_metric_history(mlflow_id, "xprof.duration_s")) == 1
