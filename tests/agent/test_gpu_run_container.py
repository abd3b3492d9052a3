"""When NVML's PIDs are not the run's (containers, VMs), use is attributed by visible devices."""

from __future__ import annotations

from tests.agent.gpu_helpers import GIB, a100, by_target, fake_nvml_env, gpu_rows, only_run

HOST_PIDS = [3_999_990, 3_999_991, 3_999_992]  # the container's processes as the host sees them


def run_and_read(xprof, store, tmp_path, scenario: dict, visible: str):
    result = xprof("run", "--quiet", "--interval", "0.2", "--", "sleep", "1.2",
                   env={**fake_nvml_env(tmp_path, scenario), "CUDA_VISIBLE_DEVICES": visible})
    assert result.returncode == 0, result.stderr
    run = only_run(store, result)
    return run, by_target(gpu_rows(store, run["id"]))


def test_host_pids_on_visible_devices(xprof, store, tmp_path):
    """Foreign PIDs on the devices CUDA_VISIBLE_DEVICES names: those devices are the run's."""
    devices = [a100(processes=[{"pid": HOST_PIDS[0], "used_memory": 9 * GIB}]),  # not visible
               a100(util_gpu=90, processes=[{"pid": HOST_PIDS[1], "used_memory": 6 * GIB,
                                             "sm_util": 88}]),
               a100(),
               a100(util_gpu=70, processes=[{"pid": HOST_PIDS[2], "used_memory": 2 * GIB}])]
    run, rows = run_and_read(xprof, store, tmp_path, {"devices": devices}, visible="1,3")

    assert run["hardware"]["gpus_used"] == [1, 3]
    for index, memory in ((1, 6 * GIB), (3, 2 * GIB)):
        assert {(r["used_by_run"], r["attribution"]) for r in rows[(index, -1)]} == {
            (True, "visible-devices")}
        assert {r["run_mem_used_bytes"] for r in rows[(index, -1)]} == {memory}
    # one process alone on the device: its SM utilisation is the device's (no per-process call)
    assert {r["run_sm_util_pct"] for r in rows[(1, -1)]} == {90.0}
    for index in (0, 2):
        assert {r["used_by_run"] for r in rows[(index, -1)]} == {False}
        assert {r["run_mem_used_bytes"] for r in rows[(index, -1)]} == {0}


def test_vm_without_process_lists_by_uuid(xprof, store, tmp_path):
    """No process listed, device memory rising on the GPU named by UUID: the run's, by memory."""
    uuid = "GPU-5d1a0c7e-1111-2222-3333-444455556666"
    devices = [a100(memory_used=[[0, 600 * 2**20]]),
               a100(uuid=uuid, util_gpu=[[0, 0], [0.4, 95]],
                    memory_used=[[0, 500 * 2**20], [0.4, 500 * 2**20 + 12 * GIB]])]
    run, rows = run_and_read(xprof, store, tmp_path, {"devices": devices}, visible=uuid[:12])

    assert run["hardware"]["gpus_used"] == [1]
    used = [r for r in rows[(1, -1)] if r["used_by_run"]]
    assert len(used) >= 3
    assert {r["attribution"] for r in used} == {"visible-devices"}
    assert {r["run_mem_used_bytes"] for r in used} == {12 * GIB}  # beyond the start figure
    assert {r["run_sm_util_pct"] for r in used} == {None}  # no process listed: unknown
    assert 95.0 in {r["util_gpu_pct"] for r in used}
    assert {r["used_by_run"] for r in rows[(0, -1)]} == {False}


def test_pid_match_wins_over_visible_devices(xprof, store, tmp_path):
    """With a run pid in NVML's lists, attribution is by pid even when the variable is set."""
    devices = [a100(processes=[{"pid": "$ROOT", "used_memory": GIB}]),
               a100(processes=[{"pid": HOST_PIDS[1], "used_memory": 6 * GIB}])]
    run, rows = run_and_read(xprof, store, tmp_path, {"devices": devices}, visible="0,1")

    assert run["hardware"]["gpus_used"] == [0]
    assert {r["attribution"] for r in rows[(1, -1)]} == {"pid"}
    assert {r["used_by_run"] for r in rows[(1, -1)]} == {False}
