"""A training process that dies keeps the metrics its callback had written: the callback
writes its values in batches (every second, at the end of training, at exit), so a process
killed outright loses only what was logged since the last write; an exit that runs atexit
loses nothing."""

from __future__ import annotations

import json
import sys

import pytest

from tests.integrations.conftest import SCRIPTS, rows

pytestmark = pytest.mark.integrations


def _logged(log_file) -> dict[int, dict[str, float]]:
    """What the Trainer handed its callbacks, by step (epoch and numbers only)."""
    out: dict[int, dict[str, float]] = {}
    for line in log_file.read_text().splitlines():
        entry = json.loads(line)
        out.setdefault(entry["step"], {}).update(entry["logs"])
    return out


def _stored(store, run_id: str) -> dict[int, dict[str, float]]:
    out: dict[int, dict[str, float]] = {}
    for m in rows(store, "metrics", run_id, order="seq"):
        out.setdefault(m["step"], {})[m["key"]] = m["value"]
    return out


SCRIPTS_AND_KEYS = {
    "hf": ("train_hf_dies.py", ("loss", "grad_norm", "learning_rate", "epoch")),
    "lightning": ("train_lightning_dies.py", ("train_loss",)),
}


@pytest.mark.parametrize("how", ["os_exit", "sys_exit"])
@pytest.mark.parametrize("framework", ["hf", "lightning"])
def test_dead_training_process_keeps_written_steps(xprof, store, tmp_path, framework, how):
    """Steps 1-6 logged, a write at step 5 (past the 1 s interval), death at step 6:
    ``os._exit`` (as SIGKILL) keeps steps 1-5 exactly and loses step 6; ``sys.exit`` keeps
    all 6 (through atexit; Lightning's ``on_exception``). Stored values are the ones the
    framework logged, bit for bit."""
    script, keys = SCRIPTS_AND_KEYS[framework]
    log_file = tmp_path / "logged.jsonl"
    args = [str(log_file), how] if framework == "lightning" else [
        str(tmp_path / "out"), str(log_file), how]
    name = f"dies-{framework}-{how}"
    result = xprof("run", "--quiet", "--name", name, "--",
                   sys.executable, str(SCRIPTS / script), *args, timeout=240)
    assert result.returncode == 3, result.stderr
    run = store.find_run(name)
    assert run["status"] == "failed"
    logged, stored = _logged(log_file), _stored(store, run["id"])
    assert sorted(logged) == [1, 2, 3, 4, 5, 6]
    kept = [1, 2, 3, 4, 5] if how == "os_exit" else [1, 2, 3, 4, 5, 6]
    assert sorted(step for step in stored if step is not None) == kept
    for step in kept:
        values = stored[step]
        for key in keys:
            assert values[key] == logged[step][key], (step, key)
        assert values["step_time_s"] > 0
