"""The weekly cost report's numbers, computed once into a plain structure every format renders.

:func:`build_report` returns a dict (money as ``Decimal``, times as aware datetimes in the
report's time zone, scores as floats or None). Its keys:

- ``period`` / ``previous``: label, start, end (exclusive), tz; ``project``, ``basis``,
  ``generated_at``, ``empty`` (no run started and no cost in the period);
- ``bill``: the whole bill of the period per currency (team report only): total = runs +
  idle + other (other spend by category), and by provider, service, region, account
  (:mod:`xprof.dashboard.report_bill`);
- ``totals``: per currency: total, billed, estimated (billed + estimated = total), idle (part
  of the total), runs_billed, runs_estimated, unknown (cost rows without an amount),
  previous_total, change, change_pct (None when there was nothing before);
- ``spend``: by project, user, instance_type, provider: rows of key, currency, billed,
  estimate, total, runs, unknown; ``idle_line``: idle cost per currency (no run on the
  machine, never spread over runs); ``idle``: the idle resources; ``by_day``: local days;
- ``runs``: runs started per status; ``not_finished``: spend on failed, killed and crashed
  runs; ``top_runs``: the ten most expensive runs per currency;
- ``gpu``: see :mod:`xprof.dashboard.report_gpu` for the formula;
- ``efficiency``: per project, the ten best metric-per-dollar runs and the Pareto frontier,
  ranked by :mod:`xprof.dashboard.ranking` (the dashboard's functions);
- ``recommendations``: open advice and the potential monthly saving per currency;
- ``not_priced``: runs with no cost yet and runs whose cost is unknown, counted and listed.

A cost belongs to the period by its ``period_start`` (like the dashboard's spend page); a run
belongs to it by ``started_at``; GPU-hours are clipped to the period.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pandas as pd

from xprof.dashboard import board, queries, ranking, report_gpu, report_queries
from xprof.dashboard.report_bill import bill_section
from xprof.dashboard.report_period import Period, zone
from xprof.dashboard.tables import spend_table
from xprof.efficiency import cost_as_float
from xprof.store import Store

DIMENSIONS = ("project", "user", "instance_type", "provider")
NOT_FINISHED = ("failed", "killed", "crashed")
TOP = 10
MAX_POINTS = 300  # runs per project and currency drawn on a frontier chart (frontier first)
ZERO = Decimal(0)


def _dec(value: Any) -> Decimal | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return Decimal(value)


def _float(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _local(value: Any, tz: str) -> dt.datetime | None:
    if value is None or (not isinstance(value, dt.datetime) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    return value.astimezone(zone(tz))


def _totals(frame: pd.DataFrame) -> dict[str, dict[str, Decimal | int]]:
    out: dict[str, dict[str, Any]] = defaultdict(lambda: {
        "runs_billed": ZERO, "runs_estimated": ZERO, "idle": ZERO, "idle_billed": ZERO,
        "unknown": 0})
    for row in frame.to_dict("records"):
        entry = out[row["currency"]]
        amount = _dec(row["amount"]) or ZERO
        if row["kind"] == "idle":
            entry["idle"] += amount
            if row["source"] == "billed":
                entry["idle_billed"] += amount
        elif row["source"] == "billed":
            entry["runs_billed"] += amount
        else:
            entry["runs_estimated"] += amount
        entry["unknown"] += int(row["unknown"])
    return out


def totals_rows(now: pd.DataFrame, before: pd.DataFrame) -> list[dict[str, Any]]:
    """Per currency: total split billed / estimated, idle, and the change from ``before``."""
    current, previous = _totals(now), _totals(before)
    rows = []
    for currency in sorted(set(current) | set(previous)):
        cur = current[currency]
        total = cur["runs_billed"] + cur["runs_estimated"] + cur["idle"]
        billed = cur["runs_billed"] + cur["idle_billed"]
        prev = previous.get(currency)
        prev_total = (prev["runs_billed"] + prev["runs_estimated"] + prev["idle"]
                      if prev else None)
        change = total - prev_total if prev_total is not None else None
        pct = (float(change / prev_total * 100) if prev_total else None)
        rows.append({"currency": currency, "total": total, "billed": billed,
                     "estimated": total - billed, "idle": cur["idle"],
                     "runs_billed": cur["runs_billed"], "runs_estimated": cur["runs_estimated"],
                     "unknown": cur["unknown"], "previous_total": prev_total,
                     "change": change, "change_pct": pct})
    return rows


def _spend_rows(frame: pd.DataFrame, by: str) -> list[dict[str, Any]]:
    table = spend_table(frame, by)
    return [{"key": row[by], "currency": row["currency"], "billed": _dec(row["billed"]),
             "estimate": _dec(row["estimate"]), "total": _dec(row["total"]),
             "runs": int(row["runs"]), "unknown": int(row["unknown"])}
            for row in table.to_dict("records")]


def _midnight(day: dt.date, tz: str) -> dt.datetime:
    """The first instant of the local ``day`` in ``tz``, UTC (as :class:`Period` has it)."""
    return dt.datetime.combine(day, dt.time(), zone(tz)).astimezone(dt.UTC)


def _by_day(store: Store, period: Period, basis: str,
            project: str | None) -> list[dict[str, Any]]:
    days = [period.first + dt.timedelta(days=i) for i in range(period.days)]
    frame = report_queries.spend_by_day(store, period.start, period.end,
                                        [_midnight(day, period.tz) for day in days[1:]],
                                        basis=basis, project=project)
    sums: dict[tuple[dt.date, str], dict[str, Decimal]] = defaultdict(
        lambda: {"billed": ZERO, "estimate": ZERO, "idle": ZERO})
    for row in frame.to_dict("records"):
        sums[(days[int(row["day"])], row["currency"])][row["source"]] += (
            _dec(row["amount"]) or ZERO)
    currencies = sorted({c for _, c in sums})
    return [{"day": day, "currency": c, **sums.get((day, c), {
        "billed": ZERO, "estimate": ZERO, "idle": ZERO})} for c in currencies for day in days]


def _run_entry(row: dict[str, Any], tz: str) -> dict[str, Any]:
    return {"run_id": row["run_id"], "name": row["name"], "project": row["project"],
            "user": row.get("user"), "status": row["status"],
            "instance_type": row.get("instance_type"), "provider": row.get("provider"),
            "started_at": _local(row.get("started_at"), tz),
            "duration_s": _float(row.get("duration_s"))}


def _run_sections(store: Store, period: Period, basis: str, project: str | None,
                  by_status: pd.DataFrame) -> dict[str, Any]:
    """Runs started, the top runs, spend on runs that did not finish (``by_status``: the
    period's spend per stored status and currency), runs not priced."""
    spent = report_queries.run_spend_top(store, period.start, period.end, TOP, basis=basis,
                                         project=project).to_dict("records")
    top: list[dict[str, Any]] = []
    for currency in sorted({r["currency"] for r in spent}):
        mine = sorted((r for r in spent if r["currency"] == currency),
                      key=lambda r: (-Decimal(r["amount"]), r["name"]))[:TOP]
        top += [{**_run_entry(r, period.tz), "currency": currency,
                 "amount": Decimal(r["amount"]), "source": r["source"]} for r in mine]
    not_finished: dict[tuple[str, str], dict[str, Any]] = {}
    stored = by_status[by_status["status"].isin(NOT_FINISHED)]
    live = report_queries.running_spend(store, period.start, period.end, basis=basis,
                                        project=project)
    by_status = pd.concat([f for f in (stored, live[live["status"].isin(NOT_FINISHED)])
                           if len(f)] or [stored], ignore_index=True)
    for r in by_status.to_dict("records"):
        entry = not_finished.setdefault((r["status"], r["currency"]), {
            "status": r["status"], "currency": r["currency"], "amount": ZERO, "runs": 0,
            "unknown": 0})
        entry["amount"] += _dec(r["amount"]) or ZERO
        entry["runs"] += int(r["runs"])
        entry["unknown"] += int(r["unknown"])
    records = report_queries.run_spend_unknown(store, period.start, period.end, basis=basis,
                                               project=project).to_dict("records")
    unknown = [{**_run_entry(r, period.tz), "currency": r["currency"],
                "reason": r["reason"] or "no amount recorded"}
               for r in sorted(records, key=lambda r: (r["started_at"], r["name"]))]
    unpriced = report_queries.unpriced_run_list(store, period.start, period.end, basis=basis,
                                                project=project)
    status = report_queries.run_status_counts(store, period.start, period.end, project=project)
    return {
        "runs": {"started": int(status["runs"].sum()) if len(status) else 0,
                 "by_status": dict(sorted(zip(status["status"], map(int, status["runs"]),
                                              strict=True)))},
        "top_runs": top,
        "not_finished": sorted(not_finished.values(),
                               key=lambda e: (NOT_FINISHED.index(e["status"]), e["currency"])),
        "not_priced": {
            "unpriced": [_run_entry(r, period.tz) for r in unpriced.to_dict("records")],
            "unknown": unknown,
            "unknown_runs": len({u["run_id"] for u in unknown}),
        },
    }


def _ranked_entry(row: dict[str, Any], tz: str) -> dict[str, Any]:
    return {"run_id": row["run_id"], "name": row["name"], "status": row["status"],
            "instance_type": row.get("instance_type"),
            "started_at": _local(row.get("started_at"), tz),
            "objective": _float(row["objective"]), "cost": _dec(row["cost"]),
            "currency": row["currency"], "score": _float(row.get("score")),
            "rank": None if pd.isna(row.get("rank")) else int(row["rank"])}


def _efficiency(store: Store, period: Period, basis: str,
                project: str | None) -> list[dict[str, Any]]:
    """Per project with a run started in the period: its runs ranked (SQL over the rollups,
    only the rows shown fetched: :func:`xprof.dashboard.board.period_ranked`)."""
    active = report_queries.projects_started(store, period.start, period.end)
    infos = [info for info in queries.projects(store).sort_values("project").to_dict("records")
             if info["project"] in active and project in (None, info["project"])]
    return [_project_efficiency(store, info, period, basis) for info in infos]


def _project_efficiency(store: Store, info: dict[str, Any], period: Period,
                        basis: str) -> dict[str, Any]:
    """The ten best runs per currency and the Pareto frontier of one project's runs."""
    objective, mode = info["objective_name"], info["objective_mode"] or "max"
    entry: dict[str, Any] = {"project": info["project"], "objective": objective, "mode": mode,
                             "runs": 0, "scored": 0, "best": [], "frontier": [],
                             "points": [], "points_total": 0, "note": None}
    if not objective:
        entry["runs"] = report_queries.runs_started(store, period.start, period.end,
                                                    info["project"])
        entry["note"] = ("no objective declared: record runs with "
                         "`xprof run --objective NAME:max|min` to rank them")
        return entry
    found = board.period_ranked(store, info["project"], objective, mode, basis, period.start,
                                period.end, top=TOP, points=MAX_POINTS)
    entry["runs"], entry["scored"] = found.runs, found.scored
    # the candidates hold every run shown: ranking's functions judge them, with the rank
    # each holds among all the period's runs
    ranked = ranking.rank_runs(found.candidates, mode, found.baseline)
    ranked["rank"] = ranked["overall_rank"]
    ranked["frontier"] = ranking.pareto_frontier(ranked, mode)
    best = ranked[ranked["top"] & ranked["score"].notna()]
    entry["best"] = [_ranked_entry(r, period.tz) for r in best.to_dict("records")]
    frontier = ranked[ranked["frontier"]]
    frontier = frontier.assign(_cost=cost_as_float(frontier["cost"]))
    frontier = frontier.sort_values(["currency", "_cost"])
    entry["frontier"] = [_ranked_entry(r, period.tz) for r in frontier.to_dict("records")]
    drawable = ranked[ranked["objective"].notna() & ranked["cost"].notna()
                      & ranked["currency"].notna()]
    drawn = pd.concat([drawable[drawable["frontier"]],
                       drawable[~drawable["frontier"] & drawable["point"]].head(MAX_POINTS)])
    entry["points"] = [{"name": r["name"], "currency": r["currency"],
                        "cost": float(r["cost"]), "objective": float(r["objective"]),
                        "frontier": bool(r["frontier"])} for r in drawn.to_dict("records")]
    entry["points_total"] = found.drawable
    if not entry["best"]:
        entry["note"] = f"no run logged {objective} with a known cost, so none is ranked"
    return entry


def _predicted(rec: dict[str, Any]) -> dict[str, Any]:
    """The suggested machine's predicted duration and cost per run (the saving's basis)."""
    evidence = rec.get("evidence") or {}
    cost = evidence.get("predicted_cost") if rec.get("suggested_instance") else None
    return {"predicted_duration_s": evidence.get("predicted_duration_s") if cost else None,
            "predicted_cost": _dec(cost) if cost else None,
            "confidence": evidence.get("confidence") if cost else None}


def _recommendations(store: Store, project: str | None, tz: str) -> dict[str, Any]:
    recs = queries.recommendations(store, status="open", project=project)
    if project is None:
        totals = queries.saving_totals(store, status="open")
    else:
        totals = queries.saving_totals(store, by="project", status="open")
        totals = totals[totals["project"] == project]
    return {
        "open": [{"id": int(r["id"]), "run_id": r["run_id"], "run_name": r["run_name"],
                  "project": r["project"], "rule": r["rule"], "severity": r["severity"],
                  "title": r["title"], "current_instance": r["current_instance"],
                  "suggested_instance": r["suggested_instance"],
                  "saving_per_run": _dec(r["saving_per_run"]),
                  "saving_per_month": _dec(r["saving_per_month"]), "currency": r["currency"],
                  **_predicted(r), "created_at": _local(r["created_at"], tz)}
                 for r in recs.to_dict("records")],
        "totals": [{"currency": r["currency"], "n": int(r["n"]),
                    "saving_per_month": _dec(r["saving_per_month"])}
                   for r in totals.to_dict("records")],
    }


def _gpu(store: Store, period: Period, basis: str, project: str | None) -> dict[str, Any]:
    runs, hosts, costs = report_queries.gpu_runs(store, period.start, period.end, basis=basis,
                                                 project=project)
    return report_gpu.gpu_hours(runs, hosts, costs, period.start, period.end)


def _idle_resources(store: Store, period: Period, basis: str,
                    project: str | None) -> list[dict[str, Any]]:
    if project is not None:
        return []
    idle = queries.idle_spend(store, basis=basis, start=period.start, end=period.end)
    return [{"resource_id": r["resource_id"], "currency": r["currency"],
             "amount": _dec(r["amount"]), "from": _local(r["from"], period.tz),
             "to": _local(r["to"], period.tz)} for r in idle.to_dict("records")]


def build_report(store: Store, period: Period, *, project: str | None = None,
                 basis: str = "billed", now: dt.datetime | None = None) -> dict[str, Any]:
    """Every number of the report for ``period`` (see the module doc for the keys)."""
    previous = period.previous()
    groups = report_queries.spend_groups(store, period.start, period.end, basis=basis,
                                         project=project)
    now_totals = report_queries.period_totals(store, period.start, period.end, basis=basis,
                                              project=project, runs=groups["total"])
    before = report_queries.period_totals(store, previous.start, previous.end, basis=basis,
                                          project=project)
    totals = totals_rows(now_totals, before)
    report: dict[str, Any] = {
        "title": "xprof cost report",
        "period": {"label": period.label, "start": _local(period.start, period.tz),
                   "end": _local(period.end, period.tz), "tz": period.tz,
                   "days": period.days},
        "previous": {"label": previous.label, "start": _local(previous.start, period.tz),
                     "end": _local(previous.end, period.tz)},
        "project": project, "basis": basis,
        "generated_at": _local(now or dt.datetime.now(dt.UTC), period.tz),
        "totals": totals,
        "bill": bill_section(store, period.start, period.end, basis, project),
        "spend": {by: _spend_rows(groups[by], by) for by in DIMENSIONS},
        "idle_line": [{"currency": t["currency"], "amount": t["idle"]}
                      for t in totals if t["idle"]] if project is None else [],
        "idle": _idle_resources(store, period, basis, project),
        "by_day": _by_day(store, period, basis, project),
        **_run_sections(store, period, basis, project, groups["status"]),
        "gpu": _gpu(store, period, basis, project),
        "efficiency": _efficiency(store, period, basis, project),
        "recommendations": _recommendations(store, project, period.tz),
    }
    has_cost = not now_totals.empty and int(now_totals["rows"].sum()) > 0
    report["empty"] = report["runs"]["started"] == 0 and not has_cost and not report["bill"]
    return report
