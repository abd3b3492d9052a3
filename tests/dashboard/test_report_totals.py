"""Every total the report prints, in HTML, Markdown and JSON alike, equals the same figure
worked out from the store's rows with plain SQL: spend per currency split billed/estimated,
idle cost, spend by project/user/instance type/provider, failed and killed runs, the most
expensive runs and the open recommendations' saving."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from tests.dashboard.report_helpers import (
    Expected,
    cents,
    money,
    parse_html,
    parse_markdown,
    run_report,
)
from tests.dashboard.report_seed import W47, W48

BY = {"project": "Spend by project", "user": "Spend by user",
      "instance_type": "Spend by instance type", "provider": "Spend by provider"}
COLUMN = {"project": "Project", "user": "User", "instance_type": "Instance type",
          "provider": "Provider"}


@pytest.fixture(scope="module")
def expected(report_store) -> Expected:
    return Expected(report_store.path)


@pytest.fixture(scope="module")
def rendered(report_store, tmp_path_factory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("rendered")
    texts = {}
    for fmt in ("html", "md", "json"):
        path = out / f"report.{fmt}"
        result = run_report("--week", "2026-W47", "--format", fmt, "--out", str(path),
                            "--store", report_store.url)
        assert result.exit_code == 0, result.output
        assert result.output.splitlines()[0] == str(path)
        texts[fmt] = path.read_text()
    return texts


def _tables(fmt: str, text: str) -> dict[str, list[dict[str, str]]]:
    return parse_html(text).tables if fmt == "html" else parse_markdown(text)


@pytest.mark.parametrize("fmt", ["html", "md"])
def test_total_spend_per_currency(fmt, rendered, expected) -> None:
    """The total table shows, per currency, total, billed, estimated and idle as in the store."""
    want = expected.totals(W47, W48)
    rows = {r["Currency"]: r for r in _tables(fmt, rendered[fmt])["Total spend"]}
    assert set(rows) == set(want) == {"USD", "EUR"}
    for currency, figures in want.items():
        row = rows[currency]
        for column, key in (("Total", "total"), ("Billed", "billed"),
                            ("Estimated", "estimated"), ("Idle (in total)", "idle")):
            assert money(row[column]) == (cents(figures.get(key, Decimal(0))), currency), column


@pytest.mark.parametrize("fmt", ["html", "md"])
@pytest.mark.parametrize("by", list(BY))
def test_spend_breakdowns(fmt, by, rendered, expected) -> None:
    """Spend by project, user, instance type and provider matches the store, with idle cost
    on its own line, so each table adds up to the total."""
    want = expected.by(by, W47, W48)
    rows = _tables(fmt, rendered[fmt])[BY[by]]
    got = {(r[COLUMN[by]], r["Currency"]): money(r["Total"]) for r in rows
           if not r[COLUMN[by]].startswith("idle")}
    assert {k: v for k, v in got.items() if v} == {
        k: (cents(v), k[1]) for k, v in want.items()}
    idle = {r["Currency"]: money(r["Total"]) for r in rows if r[COLUMN[by]].startswith("idle")}
    assert idle == {c: (cents(v), c) for c, v in expected.idle(W47, W48).items()}


@pytest.mark.parametrize("fmt", ["html", "md"])
def test_failed_and_killed_spend(fmt, rendered, expected) -> None:
    """Spend on failed and killed runs is listed per status with the store's amounts."""
    rows = _tables(fmt, rendered[fmt])["Spend on runs that did not finish"]
    got = {(r["Status"].split()[0], r["Currency"]): money(r["Spend"]) for r in rows}
    want: dict = {}
    for row in expected.counted(W47, W48):
        if row["status"] in ("failed", "killed"):
            key = (row["status"], row["currency"])
            want[key] = want.get(key, Decimal(0)) + Decimal(row["amount"]) / 10**9
    assert got == {k: (cents(v), k[1]) for k, v in want.items()}
    assert set(got) == {("failed", "USD"), ("killed", "EUR")}


@pytest.mark.parametrize("fmt", ["html", "md"])
def test_most_expensive_runs(fmt, rendered, expected) -> None:
    """The most expensive runs come in descending order per currency with the store's cost."""
    per_run: dict = {}
    for row in expected.counted(W47, W48):
        if row["amount"] is not None:
            key = (row["name"], row["currency"])
            per_run[key] = per_run.get(key, Decimal(0)) + Decimal(row["amount"]) / 10**9
    rows = _tables(fmt, rendered[fmt])["Most expensive runs"]
    for currency in ("USD", "EUR"):
        mine = sorted(((v, k[0]) for k, v in per_run.items() if k[1] == currency),
                      key=lambda t: (-t[0], t[1]))[:10]
        shown = [(money(r["Spend"]), r["Run"]) for r in rows if money(r["Spend"])[1] == currency]
        assert shown == [((cents(v), currency), name) for v, name in mine]


@pytest.mark.parametrize("fmt", ["html", "md"])
def test_open_recommendation_saving(fmt, rendered, expected) -> None:
    """The potential monthly saving per currency is the sum over open recommendations only."""
    rows = _tables(fmt, rendered[fmt])["Open recommendations: potential saving"]
    got = {r["Currency"]: money(r["Saving per month"]) for r in rows}
    assert got == {c: (cents(v), c) for c, v in expected.saving().items()}
    assert got["USD"] == (Decimal("42.50"), "USD")  # the dismissed $99 is left out


def test_json_carries_the_exact_numbers(rendered, expected) -> None:
    """JSON holds the same totals as exact decimal strings, and the same breakdowns."""
    data = json.loads(rendered["json"])
    want = expected.totals(W47, W48)
    got = {t["currency"]: t for t in data["totals"]}
    assert set(got) == set(want)
    for currency, figures in want.items():
        for key in ("total", "billed", "estimated", "idle"):
            assert Decimal(got[currency][key]) == figures.get(key, Decimal(0)), key
    for by in BY:
        spent = {(r["key"], r["currency"]): Decimal(r["total"])
                 for r in data["spend"][by] if r["total"] is not None}
        assert spent == expected.by(by, W47, W48)
    saving = {t["currency"]: Decimal(t["saving_per_month"])
              for t in data["recommendations"]["totals"]}
    assert saving == expected.saving()
    assert data["period"]["label"] == "2026-W47" and data["period"]["tz"] == "UTC"
    assert data["period"]["start"] == "2026-11-16T00:00:00+00:00"
