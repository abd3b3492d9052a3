"""``xprof.log(step=..., **metrics)``: the training script's side of the metrics channel.

Inside ``xprof run`` the agent sets ``XPROF_METRICS_FILE``; each call appends one JSON line
to it with a single ``write`` on an ``O_APPEND`` descriptor, so calls from several processes
(DataLoader workers, torchrun ranks) never interleave, never block on the agent, and survive
an agent that died. Outside ``xprof run`` a call does nothing and warns once. Each agent has
its own file (:func:`metrics_file_path`), so ranks sharing a run id on one node never read
each other's lines. ``xprof.log`` never raises into the training script: a bad step or
value is dropped with a warning, once.

Standard library only, and nothing here touches the GPU or the store.
"""

from __future__ import annotations

import json
import math
import os
import socket
import tempfile
import time
import warnings
from pathlib import Path

ENV_FILE = "XPROF_METRICS_FILE"
MAX_PARAM_CHARS = 1000
STEP_RANGE = range(-(2**63), 2**63)  # what a store's BIGINT holds
_warned: set[str] = set()
MAX_TEMPLATES = 10_000
_templates: dict[tuple[str, ...], str] = {}  # metric names -> their metrics line, to format


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        warnings.warn(message, RuntimeWarning, stacklevel=3)


def metrics_file_path(run_id: str) -> Path:
    """This agent's metrics file: one per agent (host and pid), even when several agents on
    one node share a run id (torchrun/SLURM ranks)."""
    host = "".join(c if c.isalnum() or c in "-_." else "_" for c in socket.gethostname())
    return Path(tempfile.gettempdir()) / f"xprof-{run_id}-{host}-{os.getpid()}.metrics.jsonl"


def log(step: int | None = None, **metrics: float) -> None:
    """Record metrics (numbers) for the current run, optionally at a training step. Never
    raises: a step or value that is not a number is dropped with a warning (once).

    Example: ``xprof.log(step=epoch, val_acc=0.91, loss=0.23)``.
    """
    try:
        _log(step, metrics)
    except Exception as exc:  # the training script comes first
        _warn_once(f"error:{type(exc).__name__}", f"xprof.log: metrics dropped ({exc!r})")


def _log(step: object, metrics: dict[str, object]) -> None:
    path = os.environ.get(ENV_FILE)
    if not path:
        _warn_once("outside", "xprof.log: not running under `xprof run` nor inside "
                  "`xprof.profile`/`xprof.start`; metrics are not recorded")
        return
    values = {key: number for key, value in metrics.items()
              if (number := _number(key, value)) is not None}
    if not values:
        return
    try:
        append_text(path, metrics_line(time.time(), _step(step), values))
    except OSError as exc:
        _warn_once("io", f"xprof.log: cannot write metrics ({exc.strerror}); metrics dropped")


def _number(key: str, value: object) -> float | None:
    """``value`` as a finite float, else None (warned once per key when not a number)."""
    if isinstance(value, bool):
        value = int(value)
    try:
        number = float(value)  # type: ignore[arg-type]
    except Exception:  # TypeError, ValueError, OverflowError, a tensor's RuntimeError
        _warn_once(f"type:{key}", f"xprof.log: {key}={value!r:.80} is not a number; skipped")
        return None
    return number if math.isfinite(number) else None


def _step(step: object) -> int | None:
    """``step`` as a whole number in the store's range, else None (warned once)."""
    if step is None:
        return None
    try:
        number = int(step)  # type: ignore[call-overload]
    except Exception:
        number = None
    if number is None or isinstance(step, bool) or number not in STEP_RANGE:
        _warn_once("step", f"xprof.log: step={step!r:.80} is not a whole number; "
                           "logged without a step")
        return None
    return number


def write_params_line(params: dict) -> bool:
    """Append a params line (``{"ts": T, "step": null, "metrics": {}, "params": {...}}``) to
    ``XPROF_METRICS_FILE``, values as text; False when there is no file or it fails."""
    path = os.environ.get(ENV_FILE)
    if not path:
        return False
    try:
        append_record(path, {"ts": time.time(), "step": None, "metrics": {},
                             "params": {str(k): param_text(v) for k, v in params.items()}})
    except OSError:
        return False
    return True


def param_text(value: object) -> str:
    """A param value as stored, one encoding for every entry point: text as is, anything else
    as JSON (``false``, ``0.001``, ``[1, 2]``, ``null``); readers type it back."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:MAX_PARAM_CHARS]


def metrics_line(ts: float, step: int | None, metrics: dict[str, float]) -> str:
    """One metrics record as its JSON line, the same text as compact ``json.dumps`` gives for
    ``{"ts": ts, "step": step, "metrics": metrics}`` (finite floats): one ``%`` format of a
    template made once per set of keys (:data:`MAX_TEMPLATES` kept), as a training loop logs
    the same few keys again and again."""
    keys = tuple(metrics)
    template = _templates.get(keys)
    if template is None:
        template = ('{"ts":%r,"step":%s,"metrics":{'
                    + ",".join(json.dumps(key).replace("%", "%%") + ":%r" for key in keys)
                    + "}}\n")
        if len(_templates) < MAX_TEMPLATES:
            _templates[keys] = template
    return template % (ts, "null" if step is None else int(step), *metrics.values())


def append_record(path: str, record: dict) -> None:
    """Append ``record`` as one JSON line (see :func:`append_text`); raises OSError."""
    append_text(path, json.dumps(record, separators=(",", ":")) + "\n")


def append_text(path: str, text: str) -> None:
    """Append ``text`` (whole JSON lines) with a single write on an O_APPEND descriptor, so
    lines from several processes never interleave; raises OSError."""
    data = text.encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        view = memoryview(data)
        while view:  # a regular file takes it whole; a short write is finished, not lost
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
