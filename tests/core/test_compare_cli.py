"""`xprof compare` shows runs side by side in the terminal (params that differ, metrics,
cost, metric per dollar, a Welch t-test over seed groups equal to scipy's), and `xprof ls`
adds the objective and metric-per-dollar columns for a project that declared one."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from scipy import stats

from tests.dashboard.helpers import seed
from xprof.cli import cli

RF = [0.930, 0.935, 0.925]
SVC = [0.970, 0.975, 0.972]


@pytest.fixture
def seeded(store, store_url):
    """The dashboard tests' store: digits (val_acc, max; seeds of svc and rf), lm (val_loss,
    min; USD and EUR)."""
    return store_url, seed(store)


def xprof(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_compare_seed_groups_params_cost_and_t_test(seeded) -> None:
    """Six runs (svc and rf, three seeds each): cost, val_acc and val_acc per $ per run, the
    params that differ, and the t-test of rf against svc with scipy's t and p."""
    url, _ = seeded
    code, out, _ = xprof("compare", "--store", url, "--json", "svc-s0", "svc-s1", "svc-s2",
                         "rf-s0", "rf-s1", "rf-s2")
    assert code == 0
    result = json.loads(out)
    assert (result["objective"], result["mode"]) == ("val_acc", "max")
    runs = {r["name"]: r for r in result["runs"]}
    assert runs["svc-s1"]["objective"] == 0.975
    assert runs["svc-s1"]["score"] == pytest.approx(0.975 / 0.10)
    assert runs["rf-s0"]["score"] == pytest.approx(0.93 / 0.05)
    assert runs["rf-s0"]["cost"]["amount"] == "0.05"
    assert runs["rf-s0"]["metrics"]["val_acc"] == 0.93
    assert result["params_differ"] == ["C", "model", "n_estimators", "seed"]
    test = result["t_test"]
    expected = stats.ttest_ind(RF, SVC, equal_var=False)
    assert (test["a"], test["b"]) == ("model=rf; n_estimators=100", "C=1; model=svc")
    assert test["p"] == pytest.approx(expected.pvalue, rel=1e-9)
    assert test["t"] == pytest.approx(expected.statistic, rel=1e-9)
    assert test["reading"].startswith("B is better than A")

    code, out, _ = xprof("compare", "--store", url, "svc-s0", "svc-s1", "svc-s2", "rf-s0",
                         "rf-s1", "rf-s2")
    assert code == 0
    assert "val_acc per $" in out and "18.6" in out and "~$0.050" in out
    assert "PARAM (differs)" in out and "n_estimators" in out
    assert f"p = {expected.pvalue:.3f}" in out and "B is better than A" in out
    assert "e+" not in out and "e-0" not in out  # no scientific notation


def test_compare_min_objective_uses_the_projects_worst_value(seeded) -> None:
    """val_loss (min): score = (2.10 − loss) / cost, each in its run's own currency, as the
    leaderboard scores them."""
    url, _ = seeded
    code, out, _ = xprof("compare", "--store", url, "--json", "lm-small", "lm-large", "lm-eu")
    assert code == 0
    scores = {r["name"]: r["score"] for r in json.loads(out)["runs"]}
    assert scores == pytest.approx({"lm-small": 0.0, "lm-large": 0.30 / 12.00,
                                    "lm-eu": 0.15 / 5.00})
    code, out, _ = xprof("compare", "--store", url, "lm-large", "lm-eu")
    assert "0.025 per $" in out and "0.03 per €" in out


@pytest.mark.parametrize(("args", "message"), [
    (["svc-s0"], "at least two runs"),
    (["svc-s0", "no-such-run"], "no run matches 'no-such-run'"),
    (["svc-s0", "svc-s1", "--objective", "val_acc:up"], "--objective 'val_acc:up'"),
])
def test_compare_bad_input_is_one_line(seeded, args, message) -> None:
    """Too few runs, an unknown run or a bad --objective: one line naming it, exit 2."""
    url, _ = seeded
    result = CliRunner().invoke(cli, ["compare", "--store", url, *args])
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1


def test_ls_shows_objective_and_metric_per_dollar_for_a_project(seeded) -> None:
    """`xprof ls --project digits` adds VAL_ACC and VAL_ACC PER $ columns; a list of several
    projects does not."""
    url, ids = seeded
    code, out, _ = xprof("ls", "--store", url, "--project", "digits")
    assert code == 0
    header, *lines = out.splitlines()
    assert header.rstrip().endswith("COST     VAL_ACC  VAL_ACC PER $")
    rows = {line.split()[0]: line.split() for line in lines}
    assert rows[ids["rf-s1"][:8]][-2:] == ["0.935", "18.7"]
    assert rows[ids["mlp-gpu"][:8]][-2:] == ["0.985", "0.8208"]  # billed $1.20
    assert rows[ids["unpriced"][:8]][-2:] == ["0.955", "—"]
    code, out, _ = xprof("ls", "--store", url)
    assert "PER $" not in out.splitlines()[0]


def test_ls_json_carries_the_objective_and_metric_per_dollar(seeded) -> None:
    """`xprof ls --project digits --json` gives each run its objective value and metric per
    unit of money, the numbers the table shows; without one project, no objective key."""
    url, ids = seeded
    code, out, _ = xprof("ls", "--store", url, "--project", "digits", "--json")
    assert code == 0
    runs = {r["id"]: r for r in json.loads(out)}
    rf = runs[ids["rf-s1"]]["objective"]
    assert (rf["name"], rf["mode"], rf["value"]) == ("val_acc", "max", 0.935)
    assert round(rf["per_money"], 1) == 18.7
    assert round(runs[ids["mlp-gpu"]]["objective"]["per_money"], 4) == 0.8208
    assert runs[ids["unpriced"]]["objective"]["per_money"] is None
    code, out, _ = xprof("ls", "--store", url, "--json")
    assert all("objective" not in r for r in json.loads(out))
