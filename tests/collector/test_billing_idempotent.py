"""Importing the same export twice changes nothing: not the items, not the allocation."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from tests.collector.billing_helpers import (
    FOCUS_SAMPLE,
    conservation_errors,
    item_count,
    run_amount,
    run_on,
)
from tests.collector.helpers import utc
from xprof import schema
from xprof.collector.allocate import allocate_store
from xprof.collector.billing.focus import import_focus


def _snapshot(store):
    bi, c = schema.billing_items, schema.costs
    with store.read() as conn:
        items = sorted(tuple(r) for r in conn.execute(
            sa.select(*(col for col in bi.c if col.name not in ("imported_at",)))).all())
        costs = sorted((r.kind, r.run_id or "", r.resource_id, r.basis, r.amount, r.currency,
                        r.period_start) for r in conn.execute(sa.select(c)).all())
    return items, costs


def test_second_import_of_the_same_export_changes_nothing(store):
    """The unchanged file is skipped; read again on purpose, every row is recognised."""
    run_on(store, "i-081360af1l266l589", utc(2024, 9, 26, 0, 15), 1800)
    first = import_focus(store, str(FOCUS_SAMPLE))
    allocate_store(store, first.keys)
    before = _snapshot(store)
    skipped = import_focus(store, str(FOCUS_SAMPLE))
    assert (skipped.groups_skipped, skipped.rows, skipped.changed) == (1, 0, 0)
    forced = import_focus(store, str(FOCUS_SAMPLE), force=True)
    assert (forced.rows, forced.inserted, forced.updated, forced.deleted) == (1000, 0, 0, 0)
    assert forced.keys == set()
    allocate_store(store)
    assert _snapshot(store) == before
    assert item_count(store) == 1000


def test_a_copy_under_another_name_is_not_billed_twice(store, tmp_path):
    """The same export configured twice (two sources) bills each hour once."""
    run = run_on(store, "i-081360af1l266l589", utc(2024, 9, 26, 0, 15), 1800)
    copy = tmp_path / "copy.csv"
    copy.write_bytes(FOCUS_SAMPLE.read_bytes())
    import_focus(store, str(FOCUS_SAMPLE))
    import_focus(store, str(copy))
    assert item_count(store) == 2000
    allocate_store(store)
    assert run_amount(store, run) == Decimal("0.17")
    assert conservation_errors(store) == []


def test_a_copy_in_the_same_folder_is_skipped_and_said(store, tmp_path):
    """The real FOCUS sample twice in one folder: each line item once, the same bill as one
    copy, and the import says how many duplicate rows it skipped."""
    run = run_on(store, "i-081360af1l266l589", utc(2024, 9, 26, 0, 15), 1800)
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "focus.csv").write_bytes(FOCUS_SAMPLE.read_bytes())
    (folder / "focus (copy).csv").write_bytes(FOCUS_SAMPLE.read_bytes())
    said: list[str] = []
    result = import_focus(store, str(folder), echo=said.append)
    assert (result.rows, result.inserted) == (1000, 1000)
    assert item_count(store) == 1000
    assert result.extra["duplicates"] == 1000
    [line] = [s for s in said if "duplicate" in s]
    assert "1,000 duplicate row(s)" in line and "focus (copy).csv" in line
    allocate_store(store)
    assert run_amount(store, run) == Decimal("0.17")
    assert conservation_errors(store) == []


def test_exact_duplicate_rows_of_one_file_count_once(store, tmp_path):
    """A row repeated verbatim in one file is one line item; a row of the same resource and
    hour with another amount is a separate item and counts."""
    from tests.collector.billing_helpers import focus_row, write_focus

    row = focus_row("i-0aa", utc(2024, 9, 2, 10), "3.06")
    other = focus_row("i-0aa", utc(2024, 9, 2, 10), "1.00")
    path = write_focus(tmp_path / "dup.csv", [row, dict(row), other])
    result = import_focus(store, str(path))
    assert (item_count(store), result.extra["duplicates"]) == (2, 1)
    with store.read() as conn:
        costs = conn.execute(sa.select(schema.billing_items.c.billed_cost)).scalars().all()
    assert sorted(costs) == [Decimal("1"), Decimal("3.06")]


def test_collect_says_what_it_skipped(store, tmp_path):
    """`xprof collect` on a folder holding the sample and its copy bills the run once
    ($0.17, as with one copy) and its summary line names the skipped duplicates."""
    from tests.conftest import run_xprof

    run_id = run_on(store, "i-081360af1l266l589", utc(2024, 9, 26, 0, 15), 1800)
    folder = tmp_path / "exports"
    folder.mkdir()
    for name in ("part-1.csv", "part-1 copy.csv"):
        (folder / name).write_bytes(FOCUS_SAMPLE.read_bytes())
    done = run_xprof("collect", "--focus", str(folder))
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith("billing: 1,000 item(s) imported"), first
    assert "1,000 duplicate row(s) skipped" in first
    cost = store.run_costs([run_id])[run_id]
    assert (cost["source"], str(cost["amount"])) == ("billed", "0.17")
