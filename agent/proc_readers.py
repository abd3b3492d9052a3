"""Reading one process's figures: ``/proc/PID/stat`` and ``/proc/PID/io`` through descriptors
held open and re-read with ``pread`` (Linux), or psutil elsewhere. Used by :mod:`proc_tree`."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable
from typing import NamedTuple

MAX_HELD_FDS = 512  # per tree (at most 1/4 of RLIMIT_NOFILE); beyond: open, read, close
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


class Stat(NamedTuple):
    ppid: int
    start: float  # start time: tells a process from a later one that reuses its pid
    cpu_s: float  # utime + stime + cutime + cstime
    rss: int
    threads: int
    zombie: bool
    exit_status: int | None = None  # a zombie's wait status (Linux 3.5+), else None


class Gone(Exception):
    """The process no longer exists."""


class ZombieUnreadable(Exception):
    """The process is a zombie whose figures cannot be read (psutil off Linux)."""


def read_once(path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.read(fd, 65536)
    finally:
        os.close(fd)


def parse_stat(data: bytes) -> Stat:
    rest = data[data.rindex(b")") + 2:].split()  # comm may hold spaces and ")"
    cpu_ticks = int(rest[11]) + int(rest[12]) + int(rest[13]) + int(rest[14])
    # a zombie, or a process whose memory is already gone on its way out, is no longer live
    dead = rest[0] in (b"Z", b"X") or rest[20] == b"0"
    status = int(rest[49]) if rest[0] == b"Z" and len(rest) > 49 else None
    return Stat(ppid=int(rest[1]), start=float(rest[19]), cpu_s=cpu_ticks / TICKS,
                 rss=int(rest[21]) * PAGE_SIZE, threads=int(rest[17]), zombie=dead,
                 exit_status=status)


def parse_hwm(data: bytes) -> int | None:
    """VmHWM (the process's peak resident set, kept by the kernel) of /proc/PID/status, in
    bytes; None for a process without memory (a zombie, a kernel thread)."""
    at = data.find(b"VmHWM:")
    if at < 0:
        return None
    return int(data[at + 6:data.index(b"kB", at)]) * 1024


class ExitWatch:
    """Exit statuses of processes that are not our children, through pidfds (Linux 6.15+:
    ``PIDFD_GET_INFO`` keeps the exit status after whoever waits for the process reaped it).
    ``available`` is False where the kernel or Python cannot; then nothing is held."""

    INFO_EXIT = 1 << 3
    GET_INFO = (3 << 30) | (64 << 16) | (0xFF << 8) | 11  # _IOWR(0xFF, 11, pidfd_info v0)

    def __init__(self, max_held: int) -> None:
        self.max_held = max_held
        self.held: dict[int, int] = {}  # pid -> pidfd
        self.available = self._probe()

    def _probe(self) -> bool:
        if not hasattr(os, "pidfd_open"):
            return False
        try:
            fd = os.pidfd_open(os.getpid())
        except OSError:
            return False
        try:
            self._info(fd)
            return True
        except OSError:  # ENOTTY/EINVAL: a kernel before 6.15
            return False
        finally:
            os.close(fd)

    def _info(self, fd: int) -> int | None:
        import fcntl  # Unix only, cheap
        import struct

        buf = bytearray(64)
        struct.pack_into("Q", buf, 0, self.INFO_EXIT)
        fcntl.ioctl(fd, self.GET_INFO, buf)
        mask = struct.unpack_from("Q", buf, 0)[0]
        return struct.unpack_from("i", buf, 60)[0] if mask & self.INFO_EXIT else None

    def watch(self, pid: int) -> None:
        """Keep a pidfd of ``pid`` (a process found alive) to learn its exit status later."""
        if not self.available or pid in self.held or len(self.held) >= self.max_held:
            return
        with contextlib.suppress(OSError):
            self.held[pid] = os.pidfd_open(pid)

    def exited(self, pid: int) -> bool:
        """Whether the watched ``pid`` has exited (its pidfd is readable)."""
        fd = self.held.get(pid)
        if fd is None:
            return False
        import select

        try:
            return bool(select.select([fd], [], [], 0)[0])
        except (OSError, ValueError):
            return False

    def status(self, pid: int) -> int | None:
        """The wait status of a watched ``pid`` that exited (None if unknown or alive); the
        pidfd is released."""
        fd = self.held.pop(pid, None)
        if fd is None:
            return None
        try:
            return self._info(fd)
        except OSError:
            return None
        finally:
            os.close(fd)

    def forget(self, pid: int) -> None:
        fd = self.held.pop(pid, None)
        if fd is not None:
            os.close(fd)

    def close(self) -> None:
        for fd in self.held.values():
            os.close(fd)
        self.held.clear()


def parse_io(data: bytes) -> tuple[int, int]:
    words = data.split()
    if len(words) >= 12 and words[8] == b"read_bytes:" and words[10] == b"write_bytes:":
        return int(words[9]), int(words[11])
    values = dict(zip(words[::2], words[1::2], strict=False))
    return int(values[b"read_bytes:"]), int(values[b"write_bytes:"])


class ProcfsReader:
    """Reads /proc/PID files through descriptors held open per process."""

    def __init__(self) -> None:
        self._fds: dict[tuple[int, str], int] = {}
        self._max_held = MAX_HELD_FDS
        try:
            import resource  # Unix only

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
                raise Gone from exc
            if len(self._fds) >= self._max_held:
                try:
                    return os.read(fd, 4096)
                except ProcessLookupError as exc:
                    raise Gone from exc
                finally:
                    os.close(fd)
            self._fds[key] = fd
        try:
            return os.pread(fd, 4096, 0)
        except ProcessLookupError as exc:
            raise Gone from exc

    def stat(self, pid: int) -> Stat:
        data = self._read(pid, "stat")
        if not data:
            raise Gone
        return parse_stat(data)

    def io(self, pid: int) -> tuple[int, int]:
        return parse_io(self._read(pid, "io"))

    def hwm(self, pid: int) -> int | None:
        """The process's peak resident set so far (VmHWM), bytes."""
        return parse_hwm(self._read(pid, "status"))

    @staticmethod
    def command(pid: int) -> list[str]:
        """The process's argv (empty when it cannot be read)."""
        try:
            return [a.decode("utf-8", "replace")
                    for a in read_once(f"/proc/{pid}/cmdline").split(b"\0") if a]
        except OSError:
            return []

    def forget(self, pid: int) -> None:
        for name in ("stat", "io", "status"):
            fd = self._fds.pop((pid, name), None)
            if fd is not None:
                os.close(fd)

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()


class PsutilReader:
    """The same figures through psutil, where /proc is not there."""

    def __init__(self) -> None:
        import psutil  # off Linux only: kept off the start path

        self._psutil = psutil
        self._procs: dict[int, psutil.Process] = {}

    def _proc(self, pid: int):
        proc = self._procs.get(pid)
        if proc is None:
            try:
                proc = self._procs[pid] = self._psutil.Process(pid)
            except self._psutil.NoSuchProcess as exc:
                raise Gone from exc
        return proc

    def stat(self, pid: int) -> Stat:
        psutil = self._psutil
        proc = self._proc(pid)
        try:
            with proc.oneshot():
                times = proc.cpu_times()
                zombie = proc.status() == psutil.STATUS_ZOMBIE
                return Stat(ppid=proc.ppid(), start=proc.create_time(),
                             cpu_s=times.user + times.system + times.children_user
                             + times.children_system,
                             rss=0 if zombie else proc.memory_info().rss,
                             threads=0 if zombie else proc.num_threads(), zombie=zombie)
        except psutil.ZombieProcess as exc:
            raise ZombieUnreadable from exc
        except psutil.NoSuchProcess as exc:
            raise Gone from exc
        except psutil.AccessDenied as exc:
            raise PermissionError(str(exc)) from exc

    def io(self, pid: int) -> tuple[int, int]:
        psutil = self._psutil
        try:
            counters = self._proc(pid).io_counters()
        except AttributeError as exc:  # macOS has no per-process I/O counters
            raise NotImplementedError("no per-process I/O counters here") from exc
        except psutil.NoSuchProcess as exc:
            raise Gone from exc
        except psutil.AccessDenied as exc:
            raise PermissionError(str(exc)) from exc
        return counters.read_bytes, counters.write_bytes

    def hwm(self, pid: int) -> int | None:
        """The peak resident set where psutil knows it (Windows' peak_wset), else None."""
        try:
            return getattr(self._proc(pid).memory_info(), "peak_wset", None)
        except self._psutil.Error:
            return None

    def command(self, pid: int) -> list[str]:
        try:
            return list(self._proc(pid).cmdline())
        except (self._psutil.Error, Gone):
            return []

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
