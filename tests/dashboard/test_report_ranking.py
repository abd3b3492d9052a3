"""The report ranks each project's runs with the dashboard's rule (one implementation): the
ten best metric-per-dollar runs and the Pareto frontier equal an independent computation
from the store's metrics and costs."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal

import pytest

from tests.dashboard.report_helpers import NANO, run_report
from tests.dashboard.report_seed import W47, W48


def _runs(path, project: str) -> list[dict]:
    """Runs of the project started in W47: last objective value and whole counted cost."""
    db = sqlite3.connect(str(path))
    key = "val_acc" if project == "vision" else "val_loss"
    out = []
    for run_id, name in db.execute(
            "SELECT id, name FROM runs WHERE project = ? AND started_at >= ? AND started_at < ?",
            (project, str(W47)[:19], str(W48)[:19])):
        value = db.execute("SELECT value FROM metrics WHERE run_id = ? AND key = ? "
                           "ORDER BY seq DESC LIMIT 1", (run_id, key)).fetchone()
        rows = db.execute("SELECT source, basis, amount, currency FROM costs "
                          "WHERE run_id = ? AND kind = 'run'", (run_id,)).fetchall()
        billed = [r for r in rows if r[0] == "billed" and r[1] == "billed"]
        counted = billed or [r for r in rows if r[0] == "estimate" and r[1] == "list"]
        cost = None
        if counted and all(r[2] is not None for r in counted):
            cost = sum((Decimal(r[2]) * NANO for r in counted), Decimal(0))
        out.append({"name": name, "value": value[0] if value else None, "cost": cost,
                    "currency": counted[0][3] if counted else None})
    return out


def _report(report_store, tmp_path) -> dict:
    path = tmp_path / "r.json"
    assert run_report("--week", "2026-W47", "--format", "json", "--out", str(path),
                      "--store", report_store.url).exit_code == 0
    return {e["project"]: e for e in json.loads(path.read_text())["efficiency"]}


def test_best_value_for_money_per_project(report_store, tmp_path) -> None:
    """vision (max): score = val_acc / cost; nlp (min): score = (worst loss − loss) / cost."""
    report = _report(report_store, tmp_path)
    for project, mode in (("vision", "max"), ("nlp", "min")):
        runs = [r for r in _runs(report_store.path, project) if r["value"] is not None]
        baseline = 0.0 if mode == "max" else max(r["value"] for r in runs)
        scored = [(((r["value"] - baseline) if mode == "max" else (baseline - r["value"]))
                   / float(r["cost"]), r["name"]) for r in runs if r["cost"]]
        want = [name for _, name in sorted(scored, key=lambda t: -t[0])][:10]
        best = report[project]["best"]
        assert [b["name"] for b in best] == want
        for b, (score, _) in zip(best, sorted(scored, key=lambda t: -t[0]), strict=False):
            assert b["score"] == pytest.approx(score)
        assert report[project]["mode"] == mode


def test_pareto_frontier_per_project(report_store, tmp_path) -> None:
    """A run is on the frontier when no run costs no more and does at least as well, being
    strictly better in one of the two."""
    report = _report(report_store, tmp_path)
    for project, mode in (("vision", "max"), ("nlp", "min")):
        runs = [r for r in _runs(report_store.path, project)
                if r["value"] is not None and r["cost"] is not None]
        good = (lambda r: r["value"]) if mode == "max" else (lambda r: -r["value"])
        on = {r["name"] for r in runs if not any(
            o["cost"] <= r["cost"] and good(o) >= good(r)
            and (o["cost"] < r["cost"] or good(o) > good(r)) for o in runs)}
        assert {f["name"] for f in report[project]["frontier"]} == on
    assert {f["name"] for f in report["vision"]["frontier"]} == {
        "<script>alert(1)</script>", "early-monday", "sweep-b", "lonely"}


def test_report_uses_the_dashboard_functions() -> None:
    """The report module calls the dashboard's ranking module; it defines no ranking of its
    own."""
    import inspect

    from xprof.dashboard import ranking, report

    assert report.ranking is ranking
    source = inspect.getsource(report)
    assert "ranking.rank_runs(" in source and "ranking.pareto_frontier(" in source
    assert "def efficiency" not in source and "def pareto" not in source
