"""A bad billing file stops its import with one line naming the file, the row and the column,
and nothing from it is stored."""

from __future__ import annotations

import csv
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from tests.collector import cur_fixture as cur
from tests.collector.billing_helpers import focus_row, hourly, item_count, write_focus
from tests.collector.helpers import utc
from xprof import schema
from xprof.collector.billing import BillingInputError
from xprof.collector.billing.aws_cur import import_cur
from xprof.collector.billing.focus import import_focus

BOX = "i-0e1f2a3b4c5d6e7f8"


def _rows():
    return hourly(BOX, utc(2024, 9, 2, 10), 4, "3.06")


def _imports(store) -> int:
    with store.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(schema.imports)).scalar()


def _fails(store, path, pattern):
    with pytest.raises(BillingInputError) as info:
        import_focus(store, str(path))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path)), message
    assert pattern in message, message
    assert item_count(store) == 0 and _imports(store) == 0
    return message


@pytest.mark.parametrize(("column", "value", "expected"), [
    ("ChargePeriodStart", "2024-13-45 25:00", "data row 3, column ChargePeriodStart: "
                                              "not a date/time ('2024-13-45 25:00')"),
    ("BilledCost", "12,50", "data row 3, column BilledCost: not an amount of money ('12,50')"),
    ("BillingCurrency", "USX", "data row 3, column BillingCurrency: unknown currency ('USX')"),
    ("ChargeCategory", "Refund", "data row 3, column ChargeCategory: not one of adjustment, "
                                 "credit, purchase, tax, usage ('Refund')"),
    ("BilledCost", "NULL", "data row 3, column BilledCost: empty"),
])
def test_bad_value_names_file_row_and_column(store, tmp_path, column, value, expected):
    """An unparsable date, a non-numeric cost, an unknown currency, an unknown category or a
    missing cost on the third data row is reported as such, and nothing is imported."""
    rows = _rows()
    rows[2][column] = value
    path = write_focus(tmp_path / "bad.csv", rows)
    assert _fails(store, path, expected) == f"{path}: {expected}"


def test_missing_column(store, tmp_path):
    """A file without a required column is refused at its header."""
    path = tmp_path / "no-cost.csv"
    rows = _rows()
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=[k for k in rows[0] if k != "BilledCost"])
        writer.writeheader()
        writer.writerows([{k: v for k, v in r.items() if k != "BilledCost"} for r in rows])
    _fails(store, path, "header row: missing column BilledCost")


def test_period_ending_before_it_starts(store, tmp_path):
    """A charge period that ends before it starts is named by its end column."""
    rows = _rows()
    rows[1]["ChargePeriodEnd"] = "2024-09-02 09:00:00"
    path = write_focus(tmp_path / "backwards.csv", rows)
    _fails(store, path, "data row 2, column ChargePeriodEnd: the charge period ends before it "
                        "starts")


def test_one_bad_file_keeps_its_whole_delivery_out(store, tmp_path):
    """In a folder of two files, a bad second file means neither is imported."""
    write_focus(tmp_path / "export" / "part-1.csv", _rows())
    bad = _rows()
    bad[0]["BilledCost"] = "abc"
    write_focus(tmp_path / "export" / "part-2.csv", bad)
    with pytest.raises(BillingInputError, match=r"part-2\.csv: data row 1, column BilledCost"):
        import_focus(store, str(tmp_path / "export"))
    assert item_count(store) == 0


def test_bad_parquet_cost(store, tmp_path):
    """A CUR Parquet file with a text cost that is not a number names its row and column."""
    items = cur.line_items()
    table = pa.table({name: pa.array([None if row[name] is None else str(row[name])
                                      for row in items], pa.string()) for name in items[0]})
    costs = table.column("line_item_unblended_cost").to_pylist()
    costs[4] = "n/a"
    table = table.set_column(table.schema.get_field_index("line_item_unblended_cost"),
                             "line_item_unblended_cost", pa.array(costs, pa.string()))
    path = tmp_path / "cur" / "BILLING_PERIOD=2024-09" / "part-00001.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(table, path)
    with pytest.raises(BillingInputError) as info:
        import_cur(store, str(tmp_path / "cur"))
    assert str(info.value) == (f"{path}: data row 5, column line_item_unblended_cost: not an "
                               "amount of money ('n/a')")
    assert item_count(store) == 0


def test_not_a_csv(store, tmp_path):
    """A file that is not CSV at all is refused in one line."""
    path = tmp_path / "export.csv"
    path.write_bytes(b"\x00\x01\x02 binary \xff\xfe")
    with pytest.raises(BillingInputError) as info:
        import_focus(store, str(path))
    assert str(info.value).startswith(str(path)) and "\n" not in str(info.value)
    assert item_count(store) == 0


def test_untidy_but_valid_values_are_accepted(store, tmp_path):
    """Zone offsets, lower-case enumerations and currencies, 'null' and blanks are fine."""
    rows = [focus_row(BOX, utc(2024, 9, 2, 10), "1.5", category="usage", currency="usd"),
            focus_row(BOX, utc(2024, 9, 2, 11), "2", list_cost="", effective="null")]
    rows[1]["ChargePeriodStart"] = "2024-09-02T13:00:00+02:00"
    rows[1]["ChargePeriodEnd"] = "2024-09-02T12:00:00Z"
    import_focus(store, str(write_focus(tmp_path / "untidy.csv", rows)))
    with store.read() as conn:
        items = conn.execute(sa.select(schema.billing_items)
                             .order_by(schema.billing_items.c.charge_period_start)).mappings().all()
    assert [i["currency"] for i in items] == ["USD", "USD"]
    assert items[1]["charge_period_start"] == utc(2024, 9, 2, 11)
    assert (items[1]["list_cost"], items[1]["effective_cost"]) == (None, None)
    assert items[0]["billed_cost"] == Decimal("1.5")


@pytest.mark.parametrize("short", ["truncated", "ragged"])
def test_short_row_is_named_by_its_line(store, tmp_path, short):
    """A file cut mid-row, or with a row of too few fields, names that row's line (not a
    missing column of the header), and nothing is imported."""
    path = write_focus(tmp_path / f"{short}.csv", hourly(BOX, utc(2024, 9, 2, 10), 6, "3.06"))
    lines = path.read_text().splitlines(keepends=True)
    if short == "truncated":
        path.write_text("".join(lines[:5]) + lines[5][:40])  # cut inside data row 5 (line 6)
    else:
        path.write_text("".join(lines[:3]) + "i-0e1f,3.06\n" + "".join(lines[4:]))
    line = 6 if short == "truncated" else 4
    columns = len(lines[0].split(","))
    message = _fails(store, path, f"line {line}: ")
    assert "missing column" not in message
    assert f"where the header has {columns}" in message
