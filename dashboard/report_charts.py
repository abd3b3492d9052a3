"""Inline SVG charts for the HTML report: no script, no font or file from anywhere else.

Each function returns one ``<svg>`` element as text; every label is escaped here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from xprof.dashboard.formatting import number

PALETTE = {"billed": "#2b6cb0", "estimate": "#90cdf4", "idle": "#ed8936",
           "point": "#a0aec0", "frontier": "#c53030", "used": "#2f855a", "unused": "#ed8936"}
FONT = 'font-family="system-ui, sans-serif" font-size="11"'


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exponent = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * exponent:
            return step * exponent
    return 10 * exponent


def _tick(value: float, step: float | None = None) -> str:
    """An axis label with the decimals its ``step`` needs, so neighbours never read the same
    (0.0025, 0.0050, …); without a step, three significant digits. No scientific notation."""
    if value == 0 and step is None:
        return "0"
    digits = 1 if step else 2  # a step needs two significant digits, a value three
    scale = step if step else abs(value)
    places = max(0, digits - math.floor(math.log10(scale))) if scale else 0
    text = f"{value:,.{min(places, 12)}f}"
    if step is None and "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _value(value: float) -> str:
    """A data value (objective) for a label: four significant digits, no exponent."""
    return number(value)


def _short(text: str, width: int = 14) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def stacked_bars(title: str, categories: Sequence[str],
                 series: Sequence[tuple[str, Sequence[float]]], unit: str,
                 width: int = 640, height: int = 240) -> str:
    """Vertical bars, one per category, stacked by series (name, values); ``unit`` on the axis.

    Series names pick their colour from PALETTE; each bar has a <title> tooltip.
    """
    left, right, top, bottom = 56, 120, 28, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(values[i] for _, values in series) for i in range(len(categories))]
    peak = _nice_max(max(totals, default=0))
    step = plot_w / max(len(categories), 1)
    bar = min(max(step * 0.7, 1), 48)
    every = max(1, math.ceil(len(categories) * 60 / plot_w))  # labels that fit
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}" {FONT}>',
           f'<title>{escape(title)}</title>',
           f'<text x="{left}" y="16" font-size="13" font-weight="600">{escape(title)}</text>']
    for i in range(5):
        value = peak * i / 4
        y = top + plot_h - plot_h * i / 4
        out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" '
                   'stroke="#e2e8f0"/>')
        out.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">'
                   f'{escape(_tick(value, peak / 4))}</text>')
    out.append(f'<text x="12" y="{top + plot_h / 2:.0f}" transform="rotate(-90 12 '
               f'{top + plot_h / 2:.0f})" text-anchor="middle">{escape(unit)}</text>')
    for i, category in enumerate(categories):
        x = left + i * step + (step - bar) / 2
        base = top + plot_h
        for name, values in series:
            h = plot_h * values[i] / peak if peak else 0
            if h <= 0:
                continue
            base -= h
            out.append(f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                       f'fill="{PALETTE.get(name, "#718096")}"><title>{escape(category)} '
                       f'{escape(name)}: {escape(_tick(values[i]))} {escape(unit)}</title></rect>')
        if i % every == 0:
            out.append(f'<text x="{x + bar / 2:.1f}" y="{top + plot_h + 14}" '
                       f'text-anchor="middle">{escape(_short(category))}</text>')
    for j, (name, _) in enumerate(series):
        y = top + 10 + j * 16
        out.append(f'<rect x="{left + plot_w + 12}" y="{y - 9}" width="10" height="10" '
                   f'fill="{PALETTE.get(name, "#718096")}"/>')
        out.append(f'<text x="{left + plot_w + 26}" y="{y}">{escape(name)}</text>')
    out.append("</svg>")
    return "".join(out)


def frontier_scatter(title: str, points: Sequence[dict], objective: str, unit: str,
                     width: int = 640, height: int = 280) -> str:
    """Cost (x) against objective (y) per run; the Pareto frontier in red, joined by a line.

    ``points``: dicts with name, cost, objective, frontier (one currency).
    """
    left, right, top, bottom = 60, 20, 28, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    costs = [p["cost"] for p in points] or [0.0]
    values = [p["objective"] for p in points] or [0.0]
    x_max = _nice_max(max(costs))
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.1 or abs(hi) * 0.05 or 1.0
    lo, hi = lo - pad, hi + pad

    def xy(p: dict) -> tuple[float, float]:
        return (left + plot_w * p["cost"] / x_max,
                top + plot_h - plot_h * (p["objective"] - lo) / (hi - lo))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}" {FONT}>',
           f'<title>{escape(title)}</title>',
           f'<text x="{left}" y="16" font-size="13" font-weight="600">{escape(title)}</text>',
           f'<line x1="{left}" x2="{left + plot_w}" y1="{top + plot_h}" y2="{top + plot_h}" '
           'stroke="#a0aec0"/>',
           f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + plot_h}" stroke="#a0aec0"/>']
    for i in range(5):
        xv = x_max * i / 4
        x = left + plot_w * i / 4
        out.append(f'<text x="{x:.1f}" y="{top + plot_h + 14}" text-anchor="middle">'
                   f'{escape(_tick(xv, x_max / 4))}</text>')
        yv = lo + (hi - lo) * i / 4
        y = top + plot_h - plot_h * i / 4
        out.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">'
                   f'{escape(_tick(yv, (hi - lo) / 4))}</text>')
    out.append(f'<text x="{left + plot_w / 2:.0f}" y="{height - 6}" text-anchor="middle">'
               f'cost ({escape(unit)})</text>')
    out.append(f'<text x="12" y="{top + plot_h / 2:.0f}" transform="rotate(-90 12 '
               f'{top + plot_h / 2:.0f})" text-anchor="middle">{escape(objective)}</text>')
    frontier = sorted((p for p in points if p["frontier"]), key=lambda p: p["cost"])
    if len(frontier) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in map(xy, frontier))
        out.append(f'<polyline points="{path}" fill="none" stroke="{PALETTE["frontier"]}" '
                   'stroke-width="1.5"/>')
    for p in sorted(points, key=lambda p: p["frontier"]):
        x, y = xy(p)
        colour = PALETTE["frontier"] if p["frontier"] else PALETTE["point"]
        out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{4 if p["frontier"] else 3}" '
                   f'fill="{colour}"><title>{escape(str(p["name"]))}: {_value(p["objective"])} '
                   f'for {escape(_tick(p["cost"]))} {escape(unit)}</title></circle>')
    out.append("</svg>")
    return "".join(out)
