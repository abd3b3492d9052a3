"""How amounts, durations and user text are shown: shared by the dashboard and the report.

Pure functions, standard library only. Money stays a ``Decimal`` until it becomes text here.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

from xprof.money import currency_label, format_money
from xprof.numbers import number as number  # re-exported: one place for pages
from xprof.numbers import p_value as p_value
from xprof.units import cores_text, duration_text, human_bytes

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>~$|:&])")
_MD_LEADING = re.compile(r"^(\s*\d*)([#+=.)-])")


def money(amount: Decimal | None, currency: str | None) -> str:
    """:func:`xprof.money.format_money` (the one money formatter); None -> "—"."""
    if amount is None or currency is None:
        return "—"
    return format_money(amount, currency)


def per_money_label(currency: str | None) -> str:
    """Label of an efficiency column: "per $", "per €", "per CHF"."""
    return f"per {currency_label(currency)}"


def duration(seconds: float | None) -> str:
    """``1h21m``, ``4m5s``, ``12s``; None -> "—"."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "—"
    return duration_text(float(seconds))




def escape_markdown(text: object) -> str:
    """User text made inert for Markdown (no links, emphasis, colour directives or HTML)."""
    flat = " ".join(str(text).splitlines())
    return _MD_LEADING.sub(lambda m: m.group(1) + "\\" + m.group(2),
                           _MD_SPECIAL.sub(r"\\\1", flat))


def summary_row(summary: dict) -> dict[str, str]:
    """A run's summary figures as people read them, labelled (absent figures left out)."""
    row = {label: cores_text(summary[key]) for key, label in (
        ("cpu_cores_p50", "CPU cores p50"), ("cpu_cores_p95", "CPU cores p95"),
        ("cpu_cores_max", "CPU cores max")) if summary.get(key) is not None}
    for key, label in (("rss_peak_process_bytes", "peak memory, one process (exact)"),
                       ("rss_peak_bytes", "peak memory, whole tree (sampled)")):
        if summary.get(key) is not None:
            row[label] = human_bytes(summary[key])
    for key, label in (("gpu_util_p50", "GPU util p50"), ("gpu_util_p95", "GPU util p95")):
        if summary.get(key) is not None:
            row[label] = f"{summary[key]:.0f}%"
    return row
