"""What is not priced yet is said honestly: runs without any cost and runs whose cost is
unknown are counted in the headline and listed by name, and count in no total."""

from __future__ import annotations

import json

from tests.dashboard.report_helpers import Expected, parse_html, run_report
from tests.dashboard.report_seed import W47, W48


def test_unpriced_and_unknown_runs_are_listed(report_store, tmp_path) -> None:
    """HTML lists the runs with no cost row and the run with an unknown cost and its reason."""
    path = tmp_path / "r.html"
    assert run_report("--week", "2026-W47", "--out", str(path), "--store",
                      report_store.url).exit_code == 0
    page = parse_html(path.read_text())
    unpriced = Expected(report_store.path).unpriced(W47, W48)
    assert unpriced == {"unpriced-run", "no-gpu-record"}
    title = f"Not priced yet: {len(unpriced)} run(s) without a cost"
    assert {r["Run"] for r in page.tables[title]} == unpriced
    unknown = page.tables["Cost unknown: 1 run(s)"]
    assert [(r["Run"], r["Why"]) for r in unknown] == [("unknown-run", "no price for x9.huge")]
    assert ("Not priced yet: 2 run(s) without a cost, 1 with an unknown cost (not in the "
            "totals).") in page.paragraphs


def test_unknown_cost_is_counted_not_summed(report_store, tmp_path) -> None:
    """JSON: the unknown-cost row is counted in `unknown`, and not in any amount."""
    path = tmp_path / "r.json"
    assert run_report("--week", "2026-W47", "--format", "json", "--out", str(path),
                      "--store", report_store.url).exit_code == 0
    data = json.loads(path.read_text())
    usd = next(t for t in data["totals"] if t["currency"] == "USD")
    assert usd["unknown"] == 1
    assert {r["name"] for r in data["not_priced"]["unpriced"]} == {"unpriced-run",
                                                                    "no-gpu-record"}
    x9 = next(r for r in data["spend"]["instance_type"] if r["key"] == "x9.huge")
    assert (x9["total"], x9["unknown"]) == (None, 1)
