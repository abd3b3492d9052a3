"""`xprof import mlflow` brings ended MLflow runs (params, metric history, times, instance
tags) from a real tracking store into xprof, priced at once; importing again adds nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from click.testing import CliRunner

import xprof
from tests.integrations.conftest import rows
from tests.integrations.extra import require
from xprof.cli import cli
from xprof.collector.mlflow_bridge import xprof_id_for

Metric = require("mlflow.entities").Metric
Param = require("mlflow.entities").Param
MlflowClient = require("mlflow.tracking").MlflowClient

pytestmark = pytest.mark.integrations

START_MS = int(dt.datetime(2026, 10, 5, 8, 0, tzinfo=dt.UTC).timestamp() * 1000)


def make_runs(uri: str, experiment: str) -> dict[str, str]:
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment(experiment)
    made = {}
    for name, status, tags, hours in (
            ("bert-aws", "FINISHED", {"instance_type": "g5.xlarge", "region": "us-east-1",
                                      "team": "nlp"}, 2),
            ("bert-failed", "FAILED", {"cloud_provider": "aws", "instance_type": "g5.2xlarge",
                                       "region": "us-east-1", "lifecycle": "spot"}, 1),
            ("still-going", "RUNNING", {}, 0)):
        run = client.create_run(exp, start_time=START_MS, run_name=name, tags=tags)
        run_id = run.info.run_id
        client.log_batch(run_id, params=[Param("lr", "2e-5"), Param("epochs", "3")],
                         metrics=[Metric("val_acc", 0.8 + i / 100, START_MS + i * 1000, i)
                                  for i in range(3)])
        if status != "RUNNING":
            client.set_terminated(run_id, status, end_time=START_MS + hours * 3_600_000)
        made[name] = run_id
    return made


def run_import(*args: str) -> str:
    result = CliRunner().invoke(cli, ["import", "mlflow", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_import_runs(store, mlflow_uri, tmp_path):
    """Ended runs arrive with their params, metric history, times and machine, and an
    estimate; the running one waits; a second import adds nothing."""
    experiment = f"bert-{tmp_path.name}"
    made = make_runs(mlflow_uri, experiment)
    out = run_import("--tracking-uri", mlflow_uri, "--experiment", experiment)
    assert out.strip() == ("imported 2 runs (2 priced); 1 still running "
                           "(import them once they end)")
    run = store.find_run(xprof_id_for(made["bert-aws"]))
    assert (run["name"], run["project"], run["status"]) == ("bert-aws", experiment,
                                                            "finished")
    assert run["started_at"] == dt.datetime(2026, 10, 5, 8, 0, tzinfo=dt.UTC)
    assert run["duration_s"] == 7200.0
    assert (run["cloud_provider"], run["instance_type"], run["cloud_region"]) == (
        "aws", "g5.xlarge", "us-east-1")  # provider inferred from the catalog
    details = store.run_details(run["id"])
    assert details["params"] == {"lr": "2e-5", "epochs": "3"}
    assert details["tags"]["mlflow.run_id"] == made["bert-aws"]
    assert details["tags"]["team"] == "nlp"
    history = rows(store, "metrics", run["id"], order="seq")
    assert [(m["step"], m["value"], m["ts"]) for m in history] == [
        (i, 0.8 + i / 100, START_MS / 1000 + i) for i in range(3)]
    failed = store.find_run(xprof_id_for(made["bert-failed"]))
    assert (failed["status"], failed["lifecycle"]) == ("failed", "spot")

    frame = xprof.runs(project=experiment, store=store).set_index("name")
    cost = frame.loc["bert-aws", "cost"]
    assert isinstance(cost, Decimal) and cost > 0
    assert frame.loc["bert-aws", "metric.val_acc"] == pytest.approx(0.82)

    again = run_import("--tracking-uri", mlflow_uri, "--experiment", experiment)
    assert again.startswith("imported 0 runs (0 priced); 2 already in the store")
    assert len(store.list_runs(project=experiment)) == 2


def test_exported_runs_are_not_imported_back(store, mlflow_uri, tmp_path):
    """An MLflow run that xprof created by exporting is the same run, not a new one."""
    from tests.integrations.seed import seed_runs

    project = f"round-{tmp_path.name}"
    seed_runs(store, project=project)
    CliRunner().invoke(cli, ["export", "mlflow", "--project", project, "--tracking-uri",
                             mlflow_uri], catch_exceptions=False)
    out = run_import("--tracking-uri", mlflow_uri, "--experiment", project)
    assert out.startswith("imported 0 runs (0 priced); 3 already in the store")


@pytest.mark.parametrize(("args", "message"), [
    (["--tracking-uri", "sqlite:////nonexistent/mlflow.db"], "no MLflow tracking store"),
    (["--experiment", "no-such-experiment"], "no MLflow experiment named"),
])
def test_bad_input(store, mlflow_uri, args, message):
    """A missing tracking store or experiment: one line naming it, exit 2."""
    if "--tracking-uri" not in args:
        args = ["--tracking-uri", mlflow_uri, *args]
    result = CliRunner().invoke(cli, ["import", "mlflow", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_unpriced_runs_are_named_and_shown_as_imported(store, mlflow_uri, tmp_path):
    """A run without instance tags is imported unpriced: the import names it and says why;
    `xprof show` says what was not measured ("imported"), never "None"."""
    experiment = f"mixed-{tmp_path.name}"
    client = MlflowClient(tracking_uri=mlflow_uri)
    exp = client.create_experiment(experiment)
    for name, tags in (("on-aws", {"instance_type": "g5.xlarge", "region": "us-east-1"}),
                       ("laptop", {})):
        run = client.create_run(exp, start_time=START_MS, run_name=name, tags=tags)
        client.set_terminated(run.info.run_id, "FINISHED", end_time=START_MS + 3_600_000)
    out = run_import("--tracking-uri", mlflow_uri, "--experiment", experiment)
    laptop = store.find_run("laptop")
    assert out.startswith(f"imported 2 runs (1 priced); not priced: laptop ({laptop['id'][:8]}): ")
    assert len(out.split("not priced: laptop")[1].split(":", 1)[1].strip()) > 5  # the reason
    shown = CliRunner().invoke(cli, ["show", "laptop"], catch_exceptions=False).output
    assert "None" not in shown
    assert "exit imported" in shown and "imported CPU-s" in shown
