"""Energy per run in kWh: NVML counters of the GPUs the run used (power integrated where a
counter is missing), CPU RAPL counters across wrap-arounds, marked measured or estimated."""

from __future__ import annotations

import pytest

import xprof
from tests.agent.gpu_helpers import GIB, a100, fake_nvml_env, load_fake_nvml, only_run
from tests.integrations.conftest import rows
from xprof.agent.energy import (
    J_PER_KWH,
    EnergyMeter,
    RaplCounter,
    energy_from_store,
    energy_line,
    gpu_energy_from_rows,
)

RUN_GPU = {"pid": "$AGENT", "used_memory": 2 * GIB}


def span_s(gpu_rows, index: int) -> float:
    times = [r["ts"] for r in gpu_rows if r["gpu_index"] == index and r["mig_index"] == -1]
    return max(times) - min(times)


def profile_on_fake_gpus(monkeypatch, tmp_path, devices, quiet=True):
    load_fake_nvml(monkeypatch, tmp_path, {"devices": devices})
    with xprof.profile(project="energy", interval=0.1, quiet=quiet) as run:
        import time

        time.sleep(1.2)
    return run


def test_counter_energy_of_used_gpu(store, monkeypatch, tmp_path, capsys):
    """A 250 W GPU the run used for T seconds: 250·T J as kWh, measured, and shown in the
    summary; the idle 100 W GPU beside it is not the run's."""
    run = profile_on_fake_gpus(monkeypatch, tmp_path, [
        a100(power_mw=250_000, processes=[RUN_GPU]), a100(power_mw=100_000)], quiet=False)
    assert "energy   " in capsys.readouterr().err
    summary = store.find_run(run.id)["summary"]
    expected = 250 * span_s(rows(store, "gpu_samples", run.id), 0) / J_PER_KWH
    assert summary["energy_gpu_kwh"] == pytest.approx(expected, rel=0.03)
    assert summary["energy_method"] == "measured"
    assert summary["energy_kwh"] == pytest.approx(summary["energy_gpu_kwh"]
                                                  + (summary["energy_cpu_kwh"] or 0))


def test_power_integrated_without_counter(store, monkeypatch, tmp_path):
    """Without the energy counter, power samples are integrated: the same kWh, estimated."""
    run = profile_on_fake_gpus(monkeypatch, tmp_path, [a100(
        power_mw=300_000, processes=[RUN_GPU],
        fail={"nvmlDeviceGetTotalEnergyConsumption": "NotSupported"})])
    summary = store.find_run(run.id)["summary"]
    gpu_rows = rows(store, "gpu_samples", run.id)
    assert {r["energy_j"] for r in gpu_rows} == {None}
    assert summary["energy_gpu_kwh"] == pytest.approx(300 * span_s(gpu_rows, 0) / J_PER_KWH,
                                                      rel=1e-9)
    assert summary["energy_method"] == "estimated"
    assert "estimated" in energy_line(summary)


def test_energy_of_a_run_recorded_by_xprof_run(xprof, store, tmp_path):
    """`xprof run` on the fake GPUs: the run's energy is there, from its summary or its
    stored GPU samples."""
    script = "import time; time.sleep(1.2)"
    result = xprof("run", "--quiet", "--interval", "0.1", "--", "python", "-c", script,
                   env=fake_nvml_env(tmp_path, {"devices": [a100(
                       power_mw=200_000, processes=[{"pid": "$ROOT", "used_memory": GIB}])]}))
    assert result.returncode == 0, result.stderr
    run = only_run(store, result)
    energy = energy_from_store(store, run["id"])
    expected = 200 * span_s(rows(store, "gpu_samples", run["id"]), 0) / J_PER_KWH
    assert energy["energy_gpu_kwh"] == pytest.approx(expected, rel=0.05)


def test_gpu_rows_arithmetic():
    """Counter increases are summed (a reset restarts the sum); used GPUs only; a GPU with
    neither counter nor power makes the GPU energy unknown."""
    samples = [  # ts, energy_j, power_w
        (0.0, 1000.0, 100.0), (1.0, 1100.0, 100.0), (2.0, 5.0, 100.0), (3.0, 105.0, 100.0)]
    used = [{"ts": t, "gpu_index": 0, "mig_index": -1, "energy_j": e, "power_w": p,
             "used_by_run": True} for t, e, p in samples]
    idle = [{**r, "gpu_index": 1, "used_by_run": False} for r in used]
    figures = gpu_energy_from_rows(used + idle)
    assert figures["energy_gpu_kwh"] == pytest.approx(200 / J_PER_KWH)  # 100 + (reset) + 100
    assert figures["energy_method"] == "measured"
    assert figures["energy_cpu_kwh"] is None
    blind = [{**r, "energy_j": None, "power_w": None} for r in used]
    assert gpu_energy_from_rows(blind)["energy_kwh"] is None
    assert gpu_energy_from_rows([])["energy_method"] is None


def write_rapl(root, name: str, energy_uj: int, max_uj: int = 1_000_000) -> None:
    zone = root / name
    zone.mkdir(parents=True, exist_ok=True)
    (zone / "energy_uj").write_text(f"{energy_uj}\n")
    (zone / "max_energy_range_uj").write_text(f"{max_uj}\n")
    (zone / "name").write_text("package-0\n")


def test_rapl_packages_across_wraparound(tmp_path):
    """Two packages' counters, one wrapping past its range, give the joules used; sub-zones
    (core, dram) are not counted twice."""
    write_rapl(tmp_path, "intel-rapl:0", 900_000)
    write_rapl(tmp_path, "intel-rapl:1", 100_000)
    write_rapl(tmp_path, "intel-rapl:0:0", 5)  # the core sub-zone of package 0
    counter = RaplCounter.open(str(tmp_path))
    assert counter is not None
    write_rapl(tmp_path, "intel-rapl:0", 950_000)   # +50 000 µJ
    write_rapl(tmp_path, "intel-rapl:1", 300_000)   # +200 000 µJ
    counter.sample()
    write_rapl(tmp_path, "intel-rapl:0", 49_999)    # wrapped: +100 000 µJ
    write_rapl(tmp_path, "intel-rapl:0:0", 999_999)
    counter.sample()
    assert counter.joules() == pytest.approx(0.35)
    counter.close()


def test_cpu_energy_measured_without_gpus(tmp_path):
    """With RAPL and no GPU, the run's energy is its CPU energy, measured."""
    write_rapl(tmp_path, "intel-rapl:0", 0, max_uj=10**12)
    meter = EnergyMeter(str(tmp_path))
    write_rapl(tmp_path, "intel-rapl:0", 36 * 10**9, max_uj=10**12)  # 36 kJ = 0.01 kWh
    meter.add_sample()
    figures = meter.summary()
    meter.close()
    assert figures == {"energy_kwh": pytest.approx(0.01), "energy_gpu_kwh": None,
                       "energy_cpu_kwh": pytest.approx(0.01), "energy_method": "measured"}
    assert energy_line(figures) == "0.01 kWh measured (CPU 0.01)"


def test_no_rapl_means_unknown_cpu(tmp_path):
    """No powercap folder (a VM, a laptop without RAPL): CPU energy unknown, not zero."""
    assert RaplCounter.open(str(tmp_path / "missing")) is None
    assert EnergyMeter(str(tmp_path / "missing")).summary()["energy_cpu_kwh"] is None
