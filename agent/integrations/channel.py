"""How a callback reaches the current run: metrics through ``xprof.log``'s file, batched by a
:class:`MetricsBuffer`; hyperparameters through the open in-process run, else as a ``params``
line in that file.

A params line is ``{"ts": T, "step": null, "metrics": {}, "params": {"lr": "0.001"}}``: an
agent that does not read ``params`` sees a line without metrics and skips nothing else.

A callback's cost per logged step is a dict kept in memory (a few µs): the values (tensors
too) are converted to numbers and written, one ``write`` for all of them, every
:data:`FLUSH_S` seconds (checked when a value is logged), at the end of training, when an
in-process run finishes and at exit (``atexit``: ``sys.exit``, an exception, the end of the
script; a buffer with unwritten values is held until then even when its callback is gone).
The trade-off: a process killed outright (SIGKILL, ``os._exit``, the OOM killer) loses what
was logged since the last write, at most the last :data:`FLUSH_S` seconds of metrics;
everything logged before it is in the file, as the agent reads it.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import sys
import threading
import time
import warnings
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from xprof.agent.inprocess import BEFORE_FINISH, current_run
from xprof.metrics_log import ENV_FILE, append_text, metrics_line, write_params_line

__all__ = ["MetricsBuffer", "flatten", "record_params", "write_params_line"]
FLUSH_S = 1.0
_with_pending: set[MetricsBuffer] = set()  # held until written, even when their callback is gone


class MetricsBuffer:
    """Metrics logged by a callback, kept until the next write: ``add(step, values)`` is cheap
    (no conversion, no I/O); ``flush()`` writes what is pending to the run's metrics file."""

    def __init__(self, flush_s: float = FLUSH_S) -> None:
        self.flush_s = flush_s
        # a deque: append (the training thread) and popleft (a flush, maybe on another
        # thread: atexit, an in-process run finishing) are atomic, so add() takes no lock
        self._pending: deque[tuple[float, int | None, Mapping[str, Any]]] = deque()
        self._due = time.time() + flush_s
        self._lock = threading.Lock()  # one flush at a time
        self._warned = False

    def add(self, step: int | None, values: Mapping[str, Any]) -> None:
        """Keep ``values`` (numbers or one-element tensors) logged at ``step``: one clock
        read, one append; a write when :attr:`flush_s` has passed (or the clock went back)."""
        if not self._pending:
            _with_pending.add(self)
        now = time.time()
        self._pending.append((now, step, values))
        if now >= self._due or now < self._due - self.flush_s:
            self.flush()

    def flush(self) -> None:
        """Write what is pending (never raises: the training run comes first)."""
        with self._lock:
            self._due = time.time() + self.flush_s
            _with_pending.discard(self)
            pending = []
            with contextlib.suppress(IndexError):
                while True:
                    pending.append(self._pending.popleft())
        if not pending:
            return
        path = os.environ.get(ENV_FILE)
        if not path:
            self._warn("not running under `xprof run` nor inside `xprof.profile`/"
                       "`xprof.start`; metrics are not recorded")
            return
        try:
            append_text(path, _lines(pending))
        except OSError as exc:
            self._warn(f"cannot write metrics ({exc.strerror}); metrics dropped")
        except Exception as exc:  # the training run comes first
            self._warn(f"cannot record metrics ({exc!r}); metrics dropped")

    def _warn(self, message: str) -> None:
        if not self._warned:
            self._warned = True
            warnings.warn(f"xprof: {message}", RuntimeWarning, stacklevel=3)


def _lines(pending: list[tuple[float, int | None, Mapping[str, Any]]]) -> str:
    """The metrics lines of ``pending``, the finite numbers of each record's values (tensors
    and numpy scalars included), in one pass; torch tensors read in one go
    (:func:`_tensor_floats`)."""
    floats, tensor = _tensor_floats(pending)
    lines = []
    for ts, step, values in pending:
        metrics: dict[str, float] = {}
        for key, value in values.items():
            kind = type(value)
            if kind is float:  # the common case first
                number: float | None = value
            elif floats is not None and isinstance(value, tensor):
                number = next(floats)
            else:
                number = _number(value)
            if number is not None and number - number == 0.0:  # finite: inf - inf is nan
                metrics[key if type(key) is str else str(key)] = number
        if metrics:
            lines.append(metrics_line(ts, step, metrics))
    return "".join(lines)


def _tensor_floats(pending: list[tuple[float, int | None, Mapping[str, Any]]]
                   ) -> tuple[Iterator[float] | None, type | None]:
    """The values of the torch tensors in ``pending``, in order, and the tensor type: read in
    one go (one stack, one copy to the host) instead of one ``item()`` (and one device sync)
    each, or each with ``item()`` when on the CPU (cheaper there than a stack). (None, None)
    when there are none or they cannot be stacked (several devices, several elements): then
    :func:`_number` reads them one by one."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None, None
    tensor = torch.Tensor
    found = [value for _, _, values in pending for value in values.values()
             if isinstance(value, tensor)]
    if not found:
        return None, None
    try:
        if found[0].device.type == "cpu":
            return iter([value.item() for value in found]), tensor
        with torch.no_grad():
            return iter(torch.stack(found).tolist()), tensor
    except Exception:
        return None, None


def flush_all() -> None:
    """Write every buffer's pending metrics (before an in-process run ends; at exit)."""
    for buffer in list(_with_pending):
        buffer.flush()


BEFORE_FINISH.append(flush_all)
atexit.register(flush_all)


def record_params(params: Mapping[str, Any]) -> bool:
    """Record hyperparameters in the current run; False when there is none. The id of an
    active MLflow run goes with them (``mlflow.run_id``): `xprof export mlflow` writes onto
    that MLflow run."""
    if not params:
        return False
    mlflow_run = active_mlflow_run_id()
    if mlflow_run:
        params = {**params, "mlflow.run_id": mlflow_run}
    run = current_run()
    if run is not None:
        run.log_params(**params)
        return True
    return write_params_line(params)


def active_mlflow_run_id() -> str | None:
    """The MLflow run this process logs to, if MLflow is in use here (never imported)."""
    mlflow = sys.modules.get("mlflow")
    if mlflow is None:
        return None
    try:
        run = mlflow.active_run()
    except Exception:
        return None
    return run.info.run_id if run is not None else None


def _number(value: Any) -> float | None:
    """``value`` (a number, a one-element tensor, a numpy scalar) as a float, else None."""
    if type(value) is int:  # an epoch, a count
        try:
            return float(value)
        except OverflowError:
            return None
    if isinstance(value, bool | str):
        return None
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "numel", lambda: 1)() == 1:
        try:
            value = item()
        except (TypeError, ValueError, RuntimeError):
            return None
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None


def flatten(values: Mapping[str, Any], prefix: str = "",
            skip: Iterable[str] = ()) -> dict[str, Any]:
    """Nested mappings as ``a.b`` keys; enums as their value; lists and tuples as JSON text."""
    skipped = set(skip)
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key in skipped:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
            continue
        enum_value = getattr(value, "value", None)
        if enum_value is not None and type(value).__module__ != "builtins" \
                and isinstance(enum_value, str | int | float):
            value = enum_value
        if value is None or isinstance(value, str | int | float | bool):
            out[name] = value
        elif isinstance(value, list | tuple):
            out[name] = json.dumps(value, default=str)
        else:
            out[name] = str(value)
    return out
