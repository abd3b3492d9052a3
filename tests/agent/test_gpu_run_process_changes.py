"""GPU process lists that change during a run are re-read and re-matched every sample."""

from __future__ import annotations

from tests.agent.gpu_helpers import GIB, a100, by_target, fake_nvml_env, gpu_rows, only_run

# The run: sh (root) runs one sleep, then another: a new pid half way through.
COMMAND = ["sh", "-c", "sleep 1.2; sleep 1.2"]


def test_process_list_changes(xprof, store, tmp_path):
    """The root moves from GPU 0 to GPU 1 at 1 s; each sleeping child is matched on GPU 2."""
    devices = [
        a100(processes=[{"pid": "$ROOT", "used_memory": 3 * GIB, "until": 1.0}]),
        a100(processes=[{"pid": "$ROOT", "used_memory": 5 * GIB, "from": 1.0}]),
        a100(processes=[{"pid": "$CHILD:0", "used_memory": GIB}]),
        a100(),
    ]
    result = xprof("run", "--quiet", "--interval", "0.1", "--", *COMMAND,
                   env=fake_nvml_env(tmp_path, {"devices": devices}))
    assert result.returncode == 0, result.stderr
    run = only_run(store, result)
    rows = by_target(gpu_rows(store, run["id"]))
    assert run["hardware"]["gpus_used"] == [0, 1, 2]

    on_0 = [r["ts"] for r in rows[(0, -1)] if r["used_by_run"]]
    on_1 = [r["ts"] for r in rows[(1, -1)] if r["used_by_run"]]
    assert on_0 and on_1 and max(on_0) <= min(on_1)  # (one sample may straddle the move)
    later_0 = [r for r in rows[(0, -1)] if r["ts"] > max(on_0)]
    assert later_0 and {r["run_mem_used_bytes"] for r in later_0} == {0}
    assert {r["run_mem_used_bytes"] for r in rows[(1, -1)] if r["used_by_run"]} == {5 * GIB}

    start, end = rows[(2, -1)][0]["ts"], rows[(2, -1)][-1]["ts"]
    on_2 = [r["ts"] for r in rows[(2, -1)] if r["used_by_run"]]
    middle = (start + end) / 2
    assert any(ts < middle - 0.3 for ts in on_2) and any(ts > middle + 0.3 for ts in on_2)
    assert not any(r["used_by_run"] for r in rows[(3, -1)])
