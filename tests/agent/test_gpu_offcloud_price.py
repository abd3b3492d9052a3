"""Off the cloud, `xprof run` on a one-H200 host prices the run at an eighth of a p5en.48xlarge
(the host's own hardware), not at the whole eight-GPU instance."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from tests.agent.gpu_helpers import GIB, fake_nvml_env, only_run
from xprof import schema

P5EN = Decimal("63.296")  # p5en.48xlarge (8× H200), aws us-east-1 on-demand
H200_BYTES = 143771 * 2**20


def test_one_h200_host_is_priced_at_an_eighth_of_p5en(xprof, store, tmp_path):
    """The stored estimate is p5en.48xlarge's rate / 8 × the run's duration, and the summary
    line states `p5en.48xlarge $63.30/h × 1/8 GPUs`."""
    scenario = {"devices": [{"name": "NVIDIA H200", "memory_total": H200_BYTES,
                             "util_gpu": 90, "processes": [{"pid": "$ROOT",
                                                            "used_memory": 20 * GIB}]}]}
    env = {**fake_nvml_env(tmp_path, scenario), "XPROF_PROVIDER": "none"}
    result = xprof("run", "--interval", "0.2", "--", "sleep", "1", env=env)
    assert result.returncode == 0, result.stderr
    run = only_run(store, result)
    assert (run["hardware"]["gpu_count"], run["hardware"]["gpus_used"]) == (1, [0])

    c = schema.costs
    with store.read() as conn:
        [cost] = conn.execute(sa.select(c.c.amount, c.c.detail).where(
            c.c.run_id == run["id"], c.c.source == "estimate")).all()
    detail = cost.detail
    assert detail["price"]["instance_type"] == "p5en.48xlarge"
    assert Decimal(detail["rate_per_hour"]) == P5EN / 8
    expected = P5EN / 8 * Decimal(repr(detail["duration_s"])) / 3600
    assert abs(Decimal(cost.amount) - expected) < Decimal("1e-6")
    assert "≈ p5en.48xlarge $63.30/h × 1/8 GPUs" in detail["summary"]
    assert "p5en.48xlarge $63.30/h × 1/8 GPUs" in result.stderr + result.stdout
