"""`xprof report` writes a dated file for the last full ISO week by default and prints its
path; --tz moves the week's boundaries; --project narrows it; bad input is one line, exit 2,
and nothing is written."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from tests.dashboard.report_helpers import Expected, run_report
from tests.dashboard.report_seed import W47, W48


def test_default_is_last_full_week_as_html_here(report_store, tmp_path, monkeypatch) -> None:
    """Without flags and nothing recent: the last ISO week that has ended, HTML, in the
    current folder; the terminal says it is empty."""
    monkeypatch.chdir(tmp_path)
    today = dt.datetime.now(dt.UTC).date()
    year, week, _ = (today - dt.timedelta(days=7)).isocalendar()
    result = run_report("--store", report_store.url)
    assert result.exit_code == 0, result.output
    path = tmp_path / f"xprof-report-{year}-W{week:02d}.html"
    first, *summary = result.output.splitlines()
    assert first == str(path)
    assert summary[0].strip().startswith(f"No runs and no spend recorded in {year}-W{week:02d}")
    assert path.read_text().startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


def test_time_zone_moves_the_week(report_store) -> None:
    """In New York, W47 starts at 05:00 UTC: the run started Monday 02:00 UTC falls in W46."""
    utc = json.loads(run_report("--week", "2026-W47", "--format", "json", "--out", "-",
                                "--store", report_store.url).output)
    ny = json.loads(run_report("--week", "2026-W47", "--format", "json", "--out", "-",
                               "--tz", "America/New_York", "--store", report_store.url).output)
    assert ny["period"]["start"] == "2026-11-16T00:00:00-05:00"
    total = {d["period"]["tz"]: {t["currency"]: Decimal(t["total"]) for t in d["totals"]}
             for d in (utc, ny)}
    assert total["UTC"]["USD"] - total["America/New_York"]["USD"] == Decimal("0.17")
    assert "early-monday" not in [r["name"] for r in ny["top_runs"]]


def test_project_report(report_store, tmp_path, monkeypatch) -> None:
    """--project: only that project's spend (idle cost belongs to none), named in the file."""
    monkeypatch.chdir(tmp_path)
    result = run_report("--week", "2026-W47", "--project", "nlp", "--format", "json",
                        "--store", report_store.url)
    assert result.exit_code == 0, result.output
    path = tmp_path / "xprof-report-2026-W47-nlp.json"
    data = json.loads(path.read_text())
    want = sum(Decimal(r["amount"]) / 10**9 for r in Expected(report_store.path).counted(W47, W48)
               if r["project"] == "nlp" and r["amount"] is not None)
    assert [(t["currency"], Decimal(t["total"]), Decimal(t["idle"])) for t in data["totals"]] \
        == [("EUR", want, Decimal(0))]
    assert data["idle"] == [] and {e["project"] for e in data["efficiency"]} == {"nlp"}


def test_range_of_days(report_store) -> None:
    """--from/--to include both days; the previous period is as long, just before."""
    data = json.loads(run_report("--from", "2026-11-17", "--to", "2026-11-18", "--format",
                                 "json", "--out", "-", "--store", report_store.url).output)
    assert data["period"]["label"] == "2026-11-17 to 2026-11-18"
    assert data["previous"]["label"] == "2026-11-15 to 2026-11-16"
    assert {r["name"] for r in data["top_runs"]} == {"sweep-a", "sweep-b", "lonely",
                                                     "cpu-on-gpu"}


@pytest.mark.parametrize(("args", "words"), [
    (["--from", "2026-11-01"], "--from and --to go together"),
    (["--from", "2026-11-31", "--to", "2026-12-01"], "--from '2026-11-31'"),
    (["--from", "2026-11-10", "--to", "2026-11-01"], "is before --from"),
    (["--week", "2026-W60"], "has no ISO week 60"),
    (["--week", "last week"], "expected YYYY-Www"),
    (["--week", "2026-W47", "--from", "2026-11-01", "--to", "2026-11-02"], "exclude each other"),
    (["--tz", "Mars/Olympus"], "unknown time zone 'Mars/Olympus'"),
    (["--mail", "ops@example.com"], "--mail needs an SMTP server"),
    (["--mail", "not-an-address"], "--mail 'not-an-address'"),
    (["--post", "ftp://example.com/x"], "--post: expected an http"),
    (["--format", "pdf"], "'pdf' is not one of"),
])
def test_bad_input_is_one_line_and_writes_nothing(report_store, tmp_path, monkeypatch, args,
                                                  words) -> None:
    """Bad flags: one line naming the problem, exit 2, no file in the folder."""
    monkeypatch.chdir(tmp_path)
    result = run_report(*args, "--store", report_store.url)
    assert result.exit_code == 2, result.output
    assert words in result.output and result.output.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_unknown_project(report_store, tmp_path, monkeypatch) -> None:
    """--project naming no project is bad input that lists the projects there are."""
    monkeypatch.chdir(tmp_path)
    result = run_report("--project", "visoin", "--store", report_store.url)
    assert result.exit_code == 2 and list(tmp_path.iterdir()) == []
    assert result.output == ("xprof: error: --project 'visoin': no such project (projects: "
                             "nlp, vision)\n")
