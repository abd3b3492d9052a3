"""The report's cost sections, read from the per-run rollups (a run whose cost lies wholly in
the period adds its rollup; the others their cost rows), are exactly what summing every cost
row of the period gave (the former computation, kept here as the reference): totals and the
change from the week before, spend by project, user, instance type and provider, spend per
day (in UTC and in a zone with a DST change), runs per status, the top runs, spend on runs
that did not finish, runs not priced or of unknown cost, and GPU-hours with their cost.

The stores: the report's seeded store, and one of 400 random runs over three weeks in three
currencies, billed / estimated under every basis, with unknown prices, a run priced in two
currencies, runs not priced, running / stale (crashed) / failed / killed runs, and runs whose
hourly cost rows cross the week's edges; every basis, a project filter; SQLite and the
PostgreSQL server of tests/pg_server.py."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections import defaultdict
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from tests.dashboard.report_seed import W46, W47, W48, seed
from xprof import schema
from xprof.dashboard import queries, report, report_gpu, report_queries
from xprof.dashboard.report_period import Period, iso_week
from xprof.dashboard.sql_frames import sql_frame, with_effective_status
from xprof.dashboard.tables import spend_table
from xprof.rollups import refresh_runs
from xprof.store import BASES, Store, counted_costs

_r, _h, _c = schema.runs, schema.run_hosts, schema.costs
NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
SECTIONS = ("totals", "spend", "idle_line", "by_day", "runs", "top_runs", "not_finished",
            "not_priced", "gpu")


# -- the former computation: every counted cost row of the period, summed per run ------------

def _in_period(basis: str, start: dt.datetime, end: dt.datetime) -> sa.Subquery:
    cc = counted_costs(basis).subquery("counted")
    return (sa.select(cc).where(cc.c.period_start >= start, cc.c.period_start < end)
            .subquery("in_period"))


def _former_totals(store: Store, start: dt.datetime, end: dt.datetime, basis: str,
                   project: str | None) -> pd.DataFrame:
    cc = _in_period(basis, start, end)
    runs_q = (sa.select(sa.literal("run").label("kind"), cc.c.source, cc.c.currency,
                        schema.money_sum(cc.c.amount).label("amount"),
                        sa.func.count().label("rows"),
                        (sa.func.count() - sa.func.count(cc.c.amount)).label("unknown"))
              .group_by(cc.c.source, cc.c.currency))
    if project is not None:
        runs_q = runs_q.join_from(cc, _r, _r.c.id == cc.c.run_id).where(_r.c.project == project)
    idle_q = (sa.select(sa.literal("idle").label("kind"), _c.c.source, _c.c.currency,
                        schema.money_sum(_c.c.amount).label("amount"),
                        sa.func.count().label("rows"),
                        (sa.func.count() - sa.func.count(_c.c.amount)).label("unknown"))
              .where(_c.c.kind == "idle", _c.c.basis == basis, _c.c.period_start >= start,
                     _c.c.period_start < end).group_by(_c.c.source, _c.c.currency))
    with store.read() as conn:
        frames = [sql_frame(conn, runs_q)] + ([sql_frame(conn, idle_q)] if project is None
                                              else [])
    return pd.concat(frames, ignore_index=True)


def _former_run_spend(store: Store, period: Period, basis: str,
                      project: str | None) -> list[dict[str, Any]]:
    cc = _in_period(basis, period.start, period.end)
    per_run = (sa.select(cc.c.run_id, cc.c.currency, sa.func.max(cc.c.source).label("source"),
                         schema.money_sum(cc.c.amount).label("amount"),
                         sa.func.count().label("rows"),
                         sa.func.count(cc.c.amount).label("known"),
                         sa.func.max(cc.c.detail["reason"].as_string()).label("reason"))
               .group_by(cc.c.run_id, cc.c.currency).subquery("per_run"))
    query = (sa.select(
        _r.c.id.label("run_id"), _r.c.name, _r.c.project, _r.c.user, _r.c.status,
        sa.case((_r.c.status == "running", _r.c.heartbeat_at)).label("heartbeat_at"),
        _r.c.flush_interval_s, _r.c.instance_type, _r.c.cloud_provider.label("provider"),
        _r.c.started_at, _r.c.duration_s, *(per_run.c[k] for k in (
            "currency", "source", "amount", "rows", "known", "reason")))
        .select_from(per_run.join(_r, _r.c.id == per_run.c.run_id)))
    if project is not None:
        query = query.where(_r.c.project == project)
    with store.read() as conn:
        return with_effective_status(sql_frame(conn, query)).to_dict("records")


def _former_run_sections(store: Store, period: Period, basis: str,
                         project: str | None) -> dict[str, Any]:
    records = _former_run_spend(store, period, basis, project)
    known = [r for r in records if r["amount"] is not None and r["known"] == r["rows"]]
    top = []
    for currency in sorted({r["currency"] for r in known}):
        mine = sorted((r for r in known if r["currency"] == currency),
                      key=lambda r: (-Decimal(r["amount"]), r["name"]))[:report.TOP]
        top += [{**report._run_entry(r, period.tz), "currency": currency,
                 "amount": Decimal(r["amount"]), "source": r["source"]} for r in mine]
    not_finished: dict[tuple[str, str], dict[str, Any]] = {}
    for r in records:
        if r["status"] in report.NOT_FINISHED:
            entry = not_finished.setdefault((r["status"], r["currency"]), {
                "status": r["status"], "currency": r["currency"], "amount": Decimal(0),
                "runs": 0, "unknown": 0})
            entry["amount"] += Decimal(r["amount"] or 0)
            entry["runs"] += 1
            entry["unknown"] += int(r["rows"]) - int(r["known"])
    unknown = [{**report._run_entry(r, period.tz), "currency": r["currency"],
                "reason": r["reason"] or "no amount recorded"}
               for r in sorted(records, key=lambda r: (r["started_at"], r["name"]))
               if r["known"] < r["rows"]]
    cc = counted_costs(basis).subquery("counted")
    unpriced_q = (sa.select(
        _r.c.id.label("run_id"), _r.c.name, _r.c.project, _r.c.user, _r.c.status,
        sa.case((_r.c.status == "running", _r.c.heartbeat_at)).label("heartbeat_at"),
        _r.c.flush_interval_s, _r.c.instance_type, _r.c.cloud_provider.label("provider"),
        _r.c.started_at, _r.c.duration_s)
        .where(_r.c.started_at >= period.start, _r.c.started_at < period.end,
               ~sa.exists().where(cc.c.run_id == _r.c.id)).order_by(_r.c.started_at))
    if project is not None:
        unpriced_q = unpriced_q.where(_r.c.project == project)
    with store.read() as conn:
        unpriced = with_effective_status(sql_frame(conn, unpriced_q)).to_dict("records")
    status = report_queries.run_status_counts(store, period.start, period.end, project=project)
    return {
        "runs": {"started": int(status["runs"].sum()) if len(status) else 0,
                 "by_status": dict(sorted(zip(status["status"], map(int, status["runs"]),
                                              strict=True)))},
        "top_runs": top,
        "not_finished": sorted(not_finished.values(), key=lambda e: (
            report.NOT_FINISHED.index(e["status"]), e["currency"])),
        "not_priced": {"unpriced": [report._run_entry(r, period.tz) for r in unpriced],
                       "unknown": unknown, "unknown_runs": len({u["run_id"] for u in unknown})},
    }


def _former_by_day(store: Store, period: Period, basis: str,
                   project: str | None) -> list[dict[str, Any]]:
    cc = _in_period(basis, period.start, period.end)
    runs_q = (sa.select(cc.c.period_start, cc.c.currency, cc.c.source,
                        schema.money_sum(cc.c.amount).label("amount"))
              .group_by(cc.c.period_start, cc.c.currency, cc.c.source))
    if project is not None:
        runs_q = runs_q.join_from(cc, _r, _r.c.id == cc.c.run_id).where(_r.c.project == project)
    idle_q = (sa.select(_c.c.period_start, _c.c.currency, sa.literal("idle").label("source"),
                        schema.money_sum(_c.c.amount).label("amount"))
              .where(_c.c.kind == "idle", _c.c.basis == basis,
                     _c.c.period_start >= period.start, _c.c.period_start < period.end)
              .group_by(_c.c.period_start, _c.c.currency))
    with store.read() as conn:
        rows = sql_frame(conn, runs_q).to_dict("records")
        if project is None:
            rows += sql_frame(conn, idle_q).to_dict("records")
    zero = {"billed": Decimal(0), "estimate": Decimal(0), "idle": Decimal(0)}
    sums: dict[tuple[dt.date, str], dict[str, Decimal]] = defaultdict(lambda: dict(zero))
    for row in rows:
        day = report._local(row["period_start"], period.tz).date()
        sums[(day, row["currency"])][row["source"]] += Decimal(row["amount"] or 0)
    days = [period.first + dt.timedelta(days=i) for i in range(period.days)]
    return [{"day": day, "currency": c, **sums.get((day, c), zero)}
            for c in sorted({c for _, c in sums}) for day in days]


def _former_gpu(store: Store, period: Period, basis: str, project: str | None
                ) -> dict[str, Any]:
    """GPU-hours with every run's hosts and its cost summed from its counted rows."""
    start, end = period.start, period.end
    gpu_count = _r.c.hardware["gpu_count"].as_integer()
    run_end = sa.func.coalesce(_r.c.ended_at, _r.c.heartbeat_at)
    has_gpu_host = sa.exists().where(_h.c.run_id == _r.c.id,
                                     _h.c.hardware["gpu_count"].as_integer() > 0)
    selected = sa.select(_r.c.id).where(_r.c.started_at < end, run_end > start,
                                        sa.or_(gpu_count > 0, has_gpu_host))
    if project is not None:
        selected = selected.where(_r.c.project == project)
    ids = selected.scalar_subquery()
    runs_q = sa.select(_r.c.id.label("run_id"), _r.c.host, _r.c.instance_id, _r.c.started_at,
                       run_end.label("ended_at"), _r.c.duration_s, _r.c.hardware,
                       _r.c.summary).where(_r.c.id.in_(ids))
    hosts_q = sa.select(_h.c.run_id, _h.c.host, _h.c.instance_id, _h.c.started_at,
                        sa.func.coalesce(_h.c.ended_at, _h.c.heartbeat_at).label("ended_at"),
                        _h.c.hardware, _h.c.summary).where(_h.c.run_id.in_(ids))
    cc = counted_costs(basis).subquery("counted")
    costs_q = (sa.select(cc.c.run_id, cc.c.currency,
                         schema.money_sum(cc.c.amount).label("amount"),
                         sa.func.count().label("rows"), sa.func.count(cc.c.amount).label("known"))
               .where(cc.c.run_id.in_(ids)).group_by(cc.c.run_id, cc.c.currency))
    with store.read() as conn:
        frames = [sql_frame(conn, q) for q in (runs_q, hosts_q, costs_q)]
    return report_gpu.gpu_hours(*frames, start, end)


def _former(store: Store, period: Period, basis: str, project: str | None) -> dict[str, Any]:
    previous = period.previous()
    now = _former_totals(store, period.start, period.end, basis, project)
    totals = report.totals_rows(now, _former_totals(store, previous.start, previous.end,
                                                    basis, project))
    spend = {}
    for by in report.DIMENSIONS:
        frame = queries.spend(store, by, basis=basis, start=period.start, end=period.end,
                              project=project)
        spend[by] = [{"key": r[by], "currency": r["currency"], "billed": report._dec(r["billed"]),
                      "estimate": report._dec(r["estimate"]), "total": report._dec(r["total"]),
                      "runs": int(r["runs"]), "unknown": int(r["unknown"])}
                     for r in spend_table(frame, by).to_dict("records")]
    return {"totals": totals, "spend": spend,
            "idle_line": [{"currency": t["currency"], "amount": t["idle"]}
                          for t in totals if t["idle"]] if project is None else [],
            "by_day": _former_by_day(store, period, basis, project),
            **_former_run_sections(store, period, basis, project),
            "gpu": _former_gpu(store, period, basis, project)}


def _assert_same(store: Store, period: Period, basis: str, project: str | None = None) -> None:
    now = report.build_report(store, period, project=project, basis=basis, now=NOW)
    before = _former(store, period, basis, project)
    for section in SECTIONS:
        assert now[section] == before[section], (section, basis, period.label, project)


# -- the stores --------------------------------------------------------------------------------

BERLIN = Period(dt.date(2026, 10, 20), dt.date(2026, 10, 28), tz="Europe/Berlin")  # DST ends
W43 = dt.datetime(2026, 10, 19, tzinfo=dt.UTC)


def _random_store(store: Store, n: int = 400) -> None:
    """``n`` runs from the Monday of W43 to the end of W48 (see the module doc)."""
    rng = random.Random(20)
    runs, hosts, costs = [], [], []
    span = (W48 + dt.timedelta(days=7) - W43).total_seconds()
    for i in range(n):
        run_id = uuid.UUID(int=rng.getrandbits(128)).hex
        began = W43 + dt.timedelta(seconds=rng.uniform(0, span))
        hours = rng.choice([0.5, 1, 2, 3, 5])
        if i % 37 == 0:  # 90 minutes before a Monday: its hourly rows cross the week's edge
            began, hours = rng.choice([W47, W48, W46]) - dt.timedelta(minutes=90), 3
        status = rng.choices(["finished", "failed", "killed", "running", "stale"],
                             [70, 10, 8, 4, 8])[0]
        gpus = rng.choice([0, 0, 4, 8])
        machine = f"i-{gpus}-{rng.randrange(6)}"
        used = sorted(rng.sample(range(gpus), rng.randint(0, gpus))) if gpus else None
        hardware = {"gpu_count": gpus, "gpus_used": used} if gpus else {"cpu_count": 8}
        ended = began + dt.timedelta(hours=hours)
        runs.append({
            "id": run_id, "name": f"run-{i:03d}", "project": f"p{i % 3}",
            "status": "running" if status == "stale" else status, "started_at": began,
            "ended_at": None if status in ("running", "stale") else ended,
            "heartbeat_at": NOW if status == "running" else ended, "duration_s": hours * 3600,
            "interval_s": 1.0, "flush_interval_s": 86400.0 * 365 if status == "running" else 2.0,
            "command": ["python"], "host": "h", "user": rng.choice(["ada", "bob", None]),
            "instance_type": rng.choice(["g5.12xlarge", "p4d.24xlarge", "c5.xlarge", None]),
            "cloud_provider": rng.choice(["aws", "gcp", None]), "instance_id": machine,
            "hardware": hardware, "objective_name": "acc", "objective_mode": "max"})
        hosts.append({"run_id": run_id, "host": "h", "status": runs[-1]["status"],
                      "started_at": began, "ended_at": runs[-1]["ended_at"],
                      "heartbeat_at": runs[-1]["heartbeat_at"], "hardware": hardware,
                      "instance_id": machine})
        if i % 13 == 0:
            continue  # not priced
        currency = ["USD", "EUR", "JPY"][i % 3] if i % 5 else "USD"
        base = {"kind": "run", "run_id": run_id, "resource_id": machine, "upper_bound": False,
                "computed_at": NOW}

        def hourly(source: str, basis: str, scale: Decimal, unknown_at: int | None = None,
                   money: str = currency, base: dict = base, began: dt.datetime = began,
                   hours: float = hours) -> None:
            for h in range(max(int(hours), 1)):
                at = began + dt.timedelta(hours=h)
                amount = None if h == unknown_at else (
                    Decimal(rng.choice(["0.25", "1.10", "2", "3.333333333"])) * scale)
                costs.append({**base, "source": source, "basis": basis, "period_start": at,
                              "period_end": at + dt.timedelta(hours=1), "currency": money,
                              "amount": amount,
                              "detail": {"reason": "no price"} if amount is None else {}})

        hourly("estimate", "list", Decimal(1), unknown_at=0 if i % 29 == 0 else None)
        if i % 4 == 0:
            hourly("estimate", "effective", Decimal("0.8"))
        if i % 6 == 0:
            hourly("billed", "billed", Decimal("0.9"))
            hourly("billed", "effective", Decimal("0.7"))
        if i == 10:  # priced in two currencies
            hourly("estimate", "list", Decimal(1), money="EUR")
    for h in range(3):  # an IDR run: 15e9 units, beyond what a SQLite rollup keeps exactly
        at = W47 + dt.timedelta(days=2, hours=h)
        costs.append({"kind": "run", "run_id": runs[1]["id"], "resource_id": "i-idr",
                      "upper_bound": False, "computed_at": NOW, "source": "billed",
                      "basis": "billed", "period_start": at,
                      "period_end": at + dt.timedelta(hours=1), "currency": "IDR",
                      "amount": Decimal("5000000000.000000001"), "detail": {}})
    with store.write() as conn:
        conn.execute(_r.insert(), runs)
        conn.execute(_h.insert(), hosts)
        conn.execute(_c.insert(), costs)
    refresh_runs(store)


@pytest.mark.parametrize("basis", BASES)
def test_report_seed_sections_equal_former_sums(any_store_url, basis) -> None:
    store = Store.open(any_store_url)
    seed(store)
    for period in (iso_week("2026-W47"), iso_week("2026-W46"),
                   Period(dt.date(2026, 11, 15), dt.date(2026, 11, 22), tz="America/New_York")):
        _assert_same(store, period, basis)
    _assert_same(store, iso_week("2026-W47"), basis, project="nlp")


def test_random_store_sections_equal_former_sums(any_store_url) -> None:
    store = Store.open(any_store_url)
    _random_store(store)
    with store.read() as conn:  # the store holds what the test is about
        ro = schema.run_rollups
        states = set(conn.execute(sa.select(ro.c.cost_state_list).distinct()).scalars())
        crossing = conn.execute(sa.select(sa.func.count()).where(
            ro.c.cost_first_list < W47, ro.c.cost_last_list >= W47)).scalar()
    assert {"estimate", "not priced", "unknown", "mixed currencies"} <= states
    assert crossing >= 2
    for basis in BASES:
        for period in (iso_week("2026-W47"), iso_week("2026-W46"), BERLIN):
            _assert_same(store, period, basis)
    _assert_same(store, iso_week("2026-W47"), "billed", project="p1")
    sections = report.build_report(store, iso_week("2026-W47"), basis="list", now=NOW)
    assert {e["status"] for e in sections["not_finished"]} == {"failed", "killed", "crashed"}
    assert len({e["currency"] for e in sections["top_runs"]}) == 3
    assert sections["gpu"]["hours_paid"] > 0 and sections["not_priced"]["unknown"]


# -- GPU-hours: runs alone on a machine and machines shared, read with their rollups ------------

def _gpu_store(store: Store) -> None:
    """GPU runs of W47 that take every path of :func:`report_queries.gpu_runs`: a run alone on
    its machine, a sweep sharing one (a run of it not priced, one of another project), a run
    on two hosts, a run whose own row has no GPU count (its host row has), a run priced in
    IDR beyond what a SQLite rollup keeps exactly, one priced in two currencies, one that
    began the week before, one whose GPU use was never recorded, and a CPU run."""
    day = W47 + dt.timedelta(days=2)
    runs, hosts, costs = [], [], []

    def run(name: str, machine: str, began: dt.datetime, hours: float, hardware: dict,
            prices: list[tuple[str, str]], project: str = "p0",
            host_rows: list[tuple[str, str, dict]] | None = None) -> None:
        run_id = uuid.uuid5(uuid.NAMESPACE_DNS, name).hex
        ended = began + dt.timedelta(hours=hours)
        runs.append({
            "id": run_id, "name": name, "project": project, "status": "finished",
            "started_at": began, "ended_at": ended, "heartbeat_at": ended,
            "duration_s": hours * 3600, "interval_s": 1.0, "flush_interval_s": 2.0,
            "command": ["python"], "host": "h1", "user": "ada", "instance_type": "g5",
            "cloud_provider": "aws", "instance_id": machine, "hardware": hardware,
            "objective_name": "acc", "objective_mode": "max"})
        for host, instance, host_hardware in host_rows or [("h1", machine, hardware)]:
            hosts.append({"run_id": run_id, "host": host, "status": "finished",
                          "started_at": began, "ended_at": ended, "heartbeat_at": ended,
                          "hardware": host_hardware, "instance_id": instance})
        for amount, currency in prices:
            costs.append({"kind": "run", "run_id": run_id, "resource_id": machine,
                          "upper_bound": False, "computed_at": NOW, "source": "estimate",
                          "basis": "list", "period_start": began,
                          "period_end": ended, "currency": currency,
                          "amount": Decimal(amount), "detail": {}})

    four = {"gpu_count": 4, "gpus_used": [0, 1]}
    run("alone", "i-alone", day, 2, four, [("10", "USD")])
    for i in range(3):
        run(f"sweep-{i}", "i-sweep", day + dt.timedelta(minutes=20 * i), 1.5,
            {"gpu_count": 8, "gpus_used": [i]}, [] if i == 1 else [(f"{3 + i}", "USD")])
    run("other-project", "i-sweep", day, 1, {"gpu_count": 8, "gpus_used": [7]},
        [("2", "USD")], project="p1")
    run("two-hosts", "i-h1", day, 3, four, [("30", "USD")],
        host_rows=[("h1", "i-h1", four), ("h2", "i-h2", {"gpu_count": 4, "gpus_used": [0]})])
    run("host-gpus", "i-host", day, 1, {"cpu_count": 8}, [("4", "EUR")],
        host_rows=[("h1", "i-host", {"gpu_count": 2, "gpus_used": [0]})])
    run("idr", "i-idr", day, 1, four, [("15000000000.000000001", "IDR")])
    run("two-currencies", "i-alone", day + dt.timedelta(hours=3), 1, four,
        [("1", "USD"), ("1", "EUR")])
    run("crossing", "i-cross", W47 - dt.timedelta(hours=2), 4, four, [("8", "USD")])
    run("unrecorded", "i-unrec", day, 1, {"gpu_count": 4}, [("1", "USD")])
    run("cpu", "i-cpu", day, 1, {"cpu_count": 8}, [("1", "USD")])
    with store.write() as conn:
        conn.execute(_r.insert(), runs)
        conn.execute(_h.insert(), hosts)
        conn.execute(_c.insert(), costs)
    refresh_runs(store)


def test_gpu_hours_alone_and_shared_equal_former(any_store_url) -> None:
    store = Store.open(any_store_url)
    _gpu_store(store)
    period = iso_week("2026-W47")
    for basis in BASES:
        for project in (None, "p0"):
            _assert_same(store, period, basis, project=project)
    gpu = report.build_report(store, period, basis="list", now=NOW)["gpu"]
    # alone, 3 sweep runs, other project, two hosts, host GPUs, IDR, two currencies, crossing
    assert gpu["runs"] == 10 and gpu["unrecorded_runs"] == 1
    assert gpu["machines"] == 7  # i-alone, i-sweep, i-h1, i-h2, i-host, i-idr, i-cross
    assert {c["currency"] for c in gpu["cost"]} == {"USD", "EUR", "IDR"}
    assert gpu["unpriced_hours_used"] > 0  # sweep-1 and two-currencies have no price
