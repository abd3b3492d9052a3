"""Keeping the tail of the command's output and reading metric lines from it.

The output relay (agent/relay.py) passes the command's output through unchanged and hands
the agent a copy; one thread here reads that copy, keeps the last bytes for the run record
and hands complete lines to a metric parser: ``xprof: {"val_acc": 0.91, "step": 3}`` always, plus an
optional ``--metric-pattern`` regular expression.
"""

from __future__ import annotations

import json
import math
import os
import re
import selectors
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

METRIC_PREFIX = re.compile(r"^\s*xprof:\s*(\{.*\})\s*$")


class MetricLineParser:
    """Turns output lines into (ts, step, {key: value}) metric records."""

    def __init__(self, pattern: str | None = None) -> None:
        self.pattern = re.compile(pattern) if pattern else None

    def parse(self, line: str) -> tuple[int | None, dict[str, float]] | None:
        match = METRIC_PREFIX.match(line)
        if match:
            try:
                data = json.loads(match.group(1))
            except ValueError:
                return None
            if not isinstance(data, dict):
                return None
            step = data.pop("step", None)
            return _as_step(step), _numbers(data)
        if self.pattern:
            found = self.pattern.search(line)
            if found:
                groups = {k: v for k, v in found.groupdict().items() if v is not None}
                step = groups.pop("step", None)
                if "key" in groups and "value" in groups:
                    groups = {groups["key"]: groups["value"]}
                values = _numbers(groups)
                if values:
                    return _as_step(step), values
        return None


def _as_step(step: object) -> int | None:
    try:
        return None if step is None else int(float(step))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _numbers(data: dict) -> dict[str, float]:
    values = {}
    for key, value in data.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            values[str(key)] = number
    return values


class OutputPump:
    """Reads the relay's copies of the command's output in one thread; keeps a tail and
    metric lines."""

    def __init__(self, fds: Iterable[int], tail_bytes: int,
                 on_metrics: Callable[[float, int | None, dict[str, float]], None],
                 parser: MetricLineParser) -> None:
        self._fds = list(fds)
        self._tail: deque[bytes] = deque()
        self._tail_size = 0
        self._tail_max = tail_bytes
        self._partial: dict[int, bytes] = {}
        self._on_metrics = on_metrics
        self._parser = parser
        self._thread = threading.Thread(target=self._loop, name="xprof-output", daemon=True)

    def start(self) -> OutputPump:
        self._thread.start()
        return self

    def _loop(self) -> None:
        selector = selectors.DefaultSelector()
        for fd in self._fds:
            selector.register(fd, selectors.EVENT_READ)
        open_fds = set(self._fds)
        while open_fds:
            for key, _ in selector.select():
                fd = key.fd
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    data = b""
                if not data:
                    selector.unregister(fd)
                    open_fds.discard(fd)
                    os.close(fd)
                    self._flush_partial(fd)
                    continue
                self._keep(data)
                self._scan(fd, data)
        selector.close()

    def _keep(self, data: bytes) -> None:
        self._tail.append(data)
        self._tail_size += len(data)
        while self._tail_size - len(self._tail[0]) >= self._tail_max and len(self._tail) > 1:
            self._tail_size -= len(self._tail.popleft())

    def _scan(self, fd: int, data: bytes) -> None:
        if b"\n" not in data:
            buffered = self._partial.get(fd, b"") + data
            self._partial[fd] = buffered[-65536:]
            return
        buffered = self._partial.pop(fd, b"") + data
        *lines, rest = buffered.split(b"\n")
        if rest:
            self._partial[fd] = rest[-65536:]
        for raw in lines:
            self._line(raw)

    def _flush_partial(self, fd: int) -> None:
        rest = self._partial.pop(fd, b"")
        if rest:
            self._line(rest)

    def _line(self, raw: bytes) -> None:
        if b"xprof" not in raw and self._parser.pattern is None:
            return
        line = raw.decode("utf-8", "replace").rstrip("\r")
        parsed = self._parser.parse(line)
        if parsed and parsed[1]:
            self._on_metrics(time.time(), parsed[0], parsed[1])

    def tail(self) -> str:
        data = b"".join(self._tail)[-self._tail_max:]
        return data.decode("utf-8", "replace")

    def join(self, timeout: float) -> None:
        """Wait for the output to drain (processes left holding the pipes are not waited for)."""
        self._thread.join(timeout)
