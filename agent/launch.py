"""The launcher's contract, top to bottom (after tini and dumb-init):

1. ``spawn``: start the command in its own process group, with a pty for its output when
   xprof's stdout is a terminal (pipes otherwise), and its group in the terminal's foreground
   when stdin is a terminal, so ``input()`` and pdb work. A missing command is exit 127, one
   that cannot be executed 126.
2. ``forward_signals``: SIGINT, SIGTERM and SIGHUP sent to xprof go to the child's group;
   SIGWINCH resizes the child's pty.
3. ``wait_for_exit``: reap the child (and orphans the subreaper inherits) with ``wait4``, so
   their CPU time is accounted; then SIGTERM whatever the command left in its group.
4. ``exit_code``: the child's code, or 128+N when signal N killed it. Never anything else.
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

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class LaunchError(Exception):
    """The command could not be started; ``code`` is 127 (not found) or 126 (not executable)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Child:
    """A started command and the file descriptors xprof reads its output from."""

    popen: subprocess.Popen
    pgid: int
    output_fds: dict[int, int] = field(default_factory=dict)  # our read fd -> fd to copy it to
    pty_master: int | None = None
    tty_fd: int | None = None  # the terminal whose foreground group we handed over

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


def spawn(argv: Sequence[str], env: Mapping[str, str]) -> Child:
    """Start ``argv``; raise LaunchError (127/126) when it cannot be executed."""
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
    child = Child(popen=popen, pgid=popen.pid)
    if stdin_tty:
        child.tty_fd = 0
        _set_foreground(0, popen.pid)
    if master is not None:
        os.close(slave)
        child.pty_master = master
        child.output_fds[master] = 1
    if popen.stdout is not None:
        child.output_fds[popen.stdout.fileno()] = 1
    if popen.stderr is not None:
        child.output_fds[popen.stderr.fileno()] = 2
    return child


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
    """Forward SIGINT/SIGTERM/SIGHUP to the child's group; return a function that undoes it."""

    def forward(signum: int, _frame) -> None:
        with contextlib.suppress(ProcessLookupError):  # gone already: its exit is on its way
            os.killpg(child.pgid, signum)

    def resize(_signum: int, _frame) -> None:
        if child.pty_master is not None:
            _copy_winsize(1, child.pty_master)

    previous = {sig: signal.signal(sig, forward) for sig in FORWARDED}
    previous[signal.SIGWINCH] = signal.signal(signal.SIGWINCH, resize)

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore


def wait_for_exit(child: Child, on_reaped: Callable[[int, float], None]) -> int:
    """Block until the child exits; report its CPU seconds (rusage, its waited-for descendants
    included) to ``on_reaped``; SIGTERM what it left in its group. Returns the wait status."""
    while True:
        try:
            pid, status, usage = os.wait4(child.pid, 0)
        except ChildProcessError:  # reaped elsewhere: nothing more to learn
            status, usage = 0, None
            break
        if pid == child.pid and (os.WIFEXITED(status) or os.WIFSIGNALED(status)):
            break
    child.popen.returncode = os.waitstatus_to_exitcode(status)
    if usage is not None:
        on_reaped(child.pid, usage.ru_utime + usage.ru_stime)
    if child.tty_fd is not None:
        _set_foreground(child.tty_fd, os.getpgrp())
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pgid, signal.SIGTERM)  # leftovers of the command, as dumb-init does
    return status


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


def reap_orphans(pids: Sequence[int], on_reaped: Callable[[int, float], None]) -> list[int]:
    """Reap those of ``pids`` (our children) that have exited; return the pids reaped."""
    reaped = []
    for pid in pids:
        try:
            got, _status, usage = os.wait4(pid, os.WNOHANG)
        except ChildProcessError:
            continue
        if got == pid:
            on_reaped(pid, usage.ru_utime + usage.ru_stime)
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


def wait_for_leftovers(candidates: Callable[[], list[int]], on_reaped: Callable[[int, float], None],
                       timeout: float = 2.0) -> None:
    """After the child's exit, reap orphans that the group SIGTERM ended, for a short while."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pending = candidates()
        if not pending:
            return
        reap_orphans(pending, on_reaped)
        time.sleep(0.02)


def exit_code(status: int) -> int:
    """The child's exit code, or 128+N when signal N killed it."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    return 1


def write_all(fd: int, data: bytes) -> None:
    """Write everything, retrying short writes; drop output if the fd is gone."""
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            time.sleep(0.001)
            continue
        except OSError:
            return
        view = view[n:]
