"""The run's whole process tree, measured every sample: CPU, memory, threads, I/O.

Who belongs to the tree: the launched command (``root_pid``), every process a member forks,
and the agent's own children other than its helpers (``ignore_pids``): the agent is a child
subreaper (``become_subreaper``), so orphans of the tree re-parent to it. Membership is sticky:
a member stays one until it exits, wherever it is re-parented.

Finding new members without rescanning the host: a fork allocates a pid, and the last pid
allocated is the last field of ``/proc/loadavg`` (one ~1 µs read). While it stays the same,
nothing was forked anywhere and discovery is skipped. When it moves, new members are looked
for in one of three ways, chosen at start:

- ``children``: ``/proc/PID/task/PID/children`` of each member's main thread; every thread's
  children file of a member whose thread count changed, and of all members at most 10
  samples after a fork that was looked for in main threads only;
- ``scan``: list ``/proc`` (where the kernel has no children files) and read the stat of the
  pids not seen before only;
- ``psutil``: one pass over the host's processes, off Linux.

Measuring: ``/proc/PID/stat`` and ``/proc/PID/io`` of each member through file descriptors
held open and re-read with ``pread`` (~5 µs a process). A held descriptor is tied to that
process: once it exits, a read fails, even if its pid is reused.

CPU accounting (never goes down): cpu_seconds_total = Σ live members (utime + stime + cutime
+ cstime) + CPU of members reaped by the agent (``add_reaped``) + last-seen CPU of members
that exited under a parent outside the tree. A child reaped by a member moves into that
member's cutime/cstime; members are read parents first, so a reap between two reads can hide
a child for one sample but never counts it twice, and the total is held at its previous value
over such dips. ``set_baseline`` makes the total count from that moment (an in-process run).

Exact peak memory: the kernel keeps each process's high-water mark. ``VmHWM`` of every live
member is read with each sample (``/proc/PID/status``), and ``add_reaped`` takes ``ru_maxrss``
of the processes the agent reaps (for the root, the largest of it and every descendant waited
for under it; :func:`launch.wait_for_exit` drops it when it is only the agent's own image,
which the kernel folds in at the exec). Their maximum is the largest single process the run
ran, exactly, even when it lived between two samples; the sampled ``rss_bytes`` sums the tree
at each sample instead.

Exits: a member that exits non-zero or by a signal (other than the root, whose exit is the
run's) is a failed process. Its wait status comes from a pidfd held since it was found (Linux
6.15+: kept after its parent reaped it), else from its zombie's ``/proc/PID/stat`` when a
sample sees it before it is reaped. SIGTERM/SIGKILL deaths after the root exited are the
agent's clean-up, not failures.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from xprof.agent.proc_readers import (
    ExitWatch,
    Gone,
    ProcfsReader,
    PsutilReader,
    ZombieUnreadable,
    parse_stat,
    read_once,
)
from xprof.records import TreeSample

log = logging.getLogger("xprof.agent")

PR_SET_CHILD_SUBREAPER = 36
FULL_DISCOVERY_EVERY = 10  # children mode: samples between reads of every thread's children
MIN_RATE_S = 0.1  # a CPU rate over less time is taken over the interval before too
MAX_EXIT_WATCHES = 256  # pidfds held per tree to learn exit statuses
FAILED_KEPT = 5  # failed processes listed (all are counted)


def become_subreaper() -> bool:
    """Make this process a child subreaper (Linux), so orphaned descendants re-parent to it
    instead of to init; True if it worked."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes  # Linux only; ctypes is slow to import

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def children_files_available() -> bool:
    """Whether the kernel has ``/proc/PID/task/TID/children`` (CONFIG_PROC_CHILDREN)."""
    pid = os.getpid()
    return os.path.exists(f"/proc/{pid}/task/{pid}/children")


@dataclass(slots=True)
class _Member:
    start: float | None
    ppid: int
    cpu_s: float = 0.0
    threads: int = 0
    threads_at_full: int = -1  # thread count when every thread's children were last read
    zombie: bool = False
    io_denied: bool = False  # its /proc/PID/io cannot be read: stop trying
    command: list[str] | None = None  # argv, read when the member is first measured
    exit_status: int | None = None  # wait status, when a sample saw it as a zombie


@dataclass(slots=True)
class _Totals:
    """The tree's sums over the members read in one sample."""

    cpu: float = 0.0
    rss: int = 0
    threads: int = 0
    processes: int = 0
    read: int = 0
    write: int = 0
    io_ok: bool = False  # some member's I/O was read
    io_failed: bool = False  # some member's I/O could not be


def _last_pid(fd: int) -> int | None:
    """The last pid allocated in this pid namespace, from /proc/loadavg."""
    try:
        return int(os.pread(fd, 128, 0).rsplit(maxsplit=1)[-1])
    except (OSError, ValueError, IndexError):
        return None


class ProcessTree:
    """Measures the process tree of ``root_pid``; see the module docstring.

    ``self_pid``: the agent's pid (a subreaper); its children other than ``ignore_pids()``
    belong to the tree, and those of them that exit are expected to be reaped by the agent,
    which reports their CPU with ``add_reaped``. ``discovery``: "children", "scan" or
    "psutil"; default: the best one this system has.
    """

    def __init__(self, root_pid: int, *, self_pid: int | None = None,
                 ignore_pids: Callable[[], set[int]] | None = None,
                 discovery: str | None = None) -> None:
        self.root_pid = root_pid
        self.self_pid = self_pid
        self._ignore_pids = ignore_pids or set
        procfs = os.path.exists(f"/proc/{os.getpid()}/stat")
        if discovery is None:
            discovery = ("children" if children_files_available() else "scan") if procfs \
                else "psutil"
        if discovery not in ("children", "scan", "psutil"):
            raise ValueError(f"unknown discovery {discovery!r}: children, scan or psutil")
        if discovery == "children" and not children_files_available():
            raise ValueError("this kernel has no /proc/PID/task/TID/children files")
        self.discovery = discovery
        self._reader = PsutilReader() if discovery == "psutil" else ProcfsReader()
        self._members: dict[int, _Member] = {root_pid: _Member(start=None, ppid=-1)}
        self._others: set[int] = set()  # scan/psutil: pids seen that are not members
        self._live: frozenset[int] = frozenset()
        self._lock = threading.Lock()
        self._reaped_s = 0.0  # CPU of members the agent reaped
        self._lost_s = 0.0  # last-seen CPU of members that exited under an outside parent
        self._total: float | None = None
        self._last_ts: float | None = None
        self._baseline_s = 0.0  # CPU the tree had used before the run (set_baseline)
        self._before: tuple[float, float] | None = None  # (total, ts) of the sample before last
        self._logged: set[str] = set()
        self._since_full = FULL_DISCOVERY_EVERY  # children mode: samples since a full read
        self._full_pending = False  # a fork was looked for in main threads only
        self._peak_process: int | None = None  # the largest process's VmHWM / ru_maxrss
        self._exits = ExitWatch(MAX_EXIT_WATCHES)
        self._exits.watch(root_pid)
        self._failed: list[dict] = []
        self._failed_count = 0
        self._root_ended = False
        self._ended_with_root: set[int] = set()  # members already exited when the root did
        self._gate_fd: int | None = None
        self._gate: int | None = None
        self._previous_gate: int | None = None
        self._gate_tripped = True
        if discovery != "psutil":
            try:
                self._gate_fd = os.open("/proc/loadavg", os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                self._gate_fd = None

    # -- public interface ---------------------------------------------------------------

    def add_reaped(self, cpu_seconds: float, pid: int | None = None,
                   maxrss_bytes: int | None = None) -> None:
        """Count the CPU of a member the agent reaped with wait4 (ru_utime + ru_stime, which
        includes its waited-for descendants) and its peak memory (ru_maxrss, in bytes: the
        largest of it and those descendants). Call it for tree members only, not helpers."""
        with self._lock:
            self._reaped_s += max(0.0, cpu_seconds)
            if maxrss_bytes:
                self._peak_process = max(self._peak_process or 0, maxrss_bytes)
            if pid == self.root_pid and not self._root_ended:
                self._ended_with_root = {p for p in tuple(self._exits.held)
                                         if self._exits.exited(p)}
                self._root_ended = True

    def exits_summary(self) -> dict:
        """The run's exact per-process peak memory and its failed processes, for the run's
        summary: ``rss_peak_process_bytes``, ``failed_processes`` (a count) and
        ``failed_process_list`` (the first few: pid, argv, exit_code or signal). Looks once
        more at members that exited after the last sample."""
        with self._lock:
            for pid in [p for p in self._members if self._exits.exited(p)]:
                self._note_exit(pid, self._members.pop(pid), self._exits.status(pid))
                self._reader.forget(pid)
            out: dict = {"rss_peak_process_bytes": self._peak_process,
                         "failed_processes": self._failed_count}
            if self._failed:
                out["failed_process_list"] = [dict(f) for f in self._failed]
            return out

    def set_baseline(self) -> float:
        """Count CPU from now on: the tree's CPU so far (the root's own and its children's,
        reaped or live) is left out of every later ``cpu_seconds_total``. For a run recorded
        in-process, whose root (a notebook kernel, a script) ran before the run started."""
        self._baseline_s = 0.0
        self._baseline_s = self.measure(0.0).cpu_seconds_total or 0.0
        self._total = self._last_ts = self._before = None  # the first sample starts the rates
        return self._baseline_s

    def pids(self) -> frozenset[int]:
        """Live (not zombie) members at the last sample."""
        return self._live

    name = "process"  # the Sampler interface: what a failure warning names

    def sample(self, ts: float, pids: frozenset[int] = frozenset()) -> list[TreeSample]:
        """The Sampler interface: ``[measure(ts)]`` (``pids`` is unused: the tree is its own)."""
        return [self.measure(ts)]

    def measure(self, ts: float) -> TreeSample:
        """The process tree at ``ts``; never raises (a failure: every figure unknown)."""
        try:
            return self._sample(ts)
        except Exception as exc:
            self._log_once("sample", "process-tree sample failed: %r", exc)
            return TreeSample(ts=ts)

    @staticmethod
    def hardware() -> dict:
        """The Sampler interface: the tree adds nothing to the run's hardware."""
        return {}

    def close(self) -> None:
        """Release the held file descriptors."""
        self._reader.close()
        self._exits.close()
        if self._gate_fd is not None:
            os.close(self._gate_fd)
            self._gate_fd = None

    # -- one sample -------------------------------------------------------------------

    def _sample(self, ts: float) -> TreeSample:
        with self._lock:
            return self._sample_locked(ts)

    def _sample_locked(self, ts: float) -> TreeSample:
        reaped = self._reaped_s  # before reading /proc: a reap after this shows in /proc
        ignored = self._safe_ignored()
        if ignored:
            self._drop(ignored)
        self._since_full += 1
        if self._should_discover() or (self._full_pending
                                       and self._since_full >= FULL_DISCOVERY_EVERY):
            self._discover(ignored)
        totals = _Totals()
        gone: list[int] = []
        live: list[int] = []
        for pid, member in self._members.items():  # parents before children
            state = self._read_member(pid, member, totals)
            if state == "live":
                live.append(pid)
            elif state == "gone":
                gone.append(pid)
        self._remove_gone(gone)
        self._live = frozenset(live)
        total = totals.cpu + reaped + self._lost_s
        if self._total is not None and total < self._total:
            total = self._total  # a reap between two reads: hold, never go down
        cores = None
        if self._total is not None and self._last_ts is not None and ts > self._last_ts:
            since = (self._total, self._last_ts)
            if ts - self._last_ts < MIN_RATE_S and self._before is not None:
                since = self._before  # over a few ms a rate is tick noise: span two intervals
            cores = (total - since[0]) / (ts - since[1])
        self._before = None if self._total is None else (self._total, self._last_ts)
        self._total, self._last_ts = total, ts
        io_known = totals.io_ok or not totals.io_failed
        return TreeSample(
            ts=ts, cpu_cores=cores, cpu_seconds_total=max(0.0, total - self._baseline_s),
            rss_bytes=totals.rss,
            threads=totals.threads, processes=totals.processes,
            read_bytes_total=totals.read if io_known else None,
            write_bytes_total=totals.write if io_known else None)

    def _read_member(self, pid: int, member: _Member, totals: _Totals) -> str | None:
        """Add one member's figures to ``totals``: "live", "gone", or None (zombie, unread)."""
        try:
            stat = self._reader.stat(pid)
        except Gone:
            return "gone"
        except ZombieUnreadable:
            member.zombie = True
            totals.cpu += member.cpu_s
            return None
        except (OSError, ValueError, IndexError) as exc:
            self._log_once(f"stat:{type(exc).__name__}",
                           "cannot read process %d: %r; its figures are left out", pid, exc)
            totals.cpu += member.cpu_s
            return None
        if member.start is None:
            member.start = stat.start
            if pid != self.root_pid:
                member.command = self._reader.command(pid)
        elif stat.start != member.start:  # the pid now belongs to another process
            return "gone"
        member.ppid, member.cpu_s, member.threads = stat.ppid, stat.cpu_s, stat.threads
        member.zombie = stat.zombie
        totals.cpu += stat.cpu_s
        if stat.zombie:
            if stat.exit_status is not None:
                member.exit_status = stat.exit_status
            return None
        totals.processes += 1
        totals.threads += stat.threads
        totals.rss += stat.rss
        self._read_hwm(pid, stat.rss)
        self._read_io(pid, member, totals)
        return "live"

    def _read_hwm(self, pid: int, rss: int) -> None:
        """The member's kernel-kept peak resident set (at least its RSS now)."""
        try:
            hwm = self._reader.hwm(pid)
        except (Gone, OSError, ValueError):
            hwm = None
        self._peak_process = max(self._peak_process or 0, hwm or 0, rss)

    def _note_exit(self, pid: int, member: _Member, status: int | None) -> None:
        """Count a member that exited non-zero or by a signal (see the module doc)."""
        status = member.exit_status if status is None else status
        if pid == self.root_pid or status is None:
            return
        try:
            code = os.waitstatus_to_exitcode(status)
        except ValueError:
            return
        if code == 0:
            return
        if (code in (-signal.SIGTERM, -signal.SIGKILL) and self._root_ended
                and pid not in self._ended_with_root):
            return  # the agent's clean-up of what the command left
        self._failed_count += 1
        if len(self._failed) < FAILED_KEPT:
            self._failed.append({"pid": pid, "command": member.command or [],
                                 **({"signal": -code} if code < 0 else {"exit_code": code})})

    def _read_io(self, pid: int, member: _Member, totals: _Totals) -> None:
        if member.io_denied:
            totals.io_failed = True
            return
        try:
            r, w = self._reader.io(pid)
        except Gone:
            return
        except (OSError, ValueError, KeyError, IndexError, NotImplementedError) as exc:
            self._log_once(f"io:{type(exc).__name__}",
                           "cannot read I/O counters of process %d: %r; "
                           "its I/O is left out", pid, exc)
            member.io_denied = isinstance(exc, (PermissionError, NotImplementedError))
            totals.io_failed = True
            return
        totals.read += r
        totals.write += w
        totals.io_ok = True

    def _remove_gone(self, gone: Iterable[int]) -> None:
        """Forget exited members; keep their CPU where nobody in the tree will."""
        gone = list(gone)
        for pid in gone:
            member = self._members[pid]
            self._note_exit(pid, member, self._exits.status(pid))
            inside = member.ppid in self._members or (
                self.self_pid is not None and member.ppid == self.self_pid)
            if not inside:  # reaped outside the tree (init, another reaper): keep what we saw
                self._lost_s += member.cpu_s
        for pid in gone:
            del self._members[pid]
            self._reader.forget(pid)

    def _drop(self, ignored: set[int]) -> None:
        """Helpers the agent started are not members, nor are their descendants."""
        dropped = ignored & self._members.keys()
        dropped.discard(self.root_pid)
        while dropped:
            for pid in dropped:
                del self._members[pid]
                self._reader.forget(pid)
                self._exits.forget(pid)
                self._others.add(pid)
            dropped = {pid for pid, m in self._members.items() if m.ppid in dropped}

    # -- discovery ----------------------------------------------------------------------

    def _should_discover(self) -> bool:
        """Something was forked since the last sample (or just before it)."""
        if self._gate_fd is None:
            return True
        last = _last_pid(self._gate_fd)
        changed = last is None or last != self._gate
        # one more look after a change: a pid is allocated just before its process shows
        discover = changed or self._gate_tripped
        self._gate_tripped = changed
        self._previous_gate, self._gate = self._gate, last
        return discover

    def _discover(self, ignored: set[int]) -> None:
        try:
            if self.discovery == "children":
                found = self._children_candidates(ignored)
            elif self.discovery == "scan":
                found = self._scan_candidates()
            else:
                found = self._psutil_candidates()
            self._adopt(found, ignored)
        except Exception as exc:
            self._log_once(f"discover:{type(exc).__name__}",
                           "finding new processes of the run failed: %r", exc)

    def _is_member_parent(self, ppid: int, pid: int, ignored: set[int]) -> bool:
        if ppid in self._members:
            return True
        return self.self_pid is not None and ppid == self.self_pid and pid not in ignored

    def _adopt(self, found: dict[int, int], ignored: set[int]) -> None:
        """Add the new pids (pid -> ppid) whose parent is a member, parents first."""
        pending = dict(found)
        while pending:
            progress = False
            for pid, ppid in list(pending.items()):
                if self._is_member_parent(ppid, pid, ignored):
                    self._members[pid] = _Member(start=None, ppid=ppid)
                    self._exits.watch(pid)
                elif ppid not in pending:
                    self._others.add(pid)
                else:
                    continue
                del pending[pid]
                progress = True
            if not progress:  # a cycle cannot happen; be safe anyway
                self._others.update(pending)
                break

    def _children_candidates(self, ignored: set[int]) -> dict[int, int]:
        full = self._since_full >= FULL_DISCOVERY_EVERY
        if full:
            self._since_full, self._full_pending = 0, False
        else:
            self._full_pending = True
        if len(self._others) > 4096:
            self._others = {p for p in self._others if os.path.exists(f"/proc/{p}")}
        found: dict[int, int] = {}
        # the agent's own threads are few; each may have started a child or taken an orphan
        parents: list[tuple[int, bool]] = [] if self.self_pid is None else [(self.self_pid, True)]
        for pid, member in self._members.items():
            every_thread = full or member.threads != member.threads_at_full
            if every_thread:
                member.threads_at_full = member.threads
            parents.append((pid, every_thread))
        for pid, every_thread in parents:
            try:
                tids = os.listdir(f"/proc/{pid}/task") if every_thread else [pid]
            except OSError:
                continue
            for tid in tids:
                try:
                    kids = read_once(f"/proc/{pid}/task/{tid}/children").split()
                except OSError:
                    continue
                for kid in map(int, kids):
                    if kid not in self._members and kid not in self._others \
                            and kid not in ignored:
                        found[kid] = pid
        return found

    def _scan_candidates(self) -> dict[int, int]:
        listed = {int(name) for name in os.listdir("/proc") if name.isdigit()}
        self._others &= listed
        new = listed - self._others - self._members.keys()
        old, last = self._previous_gate, self._gate
        if old is not None and last is not None and old != last:
            # pids allocated since the last scan: a known non-member pid there was reused
            fresh = (lambda p: old < p <= last) if last > old else (lambda p: p > old or p <= last)
            reused = {p for p in self._others if fresh(p)}
            self._others -= reused
            new |= reused
        found: dict[int, int] = {}
        for pid in sorted(new):
            try:
                found[pid] = parse_stat(read_once(f"/proc/{pid}/stat")).ppid
            except (OSError, ValueError, IndexError):
                continue
        return found

    def _psutil_candidates(self) -> dict[int, int]:
        # one pass over the host per subtree: the agent's, or the root's and each orphan's
        if self.self_pid is not None:
            roots = [self.self_pid]
            roots += [pid for pid, m in self._members.items()
                      if m.ppid not in self._members and m.ppid != self.self_pid]
        else:
            roots = [pid for pid, m in self._members.items() if m.ppid not in self._members]
        seen, found = self._reader.descendants(
            roots, lambda pid: pid in self._members or pid in self._others)
        self._others &= seen
        return dict(sorted(found.items()))

    # -- helpers ----------------------------------------------------------------------

    def _safe_ignored(self) -> set[int]:
        try:
            return set(self._ignore_pids())
        except Exception as exc:
            self._log_once("ignore_pids", "ignore_pids() failed: %r", exc)
            return set()

    def _log_once(self, kind: str, message: str, *args: object) -> None:
        if kind not in self._logged:
            self._logged.add(kind)
            log.warning(message, *args)
