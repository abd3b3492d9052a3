"""`xprof.profile` records the current process as a run: samples, metrics, params, status,
with xprof.log routed into it only while the block is open."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

import xprof
from tests.integrations.conftest import params_of, rows


def busy(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_block_is_recorded(store):
    """A profiled block is one finished run with samples, its metrics and its params."""
    with xprof.profile(name="inproc", project="nb", params={"lr": 3e-4, "layers": [2, 3]},
                       tags={"team": "vision"}, objective="loss:min", interval=0.1,
                       quiet=True) as run:
        for step in range(5):
            busy(0.05)
            xprof.log(step=step, loss=1.0 / (step + 1))
        run.log_params(batch_size=32)
        time.sleep(0.3)
    stored = store.find_run(run.id)
    assert run.status == "finished" and run.stored is True
    assert stored["status"] == "finished" and stored["exit_code"] == 0
    assert (stored["name"], stored["project"]) == ("inproc", "nb")
    assert (stored["objective_name"], stored["objective_mode"]) == ("loss", "min")
    assert stored["cpu_seconds"] >= 0.25
    samples = rows(store, "samples", run.id)
    assert len(samples) >= 3
    assert all(s["processes"] >= 1 for s in samples)
    metrics = rows(store, "metrics", run.id, order="seq")
    assert [(m["step"], m["value"]) for m in metrics] == [(i, 1.0 / (i + 1)) for i in range(5)]
    params = params_of(store, run.id)  # pytest's own --flags may be there too (argv params)
    assert {k: params[k] for k in ("lr", "layers", "batch_size")} == {
        "lr": "0.0003", "layers": "[2, 3]", "batch_size": "32"}
    assert store.run_details(run.id)["tags"] == {"team": "vision"}


def test_metrics_file_is_only_set_inside(store):
    """XPROF_METRICS_FILE points at the run inside the block and is unset again after it."""
    assert "XPROF_METRICS_FILE" not in os.environ
    with xprof.profile(project="nb", quiet=True) as run:
        inside = os.environ["XPROF_METRICS_FILE"]
        assert run.id in inside
    assert "XPROF_METRICS_FILE" not in os.environ
    named = r"not running under `xprof run` nor inside `xprof\.profile`"
    with pytest.warns(RuntimeWarning, match=named):
        xprof.log(loss=1.0)  # outside any run: not recorded, warned about
    assert rows(store, "metrics", run.id) == []


def test_one_run_at_a_time(store):
    """Starting a second run while one is open is refused; stop() ends the open one."""
    run = xprof.start(project="nb", quiet=True)
    try:
        with pytest.raises(RuntimeError, match="already being recorded"):
            xprof.start(project="nb")
    finally:
        assert xprof.stop() is run
    assert store.find_run(run.id)["status"] == "finished"
    assert xprof.stop() is None


def test_children_are_measured_and_not_reaped(store):
    """A child process's CPU counts in the run, and the exit code of a child that ended
    while nobody waited for it is still the caller's to read (the profiler reaps nothing)."""
    with xprof.profile(project="nb", interval=0.1, quiet=True) as run:
        quick = subprocess.Popen([sys.executable, "-c", "raise SystemExit(7)"])
        busy_child = subprocess.Popen([sys.executable, "-c",
                                       "import time\nend = time.process_time() + 0.6\n"
                                       "while time.process_time() < end: pass"])
        assert busy_child.wait() == 0
        time.sleep(0.5)  # the quick child has long exited; several samples went by
        assert quick.wait() == 7
    samples = rows(store, "samples", run.id)
    assert max(s["processes"] for s in samples) >= 2
    assert store.find_run(run.id)["cpu_seconds"] >= 0.5


def test_bad_objective_is_refused(store):
    """An objective that is not NAME:max or NAME:min is a ValueError before anything starts."""
    with pytest.raises(ValueError, match="NAME:max"):
        xprof.profile(objective="loss")
    assert store.list_runs() == []
