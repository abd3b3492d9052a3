"""Under MIG, `xprof run` records the instances, keeps memory, and stores utilisation as NULL."""

from __future__ import annotations

from tests.agent.gpu_helpers import GIB, a100, by_target, fake_nvml_env, gpu_rows, only_run

MIG_UUIDS = ["MIG-4b3f27a0-8d2c-5b5e-9a5c-000000000000", None,
             "MIG-4b3f27a0-8d2c-5b5e-9a5c-000000000002"]


def scenario(run_on_instance: bool) -> dict:
    pid = "$ROOT" if run_on_instance else 3_999_999
    mig = [
        {"uuid": MIG_UUIDS[0], "name": "MIG 3g.40gb", "memory_total": 40 * GIB,
         "memory_idle": 13 * 2**20, "gpu_instance_id": 1,
         "processes": [{"pid": 3_999_998, "used_memory": 7 * GIB}]},
        None,  # an empty slot: NVML reports NotFound for it
        {"uuid": MIG_UUIDS[2], "name": "MIG 3g.40gb", "memory_total": 40 * GIB,
         "memory_idle": 13 * 2**20, "gpu_instance_id": 2,
         "processes": [{"pid": pid, "used_memory": 4 * GIB}]},
    ]
    return {"devices": [a100(uuid="GPU-4b3f27a0-8d2c-5b5e-9a5c-aaaaaaaaaaaa", mig=mig,
                             power_mw=250_000),
                        a100(util_gpu=55, mig_capable=True)]}


def run_and_read(xprof, store, tmp_path, scenario_: dict, env: dict | None = None):
    result = xprof("run", "--quiet", "--interval", "0.2", "--", "sleep", "1.5",
                   env={**fake_nvml_env(tmp_path, scenario_), **(env or {})})
    assert result.returncode == 0, result.stderr
    run = only_run(store, result)
    return run, by_target(gpu_rows(store, run["id"]))


def test_mig_instances_recorded_and_attributed(xprof, store, tmp_path):
    """Each MIG instance is a row with its memory; the run's instance is attributed by pid."""
    run, rows = run_and_read(xprof, store, tmp_path, scenario(run_on_instance=True))

    gpu0 = run["hardware"]["gpus"][0]
    assert gpu0["mig_mode"] is True
    assert gpu0["mig_instances"] == [
        {"mig_index": 0, "uuid": MIG_UUIDS[0], "memory_bytes": 40 * GIB},
        {"mig_index": 2, "uuid": MIG_UUIDS[2], "memory_bytes": 40 * GIB}]
    assert run["hardware"]["gpus"][1]["mig_mode"] is False
    assert run["hardware"]["gpus_used"] == [0]

    assert sorted(rows) == [(0, -1), (0, 0), (0, 2), (1, -1)]
    mig_rows = rows[(0, -1)] + rows[(0, 0)] + rows[(0, 2)]
    assert {r["util_gpu_pct"] for r in mig_rows} == {None}  # NVML gives none under MIG
    assert {r["util_mem_pct"] for r in mig_rows} == {None}
    assert {r["util_gpu_pct"] for r in rows[(1, -1)]} == {55.0}

    assert {r["uuid"] for r in rows[(0, 2)]} == {MIG_UUIDS[2]}
    assert {r["mem_total_bytes"] for r in rows[(0, 2)]} == {40 * GIB}
    assert {r["power_w"] for r in rows[(0, 2)]} == {None}  # board figures: whole GPU only
    mine = [r for r in rows[(0, 2)] if r["used_by_run"]]  # (the last sample: child gone)
    assert len(mine) >= 3
    assert {r["attribution"] for r in mine} == {"pid"}
    assert {r["mem_used_bytes"] for r in mine} == {4 * GIB + 13 * 2**20}
    assert {r["run_mem_used_bytes"] for r in mine} == {4 * GIB}

    other = rows[(0, 0)]
    assert {(r["used_by_run"], r["run_mem_used_bytes"]) for r in other} == {(False, 0)}
    assert {r["mem_used_bytes"] for r in other} == {7 * GIB + 13 * 2**20}

    whole = [r for r in rows[(0, -1)] if r["used_by_run"]]
    assert len(whole) == len(mine)
    assert {r["mem_used_bytes"] for r in whole} == {11 * GIB + 26 * 2**20}
    assert {r["run_mem_used_bytes"] for r in whole} == {4 * GIB}
    assert {r["power_w"] for r in rows[(0, -1)]} == {250.0}


def test_mig_instance_named_by_cuda_visible_devices(xprof, store, tmp_path):
    """A MIG UUID in CUDA_VISIBLE_DEVICES attributes that instance when no pid matches."""
    run, rows = run_and_read(xprof, store, tmp_path, scenario(run_on_instance=False),
                             env={"CUDA_VISIBLE_DEVICES": MIG_UUIDS[2]})
    assert run["hardware"]["gpus_used"] == [0]
    assert {(r["used_by_run"], r["attribution"]) for r in rows[(0, 2)]} == {
        (True, "visible-devices")}
    assert {r["run_mem_used_bytes"] for r in rows[(0, 2)]} == {4 * GIB}
    assert {r["used_by_run"] for r in rows[(0, 0)]} == {False}
    assert {r["used_by_run"] for r in rows[(1, -1)]} == {False}
