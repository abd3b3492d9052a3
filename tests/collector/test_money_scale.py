"""Money of any currency fits the store: an IDR bill of 1.6e10 is imported, allocated,
reported and advised on exactly, on SQLite and PostgreSQL; a PostgreSQL store of 0004 keeps
its amounts when its Money columns become NUMERIC."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa

from tests.collector.billing_helpers import billed_costs, focus_row, run_amount, run_on, write_focus
from tests.collector.helpers import utc
from tests.conftest import run_xprof
from xprof import schema
from xprof.collector.allocate import allocate_store
from xprof.collector.billing.focus import import_focus
from xprof.store import Store
from xprof.storeurl import sqlite_path

BOX = "i-0123456789abcdef0"


def test_an_idr_bill_of_16e9_is_exact_everywhere(any_store_url, tmp_path):
    """Two instance hours of 8,000,000,000.5 IDR (each beyond 64-bit nano-units): stored
    exactly, allocated without losing a nano-unit, and `report` and `advise` succeed."""
    store = Store.open(any_store_url)
    env = {"XPROF_STORE": any_store_url}
    run = run_on(store, BOX, utc(2024, 9, 2, 10), 7200)
    rows = [focus_row(BOX, utc(2024, 9, 2, 10 + h), "8000000000.5", currency="IDR")
            for h in range(2)]
    import_focus(store, str(write_focus(tmp_path / "idr.csv", rows)))
    with store.read() as conn:
        items = conn.execute(sa.select(schema.billing_items.c.billed_cost)).scalars().all()
        total = conn.execute(sa.select(schema.money_sum(schema.billing_items.c.billed_cost))
                             ).scalar()
    assert items == [Decimal("8000000000.5")] * 2 and total == Decimal("16000000001")
    allocate_store(store)
    billed = run_amount(store, run)
    idle = sum((r["amount"] for r in billed_costs(store) if r["run_id"] is None), Decimal(0))
    assert billed + idle == Decimal("16000000001")  # nothing lost or added
    # the split between run and idle is computed in doubles (16 significant digits)
    assert abs(billed - Decimal("16000000001")) < Decimal("0.000001")
    assert store.run_costs([run])[run]["amount"] == billed
    report = run_xprof("report", "--from", "2024-09-01", "--to", "2024-09-07", "--format", "md",
                       "--out", str(tmp_path / "r.md"), env=env)
    assert report.returncode == 0, report.stderr
    assert "16,000,000,001" in (tmp_path / "r.md").read_text()
    advice = run_xprof("advise", run[:8], env=env)
    assert advice.returncode == 0, advice.stderr
    assert "Traceback" not in advice.stderr


def test_sums_beyond_64_bits_are_exact(any_store_url):
    """Three cost rows of 5e9 units each (each fits in 64-bit nano-units; their sum does
    not): the run's cost is their exact sum, not an integer overflow."""
    store = Store.open(any_store_url)
    run = run_on(store, BOX, utc(2024, 9, 2, 10), 3600)
    start = utc(2024, 9, 2, 10)
    with store.write() as conn:
        conn.execute(schema.costs.insert(), [
            {"kind": "run", "run_id": run, "resource_id": BOX, "source": "billed",
             "basis": "billed", "period_start": start + dt.timedelta(hours=h),
             "period_end": start + dt.timedelta(hours=h + 1),
             "amount": Decimal("5000000000.000000001"), "currency": "IDR",
             "upper_bound": False, "detail": {}, "computed_at": start} for h in range(3)])
    assert store.run_costs([run])[run]["amount"] == Decimal("15000000000.000000003")


def test_postgresql_store_of_0004_keeps_its_amounts(pg_url):
    """A 0004 store with BIGINT nano-units is upgraded to NUMERIC(38,0); amounts unchanged."""
    from alembic import command

    from xprof.migrations import _config

    assert sqlite_path(pg_url) is None
    engine = sa.create_engine(pg_url)
    old = sa.MetaData()
    for table in schema.metadata.tables.values():
        if table.name in ("run_rollups", "rollup_counts"):  # revisions 0007-0009
            continue
        columns = [sa.Column(c.name, sa.BigInteger() if isinstance(c.type, schema.Money)
                             else c.type, primary_key=c.primary_key, nullable=c.nullable)
                   for c in table.columns if (table.name, c.name) != ("billing_items", "tags")]
        sa.Table(table.name, old, *columns)
    start = utc(2024, 9, 2, 10)
    with engine.begin() as conn:
        old.create_all(conn)
        command.stamp(_config(conn), "0004")
        conn.execute(old.tables["costs"].insert().values(
            kind="idle", resource_id=BOX, source="billed", basis="billed", period_start=start,
            period_end=start, amount=4_120_000_001, currency="USD", upper_bound=False,
            detail={}, computed_at=start))
    engine.dispose()
    db = Store.open(pg_url)
    assert db.revision() == schema.SCHEMA_REVISION
    kinds = {c["name"]: str(c["type"]) for c in sa.inspect(db.engine).get_columns("costs")}
    assert kinds["amount"] == "NUMERIC(38, 0)"
    with db.read() as conn:
        assert conn.execute(sa.select(schema.costs.c.amount)).scalar() == Decimal("4.120000001")
