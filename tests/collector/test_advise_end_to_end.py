"""A real `xprof run` on 1 of 4 (fake) T4s at low utilisation, recorded as a g4dn.12xlarge,
ends with idle-GPU and underuse advice naming g4dn.xlarge and the whole-machine saving."""

from __future__ import annotations

from decimal import Decimal

from tests.agent.gpu_helpers import GIB, fake_nvml_env, only_run
from tests.collector.advise_seed import hours_cost, nano, stored

T4_BYTES = 15360 * 2**20


def t4(**overrides) -> dict:
    return {"name": "Tesla T4", "memory_total": T4_BYTES, "util_gpu": 0, "util_mem": 0,
            "power_mw": 27_000, "power_limit_mw": 70_000, "temperature_c": 35,
            "sm_clock_mhz": 585, **overrides}


def test_run_on_one_of_four_gpus_is_advised(xprof, store, tmp_path):
    """Idle-GPU and underuse advice are stored, name g4dn.xlarge (same GPU model, one GPU),
    save $3.912/h - $0.526/h over the run, and the summary prints the top one."""
    scenario = {"devices": [
        t4(), t4(util_gpu=25, util_mem=10,
                 processes=[{"pid": "$ROOT", "used_memory": 2 * GIB, "sm_util": 25}]),
        t4(), t4()]}
    env = {**fake_nvml_env(tmp_path, scenario), "XPROF_ADVISE_MIN_DURATION_S": "0.5",
           "XPROF_ADVISE_MIN_SAMPLES": "5"}
    result = xprof("run", "--interval", "0.1", "--provider", "aws", "--instance-type",
                   "g4dn.12xlarge", "--region", "us-east-1", "--", "sleep", "1.5", env=env)
    assert result.returncode == 0, result.stderr

    run = only_run(store)
    assert run["hardware"]["gpus_used"] == [1]
    duration = run["duration_s"]
    whole_machine = hours_cost("3.912", duration)
    expected = whole_machine - hours_cost("0.526", duration)
    recs = {row["rule"]: row for row in stored(store, run["id"])}
    assert {"idle_gpus", "gpu_underused"} <= set(recs)
    for rule in ("idle_gpus", "gpu_underused"):
        rec = recs[rule]
        assert (rec["current_instance"], rec["suggested_instance"]) == (
            "g4dn.12xlarge", "g4dn.xlarge")
        assert rec["evidence"]["suggested"]["gpu_model"] == "T4"
        assert rec["evidence"]["suggested"]["gpu_count"] == 1
        assert rec["saving_per_run"] == expected
        assert rec["saving_per_month"] == expected  # the project's only run
        assert (rec["currency"], rec["status"], rec["project"]) == ("USD", "open",
                                                                     run["project"])
    assert recs["idle_gpus"]["evidence"]["gpus_idle"] == [0, 2, 3]
    assert recs["gpu_underused"]["evidence"]["gpu_util_p95_pct"] == 25.0
    assert recs["gpu_underused"]["evidence"]["charged"]["amount"] == str(whole_machine)
    # the run's estimate is its quarter; the advice is measured against the whole machine
    [cost] = store.run_details(run["id"])["costs"]
    assert cost["amount"] == nano(Decimal("3.912") * Decimal(repr(duration)) / 3600 / 4)
    assert "advice   3 of 4 GPUs on the machine were never used: run on g4dn.xlarge" in \
        result.stderr
