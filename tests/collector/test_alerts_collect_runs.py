"""`xprof collect` sends the run alerts no agent could (a crashed agent, a machine without the
rules), once, and leaves alone what an agent already sent and runs older than the lookback."""

from __future__ import annotations

import datetime as dt

from tests.collector.alert_helpers import sent_rows, settings_with, stored_run
from tests.collector.alert_servers import webhook_server
from xprof.agent.run_alerts import RunAlerts
from xprof.collector.collect import collect_alerts
from xprof.collector.estimate import estimate_run

NOW = dt.datetime(2026, 11, 13, 12, 0, tzinfo=dt.UTC)
HOUR = dt.timedelta(hours=1)


def test_failed_and_crashed_runs_alert_once(store):
    """A failed run and a crashed run of the last two days alert once each; a finished run,
    a failure three days old and one the agent already reported do not."""
    failed = stored_run(store, started_at=NOW - 3 * HOUR, duration_s=3600.0, status="failed",
                        exit_code=2, name="failed-one")
    crashed = stored_run(store, started_at=NOW - 2 * HOUR, duration_s=None, status="running",
                         heartbeat_at=NOW - 0.5 * HOUR, name="crashed-one")
    stored_run(store, started_at=NOW - 3 * HOUR, duration_s=3600.0, name="fine-one")
    stored_run(store, started_at=NOW - 80 * HOUR, duration_s=60.0, status="failed",
               exit_code=1, name="old-failure")
    reported = stored_run(store, started_at=NOW - 2 * HOUR, duration_s=60.0, status="failed",
                          exit_code=1, name="reported-one")
    with webhook_server() as web:
        rule = {"rule": "run_failed", "webhook": web.url}
        agent = RunAlerts.from_settings(settings_with([rule]), store)
        agent.on_end(reported, {"status": "failed", "exit_code": 1, "duration_s": 60.0})
        assert len(web.posts) == 1
        settings = settings_with([rule])
        first = collect_alerts(store, settings, {"now": NOW})
        again = collect_alerts(store, settings, {"now": NOW})
    assert first.data["sent"] == 2 and first.errors == []
    assert again.data["sent"] == 0 and again.data["already"] == 3
    assert len(web.posts) == 3
    texts = web.texts[1:]
    assert any("run failed-one" in t and "failed with exit code 2 after 1h" in t
               for t in texts)
    assert any("run crashed-one" in t and "stopped reporting at 2026-11-13 11:30 UTC" in t
               for t in texts)
    assert {r["run_id"] for r in sent_rows(store)} == {failed["id"], crashed["id"],
                                                        reported["id"]}


def test_costly_runs_alert_once_ended_or_running(store):
    """A finished run that cost $72 and a running run at $40 so far pass a $25 threshold;
    a $9 run does not."""
    settings = settings_with([], offcloud_rate=36.0)
    costly = stored_run(store, started_at=NOW - 3 * HOUR, duration_s=7200.0, name="costly")
    cheap = stored_run(store, started_at=NOW - 3 * HOUR, duration_s=900.0, name="thrifty",
                       host="gpu-box-4")  # on its own host: the two would share one machine
    for run in (costly, cheap):
        estimate_run(store, run["id"], settings)
    stored_run(store, started_at=NOW - dt.timedelta(seconds=4000), duration_s=None,
               status="running", heartbeat_at=NOW, name="still-going", host="gpu-box-5")
    with webhook_server() as web:
        settings = settings_with([{"rule": "run_cost_above", "amount": 25,
                                   "webhook": web.url}], offcloud_rate=36.0)
        for _ in range(2):
            collect_alerts(store, settings, {"now": NOW})
    assert len(web.posts) == 2
    text = "\n".join(web.texts)
    assert "run costly" in text and "cost $72.00 in 2h, above the alert threshold" in text
    assert "run still-going" in text and "has cost $40.00 so far" in text
    assert "thrifty" not in text


def test_undeliverable_alerts_are_reported_and_retried(store):
    """A webhook answering 500 makes collect report the failure; the next collect sends it."""
    stored_run(store, started_at=NOW - 2 * HOUR, duration_s=60.0, status="failed",
               exit_code=1)
    with webhook_server() as web:
        settings = settings_with([{"rule": "run_failed", "webhook": web.url}])
        web.status = 500
        failed = collect_alerts(store, settings, {"now": NOW})
        web.status = 200
        retried = collect_alerts(store, settings, {"now": NOW})
    assert failed.data["failed"] == 1 and "HTTP 500" in failed.errors[0]
    assert "s3cret" not in failed.errors[0]
    assert retried.data["sent"] == 1 and len(web.posts) == 1
