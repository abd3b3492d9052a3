"""Money as people read it: one formatter for the summary, CLI, advice, dashboard and report.

Money stays a ``Decimal`` until it becomes text here.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal


def _symbol(currency: str) -> tuple[str, str]:
    return ("$", "") if currency == "USD" else ("", f" {currency}")


def format_money(value: Decimal, currency: str = "USD", grouped: bool = False) -> str:
    """``$4.12``; amounts under a cent keep two significant digits (``$0.00042``);
    ``grouped``: thousands separated (``$1,204.50``)."""
    before, after = _symbol(currency)
    if value == 0 or abs(value) >= Decimal("0.01"):
        cents = value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        text = f"{cents:,}" if grouped else f"{cents}"
    else:
        exponent = value.adjusted() - 1  # two significant digits
        text = f"{value.quantize(Decimal(1).scaleb(exponent), rounding=ROUND_HALF_UP):f}"
    return f"{before}{text}{after}"


def format_amount(value: Decimal | None, currency: str = "USD") -> str:
    """Alert texts: :func:`format_money` with thousands separated, ``unknown`` for None."""
    return "unknown" if value is None else format_money(value, currency, grouped=True)


def format_rate(value: Decimal, currency: str = "USD") -> str:
    """``$3.06/h``; rates under 10 cents keep four decimals (``$0.0416/h``)."""
    before, after = _symbol(currency)
    places = Decimal("0.01") if value >= Decimal("0.1") else Decimal("0.0001")
    return f"{before}{value.quantize(places, rounding=ROUND_HALF_UP)}{after}/h"
