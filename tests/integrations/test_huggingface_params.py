"""A Hugging Face run's params are stored the same under `xprof run` and in-process (one
encoding, JSON), typed once on read; `epoch` is recorded once per step."""

from __future__ import annotations

import sys
from collections import Counter

import pytest

from tests.integrations.conftest import SCRIPTS, params_of, rows
from tests.integrations.tiny_models import tiny_bert_trainer

pytestmark = pytest.mark.integrations


def test_params_one_encoding_and_epoch_once(xprof, store, tmp_path):
    """bf16 is "false" both ways and `param.bf16` one boolean column; 8 steps, 8 epoch rows."""
    import xprof as xp
    from xprof.agent.integrations.huggingface import XprofCallback

    result = xprof("run", "--quiet", "--name", "hf-wrapped", "--project", "hf-params", "--",
                   sys.executable, str(SCRIPTS / "train_hf.py"), str(tmp_path / "a"),
                   timeout=240)
    assert result.returncode == 0, result.stderr
    with xp.profile(name="hf-inproc", project="hf-params", quiet=True) as run:
        tiny_bert_trainer(tmp_path / "b", [XprofCallback()]).train()
    wrapped = store.find_run("hf-wrapped")
    for run_id in (wrapped["id"], run.id):
        params = params_of(store, run_id)
        assert (params["bf16"], params["fp16"], params["learning_rate"]) == (
            "false", "false", "0.001")
        epochs = [m["step"] for m in rows(store, "metrics", run_id) if m["key"] == "epoch"]
        assert Counter(epochs) == Counter(range(1, 9))
    frame = xp.runs(project="hf-params", store=store).set_index("name")
    assert frame["param.bf16"].dtype == "boolean"
    assert frame["param.bf16"].tolist() == [False, False]
    assert frame["param.learning_rate"].dtype == "float64"
