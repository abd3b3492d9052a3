"""``xprof.log(step=..., **metrics)``: the training script's side of the metrics channel.

Inside ``xprof run`` the agent sets ``XPROF_METRICS_FILE``; each call appends one JSON line
to it with a single ``write`` on an ``O_APPEND`` descriptor, so calls from several processes
(DataLoader workers, torchrun ranks) never interleave, never block on the agent, and survive
an agent that died. Outside ``xprof run`` a call does nothing and warns once.

Standard library only, and nothing here touches the GPU or the store.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings

ENV_FILE = "XPROF_METRICS_FILE"
MAX_PARAM_CHARS = 1000
_warned: set[str] = set()


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        warnings.warn(message, RuntimeWarning, stacklevel=3)


def log(step: int | None = None, **metrics: float) -> None:
    """Record metrics (numbers) for the current run, optionally at a training step.

    Example: ``xprof.log(step=epoch, val_acc=0.91, loss=0.23)``.
    """
    path = os.environ.get(ENV_FILE)
    if not path:
        _warn_once("outside", "xprof.log: not running under `xprof run` nor inside "
                  "`xprof.profile`/`xprof.start`; metrics are not recorded")
        return
    values: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, bool):
            value = int(value)
        try:
            number = float(value)
        except (TypeError, ValueError):
            _warn_once(f"type:{key}", f"xprof.log: {key}={value!r} is not a number; skipped")
            continue
        if math.isfinite(number):
            values[key] = number
    if not values:
        return
    try:
        append_record(path, {"ts": time.time(), "step": None if step is None else int(step),
                             "metrics": values})
    except OSError as exc:
        _warn_once("io", f"xprof.log: cannot write metrics ({exc.strerror}); metrics dropped")


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


def append_record(path: str, record: dict) -> None:
    """Append ``record`` as one JSON line with a single write on an O_APPEND descriptor (lines
    from several processes never interleave); raises OSError."""
    append_records(path, [record])


def append_records(path: str, records: list[dict]) -> None:
    """Append ``records``, one JSON line each, with a single write (see :func:`append_record`);
    raises OSError."""
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    data = "".join([dumps(record) + "\n" for record in records]).encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        view = memoryview(data)
        while view:  # a regular file takes it whole; a short write is finished, not lost
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
