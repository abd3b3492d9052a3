"""Project budgets: the period's spend counts billed or estimated costs, running runs so far
and only the part of a run inside the period; `xprof collect` alerts once when a budget is
exceeded and once when the current rate is forecast to exceed it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from tests.collector.alert_helpers import sent_rows, settings_with, stored_run
from tests.collector.alert_servers import smtp_server, webhook_server
from tests.conftest import run_xprof
from xprof.alert_rules import Budget
from xprof.alerts import BudgetStatus, forecast, period_bounds
from xprof.collector.collect import collect_alerts
from xprof.collector.collect_alerts import budget_status
from xprof.collector.estimate import estimate_run

NOW = dt.datetime(2026, 11, 13, 12, 0, tzinfo=dt.UTC)  # 12.5 days into November
RATE = {"offcloud_rate": 36.0}  # $36 an hour: $0.01 a second


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


@pytest.fixture
def november(store):
    """Runs of project vision in November 2026 worth $324 by NOW, and others that do not
    count."""
    settings = settings_with([], **RATE)
    for started, hours, project in ((at(2026, 11, 2, 10), 5, "vision"),   # $180
                                    (at(2026, 11, 10), 2, "vision"),      # $72
                                    (at(2026, 10, 31, 23), 2, "vision"),  # half inside: $36
                                    (at(2026, 10, 20), 10, "vision"),     # October: $0
                                    (at(2026, 11, 5), 10, "nlp")):        # other project
        run = stored_run(store, started_at=started, duration_s=hours * 3600.0,
                         project=project)
        estimate_run(store, run["id"], settings)
    stored_run(store, started_at=at(2026, 11, 13, 11), duration_s=None, status="running",
               heartbeat_at=NOW)  # running for an hour at NOW: $36 so far
    return store


def test_spend_counts_the_period_share_and_running_runs(november):
    """$180 + $72 + half of $72 + $36 so far = $324; October and project nlp do not count."""
    status = budget_status(november, settings_with([], **RATE),
                           Budget("vision", "month", Decimal(500)), NOW)
    assert status.spent == Decimal(324)
    assert (status.start, status.end) == (at(2026, 11, 1), at(2026, 12, 1))
    assert status.runs == 4 and status.running == 1 and status.unpriced == 0
    assert status.forecast == Decimal("777.60")  # 324 × 30 days / 12.5 days


def test_forecast_to_exceed_alerts_once(november):
    """A $500 budget with $324 spent and $777.60 forecast sends one 'on course' alert."""
    with webhook_server() as web, smtp_server() as smtp:
        rule = {"rule": "project_budget", "project": "vision", "webhook": web.url,
                "mail": "lead@example.com"}
        settings = settings_with([rule], smtp, budgets=[
            {"project": "vision", "period": "month", "amount": 500}], **RATE)
        results = [collect_alerts(november, settings, {"now": NOW}) for _ in range(3)]
    assert [r.data["sent"] for r in results] == [2, 0, 0]
    assert results[2].data["already"] == 2
    assert len(web.posts) == 1 and len(smtp.messages) == 1
    text = web.texts[0]
    assert "on course to exceed its monthly budget: forecast $777.60 of $500.00" in text
    assert "has spent $324.00 in the first 12.5 days" in text and "What to do:" in text
    assert results[0].data["budgets"][0]["forecast_exceeds"] is True
    assert "vision month: $324.00 of $500.00 (65%), forecast $777.60" in results[0].summary
    assert [r["subject"] for r in sent_rows(november)] == ["vision/month/2026-11-01/forecast"] * 2


def test_exceeded_alerts_once_per_period(november):
    """A $300 budget with $324 spent sends one 'over its budget' alert, and none again."""
    with webhook_server() as web:
        rule = {"rule": "project_budget", "project": "vision", "period": "month",
                "amount": 300, "webhook": web.url}
        settings = settings_with([rule], **RATE)
        for _ in range(2):
            collect_alerts(november, settings, {"now": NOW})
    assert len(web.posts) == 1
    assert "project vision is over its monthly budget: $324.00 of $300.00" in web.texts[0]
    assert "(108%)" in web.texts[0]


def test_no_forecast_on_the_first_day():
    """Hours into a period, one run is not extrapolated over the whole period."""
    start, end = period_bounds("month", at(2026, 11, 1, 9))
    status = BudgetStatus(Budget("vision", "month", Decimal(500)), start, end,
                          at(2026, 11, 1, 9), Decimal(100))
    assert status.forecast is None and not status.forecast_exceeds
    assert forecast(Decimal(100), start, end, at(2026, 11, 2)) == Decimal(3000)


def test_weeks_start_on_monday_utc():
    """2026-11-13 is a Friday: its week runs from Monday 9 to Monday 16 November."""
    assert period_bounds("week", NOW) == (at(2026, 11, 9), at(2026, 11, 16))
    assert period_bounds("month", at(2026, 12, 31, 23)) == (at(2026, 12, 1), at(2027, 1, 1))


def test_xprof_collect_sends_a_budget_alert_once(store, xprof_home):
    """Through the real `xprof collect` (run twice): one webhook post and one mail when the
    project is over its budget this month."""
    now = dt.datetime.now(dt.UTC)
    started = max(period_bounds("month", now)[0], now - dt.timedelta(seconds=40))
    stored_run(store, started_at=started, duration_s=(now - started).total_seconds() - 1)
    with webhook_server() as web, smtp_server() as smtp:
        (xprof_home / "config.toml").write_text(
            f'[report]\nsmtp_host = "127.0.0.1"\nsmtp_port = {smtp.port}\n'
            'smtp_starttls = false\n\n'
            f'[[alerts]]\nrule = "project_budget"\nwebhook = "{web.url}"\n'
            'mail = "lead@example.com"\n\n'
            '[[budgets]]\nproject = "vision"\nperiod = "month"\namount = 10\n')
        env = {"XPROF_OFFCLOUD_RATE": "3600"}  # $1 a second
        first = run_xprof("collect", env=env)
        second = run_xprof("collect", env=env)
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert "alerts: 2 sent, 0 already sent; budgets: vision month:" in first.stdout
    assert "alerts: 0 sent, 2 already sent" in second.stdout
    assert len(web.posts) == 1 and len(smtp.messages) == 1
    assert "project vision is over its monthly budget" in web.texts[0]
    assert smtp.recipients == [["lead@example.com"]]
    assert "s3cret" not in first.stdout + first.stderr
