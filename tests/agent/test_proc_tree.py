"""The process-tree sampler measures the whole tree of real processes: CPU of exited workers
and orphans included, peak memory, and a process it may not fully read.

Run as a script, this file is also a small stand-in agent (``agent``: a subreaper that launches
a command, samples and reaps it; ``observe``: samples a tree it did not start), so tests can
run the sampler in a process of its own, as a subreaper or as another user.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from xprof.agent.proc_tree import ProcessTree, become_subreaper, children_files_available
from xprof.records import as_row

PY = sys.executable
THIS = Path(__file__).resolve()

BURN = "def burn(s):\n    end = time.process_time() + s\n    while time.process_time() < end:\n" \
       "        pass\n"

WORKERS = textwrap.dedent("""
    import json, multiprocessing as mp, os, resource, sys, time
    {burn}
    if __name__ == "__main__":
        busy = [mp.Process(target=burn, args=(0.6,)) for _ in range(2)]
        for p in busy:
            p.start()
        time.sleep(0.3)
        short = mp.Process(target=burn, args=(0.3,))  # starts and ends between samples
        short.start()
        short.join()
        for p in busy:
            p.join()
        me = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
        with open(sys.argv[1] + ".tmp", "w") as fh:
            fh.write(json.dumps(cpu))
        os.rename(sys.argv[1] + ".tmp", sys.argv[1])
        time.sleep(0.6)
""").format(burn=BURN)

GRANDCHILD = textwrap.dedent("""
    import json, os, resource, sys, time
    {burn}
    burn(0.6)
    me = resource.getrusage(resource.RUSAGE_SELF)
    cpu = me.ru_utime + me.ru_stime
    open(sys.argv[1], "w").write(json.dumps({{"pid": os.getpid(), "cpu": cpu}}))
    time.sleep(0.5)
""").format(burn=BURN)

ORPHANING_PARENT = textwrap.dedent("""
    import json, os, resource, subprocess, sys, time
    subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]])
    time.sleep(float(sys.argv[4]))  # 0: orphaned at once; else long enough to be sampled
    me = resource.getrusage(resource.RUSAGE_SELF)
    open(sys.argv[3], "w").write(json.dumps(me.ru_utime + me.ru_stime))
    os._exit(0)  # leaves the grandchild an orphan
""")


def tree_row(tree: ProcessTree, ts: float) -> dict:
    """One sample of ``tree`` as a row (field name -> value)."""
    return as_row(tree.measure(ts))


def discovery_modes() -> list:
    reason = "this kernel has no /proc/PID/task/TID/children (CONFIG_PROC_CHILDREN)"
    return [pytest.param("children", marks=pytest.mark.skipif(
                not children_files_available(), reason=reason)),
            "scan", "psutil"]


def sample_until_exit(proc: subprocess.Popen, tree: ProcessTree, interval: float,
                      before=None) -> list[dict]:
    """The agent's loop: sample, reap the child with wait4, report its CPU, sample once more."""
    samples = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        extra = before() if before else {}
        samples.append({**tree_row(tree, time.time()), **extra, "pids": tree.pids()})
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            tree.add_reaped(usage.ru_utime + usage.ru_stime, pid)
            proc.returncode = os.waitstatus_to_exitcode(status)
            break
        time.sleep(interval)
    samples.append({**tree_row(tree, time.time()), "pids": tree.pids()})
    return samples


def assert_monotonic(samples: list[dict]) -> None:
    totals = [s["cpu_seconds_total"] for s in samples]
    assert all(t is not None for t in totals)
    assert totals == sorted(totals), totals


@pytest.mark.parametrize("discovery", discovery_modes())
def test_cpu_of_workers_and_a_short_lived_worker_matches_their_own_rusage(tmp_path, discovery):
    """CPU seconds of the tree (workers that exited included) are within 10 % of what the
    processes report for themselves, and never go down."""
    report = tmp_path / "cpu.json"
    proc = subprocess.Popen([PY, "-c", WORKERS, str(report)])
    tree = ProcessTree(proc.pid, self_pid=os.getpid(), discovery=discovery)
    samples = sample_until_exit(proc, tree, 0.25, before=lambda: {"reported": report.exists()})
    tree.close()
    own = json.loads(report.read_text())
    assert own > 1.3  # 2 × 0.6 + 0.3 burnt, plus start-up
    assert_monotonic(samples)
    assert max(s["processes"] for s in samples) >= 3
    after_report = next(s for s in samples if s.get("reported"))
    assert after_report["cpu_seconds_total"] == pytest.approx(own, rel=0.10)
    assert samples[-1]["cpu_seconds_total"] == pytest.approx(own, rel=0.10)
    assert samples[-1]["processes"] == 0 and samples[-1]["pids"] == frozenset()
    assert samples[0]["cpu_cores"] is None


def test_cpu_cores_add_up_to_cpu_seconds(tmp_path):
    """cpu_cores is the CPU used between two samples per second of the interval."""
    report = tmp_path / "cpu.json"
    proc = subprocess.Popen([PY, "-c", WORKERS, str(report)])
    tree = ProcessTree(proc.pid, self_pid=os.getpid())
    stamps: list[float] = []
    samples = []
    while True:
        ts = time.time()
        stamps.append(ts)
        samples.append(tree_row(tree, ts))
        pid, status, _usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            break
        time.sleep(0.2)
    tree.close()
    assert samples[0]["cpu_cores"] is None
    area = sum(s["cpu_cores"] * (t1 - t0)
               for s, t0, t1 in zip(samples[1:], stamps[:-1], stamps[1:], strict=True))
    assert area == pytest.approx(samples[-1]["cpu_seconds_total"]
                                 - samples[0]["cpu_seconds_total"], rel=1e-6)
    assert all(0 <= s["cpu_cores"] <= os.cpu_count() * 1.5 for s in samples[1:])


def test_peak_rss_of_a_500_mb_child_matches_its_own_max_rss():
    """A child that holds 500 MB: the sampled RSS sees the 500 MB, never more than the
    child's own high-water mark, and the exact peak equals that mark (its VmHWM, read by the
    child itself: ru_maxrss would also count the forked copy of this test process's memory
    before the exec) within 2 %."""
    code = ("import time\nb = b'x' * (500 * 2**20)\ntime.sleep(0.8)\n"
            "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0],"
            " flush=True)\ntime.sleep(0.5)")
    proc = subprocess.Popen([PY, "-c", code], stdout=subprocess.PIPE)
    tree = ProcessTree(proc.pid, self_pid=os.getpid())
    samples = sample_until_exit(proc, tree, 0.1)
    exact = tree.exits_summary()["rss_peak_process_bytes"]
    tree.close()
    max_rss = int(proc.stdout.read()) * 1024
    proc.stdout.close()
    peak = max(s["rss_bytes"] for s in samples)
    assert 500 * 2**20 <= peak <= max_rss * 1.02
    assert exact == pytest.approx(max_rss, rel=0.02)


@pytest.mark.parametrize("discovery", discovery_modes())
def test_orphan_is_counted_even_without_a_subreaper(tmp_path, discovery):
    """A grandchild whose parent exited (re-parented to init, reaped there) stays in the
    tree while it runs, and its CPU stays in the total after it is gone."""
    gc_report, mid_report = tmp_path / "gc.json", tmp_path / "mid.json"
    root_report = tmp_path / "root.json"
    root_code = "import json, os, resource, subprocess, sys, time\n" + BURN + textwrap.dedent(f"""
        subprocess.run([sys.executable, "-c", {ORPHANING_PARENT!r}, {GRANDCHILD!r},
                        {str(gc_report)!r}, {str(mid_report)!r}, "0.3"])
        while not os.path.exists({str(gc_report)!r}):
            time.sleep(0.02)
        time.sleep(1.0)  # the grandchild exits, init reaps it
        burn(0.4)  # work after the orphan is gone
        me = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # the middle process only
        open({str(root_report)!r}, "w").write(json.dumps(
            me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime))
        time.sleep(0.4)
    """)
    proc = subprocess.Popen([PY, "-c", root_code])
    tree = ProcessTree(proc.pid, self_pid=os.getpid(), discovery=discovery)
    samples = sample_until_exit(proc, tree, 0.05,
                                before=lambda: {"reported": root_report.exists()})
    tree.close()
    gc = json.loads(gc_report.read_text())
    expected = gc["cpu"] + json.loads(root_report.read_text())
    assert any(gc["pid"] in s["pids"] for s in samples)
    assert_monotonic(samples)
    after_report = next(s for s in samples if s.get("reported"))
    assert after_report["cpu_seconds_total"] == pytest.approx(expected, rel=0.10)


def test_total_never_goes_down_when_a_member_turns_out_to_be_a_helper(tmp_path):
    """A child of the agent counted before it was known to be a helper leaves the tree
    without taking CPU seconds back."""
    burnt = tmp_path / "burnt"
    root = subprocess.Popen([PY, "-c", "import time; time.sleep(5)"])
    helper = subprocess.Popen([PY, "-c", f"import sys, time\n{BURN}burn(0.4)\n"
                               "open(sys.argv[1], 'w').close()\ntime.sleep(5)", str(burnt)])
    helpers: set[int] = set()
    try:
        tree = ProcessTree(root.pid, self_pid=os.getpid(), ignore_pids=lambda: helpers)
        deadline = time.monotonic() + 30
        while not burnt.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        counted = tree_row(tree, time.time())
        assert helper.pid in tree.pids() and counted["cpu_seconds_total"] >= 0.4
        helpers.add(helper.pid)  # registered late, as a race with the sampler allows
        later = tree_row(tree, time.time())
        assert tree.pids() == {root.pid}
        assert later["processes"] == 1
        assert later["cpu_seconds_total"] == counted["cpu_seconds_total"]
        tree.close()
    finally:
        for p in (root, helper):
            p.kill()
            p.wait()


def test_orphan_reaped_by_a_subreaper_agent_is_counted(tmp_path):
    """With the agent as subreaper, an orphan re-parents to it; the CPU the agent reaps is
    counted, and the total matches what the processes report within 10 %."""
    gc_report, root_report = tmp_path / "gc.json", tmp_path / "root.json"
    out = subprocess.run([PY, str(THIS), "agent", "0.05", PY, "-c", ORPHANING_PARENT, GRANDCHILD,
                          str(gc_report), str(root_report), "0"], capture_output=True, text=True,
                         timeout=60, check=True)
    result = json.loads(out.stdout)
    assert result["subreaper"] is True
    gc = json.loads(gc_report.read_text())
    expected = gc["cpu"] + json.loads(root_report.read_text())
    samples = result["samples"]
    assert gc["pid"] in result["reaped"]  # the orphan came back to the agent
    assert any(gc["pid"] in s["pids"] and s["processes"] == 1 for s in samples)
    assert_monotonic(samples)
    assert samples[-1]["cpu_seconds_total"] == pytest.approx(expected, rel=0.10)


@pytest.mark.parametrize("discovery", discovery_modes())
def test_a_child_started_from_a_long_lived_thread_is_found(tmp_path, discovery):
    """A process forked by a thread other than the main one (started well before, so the
    thread count does not change) joins the tree while it runs."""
    pid_file = tmp_path / "worker.pid"
    worker = f"import os, sys, time\n{BURN}open(sys.argv[1], 'w').write(str(os.getpid()))\n" \
             "burn(0.8)\ntime.sleep(0.5)"
    code = textwrap.dedent(f"""
        import subprocess, sys, threading, time
        def spawn():
            time.sleep(0.5)
            subprocess.run([sys.executable, "-c", {worker!r}, {str(pid_file)!r}])
        thread = threading.Thread(target=spawn)
        thread.start()
        thread.join()
    """)
    proc = subprocess.Popen([PY, "-c", code])
    tree = ProcessTree(proc.pid, self_pid=os.getpid(), discovery=discovery)
    samples = sample_until_exit(proc, tree, 0.05)
    tree.close()
    worker_pid = int(pid_file.read_text())
    assert any(worker_pid in s["pids"] for s in samples)
    assert max(s["processes"] for s in samples) == 2
    assert_monotonic(samples)


def test_processes_starting_and_ending_fast_never_break_a_sample():
    """A tree that churns out short processes gives a full sample every time."""
    code = "import subprocess\nfor _ in range(150):\n    subprocess.run(['true'])"
    proc = subprocess.Popen([PY, "-c", code])
    tree = ProcessTree(proc.pid, self_pid=os.getpid())
    samples = sample_until_exit(proc, tree, 0.002)
    tree.close()
    assert len(samples) > 20
    assert_monotonic(samples)
    assert all(None not in s.values() for s in samples[1:])
    live = [s for s in samples if s["processes"]]
    assert len(live) > 20
    assert all(s["rss_bytes"] > 0 and s["threads"] >= s["processes"] for s in live)


def test_helpers_are_left_out_and_other_children_of_the_agent_are_in():
    """The agent's helper subprocesses are not measured; its other children (orphans it
    inherited) are."""
    root = subprocess.Popen([PY, "-c", "import time; time.sleep(3)"])
    helper = subprocess.Popen([PY, "-c", f"import time\n{BURN}burn(0.4)\ntime.sleep(3)"])
    adopted = subprocess.Popen([PY, "-c", "import time; time.sleep(3)"])
    try:
        tree = ProcessTree(root.pid, self_pid=os.getpid(), ignore_pids=lambda: {helper.pid})
        tree_row(tree, time.time())
        time.sleep(0.6)
        sample = tree_row(tree, time.time())
        assert tree.pids() == {root.pid, adopted.pid}
        assert sample["processes"] == 2
        assert sample["cpu_seconds_total"] < 0.3  # the helper burnt 0.4 s
        tree.close()
    finally:
        for p in (root, helper, adopted):
            p.kill()
            p.wait()


AS_NOBODY = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"]


def skip_unless_nobody_can_run_this_file() -> None:
    """Skip (saying why) when ``nobody`` cannot execute the interpreter or import this file
    and xprof: a checkout in a folder only its owner may enter (``mktemp -d``, a 0700 home)."""
    probe = f"import xprof.agent.proc_tree; open({str(THIS)!r}, 'rb').read(1)"
    try:
        out = subprocess.run([*AS_NOBODY, PY, "-c", probe], capture_output=True, text=True,
                             timeout=60, cwd="/")
    except OSError as exc:
        pytest.skip(f"cannot run {PY} as nobody: {exc}")
    if out.returncode != 0:
        why = (out.stderr.strip().splitlines() or [f"exit {out.returncode}"])[-1]
        pytest.skip(f"user nobody cannot run {PY} or read {THIS} ({why}); "
                    "the checkout's folders must be world-readable for this test")


def test_a_process_whose_io_cannot_be_read_still_counts_cpu_and_memory(tmp_path):
    """Sampling as another user: the process whose /proc/PID/io is denied loses only its I/O;
    its CPU and memory are counted, as is the readable I/O of the rest, and the denial is
    logged once."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run processes as another user")
    skip_unless_nobody_can_run_this_file()
    ready = tmp_path / "ready"
    worker = f"import time\n{BURN}b = b'w' * (32 * 2**20)\nburn(0.4)\ntime.sleep(30)"
    root_code = "import os, subprocess, sys, time\n" + BURN + textwrap.dedent(f"""
        with open({str(tmp_path / 'data')!r}, "wb") as f:
            f.write(b"d" * (8 * 2**20)); f.flush(); os.fsync(f.fileno())
        mem = b"r" * (64 * 2**20)
        subprocess.Popen({AS_NOBODY!r} + [sys.executable, "-c", {worker!r}])
        burn(0.3)
        open({str(ready)!r}, "w").close()
        time.sleep(30)
    """)
    root = subprocess.Popen([PY, "-c", root_code], start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.6)  # the worker's burn is over
        out = subprocess.run([*AS_NOBODY, PY, str(THIS), "observe", str(root.pid), "0.5"],
                             capture_output=True, text=True, timeout=60, check=True)
    finally:
        os.killpg(root.pid, signal.SIGKILL)
        root.wait()
    last = json.loads(out.stdout)["samples"][-1]
    assert last["processes"] == 2
    assert last["cpu_seconds_total"] >= 0.7 * 0.9  # both burns
    assert last["rss_bytes"] >= 96 * 2**20 * 0.9  # both allocations
    assert last["write_bytes_total"] is not None  # the worker's (readable) I/O
    assert last["write_bytes_total"] < 8 * 2**20  # not the root's 8 MB: denied
    assert out.stderr.count("cannot read I/O counters") == 1


def test_become_subreaper_works_on_linux():
    """become_subreaper() succeeds on Linux (checked in a process of its own)."""
    code = "from xprof.agent.proc_tree import become_subreaper; print(become_subreaper())"
    out = subprocess.run([PY, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(sys.platform.startswith("linux"))


# -- the stand-in agent -----------------------------------------------------------------

def _agent(interval: float, argv: list[str]) -> dict:
    """Subreaper: launch argv, sample, reap every child with wait4 and report its CPU."""
    subreaper = become_subreaper()
    proc = subprocess.Popen(argv)
    tree = ProcessTree(proc.pid, self_pid=os.getpid())
    samples, reaped = [], []
    while True:
        samples.append({**tree_row(tree, time.time()), "pids": sorted(tree.pids())})
        try:
            while True:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
                if not pid:
                    break
                tree.add_reaped(usage.ru_utime + usage.ru_stime, pid)
                reaped.append(pid)
                if pid == proc.pid:
                    proc.returncode = os.waitstatus_to_exitcode(status)
        except ChildProcessError:
            break
        time.sleep(interval)
    samples.append({**tree_row(tree, time.time()), "pids": sorted(tree.pids())})
    return {"subreaper": subreaper, "samples": samples, "reaped": reaped}


def _observe(root_pid: int, seconds: float) -> dict:
    """Sample a tree this process did not start."""
    tree = ProcessTree(root_pid)
    samples = []
    end = time.monotonic() + seconds
    while True:
        samples.append({**tree_row(tree, time.time()), "pids": sorted(tree.pids())})
        if time.monotonic() > end:
            break
        time.sleep(0.1)
    return {"samples": samples}


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    if sys.argv[1] == "agent":
        print(json.dumps(_agent(float(sys.argv[2]), sys.argv[3:])))
    else:
        print(json.dumps(_observe(int(sys.argv[2]), float(sys.argv[3]))))
