"""The agent's hook (RunAlerts): each run rule reaches a real webhook server and a real SMTP
server exactly once, however often the runner calls it, without ever blocking or raising."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.collector.alert_helpers import agent_run, sent_rows, settings_with
from tests.collector.alert_servers import smtp_server, webhook_server
from xprof.agent.run_alerts import RunAlerts


@pytest.fixture
def hook():
    with webhook_server() as web, smtp_server() as smtp:
        yield web, smtp


def _rules(url: str, **only: str) -> list[dict]:
    rules = [
        {"rule": "run_failed", "webhook": url, "mail": "ml-team@example.com"},
        {"rule": "run_cost_above", "amount": 25, "webhook": url, "mail": "ml-team@example.com"},
        {"rule": "gpu_idle", "minutes": 10, "webhook": url, "mail": "ml-team@example.com"},
        {"rule": "metric_threshold", "metric": "loss", "op": ">", "value": 5, "webhook": url,
         "mail": "ml-team@example.com"},
    ]
    return [dict(r, **only) for r in rules]


def _live(cost: str, idle_s: float | None, loss: float) -> dict:
    return {"cost_so_far": Decimal(cost), "currency": "USD", "gpu_idle_s": idle_s,
            "metrics": {"loss": loss, "val_acc": 0.41}}


def test_each_rule_fires_once_to_webhook_and_mail(hook, store):
    """Cost above 25, GPUs idle 15 min, loss > 5 and a failed end each send one webhook post
    and one mail, however many flushes repeat them."""
    web, smtp = hook
    alerts = RunAlerts.from_settings(settings_with(_rules(web.url), smtp), store)
    run = agent_run()
    for _ in range(5):
        alerts.on_flush(run, _live("31.20", 900.0, 7.5))
    assert alerts.wait(20)
    alerts.on_end(run, {"status": "failed", "exit_code": 1, "signal": None, "cost": Decimal(
        "33.10"), "currency": "USD", "duration_s": 1234.0, "outcome": None})
    alerts.on_end(run, {"status": "failed", "exit_code": 1, "cost": Decimal("33.10"),
                        "currency": "USD"})
    assert alerts.wait(20)

    assert len(web.posts) == 4 and len(smtp.messages) == 4
    texts = "\n".join(web.texts)
    assert "has cost $31.20, over $25.00" in texts
    assert "idle for 15m" in texts
    assert "loss = 7.5 (loss > 5)" in texts
    assert "failed with exit code 1 after 20m" in texts
    assert sorted(smtp.subjects()) == sorted(t.split("\n")[0].removeprefix("xprof: ")
                                             for t in web.texts)
    assert all(r == ["ml-team@example.com"] for r in smtp.recipients)
    for body in [*web.texts, *smtp.bodies()]:
        assert "What to do:" in body
        assert "http" not in body.split("-- \n")[0]  # link-free (the mail footer aside)
    rows = sent_rows(store)
    assert len(rows) == 8 and all(r["delivered"] for r in rows)
    assert {r["subject"] for r in rows} == {run["id"]}
    assert not any("s3cret" in r["channel"] for r in rows)  # the webhook's secret path


def test_below_the_thresholds_nothing_is_sent(hook, store):
    """Cost 20 of 25, GPUs idle 5 of 10 minutes, loss 3 and a clean exit send nothing."""
    web, smtp = hook
    alerts = RunAlerts.from_settings(settings_with(_rules(web.url), smtp), store)
    run = agent_run()
    for _ in range(3):
        alerts.on_flush(run, _live("20", 300.0, 3.0))
    alerts.on_flush(run, {"cost_so_far": None, "currency": "USD", "gpu_idle_s": None,
                          "metrics": {}})
    alerts.on_end(run, {"status": "finished", "exit_code": 0, "cost": Decimal("24.99"),
                        "currency": "USD"})
    assert alerts.wait(10)
    assert web.posts == [] and smtp.messages == [] and sent_rows(store) == []


def test_another_agent_does_not_send_it_again(hook, store):
    """Two agents of one run (one store) evaluating the same rule send one alert."""
    web, smtp = hook
    settings = settings_with(_rules(web.url)[1:2], smtp)
    first, second = (RunAlerts.from_settings(settings, store) for _ in range(2))
    run = agent_run()
    for agent in (first, second, first, second):
        agent.on_flush(run, _live("40", None, 0.1))
        assert agent.wait(20)
    assert len(web.posts) == 1 and len(smtp.messages) == 1


def test_without_a_store_each_alert_is_kept_once_in_memory(hook):
    """With no store to record it in, one agent still sends each alert once."""
    web, _smtp = hook
    alerts = RunAlerts.from_settings(settings_with(_rules(web.url, mail=[])[2:3]), None)
    run = agent_run()
    for _ in range(4):
        alerts.on_flush(run, _live("1", 1800.0, 0.1))
    assert alerts.wait(20)
    assert len(web.posts) == 1 and "idle for 30m" in web.texts[0]


def test_a_slow_or_failing_webhook_neither_blocks_nor_raises(hook, store):
    """on_flush returns while the webhook still holds the request; a 500 answer is retried
    at the next evaluation and then delivered once."""
    web, _smtp = hook
    settings = settings_with(_rules(web.url, mail=[])[1:2])
    alerts = RunAlerts.from_settings(settings, store)
    run = agent_run()
    web.hold.set()
    alerts.on_flush(run, _live("99", None, 0.0))  # returns at once: delivery is elsewhere
    assert web.arrived.wait(10) and web.posts == []
    web.hold.clear()
    web.status = 500
    web.release.set()
    assert alerts.wait(20)
    assert web.posts == [] and sent_rows(store) == []  # the failed claim was released
    web.status = 200
    alerts.on_flush(run, _live("99", None, 0.0))
    alerts.on_flush(run, _live("99", None, 0.0))
    assert alerts.wait(20)
    assert len(web.posts) == 1 and [r["delivered"] for r in sent_rows(store)] == [True]


def test_rules_of_another_project_stay_quiet(hook, store):
    """A rule scoped to project nlp ignores a run of project vision."""
    web, _smtp = hook
    alerts = RunAlerts.from_settings(settings_with(_rules(web.url, mail=[], project="nlp")),
                                     store)
    run = agent_run(project="vision")
    alerts.on_flush(run, _live("99", 9999.0, 99.0))
    alerts.on_end(run, {"status": "failed", "exit_code": 3, "cost": Decimal(99),
                        "currency": "USD"})
    assert alerts.wait(10) and web.posts == []


def test_no_run_rules_means_no_hook(store):
    """Without run rules (only a project budget, or nothing) the agent gets no hook."""
    assert RunAlerts.from_settings(settings_with([]), store) is None
    budget_only = settings_with([{"rule": "project_budget", "project": "vision",
                                  "period": "week", "amount": 10,
                                  "mail": "a@example.com"}])
    assert RunAlerts.from_settings(budget_only, store) is None


def test_once_across_agents_on_postgresql(hook, pg_url):
    """On a team PostgreSQL store, two agents evaluating the same rule send one alert."""
    from xprof.store import Store

    web, smtp = hook
    db = Store.open(pg_url)
    settings = settings_with(_rules(web.url)[0:1], smtp)
    run = agent_run()
    final = {"status": "failed", "exit_code": 137, "cost": None, "currency": "USD"}
    for _ in range(2):
        for agent in (RunAlerts.from_settings(settings, db) for _ in range(2)):
            agent.on_end(run, final)
    assert len(web.posts) == 1 and len(smtp.messages) == 1
    assert len(sent_rows(db)) == 2


def test_metrics_as_value_step_pairs(hook, store):
    """Metrics handed over as the runner keeps them, (value, step) pairs, are read too."""
    web, _smtp = hook
    alerts = RunAlerts.from_settings(settings_with(_rules(web.url, mail=[])[3:4]), store)
    alerts.on_flush(agent_run(), {"cost_so_far": None, "currency": "USD", "gpu_idle_s": None,
                                  "metrics": {"loss": (12.0, 1200), "val_acc": (0.2, 1200)}})
    assert alerts.wait(10) and len(web.posts) == 1 and "loss = 12 (loss > 5)" in web.texts[0]
