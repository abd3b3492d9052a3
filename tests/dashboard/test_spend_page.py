"""The spend page totals run cost per currency (billed part shown), idle cost on its own,
and breaks it down by day, project, instance type and user."""

from __future__ import annotations

from tests.dashboard.helpers import frame_with

PAGE = "views/spend.py"


def test_totals_per_currency_and_idle_apart(seeded, open_page) -> None:
    """USD runs cost $16.69 ($1.20 billed), EUR €5.00, idle $0.80, never added together."""
    at = open_page(PAGE, seeded.url)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Run cost (USD)"] == "$16.69"
    assert metrics["of which billed (USD)"] == "$1.20"
    assert metrics["Idle cost (USD)"] == "$0.80"
    assert metrics["Run cost (EUR)"] == "€5.00"
    assert metrics["Idle cost (EUR)"] == "—"
    assert any("2 run(s) not yet priced" in c.value for c in at.caption)


def test_breakdowns_by_project_day_and_instance(seeded, open_page) -> None:
    """Each breakdown row holds one currency; totals match the runs' counted costs."""
    at = open_page(PAGE, seeded.url)
    project = frame_with(at, "project", "total")
    assert sorted(zip(project["project"], project["currency"], project["total"],
                      strict=True)) == [("digits", "USD", "$1.69"), ("lm", "EUR", "€5.00"),
                                        ("lm", "USD", "$15.00")]
    day = frame_with(at, "day", "total")
    assert [(str(d), c, t) for d, c, t in zip(day["day"], day["currency"], day["total"],
                                              strict=True)] == [
        ("2025-03-03", "USD", "$0.45"), ("2025-03-04", "USD", "$1.24"),
        ("2025-03-05", "EUR", "€5.00"), ("2025-03-05", "USD", "$15.00")]
    instance = frame_with(at, "instance_type", "total").set_index("instance_type")
    assert instance.loc["g5.xlarge", "total"] == "$4.20"  # mlp-gpu billed 1.20 + lm-small 3.00
    idle = frame_with(at, "resource_id", "amount")
    assert idle["amount"].tolist() == ["$0.80"]
    at = open_page(PAGE, seeded.url, **{"from": "2025-03-05", "until": "2025-03-05"})
    assert {m.label: m.value for m in at.metric}["Run cost (USD)"] == "$15.00"
