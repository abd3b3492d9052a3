"""A failing NVML call drops that metric for that device only; transient failures recover."""

from __future__ import annotations

import json

from tests.agent.gpu_helpers import a100, by_target, fake_nvml_env, gpu_rows, only_run


def run_and_read(xprof, store, tmp_path, scenario: dict):
    calls_path = tmp_path / "nvml-calls.json"
    scenario = {**scenario, "record_calls": str(calls_path)}
    result = xprof("run", "--quiet", "--interval", "0.1", "--", "sleep", "1",
                   env=fake_nvml_env(tmp_path, scenario))
    assert result.returncode == 0, result.stderr
    run = only_run(store, result)
    calls = {(c["function"], c["gpu"], c["mig"]): c["count"]
             for c in json.loads(calls_path.read_text())}
    return result, by_target(gpu_rows(store, run["id"])), calls


def test_power_unsupported_on_one_device(xprof, store, tmp_path):
    """Power NotSupported on GPU 1: its power is NULL, asked once; every other figure stays."""
    devices = [a100(power_mw=200_000), a100(power_mw=200_000,
                                            fail={"nvmlDeviceGetPowerUsage": "NotSupported"})]
    result, rows, calls = run_and_read(xprof, store, tmp_path, {"devices": devices})

    samples = len(rows[(1, -1)])
    assert samples >= 5
    assert {r["power_w"] for r in rows[(1, -1)]} == {None}
    assert {r["power_limit_w"] for r in rows[(1, -1)]} == {400.0}
    assert rows[(1, -1)][0]["temperature_c"] == 33.0  # then on its cadence (30 s)
    assert {r["power_w"] for r in rows[(0, -1)]} == {200.0}
    assert calls[("nvmlDeviceGetPowerUsage", 1, -1)] == 1  # not retried on that device
    assert calls[("nvmlDeviceGetPowerUsage", 0, -1)] == samples
    assert calls[("nvmlInit", -1, -1)] == 1  # initialised once, not per sample
    assert "NVML" not in result.stderr  # an unsupported metric is not worth a warning


def test_transient_errors_are_retried(xprof, store, tmp_path):
    """Temperature failing twice with Unknown is NULL in two samples and asked again at each,
    then read (and left to its 30 s cadence); a failed process list is asked again at once."""
    devices = [a100(fail={"nvmlDeviceGetTemperature": {"error": "Unknown", "times": 2},
                          "nvmlDeviceGetComputeRunningProcesses": {"error": "GpuIsLost",
                                                                   "times": 1}})]
    result, rows, calls = run_and_read(xprof, store, tmp_path, {"devices": devices})

    temperatures = [r["temperature_c"] for r in rows[(0, -1)]]
    assert temperatures[:2] == [None, None]
    assert temperatures[2] == 33.0 and set(temperatures[3:]) <= {None}
    assert calls[("nvmlDeviceGetTemperature", 0, -1)] == 3
    assert calls[("nvmlDeviceGetComputeRunningProcesses", 0, -1)] >= 2
    assert result.stderr.count("nvmlDeviceGetTemperature") <= 1  # logged once at most


def test_every_call_failing_still_records_the_run(xprof, store, tmp_path):
    """A device whose every per-sample call fails gives rows of NULLs, and the run succeeds."""
    failing = {name: "Unknown" for name in (
        "nvmlDeviceGetUtilizationRates", "nvmlDeviceGetMemoryInfo", "nvmlDeviceGetPowerUsage",
        "nvmlDeviceGetEnforcedPowerLimit", "nvmlDeviceGetTemperature", "nvmlDeviceGetClockInfo",
        "nvmlDeviceGetTotalEnergyConsumption", "nvmlDeviceGetComputeRunningProcesses",
        "nvmlDeviceGetGraphicsRunningProcesses")}
    _, rows, _ = run_and_read(xprof, store, tmp_path, {"devices": [a100(fail=failing), a100()]})

    broken = rows[(0, -1)]
    assert broken and {r["util_gpu_pct"] for r in broken} == {None}
    assert {r["mem_used_bytes"] for r in broken} == {None}
    assert {r["run_mem_used_bytes"] for r in broken} == {None}  # unknown, not 0
    assert {r["uuid"] for r in broken} == {"GPU-00000000-0000-4000-8000-000000000000"}
    assert rows[(1, -1)][0]["temperature_c"] == 33.0
