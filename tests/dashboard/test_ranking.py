"""Ranking, frontier, target, repeats and the t-test give the figures worked out by hand."""

from __future__ import annotations

import math
from decimal import Decimal

import pandas as pd
import pytest
from scipy import stats

from xprof import repeats
from xprof.dashboard import ranking


def _runs(rows: list[tuple[str, float | None, str | None, str | None]]) -> pd.DataFrame:
    return pd.DataFrame({
        "run_id": [f"id-{name}" for name, *_ in rows],
        "name": [name for name, *_ in rows],
        "objective": [math.nan if v is None else v for _, v, _, _ in rows],
        "cost": pd.Series([None if c is None else Decimal(c) for _, _, c, _ in rows],
                          dtype=object),
        "currency": [cur for *_, cur in rows],
    })


def test_max_objective_ranks_by_metric_per_dollar() -> None:
    """For a maximised objective the score is value / cost and rank 1 has the highest score."""
    runs = _runs([("a", 0.90, "0.30", "USD"), ("b", 0.96, "0.04", "USD"),
                  ("c", 0.98, "1.20", "USD"), ("d", 0.97, None, None)])
    ranked = ranking.rank_runs(runs, "max")
    assert ranked["name"].tolist() == ["b", "a", "c", "d"]
    assert ranked["score"].iloc[:3].tolist() == pytest.approx([24.0, 3.0, 0.98 / 1.2])
    assert ranked["rank"].tolist()[:3] == [1, 2, 3]
    assert pd.isna(ranked["rank"].iloc[3]) and math.isnan(ranked["score"].iloc[3])


def test_min_objective_ranks_by_improvement_over_worst_per_dollar() -> None:
    """For a minimised objective the score is (worst value - value) / cost; the worst scores 0."""
    runs = _runs([("small", 2.10, "3.00", "USD"), ("large", 1.80, "12.00", "USD"),
                  ("mid", 1.95, "2.00", "USD")])
    ranked = ranking.rank_runs(runs, "min")
    assert ranked["name"].tolist() == ["mid", "large", "small"]
    assert ranked["score"].tolist() == pytest.approx([0.15 / 2, 0.30 / 12, 0.0])
    with_baseline = ranking.rank_runs(runs, "min", baseline=2.30)
    assert with_baseline.set_index("name")["score"]["small"] == pytest.approx(0.20 / 3)


def test_zero_or_negative_cost_gets_no_score() -> None:
    """A free or credited run cannot be divided by; it ranks after scored runs."""
    runs = _runs([("free", 0.9, "0", "USD"), ("credit", 0.9, "-1.00", "USD"),
                  ("paid", 0.5, "1.00", "USD")])
    ranked = ranking.rank_runs(runs, "max")
    assert ranked["name"].iloc[0] == "paid"
    assert ranked.set_index("name")["score"][["free", "credit"]].isna().all()


def test_ranks_restart_per_currency() -> None:
    """Scores in different currencies are never compared: each currency has its own rank 1."""
    runs = _runs([("usd", 0.9, "1.00", "USD"), ("eur", 0.8, "2.00", "EUR")])
    ranked = ranking.rank_runs(runs, "max").set_index("name")
    assert ranked.loc["usd", "rank"] == 1 and ranked.loc["eur", "rank"] == 1


def test_pareto_frontier_membership() -> None:
    """Only runs that no other run beats on both cost and objective are on the frontier."""
    runs = _runs([("cheap", 0.96, "0.04", "USD"), ("dominated", 0.935, "0.05", "USD"),
                  ("mid", 0.975, "0.10", "USD"), ("mid-worse", 0.97, "0.10", "USD"),
                  ("tie", 0.975, "0.10", "USD"), ("best", 0.985, "1.20", "USD"),
                  ("pricier-worse", 0.98, "2.00", "USD"), ("no-cost", 0.99, None, None),
                  ("euro", 0.5, "9.00", "EUR")])
    on = ranking.pareto_frontier(runs, "max")
    assert set(runs.loc[on, "name"]) == {"cheap", "mid", "tie", "best", "euro"}
    on_min = ranking.pareto_frontier(_runs([("a", 2.0, "1", "USD"), ("b", 1.5, "3", "USD"),
                                            ("c", 1.7, "4", "USD")]), "min")
    assert on_min.tolist() == [True, True, False]


def test_cheapest_run_reaching_target() -> None:
    """The cheapest priced run at or beyond the target wins; equal cost goes to the better one."""
    runs = _runs([("a", 0.970, "0.10", "USD"), ("b", 0.975, "0.10", "USD"),
                  ("c", 0.985, "1.20", "USD"), ("free-lunch", 0.99, None, None)])
    assert ranking.cheapest_to_target(runs, "max", 0.97)["name"].tolist() == ["b"]
    assert ranking.cheapest_to_target(runs, "max", 0.98)["name"].tolist() == ["c"]
    assert ranking.cheapest_to_target(runs, "max", 0.999).empty
    losses = _runs([("x", 1.8, "12", "USD"), ("y", 1.95, "2", "USD")])
    assert ranking.cheapest_to_target(losses, "min", 2.0)["name"].tolist() == ["y"]


def test_repeats_group_by_params_ignoring_seeds() -> None:
    """Runs differing only in seed form one group with mean ± sample std of each figure."""
    runs = _runs([("s0", 0.970, "0.10", "USD"), ("s1", 0.975, "0.12", "USD"),
                  ("s2", 0.972, "0.08", "USD"), ("other", 0.93, "0.05", "USD")])
    params = pd.DataFrame([
        *[(f"id-s{i}", k, v) for i in range(3)
          for k, v in (("model", "svc"), ("C", "1"), ("seed", str(i)))],
        ("id-other", "model", "rf"), ("id-other", "random_state", "7"),
    ], columns=["run_id", "key", "value"])
    signatures = repeats.param_signature(params, runs["run_id"])
    assert signatures["id-s0"] == "C=1; model=svc" and signatures["id-other"] == "model=rf"
    groups = repeats.group_repeats(ranking.rank_runs(runs, "max"), signatures)
    svc = groups.set_index("signature").loc["C=1; model=svc"]
    assert svc["n"] == 3
    assert svc["objective_mean"] == pytest.approx(0.972333333)
    assert svc["objective_std"] == pytest.approx(pd.Series([0.970, 0.975, 0.972]).std())
    assert svc["cost_mean"] == Decimal("0.10")
    assert svc["cost_std"] == Decimal("0.02")
    assert sorted(svc["names"]) == ["s0", "s1", "s2"]


def test_welch_t_test_matches_scipy() -> None:
    """The p-value and t equal scipy's ttest_ind(equal_var=False), with a plain reading."""
    a, b = [0.970, 0.975, 0.972], [0.930, 0.935, 0.925]
    result = repeats.welch_t_test(a, b, mode="max", label="val_acc")
    expected = stats.ttest_ind(a, b, equal_var=False)
    assert result.p == pytest.approx(expected.pvalue, rel=1e-12)
    assert result.t == pytest.approx(expected.statistic, rel=1e-12)
    assert result.reading.startswith("A is better than B")
    close = repeats.welch_t_test([0.97, 0.975, 0.972], [0.971, 0.969, 0.976])
    assert close.p > 0.05 and close.reading.startswith("No clear difference")
    assert math.isnan(repeats.welch_t_test([0.9], [0.8, 0.85]).p)
