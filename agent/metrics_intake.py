"""The run's logged metrics: stdout lines, ``xprof.log``'s file and ``--metrics-file``, as
:class:`~xprof.records.Metric` records in arrival order."""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from xprof.agent.once import WARN
from xprof.agent.run_stats import RunStats
from xprof.records import Metric


class MetricsIntake:
    """Reads the metrics channels; pending records wait here for the next flush."""

    def __init__(self, metrics_path: Path, stats: RunStats,
                 add_params: Callable[[dict[str, str]], None]) -> None:
        self.metrics_path = metrics_path
        self.stats = stats
        self.add_params = add_params
        self.stdout: deque[tuple[float, int | None, dict[str, float]]] = deque()
        self.pending: list[Metric] = []
        self._seq = 0
        self._offset = 0

    def on_stdout(self, ts: float, step: int | None, values: dict[str, float]) -> None:
        """A metric line parsed from the command's output (output thread)."""
        self.stdout.append((ts, step, values))

    def collect(self) -> None:
        """Metrics from stdout lines and from xprof.log's file, in arrival order."""
        while self.stdout:
            ts, step, values = self.stdout.popleft()
            self.add(ts, step, values, "stdout")
        try:
            with open(self.metrics_path, "rb") as fh:
                fh.seek(self._offset)
                data = fh.read()
        except FileNotFoundError:
            return
        except OSError as exc:
            WARN.warn("metrics-file", f"cannot read logged metrics: {exc}")
            return
        end = data.rfind(b"\n") + 1
        self._offset += end
        for line in data[:end].splitlines():
            try:
                record = json.loads(line)
                self.add(float(record["ts"]), record.get("step"), record["metrics"], "log")
                if record.get("params"):
                    self.add_params({str(k): str(v) for k, v in record["params"].items()})
            except (ValueError, KeyError, TypeError):
                WARN.warn("metrics-line", "skipped a malformed xprof.log line")

    def collect_safely(self) -> None:
        """:meth:`collect`, a failure logged once."""
        try:
            self.collect()
        except Exception as exc:
            WARN.warn("metrics", f"could not read metrics: {exc}")

    def add(self, ts: float, step: int | None, values: dict, source: str) -> None:
        for key, value in values.items():
            self._seq += 1
            self.pending.append(Metric(seq=self._seq, key=str(key)[:200], value=float(value),
                                       ts=ts, step=step, source=source))
            self.stats.add_metric(str(key), float(value), step)

    def read_file(self, path: Path) -> None:
        """``--metrics-file``: a JSON object (or list of them) the command wrote at its end."""
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            WARN.warn("metrics-file-missing", f"--metrics-file {path} was not written")
            return
        except (OSError, ValueError) as exc:
            WARN.warn("metrics-file-bad", f"--metrics-file {path}: not JSON ({exc})")
            return
        records = data if isinstance(data, list) else [data]
        now = time.time()
        for record in records:
            if isinstance(record, dict):
                step = record.pop("step", None)
                values = {k: v for k, v in record.items()
                          if isinstance(v, int | float) and not isinstance(v, bool)}
                self.add(now, step, values, "file")
