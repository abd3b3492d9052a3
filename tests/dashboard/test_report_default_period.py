"""`xprof report` without a period on day one: the last full week when it has runs or spend,
else this week so far, saying which; the terminal gets a short summary beside the path, with
sub-cent amounts shown to two significant digits (the total never rounder than its rows)."""

from __future__ import annotations

import datetime as dt

from tests.dashboard.report_helpers import parse_html, run_report
from tests.dashboard.subcent_seed import seed_subcent
from xprof.store import Store


def _store(tmp_path, started: dt.datetime | None = None) -> str:
    url = f"sqlite:///{tmp_path / 'xprof.db'}"
    store = Store.open(url)
    seed_subcent(store, started)
    store.engine.dispose()
    return url


def test_day_one_reports_this_week_so_far(tmp_path, monkeypatch) -> None:
    """Runs only this week: the report covers this week so far and says why; the terminal
    summary has the total by currency, the run count and the top spender."""
    url = _store(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = run_report("--store", url)
    assert result.exit_code == 0, result.output
    year, week, _ = dt.datetime.now(dt.UTC).date().isocalendar()
    first, *summary = result.output.splitlines()
    path = tmp_path / f"xprof-report-{year}-W{week:02d}-so-far.html"
    assert first == str(path) and path.exists()
    assert summary[0].strip().startswith(f"{year}-W{week:02d} so far: ")
    assert "this week so far" in summary[0] and "has no runs or spend" in summary[0]
    assert summary[1].strip() == "Total $0.011 · 3 run(s)"
    assert summary[2].strip() == "Top spender: mid-lr (mnist) $0.0055"
    page = parse_html(path.read_text())
    assert any("Total $0.011 (billed $0.00, estimated $0.011" in p for p in page.paragraphs)
    assert not any("No runs and no spend" in p for p in page.paragraphs)


def test_last_full_week_when_it_has_data(tmp_path, monkeypatch) -> None:
    """Runs in the last full week: that week, as before, labelled the last full week."""
    now = dt.datetime.now(dt.UTC)
    url = _store(tmp_path, now - dt.timedelta(days=now.weekday() + 4))
    monkeypatch.chdir(tmp_path)
    result = run_report("--store", url)
    assert result.exit_code == 0, result.output
    year, week, _ = (now.date() - dt.timedelta(days=7)).isocalendar()
    first, *summary = result.output.splitlines()
    assert first == str(tmp_path / f"xprof-report-{year}-W{week:02d}.html")
    assert summary[0].strip().endswith("(UTC), the last full week")
    assert summary[1].strip() == "Total $0.011 · 3 run(s)"
