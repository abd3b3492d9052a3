"""The leaderboard page shows runs ranked by metric per dollar, the frontier, the cheapest run
reaching a target and repeated-run groups, with the numbers worked out by hand."""

from __future__ import annotations

import pytest

from tests.dashboard.helpers import XSS, plain

PAGE = "views/leaderboard.py"
# digits, val_acc (max): score = val_acc / cost
EXPECTED_ORDER = [XSS, "rf-s1", "rf-s0", "rf-s2", "svc-s1", "svc-s2", "svc-s0", "mlp-gpu"]
EXPECTED_SCORE = [0.96 / 0.04, 0.935 / 0.05, 0.930 / 0.05, 0.925 / 0.05, 0.975 / 0.10,
                  0.972 / 0.10, 0.970 / 0.10, 0.985 / 1.20]


def test_ranking_order_and_metric_per_dollar(seeded, open_page) -> None:
    """Priced runs come best score first with their score; unpriced ones follow, unranked."""
    at = open_page(PAGE, seeded.url, project="digits")
    table = at.dataframe[0].value
    assert table["name"].tolist()[:8] == EXPECTED_ORDER
    assert table["score"].tolist()[:8] == pytest.approx(EXPECTED_SCORE)
    assert table["rank"].tolist()[:8] == list(range(1, 9))
    assert set(table["name"].tolist()[8:]) == {"unpriced", "unknown-price", "crashed-run"}
    assert table["rank"].iloc[8:].isna().all()
    by_name = table.set_index("name")
    assert by_name.loc["mlp-gpu", "cost"] == "$1.20"  # billed, not the estimate
    assert by_name.loc["mlp-gpu", "cost_state"] == "billed"
    assert by_name.loc["svc-s0", "cost_state"] == "estimate"
    assert by_name.loc["unpriced", "cost_state"] == "not priced"
    assert by_name.loc["crashed-run", "status"] == "crashed"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Runs shown"] == "11" and metrics["Priced"] == "8"
    assert metrics["Best val\\_acc per $"] == "24"


def test_frontier_membership(seeded, open_page) -> None:
    """Exactly the runs no other run beats on both cost and val_acc are marked and listed."""
    at = open_page(PAGE, seeded.url, project="digits")
    table = at.dataframe[0].value
    assert set(table.loc[table["frontier"], "name"]) == {XSS, "svc-s1", "mlp-gpu"}
    frontier = at.dataframe[1].value
    assert frontier["name"].tolist() == [XSS, "svc-s1", "mlp-gpu"]  # cheapest first
    assert {m.label: m.value for m in at.metric}["On the frontier"] == "3"


def test_cheapest_run_reaching_target(seeded, open_page) -> None:
    """With target 0.97 the cheapest run at or above it is svc-s1 ($0.10, best of the ties)."""
    at = open_page(PAGE, seeded.url, project="digits", target="0.97")
    assert len(at.success) == 1
    assert "Cheapest run reaching 0.97: **svc-s1**" in plain(at.success[0].value)
    assert "$0.10" in at.success[0].value
    at = open_page(PAGE, seeded.url, project="digits", target="0.999")
    assert "No priced run reaches" in plain(at.info[0].value)


def test_repeated_runs_grouped_with_mean_and_std(seeded, open_page) -> None:
    """Runs differing only in seed are one group: n, mean ± std of val_acc and score."""
    at = open_page(PAGE, seeded.url, project="digits", group="true")
    groups = at.dataframe[2].value.set_index("params")
    svc = groups.loc["C=1; model=svc"]
    assert svc["n"] == 3
    assert svc["objective_mean"] == pytest.approx((0.970 + 0.975 + 0.972) / 3)
    assert svc["objective"] == "0.9723 ± 0.0025"
    assert groups.loc["model=rf; n_estimators=100", "score_mean"] == pytest.approx(18.6)
    assert groups.index[0] == "k=3; model=knn"  # best mean score first


def test_filters_by_status_tag_and_cost_state(seeded, open_page) -> None:
    """Sidebar filters (kept in the URL) narrow the runs ranked."""
    at = open_page(PAGE, seeded.url, project="digits", status=["crashed"])
    assert at.dataframe[0].value["name"].tolist() == ["crashed-run"]
    at = open_page(PAGE, seeded.url, project="digits", tag=["sweep=seeds"])
    assert sorted(at.dataframe[0].value["name"]) == sorted(
        ["svc-s0", "svc-s1", "svc-s2", "rf-s0", "rf-s1", "rf-s2"])
    at = open_page(PAGE, seeded.url, project="digits", cost=["billed"])
    assert at.dataframe[0].value["name"].tolist() == ["mlp-gpu"]


def test_min_objective_ranks_by_improvement_per_dollar_within_currency(seeded, open_page):
    """lm minimises val_loss: score = (2.10 - loss) / cost, USD runs ranked apart from EUR."""
    at = open_page(PAGE, seeded.url, project="lm")
    table = at.dataframe[0].value
    assert table["name"].tolist() == ["lm-large", "lm-small"]  # the USD runs
    assert table["score"].tolist() == pytest.approx([0.30 / 12.00, 0.0])
    at = open_page(PAGE, seeded.url, project="lm", currency="EUR")
    table = at.dataframe[0].value
    assert table["name"].tolist() == ["lm-eu"]
    assert table["score"].tolist() == pytest.approx([0.15 / 5.00])
    at = open_page(PAGE, seeded.url, project="lm", baseline="2.5")  # a constant predictor's
    table = at.dataframe[0].value
    assert table["name"].tolist() == ["lm-small", "lm-large"]
    assert table["score"].tolist() == pytest.approx([0.40 / 3.00, 0.70 / 12.00])
