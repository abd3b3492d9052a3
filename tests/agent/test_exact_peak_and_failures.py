"""Exact peak memory (the kernel's per-process high-water mark beside the tree's sampled
peak) and failed processes of the tree (workers that exit non-zero or by a signal while the
command itself exits 0), through real `xprof run` subprocesses."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from xprof.agent.proc_readers import ExitWatch
from xprof.agent.proc_tree import ProcessTree

PY = sys.executable
MB = 1024 * 1024
BURST = textwrap.dedent("""\
    import subprocess, sys, time
    time.sleep(0.3)
    # a child that touches 300 MB and exits at once: between two samples
    subprocess.run([sys.executable, "-c",
                    "b = bytearray(300 * 1024 * 1024)\\n"
                    "for i in range(0, len(b), 4096): b[i] = 1\\n"], check=True)
    time.sleep(1.0)
""")
WORKERS = textwrap.dedent("""\
    import multiprocessing as mp, time

    def work(n):
        time.sleep(1.5)  # some work first: the agent sees a process of one sample or more
        raise RuntimeError(f"worker {n} gave up")

    if __name__ == "__main__":
        workers = [mp.Process(target=work, args=(n,)) for n in range(2)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        time.sleep(0.5)
        print("main done")
""")
needs_exit_info = pytest.mark.skipif(
    not ExitWatch(1).available,
    reason="the kernel keeps no exit status of a reaped process for a pidfd (Linux < 6.15); "
           "only exits a sample sees as zombies are recorded there")


def _summary(store) -> dict:
    [run] = store.list_runs()
    return run


def test_exact_peak_catches_a_burst_between_samples(xprof, store, tmp_path):
    """A child holds 300 MB for a fraction of a second between two samples (5 s apart): the
    sampled tree peak misses it, the exact per-process peak (ru_maxrss through the root's
    wait4) has it; summary, store and `xprof show` label both."""
    script = tmp_path / "burst.py"
    script.write_text(BURST)
    result = xprof("run", "--interval", "5", "--", PY, str(script))
    assert result.returncode == 0, result.stderr
    run = _summary(store)
    summary = run["summary"]
    assert summary["rss_peak_process_bytes"] >= 300 * MB
    assert summary["rss_peak_bytes"] < 300 * MB  # the 1-in-5 s sample did not see it
    assert run["peak_rss_bytes"] == summary["rss_peak_bytes"]
    exact = summary["rss_peak_process_bytes"] / MB
    assert f"memory   peak {exact:.1f} MiB in one process (exact) · " in result.stderr
    assert "whole tree (sampled)" in result.stderr
    shown = xprof("show", run["id"][:8])
    assert f"memory     peak {exact:.1f} MiB in one process (exact) · " in shown.stdout


def test_exact_peak_of_a_small_command_is_its_own(xprof, store, tmp_path):
    """A 10 MB command run ten times from a git work tree (the agent starts its git helper
    beside it): its exact peak is its own high-water mark, never the agent's ~30 MB image
    that the kernel folds into the child's ru_maxrss at the exec, nor a helper of the agent
    taken for one of the run's processes."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    code = ("print([l.split()[1] for l in open('/proc/self/status') "
            "if l.startswith('VmHWM')][0])")
    own = []
    for _ in range(10):
        result = xprof("run", "--quiet", "--interval", "0.05", "--", PY, "-c", code,
                       cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        own.append(int(result.stdout) * 1024)
    runs = store.list_runs()
    assert len(runs) == 10
    for run in runs:
        exact = run["summary"].get("rss_peak_process_bytes")
        assert exact is None or exact <= max(own) * 1.1 + MB, (exact, own)


def test_high_water_mark_of_a_live_process(tmp_path):
    """VmHWM read while sampling: a process that touched 300 MB and freed it reads its peak,
    though no sample saw the 300 MB and nothing was reaped."""
    ready = tmp_path / "ready"
    code = ("import sys, time\nb = bytearray(300 * 1024 * 1024)\n"
            "for i in range(0, len(b), 4096): b[i] = 1\n"
            f"del b\nopen({str(ready)!r}, 'w').close()\ntime.sleep(30)\n")
    proc = subprocess.Popen([PY, "-c", code])
    try:
        tree = ProcessTree(proc.pid)
        deadline = time.monotonic() + 30
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        sample = tree.measure(time.time())
        assert sample.rss_bytes < 100 * MB  # freed: the sample reads what is resident now
        assert tree.exits_summary()["rss_peak_process_bytes"] >= 300 * MB
        tree.close()
    finally:
        proc.kill()
        proc.wait()


@needs_exit_info
def test_failing_workers_are_reported(xprof, store, tmp_path):
    """Two multiprocessing workers raise after 1.5 s of work, the main process exits 0: the
    run is finished (exit 0), its summary warns of 2 failed processes; `xprof show` lists
    both."""
    script = tmp_path / "workers.py"
    script.write_text(WORKERS)
    result = xprof("run", "--", PY, str(script))
    assert result.returncode == 0, result.stderr
    assert "finished (exit 0)" in result.stderr
    assert "warning  2 processes of the run failed: pid " in result.stderr
    assert result.stderr.count(" exit 1 (") == 2
    run = _summary(store)
    summary = run["summary"]
    assert run["status"] == "finished"
    assert summary["failed_processes"] == 2
    assert [f["exit_code"] for f in summary["failed_process_list"]] == [1, 1]
    assert all(str(script) in " ".join(f["command"]) for f in summary["failed_process_list"])
    shown = xprof("show", run["id"][:8])
    assert "warning    2 processes of the run failed:" in shown.stdout
    pids = {f["pid"] for f in summary["failed_process_list"]}
    for pid in pids:
        assert f"pid {pid:<7} exit 1" in shown.stdout


@needs_exit_info
def test_a_child_killed_by_a_signal_is_reported(xprof, store):
    """A child that aborts (SIGABRT) under a main that carries on: one failed process,
    "signal 6"; a clean run has none and no warning."""
    code = ("import subprocess, sys\n"
            "subprocess.run([sys.executable, '-c', 'import os, time; time.sleep(1.5); "
            "os.abort()'])\n")
    result = xprof("run", "--name", "aborts", "--", PY, "-c", code)
    assert result.returncode == 0, result.stderr
    assert "1 process of the run failed: pid " in result.stderr
    assert " signal 6 (" in result.stderr
    clean = xprof("run", "--name", "clean", "--", PY, "-c",
                  "import subprocess, sys; subprocess.run([sys.executable, '-c', 'pass'])")
    assert clean.returncode == 0 and "failed" not in clean.stderr
    runs = {r["name"]: r["summary"] for r in store.list_runs()}
    assert runs["aborts"]["failed_processes"] == 1
    assert runs["aborts"]["failed_process_list"][0]["signal"] == 6
    assert runs["clean"]["failed_processes"] == 0


def test_agent_cleanup_is_not_a_failure(xprof, store):
    """A sleeper the command leaves behind is ended by the agent (SIGTERM) after the command
    exits: not a failed process."""
    code = ("import subprocess, sys\n"
            "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n")
    result = xprof("run", "--", PY, "-c", code, env={"XPROF_LEFTOVER_GRACE_S": "2"})
    assert result.returncode == 0, result.stderr
    assert _summary(store)["summary"]["failed_processes"] == 0
    assert "failed" not in result.stderr


@needs_exit_info
def test_failed_commands_are_redacted(xprof, store, xprof_home, tmp_path):
    """A failed worker started with `--api-key VALUE` (by a script file, so the value is in
    no other argv): its command is stored and printed with the value masked."""
    secret = "sekretV4lue99"
    script = tmp_path / "launcher.py"
    script.write_text("import subprocess, sys\n"
                      "subprocess.run([sys.executable, '-c', 'import sys, time; "
                      f"time.sleep(1.5); sys.exit(2)', '--api-key', {secret!r}])\n")
    result = xprof("run", "--", PY, str(script))
    assert result.returncode == 0, result.stderr
    assert "1 process of the run failed" in result.stderr and secret not in result.stderr
    [failed] = _summary(store)["summary"]["failed_process_list"]
    assert failed["exit_code"] == 2 and failed["command"][-2:] == ["--api-key", "***"]
    assert secret.encode() not in (xprof_home / "xprof.db").read_bytes()
