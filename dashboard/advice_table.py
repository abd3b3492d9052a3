"""The machines a recommendation suggests, as a table: predicted time and cost per run.

Shared by the Recommendations and run pages; pure (pandas only)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd

from xprof.dashboard.formatting import duration, money

COLUMNS = ["role", "instance", "predicted time", "predicted cost per run", "saving per run",
           "trade-off", "confidence", "basis"]


def candidates_table(evidence: dict[str, Any] | None, currency: str | None) -> pd.DataFrame:
    """One row per candidate of the time/cost frontier (empty when none was predicted)."""
    rows = []
    for c in (evidence or {}).get("candidates") or []:
        rows.append([c["role"], c["label"], duration(c["predicted_duration_s"]),
                     money(Decimal(c["predicted_cost"]), currency),
                     money(Decimal(c["saving_per_run"]), currency), c["tradeoff"],
                     c["confidence"], c["basis"]])
    return pd.DataFrame(rows, columns=COLUMNS)


def prediction_caption(evidence: dict[str, Any] | None, duration_s: float | None,
                       currency: str | None) -> str | None:
    """``predicted on the suggested machine: 2h10m, $1.38 a run (confidence medium)``."""
    evidence = evidence or {}
    if evidence.get("predicted_cost") is None:
        return None
    text = (f"predicted on the suggested machine: "
            f"{duration(evidence.get('predicted_duration_s'))}, "
            f"{money(Decimal(evidence['predicted_cost']), currency)} a run "
            f"(confidence {evidence.get('confidence')})")
    if duration_s:
        text += f"; this run took {duration(duration_s)}"
    return text
