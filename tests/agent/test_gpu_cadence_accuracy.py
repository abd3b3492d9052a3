"""What the cadenced GPU sampler stores is what the every-sample sampler stores, where it
counts: util p50/p95, memory peaks, the run's memory and energy (fake NVML, pinned clock);
energy between counter reads; static facts re-read when the device changed."""

from __future__ import annotations

import pytest

from tests.agent.gpu_helpers import (
    A100_BYTES,
    GIB,
    a100,
    load_fake_nvml,
    reap,
    sample_pinned,
    spawn_tree,
    tree_pids,
)
from xprof.agent.energy import J_PER_KWH, EnergyMeter, gpu_energy_from_rows
from xprof.agent.gpu_cadence import GpuCadence
from xprof.agent.gpu_sampler import GpuSampler
from xprof.records import as_row
from xprof.stats import percentile

FOREIGN = 3_999_999
SECONDS = 600


@pytest.fixture
def tree():
    proc = spawn_tree()
    yield proc
    reap(proc)


def figures(rows: list[dict]) -> dict[str, float | None]:
    """The issue's figures of each target: util p50/p95, memory peak, run memory peak; and
    each GPU's energy."""
    out: dict[str, float | None] = {}
    for key in sorted({(r["gpu_index"], r["mig_index"]) for r in rows}):
        own = [r for r in rows if (r["gpu_index"], r["mig_index"]) == key]
        util = [r["util_gpu_pct"] for r in own if r["util_gpu_pct"] is not None]
        out[f"{key} util p50"] = percentile(util, 50) if util else None
        out[f"{key} util p95"] = percentile(util, 95) if util else None
        out[f"{key} memory peak"] = max(r["mem_used_bytes"] for r in own)
        out[f"{key} run memory peak"] = max(r["run_mem_used_bytes"] or 0 for r in own)
        if key[1] == -1:
            out[f"{key} energy kWh"] = gpu_energy_from_rows(own, [key[0]])["energy_gpu_kwh"]
    return out


def both_policies(fake, pids, seconds: int = SECONDS) -> tuple[dict, dict]:
    """The every-sample and the cadenced sampler on one fake machine, interleaved at each
    pinned second (the last sample final): their figures."""
    flags = {"every": [False], "cadenced": [False]}
    samplers = {
        "every": GpuSampler.create(None, GpuCadence.every_sample(),
                                   final=lambda: flags["every"][0]),
        "cadenced": GpuSampler.create(None, GpuCadence(), final=lambda: flags["cadenced"][0])}
    rows: dict[str, list[dict]] = {"every": [], "cadenced": []}
    for t in range(seconds + 1):
        fake._set_clock(float(t))
        for name, sampler in samplers.items():
            flags[name][0] = t == seconds
            rows[name] += [as_row(r) for r in sampler.sample(1_000_000.0 + t, pids)]
    return figures(rows["every"]), figures(rows["cadenced"])


def assert_within_1_percent(every: dict, cadenced: dict) -> None:
    assert every.keys() == cadenced.keys()
    for name, value in every.items():
        if value is None:  # utilisation under MIG: NVML gives none
            assert "util" in name and cadenced[name] is None, name
        else:
            assert cadenced[name] == pytest.approx(value, rel=0.01), name


def power_series() -> list[list[float]]:
    """Power that moves within seconds, not only at samples (bursts of 0.6 s)."""
    series = [[0, 120_000]]
    for t in range(20, 400, 7):
        series += [[t + 0.2, 380_000], [t + 0.8, 250_000 if t > 200 else 120_000]]
    return series


def test_shared_gpus_store_the_same_figures(monkeypatch, tmp_path, tree):
    """GPU 0 shared with foreign jobs that come and go, the run's memory growing, utilisation
    and power moving; GPU 1 a foreign job's: every figure within 1 % (here: equal)."""
    run = tree.pid
    fake = load_fake_nvml(monkeypatch, tmp_path, {"devices": [
        a100(util_gpu=[[0, 20], [7, 85], [33, 95], [61, 40], [90, 88], [140, 10], [300, 97]],
             power_mw=power_series(), processes=[
                 {"pid": run, "used_memory": 4 * GIB, "sm_util": 40, "until": 50},
                 {"pid": run, "used_memory": 6 * GIB, "sm_util": 60, "from": 50},
                 {"pid": FOREIGN, "used_memory": GIB, "sm_util": 30},
                 {"pid": FOREIGN + 1, "used_memory": 2 * GIB, "sm_util": 20,
                  "from": 80, "until": 130}]),
        a100(util_gpu=[[0, 60], [200, 5]], power_mw=[[0, 300_000], [200, 90_000]],
             processes=[{"pid": FOREIGN + 2, "used_memory": 9 * GIB, "sm_util": 60}])]})
    every, cadenced = both_policies(fake, tree_pids(tree))
    assert_within_1_percent(every, cadenced)
    assert every["(0, -1) run memory peak"] == 6 * GIB
    assert every["(0, -1) memory peak"] == 9 * GIB  # 6 + 1 + 2 while the second job ran


def test_mig_gpus_store_the_same_figures(monkeypatch, tmp_path, tree):
    """A GPU in MIG mode, 3 instances: the run's on instance 0 growing at 40 s, a foreign
    job on instance 1 from 100 s to 250 s, instance 2 moving on its own; a whole GPU beside
    it: every figure within 1 % (here: equal)."""
    run = tree.pid
    fake = load_fake_nvml(monkeypatch, tmp_path, {"devices": [
        a100(power_mw=power_series(), mig=[
            {"memory_total": 20 * GIB, "processes": [
                {"pid": run, "used_memory": 2 * GIB, "until": 40},
                {"pid": run, "used_memory": 5 * GIB, "from": 40}]},
            {"memory_total": 20 * GIB, "processes": [
                {"pid": FOREIGN, "used_memory": 3 * GIB, "from": 100, "until": 250}]},
            {"memory_total": 20 * GIB, "memory_used": [[0, GIB], [333, 4 * GIB],
                                                       [334, GIB]]}]),
        a100(util_gpu=[[0, 30], [10, 90]], processes=[
            {"pid": run, "used_memory": 7 * GIB, "sm_util": 90}])]})
    every, cadenced = both_policies(fake, tree_pids(tree))
    assert_within_1_percent(every, cadenced)
    assert every["(0, 0) run memory peak"] == every["(0, -1) run memory peak"] == 5 * GIB
    assert every["(0, 2) memory peak"] == 4 * GIB  # a one-second peak, seen by both
    assert every["(0, -1) memory peak"] == 9 * GIB  # 5 + 3 + 1, and 5 + 4 at 333 s


def test_energy_between_counter_reads_integrates_power(monkeypatch, tmp_path, tree):
    """Energy counter read at 0 and 120 s (its cadence); at 200 s, mid-run or with the agent
    killed, the run's energy is the counter up to 120 s plus power integrated since: the true
    energy of the scenario, short 0.6 s bursts included (power samples alone miss them)."""
    bursts = [[0, 100_000]]
    for t in range(10, 40):  # 30 bursts of 500 W for 0.6 s, between two samples
        bursts += [[t + 0.2, 500_000], [t + 0.8, 100_000]]
    bursts += [[130.5, 250_000], [170.5, 100_000]]
    fake = load_fake_nvml(monkeypatch, tmp_path, {"devices": [a100(
        power_mw=bursts, processes=[{"pid": tree.pid, "used_memory": GIB}])]})
    sampler = GpuSampler.create(None, GpuCadence())
    pids = tree_pids(tree)
    samples, calls = sample_pinned(fake, sampler, lambda t: pids, 200)
    assert calls["nvmlDeviceGetTotalEnergyConsumption"] == 2  # 0 and 120 s
    true_j = 100 * 200 + 400 * 0.6 * 30 + 150 * 40  # 33,200 J
    meter = EnergyMeter(powercap_dir=str(tmp_path / "no-rapl"))  # what a running agent keeps
    for sample in samples:
        for row in sample:
            meter.add_gpu(as_row(row))
    live = meter.summary()
    assert live["energy_gpu_kwh"] * J_PER_KWH == pytest.approx(true_j, abs=0.01)  # mJ counter
    assert live["energy_method"] == "estimated"  # the counter covers 120 of 200 s
    power_only = gpu_energy_from_rows(
        [{**as_row(r), "energy_j": None} for s in samples for r in s])
    assert power_only["energy_gpu_kwh"] * J_PER_KWH == pytest.approx(26_000)  # bursts missed


def test_static_facts_reread_when_the_device_changed(monkeypatch, tmp_path, tree, caplog):
    """GPU 0: its power limit lowered at 50 s, MIG mode on from 100 s to 150 s: seen at the
    slow re-checks (every 60 s here): 300 W from 60 s, MIG instances from 120 s (re-discovered),
    whole again (utilisation back) from 180 s. GPU 1: its memory total changes at 30 s (with
    its power limit at 25 s): static facts re-read at once, at 30 s."""
    fake = load_fake_nvml(monkeypatch, tmp_path, {"devices": [
        a100(util_gpu=50, power_limit_mw=[[0, 400_000], [50, 300_000]], mig_from=100,
             mig_until=150, mig=[{"memory_total": 40 * GIB, "memory_idle": GIB}] * 2),
        a100(memory_total=[[0, A100_BYTES], [30, A100_BYTES - GIB]], mig_capable=True,
             power_limit_mw=[[0, 400_000], [25, 350_000]])]})
    sampler = GpuSampler.create(None, GpuCadence(static_s=60.0))
    pids = tree_pids(tree)
    caplog.set_level("INFO", logger="xprof.agent.gpu_sampler")
    samples, _ = sample_pinned(fake, sampler, lambda t: pids, 200)

    def at(gpu: int, mig: int = -1) -> list:
        return [next((r for r in s if (r.gpu_index, r.mig_index) == (gpu, mig)), None)
                for s in samples]

    assert [r.power_limit_w for r in at(0)] == [400.0] * 60 + [300.0] * 141
    assert [t for t, r in enumerate(at(0, 0)) if r is not None] == list(range(120, 180))
    assert [t for t, r in enumerate(at(0)) if r.util_gpu_pct is not None] == \
        list(range(100)) + list(range(180, 201))
    migmode = {(g, m): n for (f, g, m), n in fake._calls.items() if f == "nvmlDeviceGetMigMode"}
    # discovery, re-checks at 60, 120, 180 s, and describing it afresh at 120 and 180 s
    assert migmode[(0, -1)] == 1 + 3 + 2
    assert [r.power_limit_w for r in at(1)] == [400.0] * 30 + [350.0] * 171
    assert [r.mem_total_bytes for r in at(1)][29:31] == [A100_BYTES, A100_BYTES - GIB]
    assert migmode[(1, -1)] == 1 + 1 + 2  # discovery, the change at 30 s, then 90 and 150 s
    assert "GPU 0: MIG mode is now on (2 instances)" in caplog.text
    assert "GPU 0: MIG mode is now off" in caplog.text
    assert [d["mig_mode"] for d in sampler.hardware()["gpus"]] == [False, False]
