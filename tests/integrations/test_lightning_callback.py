"""A tiny Lightning fit with XprofCallback under `xprof run` records the module's metrics at
every step, with epochs and step timing, into the run."""

from __future__ import annotations

import sys

import pytest

from tests.integrations.conftest import SCRIPTS, rows

pytestmark = pytest.mark.integrations


def test_fit_metrics_per_step_under_xprof_run(xprof, store):
    """8 training steps: train_loss and step_time_s at steps 1..8, val_loss once per epoch
    (not repeated at later steps), no complaint from the agent about the params line."""
    result = xprof("run", "--quiet", "--name", "pl-tiny", "--project", "pl", "--",
                   sys.executable, str(SCRIPTS / "train_lightning.py"), timeout=240)
    assert result.returncode == 0, result.stderr
    run = store.find_run("pl-tiny")
    metrics = rows(store, "metrics", run["id"], order="seq")
    steps: dict[str, list[int]] = {}
    for m in metrics:
        steps.setdefault(m["key"], []).append(m["step"])
    assert steps["step_time_s"] == list(range(1, 9))
    assert set(range(1, 9)) <= set(steps["train_loss"])
    assert steps["val_loss"] == [4, 8]
    epochs = {m["step"]: m["value"] for m in metrics if m["key"] == "epoch"}
    assert (epochs[1], epochs[8]) == (0.0, 1.0)
    assert all(m["source"] == "log" for m in metrics)
    assert "malformed" not in result.stderr
