"""`xprof collect --focus FILE` imports the export, bills the runs on it and replaces their
estimate as their cost; a malformed export is a one-line error, exit 2, nothing imported."""

from __future__ import annotations

import sqlalchemy as sa

from tests.collector.billing_helpers import FOCUS_SAMPLE, run_on
from tests.collector.helpers import utc
from tests.conftest import run_xprof
from xprof import schema


def test_collect_with_a_focus_export(store):
    """The real FOCUS sample: the run on i-081360af1l266l589 for half an hour is billed $0.17,
    and that billed cost is what `xprof ls` shows."""
    run_id = run_on(store, "i-081360af1l266l589", utc(2024, 9, 26, 0, 15), 1800)
    done = run_xprof("collect", "--focus", str(FOCUS_SAMPLE))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("billing: 1,000 item(s) imported")
    cost = store.run_costs([run_id])[run_id]
    assert (cost["source"], str(cost["amount"])) == ("billed", "0.17")
    again = run_xprof("collect", "--focus", str(FOCUS_SAMPLE))
    assert again.returncode == 0 and "unchanged export(s) skipped" in again.stdout


def test_collect_rejects_a_malformed_export(store, tmp_path):
    """A FOCUS file with a non-numeric cost names file, row and column; nothing is stored."""
    lines = FOCUS_SAMPLE.read_text().splitlines()
    header = lines[0].split(",")
    column = header.index('"BilledCost"')
    row = lines[5].split(",")
    row[column] = "abc"
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join([lines[0], *lines[1:5], ",".join(row), *lines[6:10]]) + "\n")
    done = run_xprof("collect", "--focus", str(bad))
    assert done.returncode == 2, done.stdout + done.stderr
    errors = [line for line in done.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "bad.csv" in errors[0] and "BilledCost" in errors[0]
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.billing_items)
                            ).scalar() == 0
