"""Reshaping query results for display (spend pivots, money columns). No Streamlit, no SQL."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd

from xprof.dashboard.formatting import money


def _dsum(values: pd.Series) -> Decimal | None:
    known = [Decimal(v) for v in values if v is not None and not pd.isna(v)]
    return sum(known, Decimal(0)) if known else None


def spend_table(spend: pd.DataFrame, by: str) -> pd.DataFrame:
    """``queries.spend`` rows pivoted to one row per (by, currency): billed, estimate, total
    (Decimal, exact), runs and unknown; largest total first. Currencies are never mixed."""
    columns = [by, "currency", "billed", "estimate", "total", "runs", "unknown"]
    if spend.empty:
        return pd.DataFrame(columns=columns)
    keys = [spend[by].fillna("(none)"), spend["currency"]]
    grouped = spend.groupby(keys, sort=False)
    out = pd.DataFrame({
        "billed": spend["amount"].where(spend["source"] == "billed").groupby(keys).agg(_dsum),
        "estimate": spend["amount"].where(spend["source"] == "estimate").groupby(keys)
        .agg(_dsum),
        "total": grouped["amount"].agg(_dsum),
        "runs": grouped["runs"].sum(), "unknown": grouped["unknown"].sum(),
    })
    out.index.names = [by, "currency"]
    out = out.reset_index()
    order = pd.to_numeric(out["total"], errors="coerce").fillna(0)
    if by == "day":
        return out.sort_values([by, "currency"]).reset_index(drop=True)[columns]
    return out.assign(_o=order).sort_values(["currency", "_o"], ascending=[True, False]) \
        .drop(columns="_o").reset_index(drop=True)[columns]


def money_columns(frame: pd.DataFrame, columns: list[str],
                  currency: str = "currency") -> pd.DataFrame:
    """A copy with the Decimal ``columns`` rendered as money text in each row's currency."""
    out = frame.copy()
    for column in columns:
        out[column] = [money(a, c) for a, c in zip(out[column], out[currency], strict=True)]
    return out
