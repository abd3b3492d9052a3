"""The report's value-for-money section, read from the rollups (only the runs it shows), is
exactly what ranking every run of the period in pandas gave (the former computation, kept
here as the reference): the report's seeded store (two currencies, billed and estimated
runs, failed / killed / running ones, a max and a min objective) under every basis, and a
store of 700 runs (ties on cost and score, unknown prices, a run with costs in two
currencies, a running one, more drawable runs than the chart draws); SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest

from tests.dashboard.report_seed import W47, seed
from xprof import schema
from xprof.dashboard import queries, ranking, report, report_queries
from xprof.dashboard.report_period import Period, iso_week
from xprof.efficiency import cost_as_float
from xprof.rollups import refresh_runs
from xprof.store import BASES, Store


def _former(store: Store, period: Period, basis: str) -> list[dict[str, Any]]:
    """The report's efficiency section as computed before the rollups: every run of every
    active project into pandas (``queries.leaderboard``), ranked by ``ranking``."""
    active = report_queries.projects_started(store, period.start, period.end)
    infos = [i for i in queries.projects(store).sort_values("project").to_dict("records")
             if i["project"] in active]
    out = []
    for info in infos:
        board = queries.leaderboard(store, info["project"], info["objective_name"], basis)
        runs = ranking.select_runs(board, start=pd.Timestamp(period.start),
                                   end=pd.Timestamp(period.end))
        objective, mode = info["objective_name"], info["objective_mode"] or "max"
        entry: dict[str, Any] = {"project": info["project"], "runs": len(runs)}
        ranked = ranking.rank_runs(runs, mode)
        ranked["frontier"] = ranking.pareto_frontier(ranked, mode)
        scored = ranked[ranked["score"].notna()]
        entry["scored"] = len(scored)
        best = scored.groupby("currency", sort=True).head(report.TOP)
        entry["best"] = [report._ranked_entry(r, period.tz) for r in best.to_dict("records")]
        frontier = ranked[ranked["frontier"]]
        frontier = frontier.assign(_cost=cost_as_float(frontier["cost"]))
        frontier = frontier.sort_values(["currency", "_cost"])
        entry["frontier"] = [report._ranked_entry(r, period.tz)
                             for r in frontier.to_dict("records")]
        drawable = ranked[ranked["objective"].notna() & ranked["cost"].notna()
                          & ranked["currency"].notna()]
        drawn = pd.concat([drawable[drawable["frontier"]],
                           drawable[~drawable["frontier"]].head(report.MAX_POINTS)])
        entry["points"] = [{"name": r["name"], "currency": r["currency"],
                            "cost": float(r["cost"]), "objective": float(r["objective"]),
                            "frontier": bool(r["frontier"])} for r in drawn.to_dict("records")]
        entry["points_total"] = len(drawable)
        assert objective
        out.append(entry)
    return out


def _now(store: Store, period: Period, basis: str) -> list[dict[str, Any]]:
    keys = ("project", "runs", "scored", "best", "frontier", "points", "points_total")
    return [{k: e[k] for k in keys}
            for e in report.build_report(store, period, basis=basis)["efficiency"]]


@pytest.mark.parametrize("basis", BASES)
def test_report_seed_equals_former_ranking(any_store_url, basis) -> None:
    store = Store.open(any_store_url)
    seed(store)
    for period in (iso_week("2026-W47"), iso_week("2026-W46")):
        assert _now(store, period, basis) == _former(store, period, basis)


def _many(store: Store, n: int = 700) -> None:
    """``n`` runs in W47 over two projects (max and min), costs from a few levels (ties)."""
    rng = random.Random(7)
    runs, metrics, costs = [], [], []
    for i in range(n):
        run_id, began = uuid.uuid4().hex, W47 + dt.timedelta(minutes=13 * i)
        project = "vision" if i % 3 else "nlp"
        key, mode = ("val_acc", "max") if project == "vision" else ("val_loss", "min")
        status = "running" if i == 5 else rng.choice(["finished", "finished", "failed",
                                                      "killed"])
        runs.append({"id": run_id, "name": f"run-{i:03d}", "project": project,
                     "status": status, "started_at": began, "heartbeat_at": began,
                     "ended_at": None if status == "running" else began, "duration_s": 60.0,
                     "interval_s": 1.0, "flush_interval_s": 2.0, "command": ["python"],
                     "host": "h", "user": rng.choice(["ada", "alan"]),
                     "instance_type": "g5.xlarge", "objective_name": key,
                     "objective_mode": mode})
        if i % 17:
            value = round(rng.uniform(0.1, 1.0), 2)
            metrics.append({"run_id": run_id, "host": "h", "seq": 1, "key": key,
                            "value": value, "step": 1, "ts": began.timestamp(),
                            "source": "log"})
        if i % 11 == 0:
            continue  # not priced
        currency = "EUR" if i % 4 == 0 else "USD"
        amount = None if i % 23 == 0 else Decimal(rng.choice(["0.50", "1.25", "2", "3.5"]))
        base = {"kind": "run", "run_id": run_id, "resource_id": "i-1", "period_start": began,
                "period_end": began, "currency": currency, "upper_bound": False,
                "detail": {}, "computed_at": began}
        costs.append({**base, "source": "estimate", "basis": "list", "amount": amount})
        if i % 5 == 0:
            costs.append({**base, "source": "billed", "basis": "billed",
                          "amount": Decimal("0.75")})
        if i == 8:  # a second currency on one run: no single cost
            costs.append({**base, "source": "estimate", "basis": "list", "currency": "USD",
                          "amount": Decimal(1)})
    with store.write() as conn:
        conn.execute(schema.runs.insert(), runs)
        conn.execute(schema.metrics.insert(), metrics)
        conn.execute(schema.costs.insert(), costs)
    refresh_runs(store)


@pytest.mark.parametrize("basis", ["billed", "list"])
def test_many_runs_equal_former_ranking(any_store_url, basis) -> None:
    store = Store.open(any_store_url)
    _many(store)
    period = iso_week("2026-W47")
    now, before = _now(store, period, basis), _former(store, period, basis)
    assert now == before
    drawn = defaultdict(int)
    for entry in now:
        drawn[entry["project"]] = entry["points_total"]
    assert drawn["vision"] > report.MAX_POINTS  # the chart's cap is exercised
