"""What a run bought per unit of money: ranking, Pareto frontier, cheapest run to a target,
repeated-run groups and a Welch t-test. One implementation for the dashboard and the report.

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

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

import pandas as pd

from xprof.dashboard.formatting import number
from xprof.efficiency import check_mode, cost_as_float, efficiency

SEED_KEY = re.compile(r"seed|random_state|^rng$", re.IGNORECASE)


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


def is_seed_key(key: str) -> bool:
    """Parameters that only pick a random stream (seed, random_state, rng)."""
    return bool(SEED_KEY.search(key))


def param_signature(params: pd.DataFrame, run_ids: Iterable[str],
                    ignore: Callable[[str], bool] = is_seed_key) -> pd.Series:
    """Each run's parameters (ignored keys left out) as ``"k=v; k2=v2"``, indexed by run id.

    ``params`` has columns run_id, key, value. Runs with the same signature are repeats.
    """
    ids = pd.Index(list(run_ids), name="run_id")
    if params.empty:
        return pd.Series("", index=ids, dtype=object)
    kept = params[~params["key"].map(ignore).astype(bool)].sort_values(["run_id", "key"])
    pairs = kept["key"] + "=" + kept["value"].fillna("")
    signature = pairs.groupby(kept["run_id"]).agg("; ".join)
    return signature.reindex(ids, fill_value="").astype(object)


def _decimal_mean(values: pd.Series) -> Decimal | None:
    known = [Decimal(v) for v in values if v is not None and not pd.isna(v)]
    return sum(known, Decimal(0)) / len(known) if known else None


def _decimal_std(values: pd.Series) -> Decimal | None:
    """Sample standard deviation (n - 1), as pandas' std; None below two values."""
    known = [Decimal(v) for v in values if v is not None and not pd.isna(v)]
    if len(known) < 2:
        return None
    mean = sum(known, Decimal(0)) / len(known)
    return (sum(((v - mean) ** 2 for v in known), Decimal(0)) / (len(known) - 1)).sqrt()


def group_repeats(ranked: pd.DataFrame, signatures: pd.Series) -> pd.DataFrame:
    """Repeated runs (same signature and currency) as one row: n, mean and std of objective,
    cost and score, the run ids and names; best mean score first.

    ``ranked`` is :func:`rank_runs`' output (it needs ``score``); stds are sample stds
    (n - 1), NaN/None for a single run.
    """
    frame = ranked.assign(signature=ranked["run_id"].map(signatures).fillna(""))
    frame["currency"] = frame["currency"].fillna("")
    grouped = frame.groupby(["signature", "currency"], sort=False)
    out = grouped.agg(
        n=("run_id", "size"),
        objective_mean=("objective", "mean"), objective_std=("objective", "std"),
        score_mean=("score", "mean"), score_std=("score", "std"),
        run_ids=("run_id", list), names=("name", list),
    )
    out["cost_mean"] = grouped["cost"].agg(_decimal_mean)
    out["cost_std"] = grouped["cost"].agg(_decimal_std)
    out = out.reset_index()
    out["currency"] = out["currency"].replace("", None)
    return out.sort_values(["score_mean", "n"], ascending=[False, False],
                           na_position="last").reset_index(drop=True)


@dataclass(frozen=True)
class WelchResult:
    """Welch's t-test of group A against group B, with a reading in plain words."""

    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    std_a: float
    std_b: float
    t: float
    p: float
    df: float
    reading: str


def welch_t_test(a: Iterable[float], b: Iterable[float], *, mode: str = "max",
                 label: str = "objective", alpha: float = 0.05) -> WelchResult:
    """Welch's (unequal variances) t-test of two groups' objective values.

    Same statistic and p-value as ``scipy.stats.ttest_ind(a, b, equal_var=False)``.
    """
    from scipy import stats  # lazy: scipy is heavy, only for the t-test

    check_mode(mode)
    xs = [float(v) for v in a if v is not None and not math.isnan(v)]
    ys = [float(v) for v in b if v is not None and not math.isnan(v)]
    mean_a = sum(xs) / len(xs) if xs else math.nan
    mean_b = sum(ys) / len(ys) if ys else math.nan
    std_a = float(pd.Series(xs).std()) if len(xs) > 1 else math.nan
    std_b = float(pd.Series(ys).std()) if len(ys) > 1 else math.nan
    if len(xs) < 2 or len(ys) < 2:
        return WelchResult(len(xs), len(ys), mean_a, mean_b, std_a, std_b, math.nan, math.nan,
                           math.nan, "Needs at least two runs in each group to judge noise "
                           "(repeat the runs with other seeds).")
    res = stats.ttest_ind(xs, ys, equal_var=False)
    t, p = float(res.statistic), float(res.pvalue)
    df = float(getattr(res, "df", math.nan))
    return WelchResult(len(xs), len(ys), mean_a, mean_b, std_a, std_b, t, p, df,
                       _reading(mean_a, mean_b, p, mode, label, alpha))


def _reading(mean_a: float, mean_b: float, p: float, mode: str, label: str,
             alpha: float) -> str:
    if math.isnan(p):
        return (f"Neither group varies (every run gave the same {label}), so a t-test cannot "
                "separate a real difference from noise.")
    p_text = "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
    a_better = mean_a > mean_b if mode == "max" else mean_a < mean_b
    winner, loser = ("A", "B") if a_better else ("B", "A")
    means = f"mean {label} {number(mean_a)} (A) vs {number(mean_b)} (B)"
    if p < alpha:
        return (f"{winner} is better than {loser}: {means}. A gap this large would arise from "
                f"seed noise alone rarely ({p_text} < {alpha:g}), so the difference is real.")
    return (f"No clear difference: {means}. Seed noise alone gives a gap this large often "
            f"({p_text} ≥ {alpha:g}); run more repeats before choosing.")


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
