"""Each NVML failure is contained to its metric and device, logged once, never raised."""

from __future__ import annotations

import logging
import time

import pytest

from tests.agent.gpu_helpers import GIB, a100, load_fake_nvml, reap, spawn_tree, tree_pids
from xprof.agent.gpu_cadence import GpuCadence
from xprof.agent.gpu_sampler import GpuSampler


def sample_n(sampler: GpuSampler, fake, n: int, pids: frozenset[int] = frozenset()) -> list:
    rows = []
    for i in range(n):
        fake._set_clock(0.5 * (i + 1))
        rows.append(sampler.sample(time.time(), pids))
    return rows


def calls(fake, function: str, gpu: int, mig: int = -1) -> int:
    return fake._calls[(function, gpu, mig)]


def test_not_supported_is_asked_once_per_device(monkeypatch, tmp_path):
    """Power NotSupported on GPU 1 is asked once there; GPU 0 is asked every sample."""
    fake = load_fake_nvml(monkeypatch, tmp_path, {"devices": [
        a100(), a100(fail={"nvmlDeviceGetPowerUsage": "NotSupported"})]})
    sampler = GpuSampler.create(None)
    assert sampler is not None
    samples = sample_n(sampler, fake, 5)
    assert [[r.power_w for r in s] for s in samples] == [[60.0, None]] * 5
    assert calls(fake, "nvmlDeviceGetPowerUsage", 0) == 5
    assert calls(fake, "nvmlDeviceGetPowerUsage", 1) == 1
    assert calls(fake, "nvmlInit", -1) == 1
    sampler.close()


def test_each_function_error_pair_logged_once(monkeypatch, tmp_path, caplog):
    """An error repeating on every device and sample gives one log line."""
    fake = load_fake_nvml(monkeypatch, tmp_path, {"devices": [
        a100(fail={"nvmlDeviceGetTemperature": "Unknown"}),
        a100(fail={"nvmlDeviceGetTemperature": "Unknown"})]})
    sampler = GpuSampler.create(None)
    with caplog.at_level(logging.DEBUG, logger="xprof.agent"):
        samples = sample_n(sampler, fake, 4)
    assert {r.temperature_c for s in samples for r in s} == {None}
    assert calls(fake, "nvmlDeviceGetTemperature", 0) == 4  # transient: asked every sample
    lines = [r for r in caplog.records if "nvmlDeviceGetTemperature" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelno == logging.WARNING


def test_function_not_found_is_dropped_everywhere(monkeypatch, tmp_path):
    """FunctionNotFound (an old driver) stops that call on every device."""
    missing = {"nvmlDeviceGetTotalEnergyConsumption": "FunctionNotFound"}
    fake = load_fake_nvml(monkeypatch, tmp_path, {"devices": [a100(fail=missing),
                                                               a100(fail=missing)]})
    sampler = GpuSampler.create(None)
    samples = sample_n(sampler, fake, 3)
    assert {r.energy_j for s in samples for r in s} == {None}
    assert calls(fake, "nvmlDeviceGetTotalEnergyConsumption", 0) + calls(
        fake, "nvmlDeviceGetTotalEnergyConsumption", 1) == 1


def test_binding_without_a_function(monkeypatch, tmp_path):
    """A pynvml lacking a function (older nvidia-ml-py) loses only that metric."""
    fake = load_fake_nvml(monkeypatch, tmp_path, {"devices": [a100(util_gpu=42)]})
    monkeypatch.delattr(fake, "nvmlDeviceGetTotalEnergyConsumption")
    sampler = GpuSampler.create(None)
    [[row]] = sample_n(sampler, fake, 1)
    assert (row.energy_j, row.util_gpu_pct, row.temperature_c) == (None, 42.0, 33.0)


def test_unexpected_exception_never_escapes(monkeypatch, tmp_path):
    """A call raising a non-NVML exception is contained like a transient error."""
    fake = load_fake_nvml(monkeypatch, tmp_path, {"devices": [a100(util_gpu=42)]})
    sampler = GpuSampler.create(None)

    def broken(handle):
        raise RuntimeError("ctypes went wrong")

    monkeypatch.setattr(fake, "nvmlDeviceGetUtilizationRates", broken)
    [[row]] = sample_n(sampler, fake, 1)
    assert (row.util_gpu_pct, row.mem_total_bytes) == (None, 85899345920)


@pytest.mark.parametrize("library", ["missing", "driver_not_loaded"])
def test_no_library_is_silent(monkeypatch, tmp_path, caplog, library):
    """NVML absent: create() is None with a single DEBUG line, nothing louder."""
    load_fake_nvml(monkeypatch, tmp_path, {"library": library})
    with caplog.at_level(logging.DEBUG, logger="xprof.agent"):
        assert GpuSampler.create("0") is None
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]


@pytest.fixture
def tree():
    proc = spawn_tree()
    yield proc
    reap(proc)


def test_process_utilisation_uses_last_seen(monkeypatch, tmp_path, tree):
    """Per-process SM util (a foreign process shares the device) asks only for samples newer
    than the last one it saw."""
    fake = load_fake_nvml(monkeypatch, tmp_path, {"devices": [a100(processes=[
        {"pid": tree.pid, "used_memory": GIB, "sm_util": 64},
        {"pid": 3_999_999, "used_memory": GIB, "sm_util": 20}])]})
    seen: list[tuple[int, list[int]]] = []
    real = fake.nvmlDeviceGetProcessUtilization

    def recording(handle, timeStamp):
        try:
            found = real(handle, timeStamp)
        except fake.NVMLError:
            seen.append((timeStamp, []))
            raise
        seen.append((timeStamp, [s.timeStamp for s in found]))
        return found

    monkeypatch.setattr(fake, "nvmlDeviceGetProcessUtilization", recording)
    sampler = GpuSampler.create(None, GpuCadence(process_util_s=0.0))
    before = int(time.time() * 1e6)
    fake._set_clock(1.0)
    first = sampler.sample(time.time(), tree_pids(tree))
    second = sampler.sample(time.time(), tree_pids(tree))  # clock not moved: nothing new
    fake._set_clock(2.0)
    third = sampler.sample(time.time(), tree_pids(tree))
    assert [s[0].run_sm_util_pct for s in (first, second, third)] == [64.0, 0.0, 64.0]
    assert before - 1_100_000 < seen[0][0] <= before - 900_000  # the first asks for 1 s back
    assert seen[1][0] == max(seen[0][1])  # then from the newest sample seen
    assert seen[2][0] == seen[1][0] and seen[2][1][0] > seen[2][0]
