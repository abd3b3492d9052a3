"""The recommendations page totals the open saving per currency and lets the user dismiss or
mark one done: the only write the dashboard makes."""

from __future__ import annotations

import sqlalchemy as sa

from tests.dashboard.helpers import frame_with
from xprof import schema
from xprof.store import Store

PAGE = "views/recommendations.py"


def _status(url: str) -> dict[str, str]:
    rec = schema.recommendations
    with Store.open(url).read() as conn:
        return dict(conn.execute(sa.select(rec.c.rule, rec.c.status)).all())


def test_open_saving_totals_by_rule_and_project(seeded, open_page) -> None:
    """Open advice saves $18.00 + $2.70 + $150.00 a month; the dismissed one is not counted."""
    at = open_page(PAGE, seeded.url)
    assert [(m.label, m.value) for m in at.metric] == [
        ("Potential saving per month (USD)", "$170.70")]
    by_rule = frame_with(at, "rule", "saving_per_month")
    assert by_rule["rule"].tolist() == ["idle_gpus", "gpu_underused", "spot_candidate"]
    assert by_rule["saving_per_month"].tolist() == ["$150.00", "$18.00", "$2.70"]
    by_project = frame_with(at, "project", "saving_per_month").set_index("project")
    assert by_project["saving_per_month"].to_dict() == {"lm": "$150.00", "digits": "$20.70"}


def test_dismiss_and_mark_done_write_the_status(fresh, open_page) -> None:
    """Dismiss moves the advice out of the open total and into the store as dismissed."""
    at = open_page(PAGE, fresh.url)
    dismiss = next(b for b in at.button if b.label == "Dismiss")  # largest saving: idle_gpus
    dismiss.click().run()
    assert [(m.label, m.value) for m in at.metric] == [
        ("Potential saving per month (USD)", "$20.70")]
    assert _status(fresh.url)["idle_gpus"] == "dismissed"
    next(b for b in at.button if b.label == "Mark done").click().run()
    assert _status(fresh.url)["gpu_underused"] == "done"
    assert [(m.label, m.value) for m in at.metric] == [
        ("Potential saving per month (USD)", "$2.70")]
