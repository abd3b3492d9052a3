"""The compare page puts runs side by side (params diff, cost, efficiency) and judges two
groups of repeated runs with Welch's t-test, p-value equal to scipy's."""

from __future__ import annotations

import pytest
from scipy import stats

from tests.dashboard.helpers import frame_with, plain

PAGE = "views/compare.py"
RF = [0.930, 0.935, 0.925]
SVC = [0.970, 0.975, 0.972]


def test_params_diff_and_efficiency_side_by_side(seeded, open_page) -> None:
    """Two runs: every param listed, the differing ones flagged, cost and score per run."""
    ids = seeded.ids
    at = open_page(PAGE, seeded.url, project="digits", runs=[ids["svc-s0"], ids["rf-s0"]])
    diff = frame_with(at, "param", "differs").set_index("param")
    assert diff["differs"].to_dict() == {"C": True, "model": True, "n_estimators": True,
                                         "seed": False}
    runs = frame_with(at, "run", "score")
    assert runs["score"].tolist() == pytest.approx([0.97 / 0.10, 0.93 / 0.05])
    assert runs["cost"].tolist() == ["$0.10", "$0.050"]  # the one money formatter
    assert len(at.get("vega_lite_chart")) == 1  # the val_acc curves, overlaid


def test_welch_t_test_between_groups_matches_scipy(seeded, open_page) -> None:
    """rf vs svc repeats: the p-value shown is scipy's ttest_ind(equal_var=False)."""
    at = open_page(PAGE, seeded.url, project="digits")
    expected = stats.ttest_ind(RF, SVC, equal_var=False)
    table = frame_with(at, "group", "p")
    assert table["params"].tolist() == ["model=rf; n_estimators=100", "C=1; model=svc"]
    assert table["p"].iloc[0] == pytest.approx(expected.pvalue, rel=1e-9)
    assert table["t"].iloc[0] == pytest.approx(expected.statistic, rel=1e-9)
    assert {m.label: m.value for m in at.metric}["Welch t-test"] == \
        f"p = {expected.pvalue:.3f}"
    reading = plain(at.markdown[-1].value)
    assert reading.startswith("B is better than A") and "val_acc" in reading
