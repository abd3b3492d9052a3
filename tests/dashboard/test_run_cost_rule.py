"""A run's cost on every view: billed replaces the estimate, per basis, per currency, and an
unknown or missing cost is said so rather than taken as zero."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from tests.dashboard.helpers import DAY1, Seeded, _run_row
from xprof import schema
from xprof.dashboard import queries
from xprof.store import Store


def _by_name(store: Store, project: str, objective: str, basis: str = "billed"):
    return queries.leaderboard(store, project, objective, basis).set_index("name")


def test_billed_replaces_estimate_and_basis_selects_rows(seeded: Seeded) -> None:
    """mlp-gpu has a $1.00 estimate and $0.70 + $0.50 billed: it costs $1.20 billed, $0.90
    effective (billed rows of that basis), and its estimate when asked at list price."""
    store = Store.open(seeded.url)
    assert _by_name(store, "digits", "val_acc").loc["mlp-gpu", "cost"] == Decimal("1.20")
    assert _by_name(store, "digits", "val_acc").loc["mlp-gpu", "cost_state"] == "billed"
    assert _by_name(store, "digits", "val_acc", "effective").loc["mlp-gpu", "cost"] == \
        Decimal("0.90")
    at_list = _by_name(store, "digits", "val_acc", "list").loc["mlp-gpu"]
    assert (at_list["cost"], at_list["cost_state"]) == (Decimal("1.00"), "estimate")
    cost = queries.run_cost(store, seeded.ids["mlp-gpu"])
    assert (cost["cost"], cost["currency"], cost["cost_state"]) == (Decimal("1.2"), "USD",
                                                                    "billed")


def test_unpriced_and_unknown_are_not_zero(seeded: Seeded) -> None:
    """A run with no cost row is "not priced"; a NULL amount is "unknown" with its reason."""
    board = _by_name(Store.open(seeded.url), "digits", "val_acc")
    assert board.loc["unpriced", "cost_state"] == "not priced"
    assert board.loc["unpriced", "cost"] is None
    assert board.loc["unknown-price", "cost_state"] == "unknown"
    assert board.loc["unknown-price", "cost"] is None
    assert board.loc["unknown-price", "cost_reason"] == "no price for x9.weird"


def test_objective_is_last_logged_value_and_status_is_effective(seeded: Seeded) -> None:
    """The objective is the last value logged (not the best); a stale `running` is crashed."""
    board = _by_name(Store.open(seeded.url), "digits", "val_acc")
    assert board.loc["svc-s0", "objective"] == 0.97
    assert board.loc["mlp-gpu", "objective"] == 0.985
    assert board.loc["crashed-run", "status"] == "crashed"
    assert board.loc["mlp-gpu", "gpu_util_p50"] == 40.0
    assert board["gpu_util_p50"].isna().sum() == len(board) - 1  # summary without GPU keys


def test_two_currencies_on_one_run_have_no_single_cost(tmp_path) -> None:
    """Billed rows in USD and EUR on one run are never added: the cost is marked mixed."""
    store = Store.open(f"sqlite:///{tmp_path / 'x.db'}")
    run_id = uuid.uuid4().hex
    store.create_run(_run_row(run_id, "two-currencies", "p", DAY1, 60, "m5.large",
                              ("acc", "max")))
    with store.write() as conn:
        for currency in ("USD", "EUR"):
            conn.execute(schema.costs.insert().values(
                kind="run", run_id=run_id, source="billed", basis="billed", period_start=DAY1,
                period_end=DAY1 + dt.timedelta(hours=1), amount=Decimal("1.00"),
                currency=currency, upper_bound=False, computed_at=DAY1))
    row = queries.leaderboard(store, "p", "acc").iloc[0]
    assert row["cost_state"] == "mixed currencies" and row["cost"] is None


def test_spend_is_per_currency_with_idle_apart(seeded: Seeded) -> None:
    """Spend sums the counted rows exactly, per currency, and keeps idle cost separate."""
    store = Store.open(seeded.url)
    by_project = queries.spend(store, "project")
    totals = {(p, c): queries.total_by_currency(by_project[(by_project["project"] == p)])
              .get(c) for p, c in (("digits", "USD"), ("lm", "USD"), ("lm", "EUR"))}
    # digits: 3 x 0.10 + 3 x 0.05 + 0.04 + billed 1.20 (its 1.00 estimate not counted)
    assert totals == {("digits", "USD"): Decimal("1.69"), ("lm", "USD"): Decimal("15.00"),
                      ("lm", "EUR"): Decimal("5.00")}
    assert queries.total_by_currency(queries.idle_spend(store)) == {"USD": Decimal("0.80")}
    by_day = queries.spend(store, "day")
    day2 = by_day[(by_day["day"] == dt.date(2025, 3, 4)) & (by_day["source"] == "estimate")]
    assert day2["unknown"].tolist() == [1]  # the run whose price is unknown
    assert queries.unpriced_runs(store) == 2  # "unpriced" and the crashed run
