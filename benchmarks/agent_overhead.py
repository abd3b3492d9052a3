"""What the `xprof run` agent costs the training run; prints one markdown table.

(a) agent CPU per sample (sampler.sample_all over ProcessTree + HostStats, joined into one
    records.Sample; thread CPU time) for a 1- and a 16-process tree, per discovery method, on a
    quiet host and on a host that forks between every two samples; beside a naive psutil
    sample (children(recursive=True) + oneshot);
(b) fixed cost: `xprof run` start to the child's first line, and the child's last line to
    xprof's exit, minus the same for the bare command;
(c) the agent's peak resident memory (VmHWM of the xprof process);
(d) wall time of a single-threaded CPU-bound job bare vs under `xprof run`: alternating pairs,
    median ratio, beside bare-vs-bare (A/A) pairs;
(e) the whole agent's CPU per second of run in steady state (sampling, store writes, all
    threads): the slope of xprof's CPU between a short and a long run of a sleeping child;
(f) the whole agent's CPU *during* the CPU-bound job of (d): xprof's own threads and the
    helpers it waited for (git, a package listing), from the job's start (its process start
    time) to its last statement; one-off work and steady sampling together. The child that
    exits at once (exit overhead) is the 0 s row of (b).

    python benchmarks/agent_overhead.py            # full: ~20 s job, 5 + 5 pairs (~8 min)
    python benchmarks/agent_overhead.py --quick    # smoke run: ~2 s job, 3 + 3 pairs
    python benchmarks/agent_overhead.py --only exit,during   # just (b) at 0 and 3 s, (d)+(f)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from xprof.agent.host_stats import HostStats
from xprof.agent.proc_tree import ProcessTree, children_files_available
from xprof.agent.sampler import sample_all
from xprof.records import Sample

PY = sys.executable
ROWS: list[tuple[str, str, str]] = []

TREE = """
import multiprocessing as mp, sys, threading, time
def idle():
    for _ in range(3):
        threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()
    time.sleep(3600)
if __name__ == "__main__":
    mp.set_start_method("fork")
    kids = [mp.Process(target=idle, daemon=True) for _ in range(int(sys.argv[1]) - 1)]
    for k in kids:
        k.start()
    for _ in range(3):
        threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()
    print("ready", flush=True)
    time.sleep(3600)
"""

MARKS = """
import sys, time
open(sys.argv[1], "w").write(repr(time.time()))
time.sleep(float(sys.argv[3]))
open(sys.argv[2], "w").write(repr(time.time()))
"""

LOOP = """
import os, sys, time
with open("/proc/self/stat", "rb") as fh:  # when this process started (clock ticks since boot)
    ticks = int(fh.read().rsplit(b")", 1)[1].split()[19])
with open("/proc/uptime") as fh:
    began = time.time() - (float(fh.read().split()[0]) - ticks / os.sysconf("SC_CLK_TCK"))
n = int(sys.argv[1])
t = time.perf_counter()
x = 0
for i in range(n):
    x += i * i % 7
took = time.perf_counter() - t
me = __import__("resource").getrusage(0)
ended = time.time()
open(sys.argv[2], "w").write(f"{took!r} {me.ru_utime + me.ru_stime!r} {began!r} {ended!r}")
"""


def row(what: str, value: str, budget: str = "") -> None:
    ROWS.append((what, value, budget))
    print(f"  {what}: {value}", file=sys.stderr, flush=True)


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f} ms" if seconds < 0.01 else f"{seconds * 1e3:.0f} ms"


# -- (a) CPU per sample -----------------------------------------------------------------

def start_tree(size: int) -> subprocess.Popen:
    proc = subprocess.Popen([PY, "-c", TREE, str(size)], stdout=subprocess.PIPE, text=True,
                            start_new_session=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.3)
    return proc


def stop(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def naive_psutil_sample(root: int) -> None:
    """What a straightforward psutil sampler does each time."""
    try:
        top = psutil.Process(root)
        procs = [top, *top.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for p in procs:
        try:
            with p.oneshot():
                p.cpu_times()
                p.memory_info()
                p.num_threads()
                p.io_counters()
        except psutil.Error:
            pass
    psutil.cpu_times()
    psutil.virtual_memory()


def cpu_per_sample(sample, samples: int, repeats: int, gap: float) -> float:
    """Median over repeats of thread CPU seconds per call of ``sample``."""
    results = []
    for _ in range(repeats):
        used = 0.0
        for _ in range(samples):
            t0 = time.thread_time()
            sample()
            used += time.thread_time() - t0
            time.sleep(gap)
        results.append(used / samples)
    return statistics.median(results)


def bench_cpu_per_sample(quick: bool) -> None:
    samples, repeats, gap = (40, 3, 0.003) if quick else (200, 5, 0.003)
    methods = (["children"] if children_files_available() else []) + ["scan", "psutil"]
    host_procs = len(psutil.pids())
    for busy in (False, True):
        forker = None
        if busy:  # forks ~1000 times a second: every sample must look for new processes
            forker = subprocess.Popen(["sh", "-c", "while :; do /bin/true; done"],
                                      start_new_session=True)
        where = "host forking between samples" if busy else "quiet host"
        try:
            for size in (1, 16):
                tree_proc = start_tree(size)
                try:
                    for method in methods:
                        tree = ProcessTree(tree_proc.pid, self_pid=os.getpid(), discovery=method,
                                           ignore_pids=lambda f=forker: {f.pid} if f else set())
                        host = HostStats()
                        tree.measure(time.time())
                        samplers = [tree, host]

                        def one(samplers=samplers, tree=tree) -> None:
                            ts = time.time()
                            Sample.join(ts, *sample_all(samplers, ts, tree.pids))

                        used = cpu_per_sample(one, samples, repeats, gap)
                        found = tree.measure(time.time()).processes
                        tree.close()
                        host.close()
                        row(f"agent CPU per sample, {size}-process tree ({found} found), "
                            f"{method} discovery, {where}", ms(used),
                            "≤ 1 ms" if size == 16 else "")
                    used = cpu_per_sample(lambda p=tree_proc.pid: naive_psutil_sample(p),
                                          samples, repeats, gap)
                    row(f"naive psutil sample, {size}-process tree, {where}", ms(used), "")
                finally:
                    stop(tree_proc)
        finally:
            if forker is not None:
                stop(forker)
    row("processes on this host during (a)", str(host_procs), "")


# -- (b, c, d) under `xprof run` --------------------------------------------------------

def xprof_argv() -> list[str] | None:
    exe = shutil.which("xprof") or str(Path(PY).with_name("xprof"))
    return [exe, "run", "--quiet", "--"] if Path(exe).exists() else None


class Watched:
    """Run a command; follow its VmHWM while it runs; rusage of it and its children at exit."""

    def __init__(self, argv: list[str], env: dict) -> None:
        self.hwm = 0
        self.points: list[tuple[float, float]] = []  # (monotonic, its own CPU seconds)
        self.wall_points: list[tuple[float, float]] = []  # (time, own + waited-for helpers)
        self.start = time.time()
        self.proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        status, stat = f"/proc/{self.proc.pid}/status", f"/proc/{self.proc.pid}/stat"
        ticks = os.sysconf("SC_CLK_TCK")
        while not self._done.wait(0.02):
            try:
                with open(status) as fh:
                    for line in fh:
                        if line.startswith("VmHWM:"):
                            self.hwm = max(self.hwm, int(line.split()[1]) * 1024)
                with open(stat, "rb") as fh:
                    fields = fh.read().rsplit(b")", 1)[1].split()
                self.points.append((time.monotonic(), (int(fields[11]) + int(fields[12])) / ticks))
                self.wall_points.append((time.time(), sum(map(int, fields[11:15])) / ticks))
            except (OSError, IndexError, ValueError):
                return

    def cpu_rate(self, skip_s: float) -> float | None:
        """CPU seconds per second of the process itself (all its threads, not its children)
        after its first ``skip_s`` seconds, up to the last second before it ended."""
        if not self.points:
            return None
        t0 = self.points[0][0] + skip_s
        window = [p for p in self.points if t0 <= p[0] <= self.points[-1][0] - 1.0]
        if len(window) < 2 or window[-1][0] - window[0][0] < 3.0:
            return None
        return (window[-1][1] - window[0][1]) / (window[-1][0] - window[0][0])

    def cpu_between(self, start: float, end: float) -> float | None:
        """CPU seconds of the process and the children it reaped (helpers) between two wall
        times: interpolated between polls at ``start``; at ``end`` the last poll before it
        (the job's CPU joins the children's once reaped, right after its end)."""
        before = [p for p in self.wall_points if p[0] <= start]
        after = [p for p in self.wall_points if p[0] >= start]
        last = [p for p in self.wall_points if p[0] <= end]
        if not before or not after or not last:
            return None
        (t0, c0), (t1, c1) = before[-1], after[0]
        first = c0 if t1 == t0 else c0 + (c1 - c0) * (start - t0) / (t1 - t0)
        return last[-1][1] - first

    def wait(self) -> tuple[int, float, float, str]:
        """(exit code, end time, CPU seconds of it and its children, stderr)."""
        _pid, status, usage = os.wait4(self.proc.pid, 0)
        end = time.time()
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self._done.set()
        self._thread.join()
        err = self.proc.stderr.read().decode(errors="replace")
        self.proc.stderr.close()
        return self.proc.returncode, end, usage.ru_utime + usage.ru_stime, err


def bench_fixed_cost(xprof: list[str], env: dict, work: Path, runs: int, child_s: float
                     ) -> tuple[bool, int]:
    """Start and stop cost around a child that sleeps ``child_s``; (ok, peak RSS of xprof)."""
    starts: dict[str, list[float]] = {"bare": [], "xprof": []}
    stops: dict[str, list[float]] = {"bare": [], "xprof": []}
    hwm = 0
    for i in range(runs):
        for kind in (("bare", "xprof") if i % 2 == 0 else ("xprof", "bare")):
            first, last = work / "first", work / "last"
            argv = [PY, "-c", MARKS, str(first), str(last), str(child_s)]
            watched = Watched(argv if kind == "bare" else [*xprof, *argv], env)
            code, end, _cpu, err = watched.wait()
            if code != 0:
                row("fixed cost", f"skipped: `xprof run` failed ({code}): "
                    f"{err.strip().splitlines()[-1:] or ''}", "")
                return False, 0
            starts[kind].append(float(first.read_text()) - watched.start)
            stops[kind].append(end - float(last.read_text()))
            if kind == "xprof":
                hwm = max(hwm, watched.hwm)
    at_once = child_s == 0  # a child that exits at once: the agent's whole start is after it
    for name, values, budget in (("start to child's first line", starts, "≤ 150 ms"),
                                 ("child's last line to exit", stops,
                                  "≤ 50 ms" if at_once else "≤ 150 ms")):
        bare, under = statistics.median(values["bare"]), statistics.median(values["xprof"])
        child = "child that exits at once" if at_once else f"{child_s:g} s child"
        row(f"fixed cost, {name}, {child} (xprof − bare; bare {ms(bare)}), "
            f"median of {runs} alternating", ms(under - bare), budget)
    return True, hwm


def bench_steady_cpu(xprof: list[str], env: dict, runs: int, seconds: float) -> int:
    """(e) xprof's own CPU per second while its child sleeps, after a 5 s warm-up."""
    rates, hwm = [], 0
    for _ in range(runs):
        watched = Watched([*xprof, PY, "-c", f"import time; time.sleep({seconds})"], env)
        code, _end, _cpu, _err = watched.wait()
        if code != 0:
            row("steady-state agent CPU", f"skipped: `xprof run` failed ({code})", "")
            return 0
        hwm = max(hwm, watched.hwm)
        rate = watched.cpu_rate(5.0)
        if rate is not None:
            rates.append(rate)
    if rates:
        row(f"whole agent CPU per second of run, steady state (xprof's own threads, 1 Hz "
            f"samples and store flushes, idle child, after 5 s), median of {len(rates)}",
            ms(statistics.median(rates)), "")
    return hwm


def calibrate(target_s: float, work: Path) -> int:
    probe = 3_000_000
    out = work / "probe"
    subprocess.run([PY, "-c", LOOP, str(probe), str(out)], check=True)
    return int(probe * target_s / float(out.read_text().split()[0]))


def bench_wall_time(xprof: list[str], env: dict, work: Path, pairs: int, target_s: float
                    ) -> int:
    n = calibrate(target_s, work)
    hwm = 0
    loop: dict[str, list[float]] = {"xb": [], "aa": []}
    total: dict[str, list[float]] = {"xb": [], "aa": []}
    agent_cpu: list[tuple[float, float]] = []
    steady: list[float | None] = []
    during: list[float] = []

    def once(under: bool) -> tuple[float, float]:
        nonlocal hwm
        out = work / "loop"
        argv = [PY, "-c", LOOP, str(n), str(out)]
        watched = Watched([*xprof, *argv] if under else argv, env)
        code, end, cpu, err = watched.wait()
        if code != 0:
            raise RuntimeError(f"`xprof run` failed ({code}): {err.strip()[-300:]}")
        inside, job_cpu, began, ended = map(float, out.read_text().split())
        if under:
            hwm = max(hwm, watched.hwm)
            agent_cpu.append((cpu - job_cpu, end - watched.start))
            steady.append(watched.cpu_rate(5.0))
            used = watched.cpu_between(began, ended)
            if used is not None:
                during.append(used)
        return inside, end - watched.start

    for i in range(pairs):
        order = (False, True) if i % 2 == 0 else (True, False)
        got = {under: once(under) for under in order}
        loop["xb"].append(got[True][0] / got[False][0])
        total["xb"].append(got[True][1] / got[False][1])
        first, second = once(False), once(False)
        loop["aa"].append(second[0] / first[0])
        total["aa"].append(second[1] / first[1])
        print(f"  pair {i + 1}/{pairs}: xprof/bare {loop['xb'][-1]:.4f}, "
              f"A/A {loop['aa'][-1]:.4f}", file=sys.stderr, flush=True)
    med = statistics.median
    row(f"wall-time ratio of a {target_s:.0f} s CPU-bound loop, xprof/bare "
        f"(timed inside the job), median of {pairs} alternating pairs", f"{med(loop['xb']):.4f}",
        "≤ 1.01")
    row("same, bare/bare (A/A noise)", f"{med(loop['aa']):.4f}", "")
    row("same, end to end (start-up and exit included), xprof/bare",
        f"{med(total['xb']):.4f}", "")
    row("same, end to end, bare/bare (A/A)", f"{med(total['aa']):.4f}", "")
    # the whole agent: rusage of xprof and its children minus the job's own CPU
    row("agent CPU over a whole run, start-up, helpers and exit included (rusage − job's own), "
        "median", f"{med(cpu for cpu, _ in agent_cpu):.2f} s", "")
    row("same, per second of run", ms(med(cpu / wall for cpu, wall in agent_cpu)), "")
    rates = [r for r in steady if r is not None]
    if rates:
        row("whole agent CPU per second of run, steady state, beside the CPU-bound job",
            ms(med(rates)), "")
    if during:
        row(f"whole agent CPU during the {target_s:.0f} s CPU-bound job (xprof's threads and "
            f"its helpers, job start to job end), median of {len(during)}",
            f"{med(during):.3f} s", "≤ 0.08 s")
    return hwm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short job and few pairs")
    parser.add_argument("--only", metavar="PARTS",
                        help="comma-separated: exit (b, 0 s and 3 s child), during (d, f)")
    parser.add_argument("--pairs", type=int, help="pairs of (d) (default 5; quick 3)")
    args = parser.parse_args()
    pairs = args.pairs or (3 if args.quick else 5)
    only = set(args.only.split(",")) if args.only else None
    if only is not None and not only <= {"exit", "during"}:
        parser.error(f"--only {args.only}: expected exit and/or during")
    print(f"agent overhead on {os.cpu_count()} CPUs, {'quick' if args.quick else 'full'} run",
          file=sys.stderr, flush=True)
    if only is None:
        bench_cpu_per_sample(args.quick)
    xprof = xprof_argv()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env = dict(os.environ, XPROF_HOME=str(work / "home"))
        env.pop("XPROF_STORE", None)
        # the usual case: the store exists already (a new store's first run creates it)
        if xprof is not None:
            subprocess.run([xprof[0], "ls"], env=env, capture_output=True, check=False)
        if xprof is None:
            row("`xprof run` sections (b)–(d)", "skipped: no `xprof` command found", "")
        elif only is not None:
            if "exit" in only:  # the at-once child, and one that outlives the agent's start
                bench_fixed_cost(xprof, env, work, 3 if args.quick else 9, 0.0)
                bench_fixed_cost(xprof, env, work, 3 if args.quick else 7, 3.0)
            if "during" in only:
                bench_wall_time(xprof, env, work, pairs, 2.0 if args.quick else 20.0)
        else:
            ok, hwm = bench_fixed_cost(xprof, env, work, 3 if args.quick else 9, 0.0)
            if ok:
                ok, more = bench_fixed_cost(xprof, env, work, 3 if args.quick else 7, 3.0)
                hwm = max(hwm, more)
            if ok:
                hwm = max(hwm, bench_steady_cpu(xprof, env, 1 if args.quick else 3,
                                                10.0 if args.quick else 25.0))
                try:
                    hwm = max(hwm, bench_wall_time(xprof, env, work, pairs,
                                                   2.0 if args.quick else 20.0))
                except RuntimeError as exc:
                    row("wall-time overhead", f"skipped: {exc}", "")
                row("agent peak resident memory (VmHWM of the xprof process)",
                    f"{hwm / 2**20:.1f} MB", "≤ 60 MB")
    print("| what | measured | budget |")
    print("| --- | --- | --- |")
    for what, value, budget in ROWS:
        print(f"| {what} | {value} | {budget} |")


if __name__ == "__main__":
    main()
