"""How amounts, durations and user text are shown: shared by the dashboard and the report.

Pure functions, standard library only. Money stays a ``Decimal`` until it becomes text here.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_EVEN, Decimal

from xprof.units import duration_text

CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹"}

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>~$|:&])")
_MD_LEADING = re.compile(r"^(\s*\d*)([#+=.)-])")


def money(amount: Decimal | None, currency: str | None, *, places: int = 2) -> str:
    """``$4.12``, ``12.30 EUR``; amounts under one cent keep 4 decimals; None -> "—"."""
    if amount is None or currency is None:
        return "—"
    amount = Decimal(amount)
    if amount != 0 and abs(amount) < Decimal("0.01"):
        places = max(places, 4)
    text = f"{amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN):,}"
    symbol = CURRENCY_SYMBOLS.get(currency)
    if symbol:
        return f"-{symbol}{text[1:]}" if text.startswith("-") else f"{symbol}{text}"
    return f"{text} {currency}"


def per_money_label(currency: str | None) -> str:
    """Label of an efficiency column: "per $", "per €", "per CHF"."""
    currency = currency or "USD"
    return f"per {CURRENCY_SYMBOLS.get(currency, currency)}"


def duration(seconds: float | None) -> str:
    """``1h21m``, ``4m5s``, ``12s``; None -> "—"."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "—"
    return duration_text(float(seconds))


def number(value: float | None, digits: int = 4) -> str:
    """A metric value with ``digits`` significant digits; None/NaN -> "—"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}g}"


def p_value(p: float | None) -> str:
    """A p-value as people read it: ``p = 0.012``, ``p < 0.001``."""
    if p is None or math.isnan(p):
        return "p = n/a"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def escape_markdown(text: object) -> str:
    """User text made inert for Markdown (no links, emphasis, colour directives or HTML)."""
    flat = " ".join(str(text).splitlines())
    return _MD_LEADING.sub(lambda m: m.group(1) + "\\" + m.group(2),
                           _MD_SPECIAL.sub(r"\\\1", flat))
