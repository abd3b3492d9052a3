"""The weekly report's saving totals are predicted savings: what the run cost less its
predicted cost per run on the suggested machine (not the hourly price difference)."""

from __future__ import annotations

from decimal import Decimal

from tests.dashboard.test_advice_predictions import advised_store
from xprof.dashboard.report import build_report
from xprof.dashboard.report_period import iso_week
from xprof.store import Store


def test_saving_totals_use_the_predicted_cost(tmp_path) -> None:
    """The L40S run cost $1.861; on the T4 ($0.40/h) it is predicted to take 2.615 h, $1.046:
    the open saving is $0.815 a run and, one run a month, a month; by the hourly prices it
    would have been $1.461."""
    url, _ = advised_store(tmp_path)
    report = build_report(Store.open(url), iso_week("2026-W45"))
    recs = report["recommendations"]
    suggested = [r for r in recs["open"] if r["suggested_instance"] == "t4.small"]
    assert suggested and all(r["predicted_cost"] == Decimal("1.046") for r in suggested)
    assert {r["saving_per_run"] for r in suggested} == {Decimal("1.861") - Decimal("1.046")}
    assert [(t["currency"], t["saving_per_month"]) for t in recs["totals"]] == [
        ("USD", Decimal("0.815"))]
