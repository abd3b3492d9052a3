"""The leaderboard's one-page query (``board.page``, SQL over run_rollups) gives what ranking
every run in pandas gives (``queries.leaderboard`` + ``ranking``): the same rows in the same
order with the same score and rank, counts, frontier and cheapest run to a target, for each
sort, basis, mode, baseline and filter; on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest

from tests.dashboard.helpers import seed
from xprof.dashboard import board, queries, ranking
from xprof.efficiency import cost_as_float, default_baseline
from xprof.store import Store

CASES = [  # project, objective, mode, basis, baseline, sort, filters, target
    ("digits", "val_acc", "max", "billed", None, "rank", board.Filters(), 0.97),
    ("digits", "val_acc", "max", "list", 0.9, "cost", board.Filters(), None),
    ("digits", "val_acc", "min", "billed", None, "newest", board.Filters(), 0.93),
    ("digits", "val_acc", "max", "billed", None, "objective",
     board.Filters(statuses=("finished",), cost_states=("estimate",)), None),
    ("digits", "val_acc", "max", "billed", None, "rank",
     board.Filters(tags=("model=rf",)), None),
    ("lm", "val_loss", "min", "billed", None, "rank", board.Filters(), None),
    ("lm", "val_loss", "min", "effective", 3.0, "duration", board.Filters(), 2.0),
]


def _old(store: Store, project, objective, mode, basis, baseline, sort, filters, target):
    """The former page: every run into pandas, then ranking's functions."""
    runs = queries.leaderboard(store, project, objective, basis)
    tagged = None
    if filters.tags:
        tags = queries.run_tags(store, project=project)
        pairs = tags["key"] + "=" + tags["value"].fillna("")
        hits = tags[pairs.isin(filters.tags)].groupby("run_id")["key"].nunique()
        tagged = hits[hits == len(filters.tags)].index
    shown = ranking.select_runs(runs, statuses=filters.statuses,
                                cost_states=filters.cost_states, run_ids=tagged)
    counts = shown["currency"].value_counts()
    currency = None
    if len(counts) > 1:
        currency = min(counts.index, key=lambda c: (-counts[c], c))
        shown = shown[shown["currency"].isna() | (shown["currency"] == currency)]
    if baseline is None and mode == "min":
        baseline = default_baseline(runs["objective"], mode)
    ranked = ranking.rank_runs(shown, mode, baseline)
    ranked["frontier"] = ranking.pareto_frontier(ranked, mode)
    scored = ranked[ranked["score"].notna()]
    best = scored.iloc[0]["run_id"] if len(scored) else None
    column = {"objective": "objective", "cost": "cost", "duration": "duration_s",
              "newest": "started_at"}.get(sort)
    if column:
        key = cost_as_float(ranked["cost"]) if column == "cost" else ranked[column]
        ascending = column == "cost" or (column == "objective" and mode == "min")
        ranked = ranked.assign(_k=key).sort_values("_k", ascending=ascending,
                                                   na_position="last", kind="stable")
    reached = ranking.cheapest_to_target(ranked, mode, target) if target is not None else None
    return ranked, currency, reached, best


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{c[2]}-{c[3]}-{c[5]}" for c in CASES])
def test_page_equals_ranking_every_run(any_store_url, case) -> None:
    store = Store.open(any_store_url)
    seed(store)
    project, objective, mode, basis, baseline, sort, filters, target = case
    ranked, currency, reached, best = _old(store, *case)
    got = board.page(store, project, objective, mode, basis, filters, currency=currency,
                     baseline=baseline, target=target, sort=sort, limit=4)
    assert got.shown == len(ranked)
    assert got.priced == int(ranked["cost"].notna().sum())
    assert got.not_priced == int((ranked["cost_state"] == "not priced").sum())
    assert set(got.frontier["run_id"]) == set(ranked.loc[ranked["frontier"], "run_id"])
    top = ranked.head(4)
    if sort == "rank":  # ties of other sorts may come in either order; their keys agree
        assert got.rows["name"].tolist() == top["name"].tolist()
    for column in ("score", "objective", "rank"):
        want = pd.to_numeric(top[column], errors="coerce").tolist()
        have = pd.to_numeric(got.rows[column], errors="coerce").tolist()
        if sort == "rank":
            assert have == pytest.approx(want, nan_ok=True)
    by_id = got.rows.set_index("run_id")
    for run_id, row in ranked.set_index("run_id").loc[list(by_id.index)].iterrows():
        mine = by_id.loc[run_id]
        for column in ("score", "objective"):
            assert (math.isnan(row[column]) and math.isnan(mine[column])) or \
                mine[column] == pytest.approx(row[column])
        assert (pd.isna(row["rank"]) and pd.isna(mine["rank"])) or row["rank"] == mine["rank"]
        assert (mine["cost_state"], mine["status"], bool(mine["frontier"])) == \
            (row["cost_state"], row["status"], bool(row["frontier"]))
    assert (got.best or {}).get("run_id") == best
    if reached is not None:
        assert got.reached["run_id"].tolist() == reached["run_id"].tolist()


def test_a_running_run_reads_its_objective_and_status_live(store_url) -> None:
    """A run whose agent has not ended shows its latest metric; a stale one shows crashed."""
    store = Store.open(store_url)
    ids = seed(store)
    now = dt.datetime.now(dt.UTC)
    store.write_batch(ids["crashed-run"], "trainer-1", metrics=[
        {"seq": 1, "key": "val_acc", "value": 0.5, "step": 1, "ts": now.timestamp(),
         "source": "log"}])
    got = board.page(store, "digits", "val_acc", "max", "billed", limit=None)
    row = got.rows.set_index("name").loc["crashed-run"]
    assert (row["objective"], row["status"]) == (0.5, "crashed")
    assert board.filter_options(store, "digits")["statuses"] == ["crashed", "finished"]
    only = board.page(store, "digits", "val_acc", "max", "billed",
                      board.Filters(statuses=("crashed",)))
    assert only.rows["name"].tolist() == ["crashed-run"]


def test_counts_kept_with_the_rollups_equal_counting_every_run(any_store_url) -> None:
    """With no filter the page's counts and the runs per currency are read from
    ``rollup_counts``; they equal counting the runs in pandas, for each project and basis,
    all currencies or one (the runs in it and the unpriced ones), and after ``xprof rm``."""
    store = Store.open(any_store_url)
    ids = seed(store)

    def compare() -> None:
        for project, objective in (("digits", "val_acc"), ("lm", "val_loss")):
            for basis in ("billed", "effective", "list"):
                runs = queries.leaderboard(store, project, objective, basis)
                assert board.currencies(store, project, basis, board.Filters()) == {
                    c: int(n) for c, n in runs["currency"].value_counts().items()}
                for currency in (None, *runs["currency"].dropna().unique()):
                    shown = runs if currency is None else \
                        runs[runs["currency"].isna() | (runs["currency"] == currency)]
                    got = board.page(store, project, objective, "max", basis,
                                     currency=currency, limit=1)
                    assert (got.shown, got.priced, got.not_priced) == (
                        len(shown), int(shown["cost"].notna().sum()),
                        int((shown["cost_state"] == "not priced").sum()))

    compare()
    assert board.currencies(store, "lm", "list", board.Filters()) == {"EUR": 1, "USD": 2}
    store.delete_runs([ids["lm-eu"], ids["mlp-gpu"]])
    compare()
