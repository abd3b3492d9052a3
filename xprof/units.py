"""Durations and sizes as people read them; one implementation for summary, CLI, dashboard,
report and advice texts."""

from __future__ import annotations


def duration_text(seconds: float) -> str:
    """``45s``, ``4m``, ``7m30s``, ``1h21m``, ``2d3h``."""
    total = round(seconds)
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m{secs}s" if secs and minutes < 10 else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours}h" if hours else f"{days}d"


def format_span(seconds: float) -> str:
    """Alert texts: ``45s``, ``7m``, ``1h21m``, ``2d3h`` (whole minutes above a minute)."""
    total = max(0, round(seconds))
    if total < 60:
        return f"{total}s"
    minutes = total // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours}h" if hours else f"{days}d"


def bytes_text(n: float) -> str:
    """``512 B``, ``1.5 KiB``, ``218.0 MiB``, ``1.2 GiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def human_duration(seconds: float | None) -> str:
    """:func:`duration_text`, or ``n/a`` when unknown."""
    return "n/a" if seconds is None else duration_text(seconds)


def human_bytes(n: float | None) -> str:
    """:func:`bytes_text`, or ``n/a`` when unknown."""
    return "n/a" if n is None else bytes_text(n)


def cores_text(cores: float | None) -> str:
    """CPU cores with two decimals: ``0.95``; ``n/a`` when unknown."""
    return "n/a" if cores is None else f"{cores:.2f}"


def cpu_seconds_text(seconds: float | None) -> str:
    """``1.60 CPU-s``, ``3,725 CPU-s (1h2m)``; ``n/a`` when unknown."""
    if seconds is None:
        return "n/a"
    text = f"{seconds:.2f} CPU-s" if seconds < 100 else f"{seconds:,.0f} CPU-s"
    return text + (f" ({duration_text(seconds)})" if seconds >= 60 else "")
