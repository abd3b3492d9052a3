"""Each NVML figure is asked on its own cadence: the calls per sample are counted, not timed."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.agent.gpu_helpers import (
    GIB,
    a100,
    load_fake_nvml,
    reap,
    sample_pinned,
    spawn_tree,
    tree_pids,
)
from xprof.agent.gpu_cadence import GpuCadence
from xprof.agent.gpu_sampler import GpuSampler

FOREIGN = 3_999_999
SECONDS = 180  # samples at t = 0, 1, ..., 180 s


@pytest.fixture
def tree():
    proc = spawn_tree()
    yield proc
    reap(proc)


def sample_run(fake, sampler: GpuSampler, pids_at, seconds: int = SECONDS,
               final_at: int | None = None, flag: list | None = None) -> tuple[list, Counter]:
    """Samples at whole seconds (the fake's clock pinned to them); NVML calls by function."""
    before = Counter({f: n for (f, g, m), n in fake._calls.items() if g == 0})
    rows = []
    for t in range(seconds + 1):
        fake._set_clock(float(t))
        if flag is not None:
            flag[0] = t == final_at
        rows.append(sampler.sample(1_000_000.0 + t, pids_at(t))[0])
    after = Counter({f: n for (f, g, m), n in fake._calls.items() if g == 0})
    return rows, after - before


def test_one_process_alone_reads_costly_figures_on_their_cadences(monkeypatch, tmp_path, tree):
    """181 samples of a GPU the run's one process has to itself: utilisation, memory and power
    every sample; energy at 0, 120 s and the last sample; temperature and clock every 30 s;
    process lists every 60 s (graphics once); power limit once; no per-process utilisation."""
    fake = load_fake_nvml(monkeypatch, tmp_path, {"devices": [a100(util_gpu=77, processes=[
        {"pid": tree.pid, "used_memory": 2 * GIB, "sm_util": 77}])]})
    final = [False]
    sampler = GpuSampler.create(None, GpuCadence(), final=lambda: final[0])
    pids = tree_pids(tree)
    rows, calls = sample_run(fake, sampler, lambda t: pids, final_at=SECONDS, flag=final)
    n = SECONDS + 1
    assert calls["nvmlDeviceGetUtilizationRates"] == n
    assert calls["nvmlDeviceGetMemoryInfo"] == n
    assert calls["nvmlDeviceGetPowerUsage"] == n
    assert calls["nvmlDeviceGetTotalEnergyConsumption"] == 3
    assert [t for t, r in enumerate(rows) if r.energy_j is not None] == [0, 120, 180]
    assert calls["nvmlDeviceGetTemperature"] == calls["nvmlDeviceGetClockInfo"] == 7
    assert [t for t, r in enumerate(rows) if r.temperature_c is not None] == list(
        range(0, 181, 30))
    assert calls["nvmlDeviceGetComputeRunningProcesses"] == 4  # 0, 60, 120, 180 s
    assert calls["nvmlDeviceGetGraphicsRunningProcesses"] == 1
    assert calls["nvmlDeviceGetEnforcedPowerLimit"] == 1
    assert {r.power_limit_w for r in rows} == {400.0}
    assert calls["nvmlDeviceGetProcessUtilization"] == 0
    assert {r.run_sm_util_pct for r in rows} == {77.0}  # the device's: the process is alone
    assert {r.run_mem_used_bytes for r in rows} == {2 * GIB}
    assert all(r.used_by_run for r in rows)


def test_old_policy_asks_everything_every_sample(monkeypatch, tmp_path, tree):
    """The every-sample policy (the benchmark's reference) makes all ten calls each sample."""
    fake = load_fake_nvml(monkeypatch, tmp_path, {"devices": [a100(processes=[
        {"pid": tree.pid, "used_memory": GIB, "sm_util": 50}])]})
    sampler = GpuSampler.create(None, GpuCadence.every_sample())
    pids = tree_pids(tree)
    _, calls = sample_run(fake, sampler, lambda t: pids, seconds=9)
    assert {f: calls[f] for f in calls if f.startswith("nvmlDeviceGet")} == {
        f: 10 for f in ("nvmlDeviceGetUtilizationRates", "nvmlDeviceGetMemoryInfo",
                        "nvmlDeviceGetPowerUsage", "nvmlDeviceGetEnforcedPowerLimit",
                        "nvmlDeviceGetTemperature", "nvmlDeviceGetClockInfo",
                        "nvmlDeviceGetTotalEnergyConsumption",
                        "nvmlDeviceGetComputeRunningProcesses",
                        "nvmlDeviceGetGraphicsRunningProcesses",
                        "nvmlDeviceGetProcessUtilization")}


def test_process_list_at_once_when_the_tree_changes(monkeypatch, tmp_path, tree):
    """A new pid in the run's tree at 10 s and 25 s: the lists are read at those samples too."""
    fake = load_fake_nvml(monkeypatch, tmp_path, {"devices": [a100(processes=[
        {"pid": tree.pid, "used_memory": GIB}])]})
    sampler = GpuSampler.create(None, GpuCadence())
    base = tree_pids(tree)
    def pids_at(t: int) -> frozenset[int]:
        return base | ({1} if t >= 10 else set()) | ({2} if t >= 25 else set())

    _, calls = sample_run(fake, sampler, pids_at, seconds=59)
    assert calls["nvmlDeviceGetComputeRunningProcesses"] == 3  # 0, 10 and 25 s


def test_memory_move_reads_the_list_and_attributes_at_once(monkeypatch, tmp_path, tree):
    """The run's process creates its CUDA context at 7 s (3 GiB appears, the tree unchanged):
    the list is read at that sample and the device is the run's from then on."""
    fake = load_fake_nvml(monkeypatch, tmp_path, {"devices": [a100(processes=[
        {"pid": tree.pid, "used_memory": 3 * GIB, "from": 7.0}])]})
    sampler = GpuSampler.create(None, GpuCadence())
    pids = tree_pids(tree)
    rows, calls = sample_run(fake, sampler, lambda t: pids, seconds=20)
    assert [r.used_by_run for r in rows] == [False] * 7 + [True] * 14
    assert {r.run_mem_used_bytes for r in rows[7:]} == {3 * GIB}
    assert calls["nvmlDeviceGetComputeRunningProcesses"] == 2  # 0 s, and 7 s (memory moved)


def test_run_memory_follows_the_device_between_lists(monkeypatch, tmp_path, tree):
    """Between two lists, what the run's lone process allocates (+16 MiB at 5 s, below the
    re-list threshold) shows in its memory at once, as the device's memory used."""
    fake = load_fake_nvml(monkeypatch, tmp_path, {"devices": [a100(
        memory_used=[[0, 2 * GIB], [5, 2 * GIB + 16 * 2**20]],
        processes=[{"pid": tree.pid, "used_memory": 2 * GIB}])]})
    sampler = GpuSampler.create(None, GpuCadence())
    pids = tree_pids(tree)
    rows, calls = sample_run(fake, sampler, lambda t: pids, seconds=9)
    assert [r.run_mem_used_bytes for r in rows] == [2 * GIB] * 5 + [2 * GIB + 16 * 2**20] * 5
    assert calls["nvmlDeviceGetComputeRunningProcesses"] == 1


def test_shared_device_reads_per_process_utilisation_when_it_may_have_changed(
        monkeypatch, tmp_path, tree):
    """A foreign process beside the run's: per-process utilisation at the first sample, when
    the device's utilisation moved 10 points or more (130 s), when its processes changed (a
    second foreign job at 150 s, seen at once as its memory moves the device's; read at
    250 s, 2 min after the last read) and every 300 s (550 s); NULL in between. Graphics
    lists: at every list once one was seen."""
    fake = load_fake_nvml(monkeypatch, tmp_path, {"devices": [a100(
        util_gpu=[[0, 90], [130, 50]], processes=[
            {"pid": tree.pid, "used_memory": GIB, "sm_util": 60},
            {"pid": FOREIGN, "used_memory": GIB, "sm_util": 30, "type": "graphics"},
            {"pid": FOREIGN + 1, "used_memory": 2 * GIB, "sm_util": 20, "from": 150}])]})
    sampler = GpuSampler.create(None, GpuCadence())
    pids = tree_pids(tree)
    rows, calls = sample_run(fake, sampler, lambda t: pids, seconds=579)
    assert calls["nvmlDeviceGetProcessUtilization"] == 4
    assert [t for t, r in enumerate(rows) if r.run_sm_util_pct is not None] == [0, 130, 250,
                                                                                 550]
    assert {r.run_sm_util_pct for r in rows} == {60.0, None}  # the run's own share
    lists = [0, 60, 120, 150, *range(210, 580, 60)]  # cadence, and the move at 150 s
    assert calls["nvmlDeviceGetComputeRunningProcesses"] == len(lists)
    assert calls["nvmlDeviceGetGraphicsRunningProcesses"] == len(lists)


def test_swinging_utilisation_reads_per_process_at_most_every_2_min(monkeypatch, tmp_path,
                                                                   tree):
    """A shared device whose utilisation swings 40 <-> 90 % every 5 s: per-process
    utilisation is read again on the swing, but never sooner than 2 min after the last."""
    swings = [[t, 40 if (t // 5) % 2 == 0 else 90] for t in range(0, 600, 5)]
    fake = load_fake_nvml(monkeypatch, tmp_path, {"devices": [a100(util_gpu=swings, processes=[
        {"pid": tree.pid, "used_memory": GIB, "sm_util": 60},
        {"pid": FOREIGN, "used_memory": GIB, "sm_util": 30}])]})
    sampler = GpuSampler.create(None, GpuCadence())
    pids = tree_pids(tree)
    rows, calls = sample_run(fake, sampler, lambda t: pids, seconds=479)
    read = [t for t, r in enumerate(rows) if r.run_sm_util_pct is not None]
    assert read == [0, 125, 250, 375]  # the first swing 2 min or more after a read
    assert calls["nvmlDeviceGetProcessUtilization"] == len(read)


def test_mig_instance_memory_read_with_its_list_or_when_the_device_moves(monkeypatch,
                                                                        tmp_path, tree):
    """A GPU in MIG mode, 3 instances: the device's memory every sample; each instance's at
    its process list (0, 60, 120, 180 s) and when the device's memory moved (instance 1
    grows by 1 GiB at 45 s, which also lists its processes then: 0, 45, 105, 165 s): every
    instance row still shows its memory at every sample."""
    instance = {"memory_total": 20 * GIB, "memory_idle": GIB}
    grows = {"memory_total": 20 * GIB, "memory_used": [[0, 2 * GIB], [45, 3 * GIB]]}
    fake = load_fake_nvml(monkeypatch, tmp_path, {"devices": [a100(mig=[
        {**instance, "processes": [{"pid": tree.pid, "used_memory": GIB}]}, grows,
        instance])]})
    sampler = GpuSampler.create(None, GpuCadence())
    pids = tree_pids(tree)
    samples, _ = sample_pinned(fake, sampler, lambda t: pids, 180)
    memory_calls = {m: n for (f, g, m), n in fake._calls.items()
                    if f == "nvmlDeviceGetMemoryInfo" and g == 0}
    # discovery reads the device's memory once, each instance's twice (description, baseline)
    assert memory_calls == {-1: 1 + 181, 0: 2 + 5, 1: 2 + 4, 2: 2 + 5}
    by_mig = {m: [r.mem_used_bytes for s in samples for r in s if r.mig_index == m]
              for m in (0, 1, 2)}
    assert by_mig[0] == [2 * GIB] * 181  # idle GiB + the process's GiB
    assert by_mig[2] == [GIB] * 181
    assert by_mig[1] == [2 * GIB] * 45 + [3 * GIB] * 136
    assert [r.mem_used_bytes for s in samples for r in s if r.mig_index == -1] == \
        [5 * GIB] * 45 + [6 * GIB] * 136
    assert {r.run_mem_used_bytes for s in samples for r in s if r.mig_index == 0} == {GIB}


def test_cadences_are_settings():
    """gpu.*_interval_s settings set the cadence; absent ones keep the defaults."""
    from xprof.settings import Settings

    settings = Settings(env={"XPROF_GPU_ENERGY_INTERVAL": "60",
                             "XPROF_GPU_PROCESS_INTERVAL": "15"}, config={})
    assert GpuCadence.from_settings(settings) == GpuCadence(energy_s=60.0, process_s=15.0)
