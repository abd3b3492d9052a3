"""The efficiency rule: what a run bought per unit of money (the "score", shown as "metric
per $"). One implementation for ``xprof.runs()``, the dashboard and the report.

- objective to maximise (accuracy, F1, reward): ``score = (value - baseline) / cost`` with
  baseline 0 unless one is given, i.e. plain metric per dollar;
- objective to minimise (loss, error, perplexity): ``score = (baseline - value) / cost``, the
  improvement over a baseline per dollar. The baseline defaults to the worst (largest) value
  among the runs given, so that run scores 0; a meaningful baseline (the loss of a constant
  predictor) makes scores comparable across time;
- no score when the objective or the cost is unknown, or the cost is zero or negative
  (credits).

Pure functions over pandas series.
"""

from __future__ import annotations

import math

import pandas as pd

MODES = ("max", "min")


def check_mode(mode: str) -> None:
    """ValueError unless ``mode`` is ``max`` or ``min``."""
    if mode not in MODES:
        raise ValueError(f"objective mode must be max or min, got {mode!r}")


def cost_as_float(cost: pd.Series) -> pd.Series:
    """Decimal costs as floats for ratios and chart axes (None -> NaN); sums stay Decimal."""
    return pd.to_numeric(cost, errors="coerce").astype("float64")


def default_baseline(objective: pd.Series, mode: str) -> float:
    """0 for a maximised objective; the worst (largest) known value for a minimised one."""
    check_mode(mode)
    if mode == "max":
        return 0.0
    known = objective.dropna()
    return float(known.max()) if len(known) else math.nan


def efficiency(objective: pd.Series, cost: pd.Series, mode: str,
               baseline: float | None = None) -> pd.Series:
    """The score of each run (see the module doc): gain over the baseline per unit of money."""
    check_mode(mode)
    if baseline is None:
        baseline = default_baseline(objective, mode)
    price = cost_as_float(cost)
    gain = objective - baseline if mode == "max" else baseline - objective
    score = gain.astype("float64") / price.where(price > 0)
    return score.astype("float64")
