"""On an 8-GPU machine, `xprof run` records every GPU and attributes the run's two by pid."""

from __future__ import annotations

from tests.agent.gpu_helpers import (
    A100,
    A100_BYTES,
    GIB,
    a100,
    by_target,
    fake_nvml_env,
    gpu_rows,
    only_run,
)

FOREIGN_PID = 3_999_999  # another user's job: never a pid of the run
CHILD = ["sh", "-c", "sleep 2 & sleep 2; wait"]  # the run: sh (root), two sleeping children


def scenario() -> dict:
    devices = [a100() for _ in range(8)]
    devices[0] = a100(util_gpu=40, processes=[{"pid": FOREIGN_PID, "used_memory": 10 * GIB}])
    devices[2] = a100(util_gpu=[[0, 20], [0.6, 85]], util_mem=30, power_mw=310_000,
                      processes=[{"pid": "$ROOT", "used_memory": 3 * GIB, "sm_util": 85}])
    devices[5] = a100(util_gpu=60, memory_idle=GIB // 2,
                      processes=[{"pid": "$CHILD:0", "used_memory": 5 * GIB, "sm_util": 60}])
    return {"driver": "550.54.15", "devices": devices}


def test_run_on_two_of_eight_gpus(xprof, store, tmp_path):
    """All 8 GPUs are sampled; GPUs 2 and 5 are the run's (by pid), with its own memory."""
    result = xprof("run", "--quiet", "--interval", "0.2", "--", *CHILD,
                   env=fake_nvml_env(tmp_path, scenario()))
    assert result.returncode == 0, result.stderr
    run = only_run(store, result)

    hardware = run["hardware"]
    assert (hardware["gpu_count"], hardware["gpu_model"], hardware["gpu_memory_bytes"]) == (
        8, A100, A100_BYTES)
    assert [g["index"] for g in hardware["gpus"]] == list(range(8))
    assert hardware["driver"] == "550.54.15"
    assert hardware["gpus_used"] == [2, 5]

    rows = by_target(gpu_rows(store, run["id"]))
    assert sorted(rows) == [(i, -1) for i in range(8)]
    counts = {len(series) for series in rows.values()}
    assert len(counts) == 1 and counts.pop() >= 5  # every device in every sample

    gpu2 = [r for r in rows[(2, -1)] if r["used_by_run"]]
    assert gpu2 and {r["attribution"] for r in gpu2} == {"pid"}
    assert {r["run_mem_used_bytes"] for r in gpu2} == {3 * GIB}
    assert {r["mem_used_bytes"] for r in gpu2} == {3 * GIB}
    assert 85.0 in {r["run_sm_util_pct"] for r in gpu2}
    assert {r["power_w"] for r in gpu2} == {310.0}
    assert {r["power_limit_w"] for r in gpu2} == {400.0}
    assert {r["mem_total_bytes"] for r in gpu2} == {A100_BYTES}
    assert rows[(2, -1)][-1]["util_gpu_pct"] == 85.0
    energy = [r["energy_j"] for r in rows[(2, -1)]]  # read at the first and the last sample
    assert energy[0] is not None and energy[-1] is not None
    counter = [e for e in energy if e is not None]
    assert counter == sorted(counter) and energy[-1] > energy[0]  # a counter, in joules

    gpu5 = [r for r in rows[(5, -1)] if r["used_by_run"]]
    assert {r["run_mem_used_bytes"] for r in gpu5} == {5 * GIB}
    assert {r["mem_used_bytes"] for r in gpu5} == {5 * GIB + GIB // 2}

    foreign = rows[(0, -1)]  # someone else's job: device busy, run's share zero
    assert {r["used_by_run"] for r in foreign} == {False}
    assert {r["run_mem_used_bytes"] for r in foreign} == {0}
    assert {r["mem_used_bytes"] for r in foreign} == {10 * GIB}
    for index in (1, 3, 4, 6, 7):
        assert not any(r["used_by_run"] for r in rows[(index, -1)])
        first = rows[(index, -1)][0]  # then every 30 s (gpu.thermal_interval_s)
        assert (first["temperature_c"], first["sm_clock_mhz"]) == (33.0, 1410.0)
