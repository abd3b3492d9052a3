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
over such dips.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple

log = logging.getLogger("xprof.agent")

PR_SET_CHILD_SUBREAPER = 36
FULL_DISCOVERY_EVERY = 10  # children mode: samples between reads of every thread's children
MAX_HELD_FDS = 512  # per tree (at most 1/4 of RLIMIT_NOFILE); beyond: open, read, close
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

TREE_FIELDS = ("cpu_cores", "cpu_seconds_total", "rss_bytes", "threads", "processes",
               "read_bytes_total", "write_bytes_total")


def become_subreaper() -> bool:
    """Make this process a child subreaper (Linux), so orphaned descendants re-parent to it
    instead of to init; True if it worked."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def children_files_available() -> bool:
    """Whether the kernel has ``/proc/PID/task/TID/children`` (CONFIG_PROC_CHILDREN)."""
    pid = os.getpid()
    return os.path.exists(f"/proc/{pid}/task/{pid}/children")


def child_pids(pid: int) -> list[int]:
    """Live children of ``pid`` (Linux: children files, else one pass over /proc; psutil
    elsewhere). For occasional use, e.g. finding orphans to reap; [] if ``pid`` is gone."""
    if os.path.isdir("/proc/self/task"):
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            return []
        if children_files_available():
            kids: list[int] = []
            for tid in tids:
                try:
                    kids.extend(int(k) for k in _read_once(f"/proc/{pid}/task/{tid}/children")
                                .split())
                except OSError:
                    continue
            return kids
        found = []
        for name in os.listdir("/proc"):
            if name.isdigit():
                try:
                    if _parse_stat(_read_once(f"/proc/{name}/stat")).ppid == pid:
                        found.append(int(name))
                except (OSError, ValueError, IndexError):
                    continue
        return found
    import psutil

    try:
        return [p.pid for p in psutil.Process(pid).children()]
    except psutil.Error:
        return []


class _Stat(NamedTuple):
    ppid: int
    start: float  # start time: tells a process from a later one that reuses its pid
    cpu_s: float  # utime + stime + cutime + cstime
    rss: int
    threads: int
    zombie: bool


class _Gone(Exception):
    """The process no longer exists."""


class _ZombieUnreadable(Exception):
    """The process is a zombie whose figures cannot be read (psutil off Linux)."""


@dataclass(slots=True)
class _Member:
    start: float | None
    ppid: int
    cpu_s: float = 0.0
    threads: int = 0
    threads_at_full: int = -1  # thread count when every thread's children were last read
    zombie: bool = False
    io_denied: bool = False  # its /proc/PID/io cannot be read: stop trying


def _read_once(path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.read(fd, 65536)
    finally:
        os.close(fd)


def _parse_stat(data: bytes) -> _Stat:
    rest = data[data.rindex(b")") + 2:].split()  # comm may hold spaces and ")"
    cpu_ticks = int(rest[11]) + int(rest[12]) + int(rest[13]) + int(rest[14])
    # a zombie, or a process whose memory is already gone on its way out, is no longer live
    dead = rest[0] in (b"Z", b"X") or rest[20] == b"0"
    return _Stat(ppid=int(rest[1]), start=float(rest[19]), cpu_s=cpu_ticks / _TICKS,
                 rss=int(rest[21]) * _PAGE_SIZE, threads=int(rest[17]), zombie=dead)


def _parse_io(data: bytes) -> tuple[int, int]:
    words = data.split()
    if len(words) >= 12 and words[8] == b"read_bytes:" and words[10] == b"write_bytes:":
        return int(words[9]), int(words[11])
    values = dict(zip(words[::2], words[1::2], strict=False))
    return int(values[b"read_bytes:"]), int(values[b"write_bytes:"])


class _ProcfsReader:
    """Reads /proc/PID files through descriptors held open per process."""

    def __init__(self) -> None:
        self._fds: dict[tuple[int, str], int] = {}
        self._max_held = MAX_HELD_FDS
        try:
            import resource

            soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
            if soft > 0:  # leave most descriptors to the agent
                self._max_held = min(MAX_HELD_FDS, soft // 4)
        except (ImportError, OSError, ValueError):
            pass

    def _read(self, pid: int, name: str) -> bytes:
        key = (pid, name)
        fd = self._fds.get(key)
        if fd is None:
            try:
                fd = os.open(f"/proc/{pid}/{name}", os.O_RDONLY | os.O_CLOEXEC)
            except (FileNotFoundError, ProcessLookupError) as exc:
                raise _Gone from exc
            if len(self._fds) >= self._max_held:
                try:
                    return os.read(fd, 4096)
                except ProcessLookupError as exc:
                    raise _Gone from exc
                finally:
                    os.close(fd)
            self._fds[key] = fd
        try:
            return os.pread(fd, 4096, 0)
        except ProcessLookupError as exc:
            raise _Gone from exc

    def stat(self, pid: int) -> _Stat:
        data = self._read(pid, "stat")
        if not data:
            raise _Gone
        return _parse_stat(data)

    def io(self, pid: int) -> tuple[int, int]:
        return _parse_io(self._read(pid, "io"))

    def forget(self, pid: int) -> None:
        for name in ("stat", "io"):
            fd = self._fds.pop((pid, name), None)
            if fd is not None:
                os.close(fd)

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()


class _PsutilReader:
    """The same figures through psutil, where /proc is not there."""

    def __init__(self) -> None:
        import psutil

        self._psutil = psutil
        self._procs: dict[int, psutil.Process] = {}

    def _proc(self, pid: int):
        proc = self._procs.get(pid)
        if proc is None:
            try:
                proc = self._procs[pid] = self._psutil.Process(pid)
            except self._psutil.NoSuchProcess as exc:
                raise _Gone from exc
        return proc

    def stat(self, pid: int) -> _Stat:
        psutil = self._psutil
        proc = self._proc(pid)
        try:
            with proc.oneshot():
                times = proc.cpu_times()
                zombie = proc.status() == psutil.STATUS_ZOMBIE
                return _Stat(ppid=proc.ppid(), start=proc.create_time(),
                             cpu_s=times.user + times.system + times.children_user
                             + times.children_system,
                             rss=0 if zombie else proc.memory_info().rss,
                             threads=0 if zombie else proc.num_threads(), zombie=zombie)
        except psutil.ZombieProcess as exc:
            raise _ZombieUnreadable from exc
        except psutil.NoSuchProcess as exc:
            raise _Gone from exc
        except psutil.AccessDenied as exc:
            raise PermissionError(str(exc)) from exc

    def io(self, pid: int) -> tuple[int, int]:
        psutil = self._psutil
        try:
            counters = self._proc(pid).io_counters()
        except AttributeError as exc:  # macOS has no per-process I/O counters
            raise NotImplementedError("no per-process I/O counters here") from exc
        except psutil.NoSuchProcess as exc:
            raise _Gone from exc
        except psutil.AccessDenied as exc:
            raise PermissionError(str(exc)) from exc
        return counters.read_bytes, counters.write_bytes

    def forget(self, pid: int) -> None:
        self._procs.pop(pid, None)

    def close(self) -> None:
        self._procs.clear()

    def descendants(self, roots: Iterable[int], known: Callable[[int], bool]
                    ) -> tuple[set[int], dict[int, int]]:
        """(every descendant of ``roots``, pid -> ppid of those not ``known``)."""
        seen: set[int] = set()
        new: dict[int, int] = {}
        for root in roots:
            try:
                kids = self._psutil.Process(root).children(recursive=True)
            except self._psutil.Error:
                continue
            for kid in kids:
                seen.add(kid.pid)
                if not known(kid.pid):
                    try:
                        new[kid.pid] = kid.ppid()
                    except self._psutil.Error:
                        continue
        return seen, new


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
        self._reader = _PsutilReader() if discovery == "psutil" else _ProcfsReader()
        self._members: dict[int, _Member] = {root_pid: _Member(start=None, ppid=-1)}
        self._others: set[int] = set()  # scan/psutil: pids seen that are not members
        self._live: frozenset[int] = frozenset()
        self._lock = threading.Lock()
        self._reaped_s = 0.0  # CPU of members the agent reaped
        self._lost_s = 0.0  # last-seen CPU of members that exited under an outside parent
        self._total: float | None = None
        self._last_ts: float | None = None
        self._logged: set[str] = set()
        self._since_full = FULL_DISCOVERY_EVERY  # children mode: samples since a full read
        self._full_pending = False  # a fork was looked for in main threads only
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

    def add_reaped(self, cpu_seconds: float, pid: int | None = None) -> None:
        """Count the CPU of a member the agent reaped with wait4 (ru_utime + ru_stime, which
        includes its waited-for descendants). Call it for tree members only, not helpers."""
        with self._lock:
            self._reaped_s += max(0.0, cpu_seconds)

    def pids(self) -> frozenset[int]:
        """Live (not zombie) members at the last sample."""
        return self._live

    def sample(self, ts: float) -> dict:
        """The process-tree fields of ``SAMPLE_FIELDS`` at ``ts``; never raises."""
        try:
            return self._sample(ts)
        except Exception as exc:
            self._log_once("sample", "process-tree sample failed: %r", exc)
            return dict.fromkeys(TREE_FIELDS)

    def close(self) -> None:
        """Release the held file descriptors."""
        self._reader.close()
        if self._gate_fd is not None:
            os.close(self._gate_fd)
            self._gate_fd = None

    # -- one sample -------------------------------------------------------------------

    def _sample(self, ts: float) -> dict:
        with self._lock:
            reaped = self._reaped_s  # before reading /proc: a reap after this shows in /proc
        ignored = self._safe_ignored()
        if ignored:
            self._drop(ignored)
        self._since_full += 1
        if self._should_discover() or (self._full_pending
                                       and self._since_full >= FULL_DISCOVERY_EVERY):
            self._discover(ignored)
        cpu = rss = threads = processes = read = write = 0
        io_read_ok = io_failed = False
        gone: list[int] = []
        live: list[int] = []
        for pid, member in self._members.items():  # parents before children
            try:
                stat = self._reader.stat(pid)
            except _Gone:
                gone.append(pid)
                continue
            except _ZombieUnreadable:
                member.zombie = True
                cpu += member.cpu_s
                continue
            except (OSError, ValueError, IndexError) as exc:
                self._log_once(f"stat:{type(exc).__name__}",
                               "cannot read process %d: %r; its figures are left out", pid, exc)
                cpu += member.cpu_s
                continue
            if member.start is None:
                member.start = stat.start
            elif stat.start != member.start:  # the pid now belongs to another process
                gone.append(pid)
                continue
            member.ppid, member.cpu_s, member.threads = stat.ppid, stat.cpu_s, stat.threads
            member.zombie = stat.zombie
            cpu += stat.cpu_s
            if stat.zombie:
                continue
            live.append(pid)
            processes += 1
            threads += stat.threads
            rss += stat.rss
            if member.io_denied:
                io_failed = True
                continue
            try:
                r, w = self._reader.io(pid)
            except _Gone:
                continue
            except (OSError, ValueError, KeyError, IndexError, NotImplementedError) as exc:
                self._log_once(f"io:{type(exc).__name__}",
                               "cannot read I/O counters of process %d: %r; "
                               "its I/O is left out", pid, exc)
                member.io_denied = isinstance(exc, (PermissionError, NotImplementedError))
                io_failed = True
                continue
            read += r
            write += w
            io_read_ok = True
        self._remove_gone(gone)
        self._live = frozenset(live)
        total = cpu + reaped + self._lost_s
        if self._total is not None and total < self._total:
            total = self._total  # a reap between two reads: hold, never go down
        cores = None
        if self._total is not None and self._last_ts is not None and ts > self._last_ts:
            cores = (total - self._total) / (ts - self._last_ts)
        self._total, self._last_ts = total, ts
        io_known = io_read_ok or not io_failed
        return {
            "cpu_cores": cores,
            "cpu_seconds_total": total,
            "rss_bytes": rss,
            "threads": threads,
            "processes": processes,
            "read_bytes_total": read if io_known else None,
            "write_bytes_total": write if io_known else None,
        }

    def _remove_gone(self, gone: Iterable[int]) -> None:
        """Forget exited members; keep their CPU where nobody in the tree will."""
        gone = list(gone)
        for pid in gone:
            member = self._members[pid]
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
                    kids = _read_once(f"/proc/{pid}/task/{tid}/children").split()
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
                found[pid] = _parse_stat(_read_once(f"/proc/{pid}/stat")).ppid
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
