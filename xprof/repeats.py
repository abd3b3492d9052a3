"""Repeated runs: param signatures without seeds, groups of repeats with mean ± std, and
Welch's t-test between two groups, read out in plain words. One implementation for the
dashboard's Compare page and `xprof compare`.

Pure functions over pandas objects; scipy is imported only when a t-test runs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

import pandas as pd

from xprof.efficiency import check_mode
from xprof.numbers import number, p_value

SEED_KEY = re.compile(r"seed|random_state|^rng$", re.IGNORECASE)


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
    p_text = p_value(p)
    a_better = mean_a > mean_b if mode == "max" else mean_a < mean_b
    winner, loser = ("A", "B") if a_better else ("B", "A")
    means = f"mean {label} {number(mean_a)} (A) vs {number(mean_b)} (B)"
    if p < alpha:
        return (f"{winner} is better than {loser}: {means}. A gap this large would arise from "
                f"seed noise alone rarely ({p_text} < {alpha:g}), so the difference is real.")
    return (f"No clear difference: {means}. Seed noise alone gives a gap this large often "
            f"({p_text} ≥ {alpha:g}); run more repeats before choosing.")


def default_pair(groups: pd.DataFrame) -> tuple[int, int]:
    """The two groups (row positions of :func:`group_repeats`' output, 2 rows or more) to
    test first: repeated ones (n ≥ 2) before single runs, best mean score first."""
    repeated = [i for i, n in enumerate(groups["n"]) if n >= 2]
    order = repeated + [i for i in range(len(groups)) if i not in repeated]
    return order[0], order[1]
