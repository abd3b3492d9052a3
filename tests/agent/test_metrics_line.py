"""The metrics channel's hand-built JSON line is the line ``json.dumps`` writes: every value
read back is the float that was logged, bit for bit, whatever the key."""

from __future__ import annotations

import json
import math

from xprof.metrics_log import metrics_line

VALUES = {"loss": 0.018634766340255737, "lr": 1e-05, "tokens": 1234.0, "neg": -0.0,
          "tiny": 5e-324, "huge": 1.7976931348623157e308, 'quote"d\\key': 0.1,
          "accuracy/val é": 2 / 3, "日本": -3.5}


def test_line_is_json_dumps_text():
    """Same text as compact ``json.dumps`` for a step, no step and a float timestamp."""
    for ts, step in ((1_733_380_000.123456, 7), (1.5, None), (0.0, -(2**63)), (2.0, 2**63 - 1)):
        record = {"ts": ts, "step": step, "metrics": VALUES}
        line = metrics_line(ts, step, VALUES)
        assert line == json.dumps(record, separators=(",", ":")) + "\n"
        back = json.loads(line)
        assert back["step"] == step and back["ts"] == ts
        for key, value in VALUES.items():
            assert math.copysign(1, back["metrics"][key]) == math.copysign(1, value)
            assert back["metrics"][key] == value


def test_key_sets_past_the_cache_are_still_written():
    """Key sets beyond the template cache's size are formatted each time, not dropped; a
    ``%`` in a key is text, not a format."""
    for i in range(10_050):
        metrics = {f"k{i}": float(i), "100%": 1.0}
        assert json.loads(metrics_line(1.0, i, metrics)) == {
            "ts": 1.0, "step": i, "metrics": metrics}
