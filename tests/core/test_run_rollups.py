"""The per-run rollups equal what the raw tables give, whatever happened to the store: runs
written by the agent's own writer (finished, failed, left running, spooled), estimates and
bills written by the collector, ``xprof gc``, ``xprof rm`` and ``xprof sync``, in any order.

The oracle is the leaderboard's former read of the raw tables (``queries.leaderboard``: the
objective's last value per run, its cost by ``counted_costs``) and plain Python over the
metric rows (best value).
"""

from __future__ import annotations

import datetime as dt
import math
import tempfile
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xprof import schema
from xprof.agent.store_writer import Batch, NewRun, RunWriter
from xprof.collector.allocate import BILLED_SOURCES, COST_COLUMNS
from xprof.collector.gc import downsample
from xprof.collector.writes import SQLITE_TIME, replace_billed_costs, replace_estimates
from xprof.dashboard import queries
from xprof.records import Metric, Sample
from xprof.store import BASES, Store, counted_costs
from xprof.sync import sync_runs

T0 = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)
NOW = T0 + dt.timedelta(days=60)
CURRENCIES = ("USD", "EUR")


class World:
    """A main store, a spool, and the runs made so far."""

    def __init__(self, root: Path, main_url: str | None = None) -> None:
        self.main_url = main_url or f"sqlite:///{root / 'main.db'}"
        self.spool_url = f"sqlite:///{root / 'spool.db'}"
        self.main = Store.open(self.main_url)
        self.spool = Store.open(self.spool_url)
        self.runs: list[str] = []
        self.spooled: list[str] = []

    def record(self, mode: str, values: list[float], end: str, spooled: bool,
               objective: str | None) -> None:
        """A run written by the agent's RunWriter: created, metrics, then its end (or none)."""
        run_id, index = uuid.uuid4().hex, len(self.runs)
        start = T0 + dt.timedelta(hours=index)
        url = self.spool_url if spooled else self.main_url
        writer = RunWriter(url, self.spool_url, run_id, "h1", lambda *_: None)
        run = {"id": run_id, "name": f"r{index}", "project": "p", "status": "running",
               "started_at": start, "heartbeat_at": start, "interval_s": 1.0,
               "flush_interval_s": 1.0, "command": ["python"], "host": "h1",
               "objective_name": objective, "objective_mode": mode if objective else None,
               "instance_type": "g5.xlarge", "instance_id": f"i-{index}",
               "hardware": {"gpus_used": [0, 1]}}
        spec = NewRun(run=run, host={"host": "h1", "status": "running", "started_at": start,
                                     "heartbeat_at": start, "hardware": run["hardware"]},
                      params={}, tags={})
        metrics = [Metric(seq=i + 1, key=key, value=v, step=i, ts=start.timestamp() + i,
                          source="log")
                   for i, (key, v) in enumerate((("acc" if i % 3 else "other", v)
                                                 for i, v in enumerate(values)))]
        samples = [Sample(ts=start.timestamp() + i, cpu_cores=1.0) for i in range(3)]
        target = "spool" if spooled else "store"
        writer.write(lambda: spec, Batch(samples=samples, metrics=metrics), (target,))
        if end != "running":
            ended = start + dt.timedelta(minutes=30)
            final = {"status": end, "ended_at": ended, "heartbeat_at": ended}
            writer.write(lambda: spec, Batch(run_update={"duration_s": 1800.0},
                                             host_update=final, finished=True), (target,))
        for store in writer.stores.values():
            store.engine.dispose()
        (self.spooled if spooled else self.runs).append(run_id)

    def pick(self, index: int) -> str | None:
        return self.runs[index % len(self.runs)] if self.runs else None


def _estimate(world: World, index: int, basis: str, currency: str, amount: Decimal | None
              ) -> None:
    run_id = world.pick(index)
    if run_id is None:
        return
    start = T0 + dt.timedelta(hours=index)
    replace_estimates(world.main, run_id, [{
        "kind": "run", "run_id": run_id, "resource_id": "i-x", "source": "estimate",
        "basis": basis, "period_start": start, "period_end": start + dt.timedelta(hours=1),
        "amount": amount, "currency": currency, "upper_bound": amount is not None and
        amount > 3, "detail": {} if amount is not None else {"reason": "no price"}}])


def _bill(world: World, index: int, amount: Decimal, currency: str) -> None:
    """A bill for one resource, split onto a run (as allocate writes it)."""
    run_id = world.pick(index)
    if run_id is None:
        return
    resource = f"i-{index % 3}"
    start = (T0 + dt.timedelta(hours=index)).strftime(SQLITE_TIME)
    rows = [("run", run_id, resource, "billed", basis, start, start,
             int(amount * 10**9), currency, 0, "{}", start) for basis in BASES]
    replace_billed_costs(world.main, BILLED_SOURCES, {resource}, COST_COLUMNS, [rows])


def apply(world: World, op: tuple) -> None:
    kind, *args = op
    if kind == "run":
        world.record(*args)
    elif kind == "estimate":
        _estimate(world, *args)
    elif kind == "bill":
        _bill(world, *args)
    elif kind == "gc":
        downsample(world.main, dt.timedelta(days=1), now=NOW, vacuum=False)
    elif kind == "rm":
        run_id = world.pick(args[0])
        if run_id is not None:
            world.main.delete_runs([run_id])
            world.runs.remove(run_id)
    elif kind == "sync" and world.spooled:
        sync_runs(world.spool, world.main, world.spooled)
        world.runs += [r for r in world.spooled if r not in world.runs]
        world.spool.delete_runs(world.spooled)
        world.spooled = []


def expected(store: Store) -> dict[str, dict[str, Any]]:
    """Each run's rollup as the raw tables give it (the former leaderboard read)."""
    with store.read() as conn:
        runs = {r.id: r for r in conn.execute(sa.select(schema.runs))}
        metrics = pd.DataFrame(conn.execute(sa.select(schema.metrics)).mappings().all(),
                               columns=[c.name for c in schema.metrics.columns])
    out: dict[str, dict[str, Any]] = {run_id: {} for run_id in runs}
    for basis in BASES:
        board = queries.leaderboard(store, None, "acc", basis).set_index("run_id")
        for run_id, row in board.iterrows():
            out[run_id] |= {
                f"cost_{basis}": row["cost"], f"currency_{basis}": row["currency"],
                f"cost_source_{basis}": row["cost_source"],
                f"cost_state_{basis}": row["cost_state"],
                f"upper_bound_{basis}": bool(row["upper_bound"]),
                f"cost_reason_{basis}": row["cost_reason"]}
        with store.read() as conn:
            counted = conn.execute(counted_costs(basis)).mappings().all()
        periods: dict[str, list[Any]] = {}
        for row in counted:
            periods.setdefault(row["run_id"], []).append(row["period_start"])
        for run_id in out:
            starts = periods.get(run_id)
            out[run_id] |= {f"cost_rows_{basis}": len(starts) if starts else None,
                            f"cost_first_{basis}": min(starts) if starts else None,
                            f"cost_last_{basis}": max(starts) if starts else None}
    for run_id, run in runs.items():
        mine = metrics[(metrics["run_id"] == run_id) & (metrics["key"] == run.objective_name)]
        last = mine.sort_values(["seq", "ts"]).iloc[-1]["value"] if len(mine) else None
        best = (mine["value"].min() if run.objective_mode == "min" else mine["value"].max()) \
            if len(mine) else None
        out[run_id] |= {"status": run.status, "objective_last": last, "objective_best": best,
                        "duration_s": run.duration_s,
                        "gpu_hours": _gpu_hours(run)}
    return out


def _gpu_hours(run: Any) -> float | None:
    used = (run.hardware or {}).get("gpus_used")
    if not isinstance(used, list) or run.duration_s is None:
        return None
    return len(used) * run.duration_s / 3600


def _same(a: Any, b: Any) -> bool:
    def missing(v: Any) -> bool:
        return v is None or (isinstance(v, float) and math.isnan(v))
    if missing(a) or missing(b):
        return missing(a) and missing(b)
    if isinstance(a, float | Decimal) and isinstance(b, float | Decimal):
        return math.isclose(float(a), float(b), rel_tol=1e-12)
    return a == b


def check(store: Store) -> None:
    want = expected(store)
    with store.read() as conn:
        got = {r["run_id"]: dict(r) for r in conn.execute(
            sa.select(schema.run_rollups)).mappings()}
    assert set(got) == set(want)
    for run_id, fields in want.items():
        if got[run_id]["status"] == "running":
            continue  # current at the run's end, or after collect / gc
        for key, value in fields.items():
            assert _same(got[run_id][key], value), (run_id, key, got[run_id][key], value)
        for basis in BASES:
            cost, last = got[run_id][f"cost_value_{basis}"], got[run_id]["objective_last"]
            score = last / cost if cost and cost > 0 and last is not None else None
            assert _same(got[run_id][f"score_{basis}"], score)
    assert stored_counts(store) == counted(got.values())


def counted(rows: Any) -> dict[tuple[str, str, str, str], tuple[int, int]]:
    """Rollup rows counted in Python as ``rollup_counts`` counts them: (runs, priced)."""
    out: dict[tuple[str, str, str, str], tuple[int, int]] = {}
    for row in rows:
        for basis in BASES:
            key = (row["project"], basis, row[f"currency_{basis}"] or "",
                   row[f"cost_state_{basis}"])
            runs, priced = out.get(key, (0, 0))
            out[key] = (runs + 1, priced + (row[f"cost_{basis}"] is not None))
    return out


def stored_counts(store: Store) -> dict[tuple[str, str, str, str], tuple[int, int]]:
    """``rollup_counts``' rows, those counting nothing left out."""
    k = schema.rollup_counts
    with store.read() as conn:
        return {(r.project, r.basis, r.currency, r.cost_state): (r.runs, r.priced)
                for r in conn.execute(sa.select(k)) if r.runs or r.priced}


amounts = st.decimals(min_value=Decimal("0"), max_value=Decimal("9"), places=3)
ops = st.one_of(
    st.tuples(st.just("run"), st.sampled_from(["max", "min"]),
              st.lists(st.floats(-5, 5, allow_nan=False), max_size=6),
              st.sampled_from(["finished", "failed", "running"]), st.booleans(),
              st.sampled_from(["acc", None])),
    st.tuples(st.just("estimate"), st.integers(0, 20), st.sampled_from(BASES),
              st.sampled_from(CURRENCIES), st.one_of(st.none(), amounts)),
    st.tuples(st.just("bill"), st.integers(0, 20), amounts, st.sampled_from(CURRENCIES)),
    st.tuples(st.just("gc")), st.tuples(st.just("rm"), st.integers(0, 20)),
    st.tuples(st.just("sync")),
)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(ops, min_size=1, max_size=12))
def test_rollups_equal_the_raw_tables_after_any_sequence(xprof_home, sequence):
    with tempfile.TemporaryDirectory() as tmp:
        world = World(Path(tmp))
        for op in sequence:
            apply(world, op)
            check(world.main)
        world.main.engine.dispose()
        world.spool.engine.dispose()


def test_rollups_on_postgresql(pg_url, tmp_path, xprof_home):
    """One fixed sequence on the real PostgreSQL server: runs, spooled run synced, costs
    in two currencies, a bill replacing an estimate, gc and rm."""
    world = World(tmp_path, pg_url)
    for op in [("run", "max", [0.5, 0.7, 0.6], "finished", False, "acc"),
               ("run", "min", [0.9, 0.2, 0.4, 0.3], "failed", False, "acc"),
               ("run", "max", [0.1], "finished", True, "acc"),
               ("estimate", 0, "list", "USD", Decimal("2.5")),
               ("estimate", 1, "billed", "EUR", None), ("sync",),
               ("estimate", 2, "billed", "EUR", Decimal("4.125")),
               ("bill", 0, Decimal("3.000000001"), "USD"), ("gc",), ("rm", 1)]:
        apply(world, op)
        check(world.main)
    with world.main.read() as conn:
        states = dict(conn.execute(sa.select(schema.run_rollups.c.name,
                                             schema.run_rollups.c.cost_state_billed)).all())
    assert states == {"r0": "billed", "r2": "estimate"}


def test_migration_backfills_a_store_at_0006(tmp_path, xprof_home):
    """A store at revision 0006_tags with runs, metrics and costs (no run_rollups) is upgraded:
    every run gets its rollup, equal to the raw tables, and the rollups their counts."""
    world = World(tmp_path)
    for op in [("run", "max", [0.5, 0.7, 0.6], "finished", False, "acc"),
               ("run", "min", [0.9, 0.2, 0.4, 0.3], "finished", False, "acc"),
               ("run", "max", [], "failed", False, None),
               ("estimate", 0, "list", "USD", Decimal("2.5")),
               ("estimate", 1, "list", "USD", Decimal("0"))]:
        apply(world, op)
    with world.main.write() as conn:  # back to 0006_tags: the tables did not exist
        conn.execute(sa.text("DROP TABLE run_rollups"))
        conn.execute(sa.text("DROP TABLE rollup_counts"))
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0006_tags'"))
    world.main.engine.dispose()
    store = Store.open(world.main_url)
    assert store.revision() == "0009"
    assert stored_counts(store)  # backfilled (check: equal to the rollups)
    check(store)
    with store.read() as conn:
        rows = {r.name: r for r in conn.execute(sa.select(schema.run_rollups))}
    assert rows["r0"].score_list == 0.6 / 2.5 and rows["r0"].objective_best == 0.7
    assert rows["r1"].objective_best == 0.2 and rows["r1"].score_list is None  # cost 0
    assert rows["r2"].cost_state_billed == "not priced"


def test_migration_fills_cost_periods_of_a_store_at_0007(tmp_path, xprof_home):
    """A store at revision 0007 (rollups without their counts and cost periods) is upgraded:
    every rollup gets its counted rows' number, first and last period start, equal to the raw
    tables, and the rollups their counts."""
    world = World(tmp_path)
    for op in [("run", "max", [0.5, 0.7], "finished", False, "acc"),
               ("run", "min", [0.9, 0.2], "failed", False, "acc"),
               ("estimate", 0, "list", "USD", Decimal("2.5")),
               ("estimate", 1, "billed", "EUR", None), ("bill", 0, Decimal("3"), "USD")]:
        apply(world, op)
    added = [f"cost_{what}_{b}" for b in BASES for what in ("rows", "first", "last")]
    with world.main.write() as conn:  # back to 0007: the columns, indexes and counts did not
        for index in ("ix_runs_project_objective", "ix_run_rollups_objective",  # exist
                      "ix_run_rollups_running", "ix_run_rollups_unnamed"):
            conn.execute(sa.text(f"DROP INDEX {index}"))
        conn.execute(sa.text("DROP TABLE rollup_counts"))
        for column in added:
            conn.execute(sa.text(f"ALTER TABLE run_rollups DROP COLUMN {column}"))
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0007'"))
    world.main.engine.dispose()
    store = Store.open(world.main_url)
    assert store.revision() == "0009"
    assert stored_counts(store)
    check(store)
    with store.read() as conn:
        rows = {r.name: r for r in conn.execute(sa.select(schema.run_rollups))}
    assert rows["r0"].cost_rows_billed == 1 and rows["r0"].cost_first_billed is not None
    assert rows["r1"].cost_rows_billed == 1 and rows["r1"].cost_state_billed == "unknown"
