"""Money as people read it: one formatter for the summary, CLI, advice, dashboard and report.

Money stays a ``Decimal`` until it becomes text here. Rule: cents for amounts from one unit
up, and at least two significant digits below (``$0.13``, ``$0.011``, ``$0.00042``), so a
total never reads rounder than the rows it sums; half rounds up; thousands grouped; known
currencies by symbol (``$``, ``€``, ``£``), others by code after the amount; never scientific
notation.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹"}


def _places(value: Decimal, least: int = 2) -> int:
    """Decimal places that show ``value`` with two significant digits, at least ``least``."""
    if value == 0:
        return least
    return max(least, 1 - value.adjusted())


def _with_currency(text: str, currency: str, suffix: str = "") -> str:
    negative = text.startswith("-")
    text = text.lstrip("-")
    symbol = CURRENCY_SYMBOLS.get(currency)
    body = f"{symbol}{text}{suffix}" if symbol else f"{text}{suffix} {currency}"
    return f"-{body}" if negative else body


def format_money(value: Decimal | float | int | str, currency: str = "USD") -> str:
    """``$4.12``, ``€1,234.50``, ``12.30 CHF``; under a unit keeps two significant digits
    (``$0.125`` → ``$0.13``, ``$0.011``, ``$0.00042``)."""
    value = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    places = _places(value)
    quantized = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return _with_currency(f"{quantized:,f}", currency)


def format_given(value: Decimal, currency: str = "USD") -> str:
    """An amount a person typed (a budget), every digit kept, at least cents: ``$0.0007``,
    ``$0.02``, ``$25.00``."""
    value = Decimal(value)
    places = max(2, -value.normalize().as_tuple().exponent)
    return _with_currency(f"{value.quantize(Decimal(1).scaleb(-places)):,f}", currency)


def format_amount(value: Decimal | None, currency: str = "USD") -> str:
    """Alert texts: :func:`format_money`, ``unknown`` for None."""
    return "unknown" if value is None else format_money(value, currency)


def format_rate(value: Decimal, currency: str = "USD") -> str:
    """``$3.06/h``; rates under 10 cents keep four decimals (``$0.0416/h``)."""
    places = Decimal("0.01") if value >= Decimal("0.1") else Decimal("0.0001")
    return _with_currency(f"{value.quantize(places, rounding=ROUND_HALF_UP):,f}", currency,
                          "/h")


def currency_label(currency: str | None) -> str:
    """The symbol of a known currency, else its code: ``$``, ``€``, ``CHF``."""
    currency = currency or "USD"
    return CURRENCY_SYMBOLS.get(currency, currency)
