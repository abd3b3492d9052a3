"""How a callback reaches the current run: metrics through ``xprof.log``, hyperparameters
through the open in-process run, else as a ``params`` line in ``xprof.log``'s file.

A params line is ``{"ts": T, "step": null, "metrics": {}, "params": {"lr": "0.001"}}``: an
agent that does not read ``params`` sees a line without metrics and skips nothing else.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable, Mapping
from typing import Any

from xprof.agent.inprocess import current_run
from xprof.metrics_log import log as log_metrics
from xprof.metrics_log import write_params_line

__all__ = ["flatten", "log_metrics", "numbers", "record_params", "write_params_line"]


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


def numbers(values: Mapping[str, Any]) -> dict[str, float]:
    """The finite numeric entries of ``values`` (tensors and numpy scalars included)."""
    out: dict[str, float] = {}
    for key, value in values.items():
        if isinstance(value, bool | str):
            continue
        item = getattr(value, "item", None)
        if callable(item) and getattr(value, "numel", lambda: 1)() == 1:
            try:
                value = item()
            except (TypeError, ValueError, RuntimeError):
                continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            out[str(key)] = number
    return out


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
