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
