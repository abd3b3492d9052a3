"""The launcher's contract, top to bottom (after tini and dumb-init):

1. ``spawn``: start the command in its own process group, with a pty for its output when
   xprof's stdout is a terminal (pipes otherwise; one pipe for both when stdout and stderr
   are the same file, so ``2>&1`` keeps their order), and its group in the terminal's
   foreground when stdin is a terminal, so ``input()`` and pdb work. A missing command is
   exit 127, one that cannot be executed 126.
2. The output relay (agent/relay.py), forked right after, owns the command's output and
   copies it to ours, a copy to the agent; it outlives the agent, so ``kill -9`` of xprof
   never breaks the command's pipe. The agent's ``oom_score_adj`` is raised above the
   command's: the OOM killer takes the agent, whose death the run survives.
3. ``forward_signals``: SIGINT, SIGTERM and SIGHUP sent to xprof go to the child's group;
   SIGTSTP, SIGTTIN and SIGTTOU too (job control); SIGWINCH resizes the child's pty.
4. ``wait_for_exit``: reap the child with ``wait4``, so its CPU time is accounted. When the
   child stops for the terminal (Ctrl-Z), xprof takes the terminal back and stops too, so the
   shell sees the job stopped; continued (``fg``/``bg``), it continues the child's group.
   At the exit, SIGTERM whatever the command left in its group.
5. ``end_leftovers``: reap the orphans the subreaper inherits while the group empties; what
   is still there after ``leftover_grace_s`` gets SIGKILL. Nothing left: no wait at all.
6. ``exit_code``: the child's code, or 128+N when signal N killed it. Never anything else.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import pty
import signal
import subprocess
import termios
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from xprof.agent.proc_readers import parse_hwm, read_once
from xprof.agent.relay import start_relay

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
JOB_STOPS = (signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU)
OOM_SCORE_RAISE = 500  # the agent's oom_score_adj above the command's (at most 1000)


class LaunchError(Exception):
    """The command could not be started; ``code`` is 127 (not found) or 126 (not executable)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Child:
    """A started command, its output relay and the fds the agent reads its output's copy from."""

    popen: subprocess.Popen
    pgid: int
    output_fds: dict[int, int] = field(default_factory=dict)  # relay's copy -> our fd (1/2)
    relay_pid: int | None = None
    pty_master: int | None = None  # kept to resize the child's pty
    tty_fd: int | None = None  # the terminal whose foreground group we handed over
    spawn_hwm: int = 0  # the agent's own peak RSS when it started the child (bytes)

    @property
    def pid(self) -> int:
        return self.popen.pid


def _foreground_child_group(tty_fd: int) -> Callable[[], None]:
    """preexec_fn: a new process group that takes the terminal's foreground."""

    def preexec() -> None:
        os.setpgid(0, 0)
        old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        with contextlib.suppress(OSError):
            os.tcsetpgrp(tty_fd, os.getpgrp())
        signal.signal(signal.SIGTTOU, old)

    return preexec


def _copy_winsize(src_fd: int, dst_fd: int) -> None:
    with contextlib.suppress(OSError):
        size = fcntl.ioctl(src_fd, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(dst_fd, termios.TIOCSWINSZ, size)


def same_file(fd_a: int, fd_b: int) -> bool:
    """Whether two of our fds write to the same file, pipe or terminal (``>log 2>&1``)."""
    try:
        a, b = os.fstat(fd_a), os.fstat(fd_b)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def spawn(argv: Sequence[str], env: Mapping[str, str]) -> Child:
    """Start ``argv`` and its output relay; raise LaunchError (127/126) when it cannot be
    executed."""
    use_pty = os.isatty(1)
    stdin_tty = os.isatty(0) and _in_foreground(0)
    master = slave = None
    stdout: int | None = subprocess.PIPE
    stderr: int | None = subprocess.PIPE
    if use_pty:
        master, slave = pty.openpty()
        _copy_winsize(1, slave)
        stdout = slave
        stderr = slave if os.isatty(2) else subprocess.PIPE
    elif same_file(1, 2):
        stderr = subprocess.STDOUT
    kwargs: dict = {"process_group": 0}
    if stdin_tty:
        kwargs = {"preexec_fn": _foreground_child_group(0)}
    try:
        popen = subprocess.Popen(list(argv), env=dict(env), stdout=stdout, stderr=stderr,
                                 close_fds=True, **kwargs)
    except FileNotFoundError as exc:
        _close(master, slave)
        raise LaunchError(127, f"command not found: {argv[0]}") from exc
    except PermissionError as exc:
        _close(master, slave)
        raise LaunchError(126, f"permission denied: {argv[0]} is not executable") from exc
    except OSError as exc:
        _close(master, slave)
        if exc.errno in (errno.ENOEXEC, errno.EISDIR, errno.EACCES):
            raise LaunchError(126, f"cannot execute {argv[0]}: {exc.strerror}") from exc
        raise LaunchError(127, f"cannot start {argv[0]}: {exc.strerror}") from exc
    child = Child(popen=popen, pgid=popen.pid, spawn_hwm=own_hwm())
    if stdin_tty:
        child.tty_fd = 0
        _set_foreground(0, popen.pid)
    routes: dict[int, int] = {}  # the command's output fd -> ours to copy it to
    if master is not None:
        os.close(slave)
        child.pty_master = master
        routes[os.dup(master)] = 1
    for pipe, dst in ((popen.stdout, 1), (popen.stderr, 2)):
        if pipe is not None:
            routes[os.dup(pipe.fileno())] = dst
            pipe.close()
    relay = start_relay(routes)  # holds the output now: the agent's death cannot break it
    child.output_fds, child.relay_pid = relay.taps, relay.pid
    raise_oom_score(OOM_SCORE_RAISE)
    return child


def own_hwm() -> int:
    """This process's peak resident set (VmHWM) in bytes; 0 where it cannot be read."""
    try:
        return parse_hwm(read_once("/proc/self/status")) or 0
    except (OSError, ValueError):
        return 0


def raise_oom_score(by: int) -> None:
    """Make the OOM killer take this process before the command (Linux; failures ignored)."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/oom_score_adj", "r+") as fh:
        current = int(fh.read().strip() or 0)
        fh.seek(0)
        fh.write(str(min(1000, current + by)))


def _close(*fds: int | None) -> None:
    for fd in fds:
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


def _in_foreground(fd: int) -> bool:
    try:
        return os.tcgetpgrp(fd) == os.getpgrp()
    except OSError:
        return False


def _set_foreground(fd: int, pgid: int) -> None:
    old = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        with contextlib.suppress(OSError):
            os.tcsetpgrp(fd, pgid)
    finally:
        signal.signal(signal.SIGTTOU, old)


def forward_signals(child: Child) -> Callable[[], None]:
    """Forward SIGINT/SIGTERM/SIGHUP and the job-control stops (SIGTSTP/SIGTTIN/SIGTTOU) to
    the child's group; return a function that undoes it. A stopped child stops xprof too,
    in :func:`wait_for_exit`."""

    def forward(signum: int, _frame) -> None:
        with contextlib.suppress(ProcessLookupError):  # gone already: its exit is on its way
            os.killpg(child.pgid, signum)

    def resize(_signum: int, _frame) -> None:
        if child.pty_master is not None:
            _copy_winsize(1, child.pty_master)

    previous = {sig: signal.signal(sig, forward) for sig in (*FORWARDED, *JOB_STOPS)}
    previous[signal.SIGWINCH] = signal.signal(signal.SIGWINCH, resize)

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


def wait_for_exit(child: Child, on_reaped: Callable[[int, float, int], None]) -> int:
    """Block until the child exits; report its CPU seconds and peak memory (rusage, its
    waited-for descendants included; ru_maxrss in bytes) to ``on_reaped``; SIGTERM what it
    left in its group. Returns the wait status.
    A child stopped for the terminal (Ctrl-Z) stops xprof with it (:func:`stop_with`)."""
    while True:
        try:
            pid, status, usage = os.wait4(child.pid, os.WUNTRACED)
        except ChildProcessError:  # reaped elsewhere: nothing more to learn
            status, usage = 0, None
            break
        if pid != child.pid:
            continue
        if os.WIFSTOPPED(status):
            if os.WSTOPSIG(status) in JOB_STOPS:
                stop_with(child, os.WSTOPSIG(status))
            continue
        if os.WIFEXITED(status) or os.WIFSIGNALED(status):
            break
    child.popen.returncode = os.waitstatus_to_exitcode(status)
    if usage is not None:
        maxrss = usage.ru_maxrss * 1024
        # The kernel folds the memory image a process had before its exec into its ru_maxrss:
        # for the child, the agent's own (vfork shares it; fork copies it). Not above the
        # agent's peak at the spawn, the figure is the agent's, not the command's.
        on_reaped(child.pid, usage.ru_utime + usage.ru_stime,
                  maxrss if maxrss > child.spawn_hwm else 0)
    if child.tty_fd is not None:
        _set_foreground(child.tty_fd, os.getpgrp())
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pgid, signal.SIGTERM)  # leftovers of the command, as dumb-init does
    return status


def stop_with(child: Child, signum: int) -> None:
    """The child stopped for the terminal: hand the terminal back, stop xprof so the shell
    sees its job stopped; once continued, give the terminal back to the child's group if it
    is ours (``fg``, not ``bg``) and continue that group."""
    if child.tty_fd is not None and _in_foreground_group(child.tty_fd, child.pgid):
        _set_foreground(child.tty_fd, os.getpgrp())
    own = signal.signal(signum, signal.SIG_DFL)
    try:
        # a stop signal other than SIGSTOP is discarded in an orphaned process group
        os.kill(os.getpid(), signum if _group_has_a_shell() else signal.SIGSTOP)
    finally:
        signal.signal(signum, own)
    tty = child.tty_fd if child.tty_fd is not None else (0 if os.isatty(0) else None)
    if tty is not None and _in_foreground(tty):  # `fg` of a job started in the background too
        _set_foreground(tty, child.pgid)
        child.tty_fd = tty
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pgid, signal.SIGCONT)


def _in_foreground_group(fd: int, pgid: int) -> bool:
    try:
        return os.tcgetpgrp(fd) == pgid
    except OSError:
        return False


def _group_has_a_shell() -> bool:
    """Whether our parent is in our session but another group (a job-control shell): then
    our group is not orphaned and SIGTSTP stops us."""
    try:
        parent = os.getppid()
        return os.getsid(parent) == os.getsid(0) and os.getpgid(parent) != os.getpgrp()
    except OSError:
        return False


def stop_group(child: Child, grace_s: float) -> None:
    """SIGTERM the child's group now and SIGKILL it after ``grace_s`` if it is still there."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pgid, signal.SIGTERM)

    def kill_later() -> None:
        time.sleep(grace_s)
        if child.popen.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pgid, signal.SIGKILL)

    threading.Thread(target=kill_later, name="xprof-budget-kill", daemon=True).start()


def reap_orphans(pids: Sequence[int], on_reaped: Callable[[int, float, int], None]) -> list[int]:
    """Reap those of ``pids`` (our children) that have exited; return the pids reaped."""
    reaped = []
    for pid in pids:
        try:
            got, _status, usage = os.wait4(pid, os.WNOHANG)
        except ChildProcessError:
            continue
        if got == pid:
            on_reaped(pid, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024)
            reaped.append(pid)
    return reaped


def own_children(self_pid: int | None = None) -> list[int]:
    """PIDs whose parent is this process (Linux; [] elsewhere)."""
    self_pid = self_pid or os.getpid()
    kids: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{self_pid}/task"):
            with open(f"/proc/{self_pid}/task/{tid}/children") as fh:
                kids.extend(int(p) for p in fh.read().split())
    except OSError:
        return []
    return kids


def end_leftovers(child: Child, candidates: Callable[[], list[int]],
                  on_reaped: Callable[[int, float, int], None], grace_s: float) -> None:
    """After the child's exit (and the group's SIGTERM): reap the orphans that end while the
    child's group empties; SIGKILL the group if anything is left after ``grace_s``, as
    dumb-init users expect. Returns at once when nothing is left."""
    if _group_empties(child.pgid, candidates, on_reaped, grace_s):
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pgid, signal.SIGKILL)
    _group_empties(child.pgid, candidates, on_reaped, 2.0)


def _group_empties(pgid: int, candidates: Callable[[], list[int]],
                   on_reaped: Callable[[int, float, int], None], timeout: float) -> bool:
    """Reap ``candidates`` until no process of group ``pgid`` is left (zombies count until
    reaped) or ``timeout`` passes; True when the group is empty."""
    deadline = time.monotonic() + timeout
    while True:
        reap_orphans(candidates(), on_reaped)
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # someone else's process: not ours to wait for or kill
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def exit_code(status: int) -> int:
    """The child's exit code, or 128+N when signal N killed it."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    return 1
