"""What a callback's buffer writes for the values frameworks hand it: numbers as floats
(tensors on their device, numpy scalars, ints), the rest skipped, bit for bit what was
logged, in the order logged, one line per logged step."""

from __future__ import annotations

import json
import math

import pytest

from tests.integrations.extra import require
from xprof.agent.integrations.channel import MetricsBuffer, flush_all

torch = require("torch")
np = require("numpy")

pytestmark = pytest.mark.integrations


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_values_as_written(tmp_path, monkeypatch):
    """Scalar tensors (float32, float64, int, requiring grad), numpy scalars and ints are
    written as the floats they hold; bools, text, NaN, inf, a 2-element tensor and an int
    too big for a float are skipped; a step with nothing left writes no line. Tensors are
    read together, or one by one when one of them holds several elements."""
    path = tmp_path / "metrics.jsonl"
    monkeypatch.setenv("XPROF_METRICS_FILE", str(path))
    weight = torch.tensor(0.3, requires_grad=True)
    buffer = MetricsBuffer(flush_s=3600)
    buffer.add(1, {"loss": torch.tensor(0.1864), "lr": 1e-05, "epoch": 3,
                   "grad": weight * 2, "acc": np.float32(0.75), "n": np.int64(7),
                   "f64": torch.tensor(2 / 3, dtype=torch.float64), "i": torch.tensor(5)})
    assert not path.exists()  # nothing written before the interval or a flush
    buffer.flush()  # the tensors read in one go
    buffer.add(2, {"flag": True, "name": "adam", "nan": math.nan, "inf": -math.inf,
                   "pair": torch.tensor([1.0, 2.0]), "huge": 10**400, "loss": 0.5})
    buffer.add(3, {"nan": float("nan"), "word": "x"})
    buffer.add(None, {"tokens": 1234})
    buffer.flush()  # the 2-element tensor: each tensor read on its own
    first, second, third = _lines(path)
    assert first["step"] == 1 and first["metrics"] == {
        "loss": torch.tensor(0.1864).item(), "lr": 1e-05, "epoch": 3.0,
        "grad": (weight * 2).item(), "acc": 0.75, "n": 7.0, "f64": 2 / 3, "i": 5.0}
    assert second == {"ts": second["ts"], "step": 2, "metrics": {"loss": 0.5}}
    assert third["step"] is None and third["metrics"] == {"tokens": 1234.0}
    assert first["ts"] <= second["ts"] <= third["ts"]


def test_pending_values_written_by_flush_all(tmp_path, monkeypatch):
    """A buffer whose owner is gone still has its values written by the exit flush."""
    path = tmp_path / "metrics.jsonl"
    monkeypatch.setenv("XPROF_METRICS_FILE", str(path))
    buffer = MetricsBuffer(flush_s=3600)
    buffer.add(4, {"loss": 0.25})
    del buffer
    flush_all()
    assert [(r["step"], r["metrics"]) for r in _lines(path)] == [(4, {"loss": 0.25})]
