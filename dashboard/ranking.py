"""What a run bought per unit of money: ranking, Pareto frontier, cheapest run to a target.
One implementation for the dashboard and the report (repeated-run groups and the Welch
t-test are :mod:`xprof.repeats`, shared with `xprof compare`).

Pure functions over pandas objects; nothing here touches the store or Streamlit. A runs frame
has (at least) the columns ``queries.leaderboard`` returns: ``run_id``, ``name``,
``objective`` (float, NaN when the run never logged it), ``cost`` (``Decimal`` or None) and
``currency`` (None when not priced).

The efficiency rule (the "score", shown as "metric per $"; :mod:`xprof.efficiency`):

- objective to maximise (accuracy, F1, reward): ``score = (value - baseline) / cost`` with
  baseline 0 unless one is given, i.e. plain metric per dollar;
- objective to minimise (loss, error, perplexity): ``score = (baseline - value) / cost``, the
  improvement over a baseline per dollar. The baseline defaults to the worst (largest) value
  among the runs given, so that run scores 0; a meaningful baseline (the loss of a constant
  predictor) makes scores comparable across time;
- no score when the objective or the cost is unknown, or the cost is zero or negative
  (credits): such runs rank after every scored run.

Scores compare only within one currency, so ranks, frontiers and targets are per currency.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from xprof.efficiency import check_mode, cost_as_float, efficiency


def rank_runs(runs: pd.DataFrame, mode: str, baseline: float | None = None) -> pd.DataFrame:
    """Runs with ``score`` and ``rank`` (1 = best, per currency), best first.

    Ties on score go to the better objective, then to the cheaper run; unscored runs come last.
    """
    out = runs.copy()
    out["score"] = efficiency(out["objective"], out["cost"], mode, baseline)
    out["rank"] = (out.groupby("currency", dropna=False)["score"]
                   .rank(ascending=False, method="min").astype("Int64"))
    better = out["objective"] if mode == "max" else -out["objective"]
    order = pd.DataFrame({"score": out["score"], "better": better,
                          "cost": cost_as_float(out["cost"])}, index=out.index)
    keys = order.sort_values(["score", "better", "cost"], ascending=[False, False, True],
                             na_position="last").index
    return out.loc[keys]


def pareto_frontier(runs: pd.DataFrame, mode: str) -> pd.Series:
    """True for runs no other run (same currency) beats on both cost and objective.

    A run is dominated when another costs no more and scores at least as well, and is
    strictly better on one of the two. Runs without a known cost or objective are never on it.
    """
    check_mode(mode)
    on = pd.Series(False, index=runs.index, dtype=bool)
    known = runs["objective"].notna() & runs["cost"].notna() & runs["currency"].notna()
    for _currency, part in runs[known].groupby("currency"):
        value = part["objective"].astype("float64")
        value = value if mode == "max" else -value
        cost = part["cost"]
        best_at_cost = value.groupby(cost).max()  # index: costs, ascending
        best_cheaper = best_at_cost.cummax().shift(1)
        top = value == cost.map(best_at_cost)
        beaten = cost.map(best_cheaper)
        on[part.index] = top & (beaten.isna() | (value > beaten))
    return on


def cheapest_to_target(runs: pd.DataFrame, mode: str, target: float) -> pd.DataFrame:
    """Per currency, the cheapest priced run whose objective reaches ``target``.

    Reaching means ``objective >= target`` when maximising and ``<= target`` when minimising;
    among equally cheap runs the better objective wins. Empty when no run reaches it.
    """
    check_mode(mode)
    reach = runs["objective"] >= target if mode == "max" else runs["objective"] <= target
    hits = runs[reach & runs["cost"].notna() & runs["currency"].notna()].copy()
    if hits.empty:
        return hits
    hits["_cost"] = cost_as_float(hits["cost"])
    hits["_better"] = hits["objective"] if mode == "max" else -hits["objective"]
    hits = hits.sort_values(["_cost", "_better"], ascending=[True, False])
    return hits.groupby("currency", sort=True).head(1).drop(columns=["_cost", "_better"])


def select_runs(runs: pd.DataFrame, *, statuses: Iterable[str] = (),
                instance_types: Iterable[str] = (), cost_states: Iterable[str] = (),
                run_ids: Iterable[str] | None = None, start: pd.Timestamp | None = None,
                end: pd.Timestamp | None = None) -> pd.DataFrame:
    """The runs passing the leaderboard's filters (an empty filter keeps everything).

    ``start``/``end`` bound ``started_at`` (end exclusive); ``run_ids`` is e.g. the runs
    carrying the chosen tags.
    """
    keep = pd.Series(True, index=runs.index)
    if statuses := list(statuses):
        keep &= runs["status"].isin(statuses)
    if instance_types := list(instance_types):
        keep &= runs["instance_type"].fillna("(none)").isin(instance_types)
    if cost_states := list(cost_states):
        keep &= runs["cost_state"].isin(cost_states)
    if run_ids is not None:
        keep &= runs["run_id"].isin(list(run_ids))
    if start is not None:
        keep &= runs["started_at"] >= start
    if end is not None:
        keep &= runs["started_at"] < end
    return runs[keep]
