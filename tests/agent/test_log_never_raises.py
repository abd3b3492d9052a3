"""`xprof.log` never raises into the training script: a bad step or value is dropped with one
warning, and the good values of the same call are still recorded."""

from __future__ import annotations

import sys
from pathlib import Path

import sqlalchemy as sa

from xprof import schema

SCRIPT = """
import warnings, xprof
warnings.simplefilter("default")

class Tensor:  # like a tensor of several elements: float() raises RuntimeError
    def __float__(self):
        raise RuntimeError("a Tensor with 2 elements cannot be converted to Scalar")

xprof.log(step="epoch-1", loss=0.5)
xprof.log(step="epoch-2", loss=0.25)
xprof.log(step=float("nan"), acc=0.75)
xprof.log(step=2**70, acc=0.8)
xprof.log(step=3, big=10**400, t=Tensor(), word="high", lr=0.001)
print("still training")
"""


def _metrics(store, run_id: str) -> list[tuple]:
    m = schema.metrics
    with store.read() as conn:
        return [tuple(r) for r in conn.execute(
            sa.select(m.c.key, m.c.value, m.c.step).where(m.c.run_id == run_id)
            .order_by(m.c.seq))]


def test_bad_steps_and_values_are_dropped_not_raised(xprof, store, tmp_path: Path):
    """Steps such as "epoch-1", NaN or 2**70 and values such as 10**400 or a tensor of
    several elements never raise: the script runs to its end, the values are kept without
    the bad step, the bad values are skipped, each problem warned about once."""
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    result = xprof("run", "--quiet", "--", sys.executable, str(script))
    assert result.returncode == 0, result.stderr
    assert "still training" in result.stdout
    [run] = store.list_runs()
    assert _metrics(store, run["id"]) == [("loss", 0.5, None), ("loss", 0.25, None),
                                          ("acc", 0.75, None), ("acc", 0.8, None),
                                          ("lr", 0.001, 3)]
    assert result.stderr.count("is not a whole number") == 1, result.stderr
    for key in ("big", "t", "word"):
        assert result.stderr.count(f"{key}=") == 1, result.stderr
    assert "Traceback" not in result.stderr
