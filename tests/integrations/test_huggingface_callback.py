"""A tiny Hugging Face Trainer run with XprofCallback records the Trainer's metrics at every
logged step, step timing and the hyperparameters into the current run."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import xprof
from tests.integrations.conftest import params_of, rows
from tests.integrations.extra import require
from tests.integrations.tiny_models import tiny_bert_trainer
from xprof.cli import cli

MlflowClient = require("mlflow.tracking").MlflowClient

pytestmark = pytest.mark.integrations


def test_trainer_metrics_per_step(store, tmp_path, mlflow_uri):
    """8 optimizer steps logged every step: loss, learning rate, epoch, step time per step;
    learning rate, batch size and the active MLflow run as params, so `xprof export mlflow`
    writes onto that MLflow run."""
    import mlflow

    from xprof.agent.integrations.huggingface import XprofCallback

    mlflow.set_tracking_uri(mlflow_uri)
    mlflow.set_experiment(f"hf-{tmp_path.name}")
    with mlflow.start_run() as mlflow_run, xprof.profile(
            name="bert-tiny", project="hf", objective="loss:min", quiet=True) as run:
        trainer = tiny_bert_trainer(tmp_path / "out", [XprofCallback()])
        trainer.train()
    metrics = rows(store, "metrics", run.id, order="seq")
    by_key: dict[str, list[tuple[int, float]]] = {}
    for m in metrics:
        by_key.setdefault(m["key"], []).append((m["step"], m["value"]))
    assert [step for step, _ in by_key["loss"]] == list(range(1, 9))
    assert [step for step, _ in by_key["learning_rate"]][:8] == list(range(1, 9))
    assert [value for _, value in by_key["epoch"]][:8] == [0.25 * i for i in range(1, 9)]
    assert len(by_key["step_time_s"]) == 8 and all(v > 0 for _, v in by_key["step_time_s"])
    assert by_key["learning_rate"][0][1] == pytest.approx(1e-3)
    assert "train_loss" in by_key  # the end-of-training summary the Trainer logs
    params = params_of(store, run.id)
    assert params["learning_rate"] == "0.001"
    assert params["per_device_train_batch_size"] == "8"
    assert params["model_class"] == "BertForSequenceClassification"
    assert int(params["model_parameters"]) > 1000
    assert params["mlflow.run_id"] == mlflow_run.info.run_id
    assert store.find_run(run.id)["status"] == "finished"

    result = CliRunner().invoke(cli, ["export", "mlflow", run.id, "--tracking-uri", mlflow_uri])
    assert result.exit_code == 0 and "(updated" in result.output, result.output
    exported = MlflowClient(tracking_uri=mlflow_uri).get_run(mlflow_run.info.run_id)
    assert exported.data.tags["xprof.run_id"] == run.id
    assert exported.data.metrics["xprof.duration_s"] > 0
