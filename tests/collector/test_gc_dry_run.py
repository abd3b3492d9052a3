"""`xprof gc --dry-run` changes nothing and predicts exactly what `xprof gc` then does; a bad
--keep-raw is one line and exit 2."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3

from tests.collector.gc_helpers import recorded_run
from tests.conftest import run_xprof


def _dump(path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return list(conn.iterdump())


def test_dry_run_changes_nothing_and_predicts_the_pass(store, xprof_home):
    """The dry run leaves every row as it was; the real pass then folds the same counts and
    the SQLite file shrinks."""
    now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)  # whole minutes
    recorded_run(store, now - dt.timedelta(days=40), 900, seed=1)
    recorded_run(store, now - dt.timedelta(days=1), 120, seed=2)
    path = xprof_home / "xprof.db"
    before = _dump(path)

    dry = run_xprof("gc", "--keep-raw", "30d", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    predicted = json.loads(dry.stdout)
    assert predicted["dry_run"] is True and predicted["runs"] == 1
    assert predicted["removed"] == {"samples": 900, "gpu_samples": 1800}
    assert predicted["rollups_added"] == {"samples_1m": 15, "gpu_samples_1m": 30}
    table = run_xprof("gc", "--keep-raw", "30d", "--dry-run")
    assert table.returncode == 0 and "nothing changed (--dry-run)" in table.stdout
    assert _dump(path) == before

    done = run_xprof("gc", "--keep-raw", "30d", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["removed"], result["rollups_added"]) == (predicted["removed"],
                                                            predicted["rollups_added"])
    assert result["bytes_after"] < result["bytes_before"]
    assert _dump(path) != before


def test_bad_keep_raw_is_one_line_exit_2(xprof_home):
    """--keep-raw 30x names the flag and the expected form, exits 2, creates no store."""
    result = run_xprof("gc", "--keep-raw", "30x")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "xprof: error: --keep-raw '30x': expected a span such as 30d, 12h, 2w or 90m"]
    assert not (xprof_home / "xprof.db").exists()
