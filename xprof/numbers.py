"""Numbers as people read them (metric values, scores, p-values): never scientific notation.
One implementation for the CLI, the dashboard and the report. Standard library only."""

from __future__ import annotations

import math


def number(value: float | None, digits: int = 4) -> str:
    """A metric value with ``digits`` significant digits, never scientific notation
    (``15,430``, ``0.9512``, ``0.0001234``); None/NaN -> "—"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    value = float(value)
    if value == 0 or math.isinf(value):
        return f"{value:g}"
    places = digits - 1 - math.floor(math.log10(abs(value)))
    if places <= 0:
        return f"{round(value):,}"
    return f"{value:,.{min(places, 15)}f}".rstrip("0").rstrip(".")


def p_value(p: float | None) -> str:
    """A p-value as people read it: ``p = 0.012``, ``p < 0.001``."""
    if p is None or math.isnan(p):
        return "p = n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
