"""Every SQL statement the dashboard (and the report) runs: plain functions taking a Store.

Aggregation happens in SQL (per-run cost sums, the objective's last value, spend by day or
project); pandas only receives one row per run or per group. Nothing here imports Streamlit,
so the functions are tested directly and cached where the pages call them.

Which cost rows count as a run's cost (the one rule every view uses, see :func:`counted_costs`):
billed rows of the chosen basis when the run has any; otherwise its estimate rows (of the
chosen basis where the estimator wrote one, else at list price). Both stay visible on the run
page. Amounts are summed per currency only; a run priced in two currencies has no single cost.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pandas as pd
import sqlalchemy as sa

from xprof import schema
from xprof.dashboard.sql_frames import sql_frame, with_effective_status
from xprof.store import Store, counted_costs, effective_status, utcnow

SPEND_DIMENSIONS = ("day", "project", "instance_type", "user", "provider")
COST_STATES = ("billed", "estimate", "not priced", "unknown", "mixed currencies")

_r = schema.runs


# -- cost -----------------------------------------------------------------------------------

def _run_cost_totals(basis: str) -> sa.Subquery:
    """One row per priced run: cost sum, its source, currency range, unknown-amount count."""
    cc = counted_costs(basis).subquery("counted")
    return (sa.select(
        cc.c.run_id,
        sa.func.max(cc.c.source).label("cost_source"),
        sa.func.count().label("cost_rows"),
        sa.func.count(cc.c.amount).label("cost_known"),
        schema.money_sum(cc.c.amount).label("cost_sum"),
        sa.func.min(cc.c.currency).label("currency_min"),
        sa.func.max(cc.c.currency).label("currency_max"),
        sa.func.max(sa.case((cc.c.upper_bound, 1), else_=0)).label("upper_bound"),
        sa.func.max(cc.c.detail["reason"].as_string()).label("cost_reason"),
    ).group_by(cc.c.run_id).subquery("run_cost"))


def _cost_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Turn the per-run cost aggregates into cost, currency, cost_source, cost_state."""
    rows = frame["cost_rows"].fillna(0).astype(int)
    known = frame["cost_known"].fillna(0).astype(int)
    mixed = frame["currency_min"] != frame["currency_max"]
    state = pd.Series("not priced", index=frame.index, dtype=object)
    priced = rows > 0
    state[priced] = frame.loc[priced, "cost_source"]
    state[priced & (known < rows)] = "unknown"
    state[priced & (known == rows) & mixed] = "mixed currencies"
    ok = state.isin(["billed", "estimate"])
    frame["cost"] = frame["cost_sum"].where(ok, None).astype(object)
    frame.loc[~ok, "cost"] = None
    frame["currency"] = frame["currency_min"].where(ok & frame["currency_min"].notna(), None)
    frame["cost_source"] = frame["cost_source"].where(priced, None)
    frame["cost_state"] = state
    frame["upper_bound"] = frame["upper_bound"].fillna(0).astype(bool)
    return frame.drop(columns=["cost_rows", "cost_known", "cost_sum", "currency_min",
                               "currency_max"])


def run_cost(store: Store, run_id: str, basis: str = "billed") -> dict[str, Any]:
    """The run's cost under the counting rule: cost, currency, cost_source, cost_state,
    upper_bound, cost_reason (cost None unless the state is billed or estimate)."""
    totals = _run_cost_totals(basis)
    with store.read() as conn:
        frame = sql_frame(conn, sa.select(totals).where(totals.c.run_id == run_id))
    if frame.empty:
        frame = pd.DataFrame([{"run_id": run_id, "cost_source": None, "cost_rows": 0,
                               "cost_known": 0, "cost_sum": None, "currency_min": None,
                               "currency_max": None, "upper_bound": 0, "cost_reason": None}])
    return _cost_columns(frame).iloc[0].to_dict()


# -- projects and runs ----------------------------------------------------------------------

def run_count(store: Store) -> int:
    """How many runs the store holds."""
    with store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(_r)).scalar_one())


def projects(store: Store) -> pd.DataFrame:
    """Projects, most recently active first: runs, last start, declared objective and mode.

    The declared objective is the ``--objective`` most runs of the project gave.
    """
    with store.read() as conn:
        totals = sql_frame(conn, sa.select(
            _r.c.project, sa.func.count().label("runs"),
            sa.func.max(_r.c.started_at).label("last_started_at"),
        ).group_by(_r.c.project))
        declared = sql_frame(conn, sa.select(
            _r.c.project, _r.c.objective_name, _r.c.objective_mode,
            sa.func.count().label("n"),
        ).where(_r.c.objective_name.is_not(None))
            .group_by(_r.c.project, _r.c.objective_name, _r.c.objective_mode))
    if totals.empty:
        return totals.assign(objective_name=None, objective_mode=None)
    top = (declared.sort_values(["project", "n", "objective_name"], ascending=[True, False, True])
           .drop_duplicates("project").set_index("project"))
    totals["objective_name"] = totals["project"].map(top["objective_name"]).astype(object)
    totals["objective_mode"] = totals["project"].map(top["objective_mode"]).astype(object)
    totals = totals.where(totals.notna(), None)
    return totals.sort_values("last_started_at", ascending=False).reset_index(drop=True)


def metric_keys(store: Store, project: str) -> list[str]:
    """Metric names logged by the project's runs, sorted."""
    m = schema.metrics
    with store.read() as conn:
        rows = conn.execute(sa.select(m.c.key).distinct().join(_r, _r.c.id == m.c.run_id)
                            .where(_r.c.project == project).order_by(m.c.key))
        return [row.key for row in rows]


def leaderboard(store: Store, project: str | None, objective: str | None,
                basis: str = "billed") -> pd.DataFrame:
    """One row per run of ``project`` (all projects when None) with its objective and cost.

    Columns: run_id, name, project, status (effective), started_at, duration_s,
    instance_type, provider, user, objective_name, objective_mode (as declared by the run),
    objective (last logged value of ``objective``, NaN when never logged), cpu_cores_p50,
    rss_peak_bytes, gpu_util_p50, cost (Decimal or None), currency, cost_source
    (billed | estimate | None), cost_state (one of COST_STATES), upper_bound, cost_reason.
    """
    m = schema.metrics
    totals = _run_cost_totals(basis)
    last_value = (sa.select(m.c.value)
                  .where(m.c.run_id == _r.c.id, m.c.key == (objective or ""))
                  .order_by(m.c.seq.desc(), m.c.ts.desc()).limit(1).scalar_subquery())
    summary = _r.c.summary
    query = (sa.select(
        _r.c.id.label("run_id"), _r.c.name, _r.c.project, _r.c.status,
        sa.case((_r.c.status == "running", _r.c.heartbeat_at)).label("heartbeat_at"),
        _r.c.flush_interval_s, _r.c.started_at, _r.c.duration_s,
        _r.c.instance_type, _r.c.cloud_provider.label("provider"), _r.c.user,
        _r.c.objective_name, _r.c.objective_mode,
        (last_value if objective else sa.null()).label("objective"),
        summary["cpu_cores_p50"].as_float().label("cpu_cores_p50"),
        sa.func.coalesce(summary["rss_peak_bytes"].as_float(),
                         _r.c.peak_rss_bytes).label("rss_peak_bytes"),
        summary["gpu_util_p50"].as_float().label("gpu_util_p50"),
        totals.c.cost_source, totals.c.cost_rows, totals.c.cost_known, totals.c.cost_sum,
        totals.c.currency_min, totals.c.currency_max, totals.c.upper_bound,
        totals.c.cost_reason,
    ).select_from(_r.outerjoin(totals, totals.c.run_id == _r.c.id))
        .order_by(_r.c.started_at.desc()))
    if project is not None:
        query = query.where(_r.c.project == project)
    with store.read() as conn:
        frame = sql_frame(conn, query)
    frame["objective"] = pd.to_numeric(frame["objective"], errors="coerce").astype("float64")
    for column in ("duration_s", "cpu_cores_p50", "rss_peak_bytes", "gpu_util_p50"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    frame["started_at"] = pd.to_datetime(frame["started_at"], utc=True)
    return _cost_columns(with_effective_status(frame))


def run_tags(store: Store, project: str | None = None,
             run_ids: list[str] | None = None) -> pd.DataFrame:
    """Tags (run_id, key, value) of a project's runs or of the given runs."""
    t = schema.run_tags
    query = sa.select(t.c.run_id, t.c.key, t.c.value).order_by(t.c.run_id, t.c.key)
    if project is not None:
        query = query.join(_r, _r.c.id == t.c.run_id).where(_r.c.project == project)
    if run_ids is not None:
        query = query.where(t.c.run_id.in_(run_ids))
    with store.read() as conn:
        return sql_frame(conn, query)


def run_params(store: Store, project: str | None = None,
               run_ids: list[str] | None = None) -> pd.DataFrame:
    """Params (run_id, key, value, source) of a project's runs or of the given runs."""
    p = schema.run_params
    query = sa.select(p.c.run_id, p.c.key, p.c.value, p.c.source).order_by(p.c.run_id, p.c.key)
    if project is not None:
        query = query.join(_r, _r.c.id == p.c.run_id).where(_r.c.project == project)
    if run_ids is not None:
        query = query.where(p.c.run_id.in_(run_ids))
    with store.read() as conn:
        return sql_frame(conn, query)


def run(store: Store, run_id: str) -> dict[str, Any] | None:
    """Everything on the run's row, with its effective status; None when there is no such run."""
    with store.read() as conn:
        row = conn.execute(sa.select(_r).where(_r.c.id == run_id)).mappings().first()
    if row is None:
        return None
    out = dict(row)
    out["status"] = effective_status(out["status"], out["heartbeat_at"], out["flush_interval_s"])
    return out


def run_choices(store: Store, project: str | None = None, limit: int = 5000) -> pd.DataFrame:
    """(run_id, name, project, started_at) newest first, for run pickers."""
    query = (sa.select(_r.c.id.label("run_id"), _r.c.name, _r.c.project, _r.c.started_at)
             .order_by(_r.c.started_at.desc()).limit(limit))
    if project is not None:
        query = query.where(_r.c.project == project)
    with store.read() as conn:
        return sql_frame(conn, query)


def runs_by_id(store: Store, run_ids: tuple[str, ...]) -> pd.DataFrame:
    """(run_id, name, project) of the given runs, whatever their project, in the order given;
    ids the store does not hold are left out."""
    if not run_ids:
        return pd.DataFrame(columns=["run_id", "name", "project"])
    with store.read() as conn:
        found = sql_frame(conn, sa.select(_r.c.id.label("run_id"), _r.c.name, _r.c.project)
                          .where(_r.c.id.in_(list(run_ids))))
    order = {run_id: i for i, run_id in enumerate(dict.fromkeys(run_ids))}
    return found.sort_values("run_id", key=lambda ids: ids.map(order)).reset_index(drop=True)


# -- time series ----------------------------------------------------------------------------

def _bucket(ts: sa.ColumnElement, start: float, width: float, max_points: int
            ) -> sa.ColumnElement:
    """The time bucket of ``ts``: 0 .. max_points - 1 (the last sample joins the last one)."""
    index = sa.cast(sa.func.floor((ts - start) / width), sa.Integer)
    return sa.case((index >= max_points, max_points - 1), else_=index)


def _width(store: Store, series: sa.Subquery, max_points: int) -> tuple[float, float]:
    with store.read() as conn:
        lo, hi = conn.execute(sa.select(sa.func.min(series.c.ts), sa.func.max(series.c.ts))
                              ).one()
    if lo is None:
        return 0.0, 1.0
    return float(lo), max((float(hi) - float(lo)) / max_points, 1e-6)


def _raw_and_rollups(raw: sa.Table, rollup: sa.Table, run_id: str, keys: tuple[str, ...],
                     names: tuple[str, ...]) -> sa.Subquery:
    """The run's raw samples and the minute rollups ``xprof gc`` folded older ones into, as
    one row set: keys, ts, n (samples the row stands for), and each value's mean and max. A
    rollup row stands at the middle of its minute."""
    from_raw = sa.select(*(raw.c[k] for k in keys), raw.c.ts, sa.literal(1, sa.Integer).label("n"),
                         *(raw.c[f].label(f"{f}_mean") for f in names),
                         *(raw.c[f].label(f"{f}_max") for f in names)
                         ).where(raw.c.run_id == run_id)
    from_rollup = sa.select(*(rollup.c[k] for k in keys),
                            (rollup.c.ts + schema.ROLLUP_SECONDS / 2).label("ts"),
                            rollup.c.samples.label("n"),
                            *(rollup.c[f"{f}_mean"] for f in names),
                            *(rollup.c[f"{f}_max"] for f in names)
                            ).where(rollup.c.run_id == run_id)
    return sa.union_all(from_raw, from_rollup).subquery("series")


def _mean(u: sa.Subquery, name: str) -> sa.ColumnElement:
    """The mean of a value over a bucket, each row weighted by the samples it stands for."""
    column = u.c[f"{name}_mean"]
    return (sa.func.sum(column * u.c.n)
            / sa.func.nullif(sa.func.sum(sa.case((column.is_not(None), u.c.n))), 0)
            ).label(name)


def samples(store: Store, run_id: str, max_points: int = 1500) -> pd.DataFrame:
    """The run's process-tree samples averaged into at most ``max_points`` time buckets; where
    ``xprof gc`` folded them, their minute rollups take their place (one series).

    Columns: ts (bucket mean, epoch s), cpu_cores (mean), cpu_cores_max, rss_bytes (max),
    host_cpu_pct (mean); summed over hosts in a bucket for multi-host runs is not attempted.
    """
    u = _raw_and_rollups(schema.samples, schema.samples_1m, run_id, (),
                         ("cpu_cores", "rss_bytes", "host_cpu_pct"))
    start, width = _width(store, u, max_points)
    bucket = _bucket(u.c.ts, start, width, max_points).label("bucket")
    query = (sa.select(bucket, (sa.func.sum(u.c.ts * u.c.n) / sa.func.sum(u.c.n)).label("ts"),
                       _mean(u, "cpu_cores"),
                       sa.func.max(u.c.cpu_cores_max).label("cpu_cores_max"),
                       sa.func.max(u.c.rss_bytes_max).label("rss_bytes"),
                       _mean(u, "host_cpu_pct"))
             .group_by(bucket).order_by(bucket))
    with store.read() as conn:
        return sql_frame(conn, query).drop(columns="bucket")


def gpu_samples(store: Store, run_id: str, max_points: int = 1500) -> pd.DataFrame:
    """Per device, utilisation and memory averaged into at most ``max_points`` buckets; where
    ``xprof gc`` folded the samples, their minute rollups take their place (one series).

    Columns: gpu_index, mig_index, ts, util_gpu_pct (mean), mem_used_bytes (max),
    mem_total_bytes (max), run_mem_used_bytes (max).
    """
    u = _raw_and_rollups(schema.gpu_samples, schema.gpu_samples_1m, run_id,
                         ("gpu_index", "mig_index"),
                         ("util_gpu_pct", "mem_used_bytes", "mem_total_bytes",
                          "run_mem_used_bytes"))
    start, width = _width(store, u, max_points)
    bucket = _bucket(u.c.ts, start, width, max_points).label("bucket")
    query = (sa.select(u.c.gpu_index, u.c.mig_index, bucket,
                       (sa.func.sum(u.c.ts * u.c.n) / sa.func.sum(u.c.n)).label("ts"),
                       _mean(u, "util_gpu_pct"),
                       sa.func.max(u.c.mem_used_bytes_max).label("mem_used_bytes"),
                       sa.func.max(u.c.mem_total_bytes_max).label("mem_total_bytes"),
                       sa.func.max(u.c.run_mem_used_bytes_max).label("run_mem_used_bytes"))
             .group_by(u.c.gpu_index, u.c.mig_index, bucket)
             .order_by(u.c.gpu_index, u.c.mig_index, bucket))
    with store.read() as conn:
        return sql_frame(conn, query).drop(columns="bucket")


def metric_series(store: Store, run_ids: list[str], key: str | None = None,
                  limit: int = 200_000) -> pd.DataFrame:
    """Logged metrics (run_id, key, value, step, ts) of the runs, in logging order."""
    m = schema.metrics
    query = (sa.select(m.c.run_id, m.c.key, m.c.value, m.c.step, m.c.ts)
             .where(m.c.run_id.in_(run_ids)).order_by(m.c.run_id, m.c.seq).limit(limit))
    if key is not None:
        query = query.where(m.c.key == key)
    with store.read() as conn:
        return sql_frame(conn, query)


def final_metrics(store: Store, run_ids: list[str]) -> pd.DataFrame:
    """Each run's last logged value of every metric key (run_id, key, value, step)."""
    m = schema.metrics
    last = (sa.select(m.c.run_id, m.c.key, sa.func.max(m.c.seq).label("seq"))
            .where(m.c.run_id.in_(run_ids)).group_by(m.c.run_id, m.c.key).subquery())
    query = (sa.select(m.c.run_id, m.c.key, sa.func.max(m.c.value).label("value"),
                       sa.func.max(m.c.step).label("step"))
             .join(last, sa.and_(m.c.run_id == last.c.run_id, m.c.key == last.c.key,
                                 m.c.seq == last.c.seq))
             .group_by(m.c.run_id, m.c.key).order_by(m.c.run_id, m.c.key))
    with store.read() as conn:
        return sql_frame(conn, query)


# -- cost detail ----------------------------------------------------------------------------

def cost_rows(store: Store, run_id: str) -> pd.DataFrame:
    """Every cost row of the run (estimates and billed, all bases), oldest period first."""
    c = schema.costs
    query = (sa.select(c.c.id, c.c.source, c.c.basis, c.c.period_start, c.c.period_end,
                       c.c.amount, c.c.currency, c.c.upper_bound, c.c.resource_id, c.c.detail,
                       c.c.computed_at)
             .where(c.c.run_id == run_id).order_by(c.c.source, c.c.basis, c.c.period_start))
    with store.read() as conn:
        return sql_frame(conn, query)


def billing_items_for_run(store: Store, run: dict[str, Any], limit: int = 500) -> pd.DataFrame:
    """Billing line items on the run's instance whose charge period overlaps the run."""
    b = schema.billing_items
    if not run.get("instance_id"):
        return pd.DataFrame(columns=["source", "charge_period_start", "charge_period_end",
                                     "charge_category", "usage_quantity", "usage_unit",
                                     "billed_cost", "effective_cost", "list_cost", "currency"])
    end = run.get("ended_at") or utcnow()
    query = (sa.select(b.c.source, b.c.charge_period_start, b.c.charge_period_end,
                       b.c.charge_category, b.c.usage_quantity, b.c.usage_unit, b.c.billed_cost,
                       b.c.effective_cost, b.c.list_cost, b.c.currency)
             .where(b.c.resource_id == run["instance_id"],
                    b.c.charge_period_start < end, b.c.charge_period_end > run["started_at"])
             .order_by(b.c.charge_period_start).limit(limit))
    with store.read() as conn:
        return sql_frame(conn, query)


# -- recommendations (the one thing the dashboard writes) -----------------------------------

def recommendations(store: Store, *, status: str | None = "open",
                    run_id: str | None = None, project: str | None = None) -> pd.DataFrame:
    """Recommendations with their run's name and project, largest monthly saving first."""
    rec = schema.recommendations
    project_col = sa.func.coalesce(rec.c.project, _r.c.project).label("project")
    query = (sa.select(rec.c.id, rec.c.run_id, _r.c.name.label("run_name"), project_col,
                       rec.c.resource_id, rec.c.rule, rec.c.severity, rec.c.title,
                       rec.c.evidence, rec.c.current_instance, rec.c.suggested_instance,
                       rec.c.saving_per_run, rec.c.saving_per_month, rec.c.currency,
                       rec.c.status, rec.c.created_at, rec.c.updated_at)
             .select_from(rec.outerjoin(_r, _r.c.id == rec.c.run_id))
             .order_by(rec.c.saving_per_month.desc().nulls_last(), rec.c.id))
    if status is not None:
        query = query.where(rec.c.status == status)
    if run_id is not None:
        query = query.where(rec.c.run_id == run_id)
    if project is not None:
        query = query.where(project_col == project)
    with store.read() as conn:
        return sql_frame(conn, query)


def saving_totals(store: Store, by: str | None = None, status: str = "open") -> pd.DataFrame:
    """Potential saving per currency (and per ``rule`` or ``project``): count, per run and per
    month sums (Decimal); recommendations without a saving count in n only.

    Several rules often name the same cheaper instance for one run (idle GPUs and low GPU use
    both suggest a 1-GPU machine), so totals count each run's largest saving once; ``by="rule"``
    shows each rule's own potential instead (those rows overlap and do not add up).
    """
    rec = schema.recommendations
    subject = sa.func.coalesce(rec.c.run_id, rec.c.resource_id,
                               sa.cast(rec.c.id, sa.String))
    rank = sa.func.row_number().over(
        partition_by=(subject, rec.c.currency),
        order_by=(rec.c.saving_per_month.desc().nulls_last(), rec.c.id)).label("rank")
    base = (sa.select(rec, rank).where(rec.c.status == status)).subquery()
    keys: list[sa.ColumnElement] = []
    if by == "rule":
        keys = [base.c.rule]
    elif by == "project":
        keys = [sa.func.coalesce(base.c.project, _r.c.project).label("project")]
    elif by is not None:
        raise ValueError(f"saving totals by rule or project, not {by!r}")
    query = (sa.select(*keys, base.c.currency, sa.func.count().label("n"),
                       schema.money_sum(base.c.saving_per_run).label("saving_per_run"),
                       schema.money_sum(base.c.saving_per_month).label("saving_per_month"))
             .select_from(base.outerjoin(_r, _r.c.id == base.c.run_id))
             .group_by(*keys, base.c.currency)
             .order_by(schema.money_sum(base.c.saving_per_month).desc().nulls_last()))
    if by != "rule":
        query = query.where(base.c.rank == 1)
    with store.read() as conn:
        return sql_frame(conn, query)


def set_recommendation_status(store: Store, rec_id: int, status: str) -> bool:
    """Mark a recommendation open, dismissed or done; False when it does not exist."""
    if status not in ("open", "dismissed", "done"):
        raise ValueError(f"recommendation status must be open, dismissed or done, not {status!r}")
    rec = schema.recommendations
    with store.write() as conn:
        result = conn.execute(rec.update().where(rec.c.id == int(rec_id))
                              .values(status=status, updated_at=utcnow()))
        return result.rowcount == 1


# -- spend ----------------------------------------------------------------------------------

def _day(column: sa.ColumnElement, dialect: str) -> sa.ColumnElement:
    """The UTC calendar day of a stored time (SQLite keeps them as naive UTC text)."""
    if dialect == "sqlite":
        return sa.func.date(column)
    return sa.cast(sa.func.timezone("UTC", column), sa.Date)


def spend(store: Store, by: str, *, basis: str = "billed", start: dt.datetime | None = None,
          end: dt.datetime | None = None, project: str | None = None) -> pd.DataFrame:
    """Run cost per ``by`` (day | project | instance_type | user | provider), currency and
    source: amount (Decimal sum), runs, and unknown (rows without an amount).

    Costs count by the day their period starts; ``start``/``end`` bound that (end exclusive).
    Idle cost is not included (see :func:`idle_spend`).
    """
    if by not in SPEND_DIMENSIONS:
        raise ValueError(f"spend by one of {', '.join(SPEND_DIMENSIONS)}, not {by!r}")
    cc = counted_costs(basis).subquery("counted")
    dim = {"day": _day(cc.c.period_start, store.engine.dialect.name),
           "project": _r.c.project, "instance_type": _r.c.instance_type, "user": _r.c.user,
           "provider": _r.c.cloud_provider}[by].label(by)
    query = (sa.select(dim, cc.c.currency, cc.c.source,
                       schema.money_sum(cc.c.amount).label("amount"),
                       sa.func.count(sa.distinct(cc.c.run_id)).label("runs"),
                       (sa.func.count() - sa.func.count(cc.c.amount)).label("unknown"))
             .select_from(cc.join(_r, _r.c.id == cc.c.run_id))
             .group_by(dim, cc.c.currency, cc.c.source).order_by(dim, cc.c.currency))
    if start is not None:
        query = query.where(cc.c.period_start >= start)
    if end is not None:
        query = query.where(cc.c.period_start < end)
    if project is not None:
        query = query.where(_r.c.project == project)
    with store.read() as conn:
        frame = sql_frame(conn, query)
    if by == "day" and not frame.empty:
        frame["day"] = pd.to_datetime(frame["day"]).dt.date
    return frame


def idle_spend(store: Store, *, basis: str = "billed", start: dt.datetime | None = None,
               end: dt.datetime | None = None) -> pd.DataFrame:
    """Idle cost (paid, no run on it) per resource and currency: amount, first and last hour."""
    c = schema.costs
    query = (sa.select(c.c.resource_id, c.c.currency, schema.money_sum(c.c.amount).label("amount"),
                       sa.func.min(c.c.period_start).label("from"),
                       sa.func.max(c.c.period_end).label("to"))
             .where(c.c.kind == "idle", c.c.basis == basis)
             .group_by(c.c.resource_id, c.c.currency).order_by(c.c.currency, c.c.resource_id))
    if start is not None:
        query = query.where(c.c.period_start >= start)
    if end is not None:
        query = query.where(c.c.period_start < end)
    with store.read() as conn:
        return sql_frame(conn, query)


def unpriced_runs(store: Store, *, basis: str = "billed", start: dt.datetime | None = None,
                  end: dt.datetime | None = None) -> int:
    """Runs started in the period with no counted cost row at all ("not yet priced")."""
    cc = counted_costs(basis).subquery("counted")
    query = (sa.select(sa.func.count()).select_from(_r)
             .where(~sa.exists().where(cc.c.run_id == _r.c.id)))
    if start is not None:
        query = query.where(_r.c.started_at >= start)
    if end is not None:
        query = query.where(_r.c.started_at < end)
    with store.read() as conn:
        return int(conn.execute(query).scalar_one())


def total_by_currency(frame: pd.DataFrame, amount: str = "amount") -> dict[str, Decimal]:
    """Exact Decimal totals per currency of a spend frame (never one sum across currencies)."""
    totals: dict[str, Decimal] = {}
    for currency, value in zip(frame["currency"], frame[amount], strict=True):
        if value is not None and not pd.isna(value):
            totals[currency] = totals.get(currency, Decimal(0)) + Decimal(value)
    return totals


# -- the whole bill -------------------------------------------------------------------------

def whole_bill(store: Store, *, basis: str = "billed", start: dt.datetime | None = None,
               end: dt.datetime | None = None) -> list[dict[str, Any]]:
    """The billing data of [start, end) per currency: total = runs + idle + other spend, with
    other spend by category and the bill by provider, service, region and account
    (:func:`xprof.collector.billing.bill.whole_bill`)."""
    from xprof.collector.billing.bill import whole_bill as bill_of

    return [b.as_dict() for b in bill_of(store, start=start, end=end, basis=basis)]
