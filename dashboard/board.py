"""The leaderboard's page, asked of the store as one page: the top runs by score (or another
sort) under the page's filters, the counts it shows, and the Pareto frontier, all in SQL over
``run_rollups`` (one row per run, :mod:`xprof.rollups`) on SQLite and PostgreSQL.

The numbers are those of :mod:`xprof.dashboard.ranking` over every run (the same score,
rank, frontier and cheapest run to a target); only the rows shown are fetched. A run still
running (or whose agent died) reads its objective live from ``metrics`` and its status from
``runs``; so does any run whose declared objective is not the one ranked by.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import sqlalchemy as sa

from xprof import schema
from xprof.dashboard import ranking
from xprof.dashboard.sql_frames import sql_frame
from xprof.efficiency import check_mode
from xprof.store import BASES, Store, effective_status

PAGE_ROWS = 500  # rows of the table; every count and the frontier cover all runs
SORTS = {"rank": None, "objective": "objective", "cost": "cost_value",
         "duration": "duration_s", "newest": "started_at", "GPU util": "gpu_util_p50"}

_ro = schema.run_rollups


@dataclass(frozen=True)
class Filters:
    """The sidebar's filters; empty ones keep everything. ``end`` is exclusive."""

    statuses: tuple[str, ...] = ()
    instance_types: tuple[str, ...] = ()
    cost_states: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()  # "key=value"
    start: dt.datetime | None = None
    end: dt.datetime | None = None


@dataclass
class Page:
    """What the page shows: ``rows`` (ranked as :func:`ranking.rank_runs` with ``frontier``;
    the first PAGE_ROWS of the chosen sort), counts over all matching runs, the frontier
    runs, the best scored run and the cheapest run reaching the target per currency."""

    rows: pd.DataFrame
    shown: int
    priced: int
    not_priced: int
    frontier: pd.DataFrame
    best: dict[str, Any] | None
    reached: pd.DataFrame = field(default_factory=pd.DataFrame)


# -- the columns ------------------------------------------------------------------------------

def _live_statuses(conn: sa.Connection, project: str) -> dict[str, str]:
    """Runs of the project whose rollup says `running`: their status now (stale heartbeat ->
    crashed; ended since -> the run's own)."""
    r = schema.runs
    rows = conn.execute(sa.select(r.c.id, r.c.status, r.c.heartbeat_at, r.c.flush_interval_s)
                        .join(_ro, _ro.c.run_id == r.c.id)
                        .where(_ro.c.project == project, _ro.c.status == "running"))
    return {row.id: effective_status(row.status, row.heartbeat_at, row.flush_interval_s)
            for row in rows}


def _status(live: dict[str, str]) -> sa.ColumnElement:
    groups: dict[str, list[str]] = {}
    for run_id, status in live.items():
        if status != "running":
            groups.setdefault(status, []).append(run_id)
    if not groups:
        return _ro.c.status
    return sa.case(*((_ro.c.run_id.in_(ids), status) for status, ids in groups.items()),
                   else_=_ro.c.status)


def _objective(objective: str | None) -> sa.ColumnElement:
    """The last logged value of ``objective``: the rollup's where it holds it, else live."""
    if not objective:
        return sa.null()
    m = schema.metrics
    live = (sa.select(m.c.value).where(m.c.run_id == _ro.c.run_id, m.c.key == objective)
            .order_by(m.c.seq.desc(), m.c.ts.desc()).limit(1).scalar_subquery())
    return sa.case((sa.and_(_ro.c.status != "running", _ro.c.objective_name == objective),
                    _ro.c.objective_last), else_=live)


@dataclass(frozen=True)
class _Columns:
    status: sa.ColumnElement
    objective: sa.ColumnElement
    basis: str

    def cost(self, what: str) -> sa.ColumnElement:
        return _ro.c[f"{what}_{self.basis}"]


def _where(cols: _Columns, project: str, filters: Filters) -> list[sa.ColumnElement]:
    where: list[sa.ColumnElement] = [_ro.c.project == project]
    if filters.statuses:
        where.append(cols.status.in_(filters.statuses))
    if filters.instance_types:
        where.append(sa.func.coalesce(_ro.c.instance_type, "(none)")
                     .in_(filters.instance_types))
    if filters.cost_states:
        where.append(cols.cost("cost_state").in_(filters.cost_states))
    t = schema.run_tags
    for pair in filters.tags:
        where.append(sa.exists().where(
            t.c.run_id == _ro.c.run_id,
            (t.c.key + "=" + sa.func.coalesce(t.c.value, "")) == pair))
    if filters.start is not None:
        where.append(_ro.c.started_at >= filters.start)
    if filters.end is not None:
        where.append(_ro.c.started_at < filters.end)
    return where


def _score(cols: _Columns, mode: str, baseline: float) -> sa.ColumnElement:
    """(objective − baseline) / cost, or (baseline − objective) / cost; NULL unless cost > 0."""
    if math.isnan(baseline):
        return sa.null()
    value = cols.cost("cost_value")
    gain = cols.objective - baseline if mode == "max" else baseline - cols.objective
    return sa.case((value > 0, gain / value))


# -- the queries ------------------------------------------------------------------------------

def filter_options(store: Store, project: str) -> dict[str, list[str]]:
    """The statuses (effective) and instance types the project's runs have."""
    with store.read() as conn:
        live = _live_statuses(conn, project)
        stored = conn.execute(sa.select(_ro.c.status).distinct()
                              .where(_ro.c.project == project)).scalars().all()
        instances = conn.execute(sa.select(sa.func.coalesce(_ro.c.instance_type, "(none)"))
                                 .distinct().where(_ro.c.project == project)).scalars().all()
    statuses = set(stored) | set(live.values())
    if "running" in stored and "running" not in live.values():
        statuses.discard("running")
    return {"statuses": sorted(statuses), "instance_types": sorted(instances)}


def tag_pairs(store: Store, project: str) -> list[str]:
    """The project's tags as sorted "key=value" pairs."""
    t = schema.run_tags
    pair = (t.c.key + "=" + sa.func.coalesce(t.c.value, "")).label("pair")
    with store.read() as conn:
        return sorted(conn.execute(sa.select(pair).distinct()
                                   .join(_ro, _ro.c.run_id == t.c.run_id)
                                   .where(_ro.c.project == project)).scalars())


def default_baseline(store: Store, project: str, objective: str | None, mode: str) -> float:
    """0 to maximise; to minimise, the worst (largest) value among all the project's runs."""
    check_mode(mode)
    if mode == "max":
        return 0.0
    with store.read() as conn:
        live = _live_statuses(conn, project)
        cols = _Columns(_status(live), _objective(objective), "list")
        worst = conn.execute(sa.select(sa.func.max(cols.objective))
                             .where(_ro.c.project == project)).scalar()
    return math.nan if worst is None else float(worst)


def currencies(store: Store, project: str, basis: str, filters: Filters) -> dict[str, int]:
    """Runs per currency among those the filters keep (priced runs only)."""
    with store.read() as conn:
        if filters == Filters():  # the counts kept with the rollups
            k = schema.rollup_counts
            rows = conn.execute(sa.select(k.c.currency, sa.func.sum(k.c.runs))
                                .where(k.c.project == project, k.c.basis == basis,
                                       k.c.currency != "")
                                .group_by(k.c.currency)).all()
            return {c: int(n) for c, n in rows if n}
        cols = _Columns(_status(_live_statuses(conn, project)), sa.null(), basis)
        currency = cols.cost("currency")
        rows = conn.execute(sa.select(currency, sa.func.count())
                            .where(*_where(cols, project, filters), currency.is_not(None))
                            .group_by(currency)).all()
    return {c: int(n) for c, n in rows}


def page(store: Store, project: str, objective: str | None, mode: str, basis: str,
         filters: Filters = Filters(), *, currency: str | None = None,
         baseline: float | None = None, target: float | None = None, sort: str = "rank",
         limit: int | None = PAGE_ROWS) -> Page:
    """The page's rows and numbers (see :class:`Page`); ``currency`` keeps that currency's
    runs and the unpriced ones; ``baseline`` None is the default one; ``limit`` None: all."""
    check_mode(mode)
    if basis not in BASES:
        raise ValueError(f"cost basis must be one of {', '.join(BASES)}, got {basis!r}")
    if sort not in SORTS:
        raise ValueError(f"sort by one of {', '.join(SORTS)}, not {sort!r}")
    if baseline is None:
        baseline = default_baseline(store, project, objective, mode)
    with store.read() as conn:
        cols = _Columns(_status(_live_statuses(conn, project)), _objective(objective), basis)
        where = _where(cols, project, filters)
        if currency is not None:
            where.append(sa.or_(cols.cost("currency").is_(None),
                                cols.cost("currency") == currency))
        shown = _shown(cols, mode, baseline, where)
        fast = filters == Filters() and objective is not None
        counts = _stored_counts(conn, project, basis, currency) if filters == Filters() \
            else _counts(conn, shown)
        others = _others(conn, _columns(cols, mode, baseline), where, project,
                         objective) if fast else None
        if fast:
            monies = _settled_currencies(conn, cols, project, objective, where[1:])
        if fast and sort == "rank" and mode == "max" and baseline == 0 and limit is not None:
            rows = _top_by_stored_score(conn, cols, where, objective, limit, others, monies)
        else:
            rows = _rows(conn, shown, mode, sort, limit)
        if fast:
            frontier = _frontier_walk(conn, cols, mode, baseline, where, objective, others,
                                      monies)
        else:
            frontier = _frontier(conn, shown, mode)
        best = _rows(conn, shown, mode, "rank", 1, scored=True) if sort != "rank" else None
        reached = _reached(conn, shown, mode, target) if target is not None else pd.DataFrame()
    rows["frontier"] = rows["run_id"].isin(frontier["run_id"])
    if sort == "rank":
        scored = rows[rows["score"].notna()]
        best_row = scored.iloc[0].to_dict() if len(scored) else None
    else:
        best_row = best.iloc[0].to_dict() if len(best) else None
    return Page(rows, *counts, frontier, best_row, reached)


def _counts(conn: sa.Connection, shown: sa.Subquery) -> tuple[int, int, int]:
    """Runs shown, priced, not yet priced, counted over the shown runs."""
    row = conn.execute(sa.select(sa.func.count(shown.c.run_id), sa.func.count(shown.c.cost),
                                 sa.func.coalesce(sa.func.sum(sa.case(
                                     (shown.c.cost_state == "not priced", 1), else_=0)), 0))
                       ).one()
    return int(row[0]), int(row[1]), int(row[2])


def _stored_counts(conn: sa.Connection, project: str, basis: str, currency: str | None
                   ) -> tuple[int, int, int]:
    """:func:`_counts` with no filter, read from ``rollup_counts`` (a few rows per project,
    kept with the rollups): all the project's runs, or those in ``currency`` or unpriced."""
    k = schema.rollup_counts
    where = [k.c.project == project, k.c.basis == basis]
    if currency is not None:
        where.append(k.c.currency.in_(("", currency)))  # '': the runs with no currency
    row = conn.execute(sa.select(
        sa.func.coalesce(sa.func.sum(k.c.runs), 0), sa.func.coalesce(sa.func.sum(k.c.priced), 0),
        sa.func.coalesce(sa.func.sum(sa.case((k.c.cost_state == "not priced", k.c.runs),
                                             else_=0)), 0)).where(*where)).one()
    return int(row[0]), int(row[1]), int(row[2])


def _columns(cols: _Columns, mode: str, baseline: float) -> list[sa.ColumnElement]:
    return [
        _ro.c.run_id, _ro.c.name, cols.status.label("status"), _ro.c.started_at,
        _ro.c.duration_s, _ro.c.instance_type, _ro.c.provider, _ro.c.user,
        cols.objective.label("objective"), _ro.c.cpu_cores_p50, _ro.c.rss_peak_bytes,
        _ro.c.gpu_util_p50, cols.cost("cost").label("cost"),
        cols.cost("cost_value").label("cost_value"), cols.cost("currency").label("currency"),
        cols.cost("cost_source").label("cost_source"),
        cols.cost("cost_state").label("cost_state"),
        cols.cost("upper_bound").label("upper_bound"),
        cols.cost("cost_reason").label("cost_reason"),
        _score(cols, mode, baseline).label("score")]


def _shown(cols: _Columns, mode: str, baseline: float, where: Sequence[sa.ColumnElement]
           ) -> sa.Subquery:
    return sa.select(*_columns(cols, mode, baseline)).where(*where).subquery("shown")


def _rank_order(shown: sa.Subquery, mode: str) -> list[sa.ColumnElement]:
    """rank_runs' order: score, then the better objective, then the cheaper run."""
    better = shown.c.objective if mode == "max" else -shown.c.objective
    return [shown.c.score.desc().nulls_last(), better.desc().nulls_last(),
            shown.c.cost_value.asc().nulls_last(), shown.c.started_at.desc(), shown.c.run_id]


def _rows(conn: sa.Connection, shown: sa.Subquery, mode: str, sort: str, limit: int | None,
          scored: bool = False) -> pd.DataFrame:
    column = SORTS[sort]
    if column is None:
        query = sa.select(shown).order_by(*_rank_order(shown, mode))
    else:
        ranks = sa.select(shown, sa.case((shown.c.score.is_not(None), sa.func.rank().over(
            partition_by=shown.c.currency, order_by=shown.c.score.desc().nulls_last())))
            .label("rank")  # nulls last: PostgreSQL sorts NULL scores first, shifting ranks
        ).subquery("ranked")
        key = ranks.c[column]
        ascending = column == "cost_value" or (column == "objective" and mode == "min")
        query = sa.select(ranks).order_by((key.asc() if ascending else key.desc()).nulls_last(),
                                          ranks.c.started_at.desc(), ranks.c.run_id)
    if scored:
        query = query.where(shown.c.score.is_not(None))
    frame = _typed(sql_frame(conn, query.limit(limit)))
    if column is None:  # ordered by score: the rank (method min) of each row is its place
        frame["rank"] = frame["score"].rank(ascending=False, method="min").astype("Int64")
    else:
        frame["rank"] = pd.to_numeric(frame["rank"], errors="coerce").astype("Int64")
    return frame.drop(columns="cost_value")


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    for name in ("objective", "score", "duration_s", "cpu_cores_p50", "rss_peak_bytes",
                 "gpu_util_p50", "cost_value"):
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    frame["started_at"] = pd.to_datetime(frame["started_at"], utc=True)
    frame["upper_bound"] = frame["upper_bound"].fillna(False).astype(bool)
    return frame


def _frontier(conn: sa.Connection, shown: sa.Subquery, mode: str) -> pd.DataFrame:
    """The runs no other (same currency) beats on both cost and objective: the best value at
    each cost (one grouping pass), kept where it beats the best at every lower cost (a window
    over the groups), then the runs holding those values."""
    value = shown.c.objective if mode == "max" else -shown.c.objective
    known = (shown.c.objective.is_not(None), shown.c.cost.is_not(None),
             shown.c.currency.is_not(None))
    at_cost = (sa.select(shown.c.currency, shown.c.cost, sa.func.max(value).label("best"))
               .where(*known).group_by(shown.c.currency, shown.c.cost).subquery("at_cost"))
    cheaper = sa.func.max(at_cost.c.best).over(partition_by=at_cost.c.currency,
                                               order_by=at_cost.c.cost, rows=(None, -1))
    judged = sa.select(at_cost, cheaper.label("cheaper")).subquery("judged")
    points = conn.execute(sa.select(judged.c.currency, judged.c.cost, judged.c.best).where(
        sa.or_(judged.c.cheaper.is_(None), judged.c.best > judged.c.cheaper))).all()
    columns = [shown.c.run_id, shown.c.name, shown.c.cost, shown.c.currency,
               shown.c.objective, shown.c.score]
    if not points:
        return sql_frame(conn, sa.select(*columns).where(sa.false()))
    query = (sa.select(*columns)
             .where(*known, sa.or_(*(sa.and_(shown.c.currency == currency,
                                            shown.c.cost == cost, value == best)
                                    for currency, cost, best in points)))
             .order_by(shown.c.cost_value, shown.c.run_id))
    frame = sql_frame(conn, query)
    for name in ("objective", "score"):
        frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
    return frame


# -- the fast paths: a page with no filter, ranked by the run's declared objective ------------
# A run whose rollup holds the objective ("settled": ended, declared it) is read through the
# indexes on (project, objective_name, currency, score | cost, ...); the others (running, or
# declaring another objective: usually few) are read whole and merged in.

def _settled(objective: str) -> list[sa.ColumnElement]:
    return [_ro.c.objective_name == objective, _ro.c.status != "running"]


def _unsettled(project: str, objective: str) -> sa.ColumnElement:
    """The runs of the project that are not settled, each part read down an index."""
    name, ids = _ro.c.objective_name, sa.select(_ro.c.run_id)
    return _ro.c.run_id.in_(sa.union_all(*(ids.where(_ro.c.project == project, cond) for cond in (
        name.is_(None), name < objective, name > objective,
        sa.and_(name == objective, _ro.c.status == "running")))))


def _others(conn: sa.Connection, columns: list, where: list, project: str, objective: str
            ) -> pd.DataFrame:
    return _typed(sql_frame(conn, sa.select(*columns).where(*where,
                                                            _unsettled(project, objective))))


def _settled_currencies(conn: sa.Connection, cols: _Columns, project: str, objective: str,
                        where: list) -> list[str]:
    """The currencies of the settled runs, one index seek each."""
    currency, found = cols.cost("currency"), []
    while True:
        query = sa.select(sa.func.min(currency)).where(
            _ro.c.project == project, _ro.c.objective_name == objective, *where,
            currency > found[-1] if found else currency.is_not(None))
        money = conn.execute(query).scalar()
        if money is None:
            return found
        found.append(money)


def _true(column: pd.Series) -> pd.Series:
    """A SQL boolean column (1/0 on SQLite, True/False on PostgreSQL) as booleans."""
    return column.map(bool).astype(bool)


def _rank_sorted(frame: pd.DataFrame, mode: str) -> pd.DataFrame:
    """:func:`_rank_order` in pandas."""
    better = frame["objective"] if mode == "max" else -frame["objective"]
    keys = pd.DataFrame({"s": frame["score"], "b": better, "c": frame["cost_value"],
                         "t": frame["started_at"], "i": frame["run_id"]}, index=frame.index)
    order = keys.sort_values(["s", "b", "c", "t", "i"],
                             ascending=[False, False, True, False, True],
                             na_position="last", kind="stable").index
    return frame.loc[order].reset_index(drop=True)


def _top_by_stored_score(conn: sa.Connection, cols: _Columns, where: list, objective: str,
                         limit: int, others: pd.DataFrame, monies: list[str]) -> pd.DataFrame:
    """The first ``limit`` runs in rank order when score = objective / cost (max, baseline
    0): the stored ``score_<basis>`` walked down its index, currency by currency."""
    columns = _columns(cols, "max", 0.0)
    stored, currency = cols.cost("score"), cols.cost("currency")
    settled = [*where, *_settled(objective)]
    parts = []
    for money in monies:
        top = _typed(sql_frame(conn, sa.select(*columns).where(
            *settled, currency == money, stored.is_not(None))
            .order_by(stored.desc()).limit(limit)))
        if len(top) == limit:  # runs tied with the last one may rank before it on other keys
            ties = _typed(sql_frame(conn, sa.select(*columns).where(
                *settled, currency == money, stored == float(top["score"].iloc[-1]))))
            top = pd.concat([top, ties[~ties["run_id"].isin(top["run_id"])]])
        parts.append(top)
    scored = sum(len(p) for p in parts)
    if scored < limit:  # every scored run fits: the unscored ones follow
        parts.append(_typed(sql_frame(conn, sa.select(*columns).where(
            *settled, sa.or_(currency.is_(None), stored.is_(None))))))
    top = pd.concat(parts) if parts else others.iloc[:0]
    frame = _rank_sorted(pd.concat([top, others], ignore_index=True), "max").head(limit)
    frame["rank"] = frame["score"].rank(ascending=False, method="min").astype("Int64")
    return frame.drop(columns="cost_value")


def _frontier_walk(conn: sa.Connection, cols: _Columns, mode: str, baseline: float,
                   where: list, objective: str, others: pd.DataFrame, monies: list[str]
                   ) -> pd.DataFrame:
    """The frontier walked in cost order down the cost index, per currency: the next point
    is the cheapest cost holding a better value than every cheaper one (so the walk reads
    each index entry at most once), until the best value of all (read down the objective
    index) is reached; the unsettled runs are then judged together with it."""
    cost, currency, last = cols.cost("cost"), cols.cost("currency"), _ro.c.objective_last
    known = [*where, *_settled(objective), last.is_not(None), cost.is_not(None)]
    extreme = sa.func.max(last) if mode == "max" else sa.func.min(last)
    points = []
    for money in monies:
        top = conn.execute(sa.select(last).where(*known, currency == money).order_by(
            last.desc() if mode == "max" else last.asc()).limit(1)).scalar()  # by its index
        best = at = None
        while best is None or best != top:  # at the best value, no costlier run is better
            step = sa.select(cost).where(*known, currency == money)
            if at is not None:
                step = step.where(cost > at, last > best if mode == "max" else last < best)
            at = conn.execute(step.order_by(cost).limit(1)).scalar()
            if at is None:
                break
            best = conn.execute(sa.select(extreme).where(*known, currency == money,
                                                         cost == at)).scalar()
            points.append(sa.and_(currency == money, cost == at, last == best))
    columns = _columns(cols, mode, baseline)
    frames = [others]
    if points:
        frames.append(_typed(sql_frame(conn, sa.select(*columns).where(*known,
                                                                        sa.or_(*points)))))
    candidates = pd.concat(frames, ignore_index=True)
    if not candidates.empty:
        candidates = candidates[ranking.pareto_frontier(candidates, mode)]
    frontier = candidates.sort_values(["cost_value", "run_id"])
    return frontier[["run_id", "name", "cost", "currency", "objective", "score"]].reset_index(
        drop=True)


def _reached(conn: sa.Connection, shown: sa.Subquery, mode: str, target: float
             ) -> pd.DataFrame:
    """Per currency, the cheapest priced run reaching ``target`` (the better one on ties)."""
    reach = shown.c.objective >= target if mode == "max" else shown.c.objective <= target
    better = shown.c.objective if mode == "max" else -shown.c.objective
    order = sa.func.row_number().over(partition_by=shown.c.currency,
                                      order_by=(shown.c.cost_value, better.desc()))
    hits = (sa.select(shown, order.label("n"))
            .where(reach, shown.c.cost.is_not(None), shown.c.currency.is_not(None))
            .subquery("hits"))
    return sql_frame(conn, sa.select(hits).where(hits.c.n == 1).order_by(hits.c.currency))


# -- one project's runs of a period, ranked (the weekly report) -------------------------------

@dataclass
class Ranked:
    """A period's runs of one project, for ranking as :func:`ranking.rank_runs` ranks them:
    ``runs`` and ``scored`` counted, ``drawable`` (objective, cost and currency known)
    counted, the default ``baseline`` over these runs, and ``candidates``: every run that can
    be shown, i.e. the ``top`` best scored runs per currency (``top`` True), the Pareto
    frontier, and the first ``points`` other drawable runs in rank order (``point`` True), in
    rank order with :func:`_columns`' columns and ``overall_rank`` (the rank among all the
    period's scored runs of its currency)."""

    runs: int
    scored: int
    drawable: int
    baseline: float
    candidates: pd.DataFrame


def period_ranked(store: Store, project: str, objective: str, mode: str, basis: str,
                  start: dt.datetime, end: dt.datetime, *, top: int, points: int) -> Ranked:
    """See :class:`Ranked`: read from ``run_rollups`` (live where a run is not settled), only
    the candidate rows fetched."""
    check_mode(mode)
    with store.read() as conn:
        cols = _Columns(_status(_live_statuses(conn, project)), _objective(objective), basis)
        where = _where(cols, project, Filters(start=start, end=end))
        baseline = 0.0
        if mode == "min":
            worst = conn.execute(sa.select(sa.func.max(cols.objective)).where(*where)).scalar()
            baseline = math.nan if worst is None else float(worst)
        shown = _shown(cols, mode, baseline, where)
        drawable = sa.and_(shown.c.objective.is_not(None), shown.c.cost.is_not(None),
                           shown.c.currency.is_not(None))
        runs, scored, drawn = conn.execute(sa.select(
            sa.func.count(), sa.func.count(shown.c.score),
            sa.func.coalesce(sa.func.sum(sa.case((drawable, 1), else_=0)), 0))).one()
        ids = _frontier(conn, shown, mode)["run_id"].tolist()
        # one windowed statement: the best ``top`` per currency, the frontier, and enough
        # drawable runs in rank order to hold the first ``points`` not on the frontier
        judged = sa.select(shown, drawable.label("drawable")).subquery("judged")
        rank = sa.case((judged.c.score.is_not(None), sa.func.rank().over(
            partition_by=judged.c.currency, order_by=judged.c.score.desc().nulls_last())))
        place = sa.func.row_number().over(partition_by=judged.c.currency,
                                          order_by=_rank_order(judged, mode))
        in_drawn = sa.func.row_number().over(partition_by=judged.c.drawable,
                                          order_by=_rank_order(judged, mode))
        ranked = sa.select(judged, rank.label("overall_rank"), place.label("place"),
                           in_drawn.label("in_drawn")).subquery("ranked")
        found = sql_frame(conn, sa.select(ranked).where(sa.or_(
            sa.and_(ranked.c.score.is_not(None), ranked.c.place <= top),
            ranked.c.run_id.in_(ids),
            sa.and_(ranked.c.drawable, ranked.c.in_drawn <= points + len(ids)))))
    best = found[found["score"].notna() & (pd.to_numeric(found["place"]) <= top)]
    on = found[found["run_id"].isin(ids)]
    rest = found[_true(found["drawable"]) & ~found["run_id"].isin(ids)]
    rest = rest.iloc[pd.to_numeric(rest["in_drawn"]).argsort(kind="stable")].head(points)
    frames = [f for f in (best.assign(top=True), on.assign(top=False), rest.assign(top=False))
              if not f.empty]
    candidates = (pd.concat(frames, ignore_index=True) if frames
                  else found.iloc[:0].assign(top=False))
    candidates["top"] = candidates.groupby("run_id")["top"].transform("max").astype(bool)
    candidates["point"] = candidates["run_id"].isin(rest["run_id"])
    candidates = candidates.drop_duplicates("run_id").drop(columns=["place", "drawable",
                                                                     "in_drawn"])
    candidates["overall_rank"] = pd.to_numeric(candidates["overall_rank"],
                                               errors="coerce").astype("Int64")
    return Ranked(int(runs), int(scored), int(drawn), baseline,
                  _rank_sorted(_typed(candidates), mode))
