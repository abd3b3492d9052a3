"""The run page shows one run's figures: status, duration, counted cost, objective, every
cost row, params, utilisation series and its recommendations."""

from __future__ import annotations

from tests.dashboard.helpers import frame_with, plain

PAGE = "views/run.py"


def test_billed_run_shows_cost_rows_params_and_advice(seeded, open_page) -> None:
    """mlp-gpu: $1.20 billed counted, the $1.00 estimate still listed, its GPU advice shown."""
    at = open_page(PAGE, seeded.url, run=seeded.ids["mlp-gpu"])
    metrics = {plain(m.label): m.value for m in at.metric}
    assert metrics == {"Status": "finished", "Duration": "1h", "Cost (billed)": "$1.20",
                       "val_acc (max)": "0.985"}
    cost_rows = frame_with(at, "source", "basis", "amount")
    assert sorted(zip(cost_rows["source"], cost_rows["basis"], cost_rows["amount"],
                      strict=True)) == [("billed", "billed", "$0.50"),
                                        ("billed", "billed", "$0.70"),
                                        ("billed", "effective", "$0.90"),
                                        ("estimate", "list", "$1.00")]
    params = frame_with(at, "key", "value", "source")
    assert dict(zip(params["key"], params["value"], strict=True)) == {"hidden": "512",
                                                                      "model": "mlp"}
    assert any("gpu underused on mlp-gpu" in plain(m.value) for m in at.markdown)
    assert len(at.get("vega_lite_chart")) == 1  # the utilisation + metrics timeline


def test_effective_basis_and_unpriced_states(seeded, open_page) -> None:
    """The basis picks billed rows of that basis; unpriced and unknown runs say so."""
    at = open_page(PAGE, seeded.url, run=seeded.ids["mlp-gpu"], basis="effective")
    assert {plain(m.label): m.value for m in at.metric}["Cost (billed)"] == "$0.90"
    at = open_page(PAGE, seeded.url, run=seeded.ids["unpriced"])
    assert {m.label: m.value for m in at.metric}["Cost"] == "not priced"
    assert any("Not yet priced" in plain(i.value) for i in at.info)
    at = open_page(PAGE, seeded.url, run=seeded.ids["unknown-price"])
    assert {m.label: m.value for m in at.metric}["Cost"] == "unknown"
    assert any("no price for x9.weird" in plain(c.value) for c in at.caption)
    at = open_page(PAGE, seeded.url, run=seeded.ids["crashed-run"])
    assert {m.label: m.value for m in at.metric}["Status"] == "crashed"
