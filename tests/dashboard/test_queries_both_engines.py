"""The dashboard's SQL gives the same figures on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from tests.dashboard.helpers import seed
from xprof.dashboard import queries
from xprof.store import Store


def test_leaderboard_spend_and_status_write_on_each_engine(any_store_url) -> None:
    """Costs, objective, spend by day and the recommendation status write agree per engine."""
    store = Store.open(any_store_url)
    ids = seed(store)
    board = queries.leaderboard(store, "digits", "val_acc").set_index("name")
    assert board.loc["mlp-gpu", "cost"] == Decimal("1.20")
    assert board.loc["mlp-gpu", "objective"] == 0.985
    assert board.loc["crashed-run", "status"] == "crashed"
    assert board.loc["mlp-gpu", "gpu_util_p50"] == 40.0
    assert board.loc["unknown-price", "cost_state"] == "unknown"
    by_day = queries.spend(store, "day")
    usd = by_day[by_day["currency"] == "USD"]
    assert {d: queries.total_by_currency(usd[usd["day"] == d])["USD"]
            for d in sorted(set(usd["day"]))} == {
        dt.date(2025, 3, 3): Decimal("0.45"), dt.date(2025, 3, 4): Decimal("1.24"),
        dt.date(2025, 3, 5): Decimal("15.00")}
    assert queries.saving_totals(store)["saving_per_month"].tolist() == [Decimal("170.70")]
    open_recs = queries.recommendations(store)
    rec_id = int(open_recs.loc[open_recs["rule"] == "idle_gpus", "id"].iloc[0])
    assert queries.set_recommendation_status(store, rec_id, "dismissed")
    assert queries.saving_totals(store)["saving_per_month"].tolist() == [Decimal("20.70")]
    assert len(queries.samples(store, ids["mlp-gpu"])) == 60
    assert set(queries.gpu_samples(store, ids["mlp-gpu"])["gpu_index"]) == {0, 1}
