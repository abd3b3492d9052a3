"""Guard rails of `xprof run`: a budget that stops the run, hypotheses judged at the end,
attempts of one experiment summed."""

from __future__ import annotations

import re
import sys
from decimal import Decimal

import pytest
import sqlalchemy as sa

from xprof import schema

PY = sys.executable
ON_P4D = ["--provider", "aws", "--instance-type", "p4d.24xlarge", "--region", "us-east-1",
          "--lifecycle", "on-demand"]


def test_budget_stop_ends_a_longer_run(xprof, store):
    """--budget 0.01 --on-budget stop on a $21.96/h machine: SIGTERM after ~2 s, exit 143,
    the run is killed and marked stopped by budget."""
    result = xprof("run", *ON_P4D, "--budget", "0.01", "--on-budget", "stop", "--", PY, "-c",
                   "import time; time.sleep(60)",
                   env={"XPROF_FLUSH_INTERVAL": "0.3", "XPROF_BUDGET_GRACE": "5"}, timeout=60)
    assert result.returncode == 143, result.stderr
    assert "stopping the command" in result.stderr
    [run] = store.list_runs()
    assert (run["status"], run["stopped_by"]) == ("killed", "budget")
    assert run["duration_s"] < 10
    cost = store.run_costs([run["id"]])[run["id"]]["amount"]
    assert Decimal("0.0099") <= cost <= Decimal("0.02")


def test_budget_warns_first_then_lets_the_run_go_on(xprof, store):
    """--on-budget warn (the default): one warning at 80 % and one at the budget; exit 0."""
    result = xprof("run", *ON_P4D, "--budget", "0.02", "--", PY, "-c",
                   "import time; time.sleep(5)", env={"XPROF_FLUSH_INTERVAL": "0.2"})
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("of the budget $0.02 spent") == 1
    assert result.stderr.count("budget $0.02 reached") == 1
    # the estimate in the budget's currency, two significant digits: "(est. $0.016)"
    assert re.search(r"\d+% of the budget \$0\.02 spent \(est\. \$0\.0\d\d?\)",
                     result.stderr), result.stderr
    [run] = store.list_runs()
    assert run["status"] == "finished" and run["stopped_by"] is None


def test_bad_budget_and_expectation(xprof, xprof_home):
    """A non-numeric budget or a malformed --expect is a one-line error, exit 2."""
    bad = xprof("run", "--budget", "lots", "--", PY, "-c", "pass")
    assert bad.returncode == 2 and "--budget 'lots'" in bad.stderr
    bad = xprof("run", "--expect", "acc is high", "--", PY, "-c", "pass")
    assert bad.returncode == 2 and "--expect 'acc is high'" in bad.stderr
    assert not (xprof_home / "xprof.db").exists()


@pytest.mark.parametrize(("printed", "outcome"), [
    ('print(\'xprof: {"val_acc": 0.95}\')', "confirmed"),
    ('print(\'xprof: {"val_acc": 0.85}\')', "refuted"),
    ("print('no metric')", "inconclusive"),
])
def test_hypothesis_outcome(xprof, store, printed, outcome):
    """--hypothesis with --expect val_acc>=0.9 is judged from the final metric."""
    result = xprof("run", "--hypothesis", "wider layers help", "--expect", "val_acc>=0.9",
                   "--", PY, "-c", printed)
    assert result.returncode == 0, result.stderr
    assert f"outcome  {outcome} (val_acc>=0.9): wider layers help" in result.stderr
    [run] = store.list_runs()
    assert (run["hypothesis"], run["expectation"], run["outcome"]) == (
        "wider layers help", "val_acc>=0.9", outcome)


def test_two_attempts_of_one_experiment_are_summed(xprof, store):
    """A crashed first attempt and a resumed second one: one experiment, two attempts, cost
    and duration summed."""
    rate = {"XPROF_OFFCLOUD_RATE": "36"}  # $0.01 per second
    first = xprof("run", "--experiment", "bert-base", "--name", "try-1", "--", PY, "-c",
                  "import time, sys; time.sleep(1); sys.exit(1)", env=rate)
    assert first.returncode == 1
    second = xprof("run", "--resume", "try-1", "--name", "try-2", "--", PY, "-c",
                   "import time; time.sleep(1.5)", env=rate)
    assert second.returncode == 0, second.stderr
    runs = {r["name"]: r for r in store.list_runs()}
    assert (runs["try-1"]["attempt"], runs["try-2"]["attempt"]) == (1, 2)
    assert runs["try-2"]["resumed_from"] == runs["try-1"]["id"]
    [exp] = store.experiments()
    assert exp["experiment"] == "bert-base" and len(exp["attempts"]) == 2
    assert exp["duration_s"] == pytest.approx(
        runs["try-1"]["duration_s"] + runs["try-2"]["duration_s"])
    costs = store.run_costs([r["id"] for r in runs.values()])
    assert exp["cost"]["USD"] == sum(c["amount"] for c in costs.values())
    assert float(exp["cost"]["USD"]) == pytest.approx(0.01 * exp["duration_s"], rel=0.01)
    listed = xprof("ls", "--experiments")
    assert "bert-base" in listed.stdout and "2" in listed.stdout


def test_resume_of_unknown_run_is_refused(xprof):
    """--resume with a run that does not exist: exit 2 before the child starts."""
    result = xprof("run", "--resume", "nope", "--", PY, "-c", "pass")
    assert result.returncode == 2 and "--resume nope" in result.stderr


def test_live_cost_of_a_running_run(store, tmp_path):
    """While a run is going, `xprof ls` and `xprof show` show its cost so far."""
    import os
    import subprocess
    import time

    from tests.conftest import XPROF, run_xprof

    marker = tmp_path / "go"
    agent = subprocess.Popen([*XPROF, "run", "--quiet", *ON_P4D, "--name", "live", "--", PY,
                              "-c", f"import time, pathlib; pathlib.Path({str(marker)!r}).touch();"
                              " time.sleep(30)"],
                             env=dict(os.environ, XPROF_FLUSH_INTERVAL="0.3"))
    try:
        deadline = time.monotonic() + 30
        while not (marker.exists() and store.list_runs()) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.0)
        listed = run_xprof("ls", "--json")
        import json

        [row] = json.loads(listed.stdout)
        assert row["status"] == "running" and row["cost"]["source"] == "live"
        elapsed = (time.time() - store.find_run("live")["started_at"].timestamp())
        assert float(row["cost"]["amount"]) == pytest.approx(21.957642 * elapsed / 3600,
                                                             rel=0.25)
        assert "so far" in run_xprof("show", "live").stdout
    finally:
        agent.terminate()
        agent.wait(timeout=30)


def test_advice_at_the_end_reads_the_kept_counts(xprof, store):
    """`xprof run` always advises as it ends (no run is too long for it): the agent kept
    its samples counted for advice in the host summary, one count per sample row."""
    result = xprof("run", "--", PY, "-c", "import time; time.sleep(0.5)",
                   env={"XPROF_INTERVAL": "0.1"})
    assert result.returncode == 0, result.stderr
    assert "computes its advice" not in result.stderr
    [run] = store.list_runs()
    h, s = schema.run_hosts, schema.samples
    with store.read() as conn:
        summary = conn.execute(sa.select(h.c.summary).where(h.c.run_id == run["id"])).scalar()
        rows = conn.execute(sa.select(sa.func.count()).select_from(s)
                            .where(s.c.run_id == run["id"])).scalar()
    counts = summary["advice_counts"]
    assert counts["host_samples"] == rows >= 3
    assert sum(n for _, _, n in counts["cores_util"]) == rows


def test_budget_stop_of_a_script_that_exits_143_is_killed(xprof, store):
    """A script that catches the budget's SIGTERM and exits 143 itself is killed (stopped by
    its budget), not failed; the summary names the budget with its currency."""
    script = ("import signal, sys, time\n"
              "signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))\n"
              "time.sleep(60)\n")
    result = xprof("run", *ON_P4D, "--budget", "0.01", "--on-budget", "stop", "--", PY, "-c",
                   script, env={"XPROF_FLUSH_INTERVAL": "0.3", "XPROF_BUDGET_GRACE": "5"},
                   timeout=60)
    assert result.returncode == 143, result.stderr
    assert "killed (exit 143)" in result.stderr
    assert "stopped: the run reached its budget of $0.01" in result.stderr
    [run] = store.list_runs()
    assert (run["status"], run["exit_code"], run["stopped_by"]) == ("killed", 143, "budget")


@pytest.mark.parametrize("words", [
    ["val_acc>=0.9"], ["val_acc >= 0.9"], ["val_acc", ">=", "0.9"],
    ["val_acc", ">=", "0.9", "--"]])
def test_expect_accepts_one_word_or_three(xprof, store, words):
    """--expect val_acc>=0.9, "val_acc >= 0.9" and the help's three words are one rule."""
    result = xprof("run", "--expect", *words, *([] if words[-1] == "--" else ["--"]), PY,
                   "-c", 'print(\'xprof: {"val_acc": 0.95}\')')
    assert result.returncode == 0, result.stderr
    assert "outcome  confirmed (val_acc>=0.9)" in result.stderr
    [run] = store.list_runs()
    assert (run["expectation"], run["outcome"], run["command"][0]) == (
        "val_acc>=0.9", "confirmed", PY)


def test_expect_on_a_metric_never_logged_says_so(xprof, store):
    """A typo'd metric: inconclusive, and the summary and `xprof show` say the metric was
    never logged and which metrics were."""
    result = xprof("run", "--expect", "val_ac>=0.9", "--", PY, "-c",
                   'print(\'xprof: {"val_acc": 0.95, "loss": 0.2}\')')
    assert result.returncode == 0, result.stderr
    never = "val_ac was never logged (logged metrics: loss, val_acc)"
    assert "outcome  inconclusive (val_ac>=0.9)" in result.stderr
    assert never in result.stderr
    [run] = store.list_runs()
    assert run["outcome"] == "inconclusive"
    shown = xprof("show", run["id"][:8])
    assert never in shown.stdout, shown.stdout
