"""The report compares each currency's total with the week before: previous total and change
(amount and percent) equal what the store holds for the two report_store weeks."""

from __future__ import annotations

import json
from decimal import ROUND_HALF_EVEN, Decimal

import pytest

from tests.dashboard.report_helpers import (
    Expected,
    cents,
    money,
    parse_html,
    parse_markdown,
    run_report,
)
from tests.dashboard.report_seed import W46, W47, W48


def _report(report_store, tmp_path, week: str, fmt: str) -> str:
    path = tmp_path / f"{week}.{fmt}"
    result = run_report("--week", week, "--format", fmt, "--out", str(path),
                        "--store", report_store.url)
    assert result.exit_code == 0, result.output
    return path.read_text()


def test_change_against_the_week_before_in_json(report_store, tmp_path) -> None:
    """JSON: previous_total is W46's total, change = W47 − W46, change_pct = change / W46."""
    expected = Expected(report_store.path)
    now, before = expected.totals(W47, W48), expected.totals(W46, W47)
    data = json.loads(_report(report_store, tmp_path, "2026-W47", "json"))
    assert data["previous"]["label"] == "2026-W46"
    rows = {t["currency"]: t for t in data["totals"]}
    for currency in ("USD", "EUR"):
        change = now[currency]["total"] - before[currency]["total"]
        assert Decimal(rows[currency]["previous_total"]) == before[currency]["total"]
        assert Decimal(rows[currency]["change"]) == change
        assert rows[currency]["change_pct"] == pytest.approx(
            float(change / before[currency]["total"] * 100))
    assert before["USD"]["total"] == Decimal("3.512")  # base-a 2.012 + idle 1.50, by hand


@pytest.mark.parametrize("fmt", ["html", "md"])
def test_change_column_in_tables(report_store, tmp_path, fmt) -> None:
    """HTML and Markdown show the previous total and "+amount (+pct %)" per currency."""
    expected = Expected(report_store.path)
    now, before = expected.totals(W47, W48), expected.totals(W46, W47)
    text = _report(report_store, tmp_path, "2026-W47", fmt)
    tables = parse_html(text).tables if fmt == "html" else parse_markdown(text)
    for row in tables["Total spend"]:
        currency = row["Currency"]
        change = now[currency]["total"] - before[currency]["total"]
        pct = (change / before[currency]["total"] * 100).quantize(Decimal("0.1"),
                                                                   rounding=ROUND_HALF_EVEN)
        assert money(row["Previous (2026-W46)"]) == (cents(before[currency]["total"]), currency)
        amount, pct_text = row["Change"].split(" (")
        assert money(amount) == (cents(change), currency)
        assert pct_text == f"+{pct} %)"


def test_first_week_has_nothing_to_compare(report_store, tmp_path) -> None:
    """The earliest week says "new (nothing before)" rather than inventing a change."""
    tables = parse_html(_report(report_store, tmp_path, "2026-W46", "html")).tables
    for row in tables["Total spend"]:
        assert row["Previous (2026-W45)"] == "—"
        assert row["Change"] == "new (nothing before)"
