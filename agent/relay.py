"""The output relay: a small process that owns the command's output pipes (or pty), copies
every byte to xprof's own stdout/stderr unchanged, and a copy to the agent for the tail and
the metric lines.

It is forked from the agent right after the command starts, before anything heavy is loaded,
and it outlives the agent: ``kill -9`` of xprof (the process a user kills first, the one the
OOM killer is steered to) leaves the command writing into a live pipe, its output still
reaching the terminal or the log. The relay ignores the signals a terminal or a user sends
to xprof's group, never blocks on the agent (a copy the agent is too slow to take is
dropped; a dead agent gets none), and exits once every writer of the command's output has
closed it. When writing to xprof's stdout fails with EPIPE (``xprof run -- yes | head -1``)
it closes that output, so the command gets SIGPIPE as it would without xprof.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import select
import signal
import threading
import time
from dataclasses import dataclass

IGNORED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGTSTP,
           signal.SIGTTIN, signal.SIGTTOU, signal.SIGPIPE)
CHUNK = 65536
TAP_PIPE_BYTES = 1 << 18  # room for bursts while the agent's thread is busy (small: pipe
# buffers count against a per-user budget that the training's own pipes share)


@dataclass
class Relay:
    """The started relay: its pid and the agent's read ends of the copies."""

    pid: int | None  # None: no process could be forked, a thread of the agent relays
    taps: dict[int, int]  # agent's read fd -> the fd of ours (1 or 2) the bytes went to


def start_relay(routes: dict[int, int]) -> Relay:
    """Start the relay for ``routes`` (command's output fd -> our fd to copy it to); it takes
    the source fds over (the caller must not use or close them)."""
    taps = {src: os.pipe() for src in routes}
    plan = {src: (dst, taps[src][1]) for src, dst in routes.items()}
    agent_taps = {read_end: routes[src] for src, (read_end, _) in taps.items()}
    try:
        pid = os.fork()
    except OSError:  # no process to spare: relay from a thread (it then dies with the agent)
        threading.Thread(target=relay_loop, args=(plan,), name="xprof-relay",
                         daemon=True).start()
        return Relay(pid=None, taps=agent_taps)
    if pid == 0:  # the relay: never returns into the agent's code
        try:
            for sig in IGNORED:
                signal.signal(sig, signal.SIG_IGN)
            _close_all_but(plan, agent_taps)
            relay_loop(plan)
        finally:
            os._exit(0)
    for src, (_, write_end) in taps.items():
        os.close(write_end)
        os.close(src)
    return Relay(pid=pid, taps=agent_taps)


def _close_all_but(plan: dict[int, tuple[int, int]], agent_taps: dict[int, int]) -> None:
    """In the relay: close the agent's ends of the copies, and stdin (the command's input is
    not ours to hold open) unless it is one of the relay's own fds."""
    keep = {fd for src, (_dst, tap) in plan.items() for fd in (src, tap)}
    for fd in {0, *agent_taps} - keep:
        with contextlib.suppress(OSError):
            os.close(fd)


def relay_loop(routes: dict[int, tuple[int, int]]) -> None:
    """Copy each source to its destination and its tap until every source is closed."""
    taps: dict[int, int | None] = {}
    for src, (_dst, tap) in routes.items():
        os.set_blocking(tap, False)
        with contextlib.suppress(OSError, AttributeError):
            fcntl.fcntl(tap, fcntl.F_SETPIPE_SZ, TAP_PIPE_BYTES)
        taps[src] = tap
    poller = select.poll()
    for src in routes:
        poller.register(src, select.POLLIN)
    while taps:
        for src, _events in poller.poll():
            try:
                data = os.read(src, CHUNK)
            except BlockingIOError:
                continue
            except OSError:  # EIO: the pty's last writer closed it
                data = b""
            if data and write_out(routes[src][0], data):
                taps[src] = _tap(taps[src], data)
                continue
            poller.unregister(src)  # closed, or our stdout is a closed pipe (EPIPE)
            os.close(src)
            tap = taps.pop(src)
            if tap is not None:
                os.close(tap)


def _tap(tap: int | None, data: bytes) -> int | None:
    """Offer ``data`` to the agent; never wait for it. None once the agent is gone."""
    if tap is None:
        return None
    try:
        os.write(tap, data)
    except BlockingIOError:
        pass  # the agent is behind: its copy loses this chunk, the command loses nothing
    except OSError:
        os.close(tap)
        return None
    return tap


def write_out(fd: int, data: bytes) -> bool:
    """Write everything to ``fd``, retrying short writes; False only when it is a pipe whose
    reader is gone (EPIPE). Other failures drop the output and go on."""
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            time.sleep(0.001)
            continue
        except OSError as exc:
            return exc.errno != errno.EPIPE
        view = view[n:]
    return True
