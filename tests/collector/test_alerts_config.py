"""Alert rules and budgets are read from config.toml; a mistake is one line naming the file
and the table (``[[alerts]] #2``), and a command such as `xprof collect` exits 2 on it."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.conftest import run_xprof
from xprof.settings import ConfigError, Settings

GOOD = '''
[[alerts]]
rule = "run_failed"
webhook = "https://hooks.slack.com/services/T0/B0/s3cret"

[[alerts]]
rule = "run_cost_above"
amount = 25
project = "vision"
mail = ["lead@example.com", "ops@example.com"]

[[alerts]]
rule = "gpu_idle"
minutes = 30
mail = "ops@example.com"

[[alerts]]
rule = "metric_threshold"
metric = "loss"
op = ">="
value = 10
name = "loss diverged"
webhook = "https://hooks.slack.com/services/T0/B0/s3cret"

[[alerts]]
rule = "project_budget"
mail = "lead@example.com"

[[budgets]]
project = "vision"
period = "month"
amount = 500

[[budgets]]
project = "*"
period = "week"
amount = "1200.50"
'''


def test_a_full_config_is_read(xprof_home):
    """Every rule kind and two budgets come out typed: Decimal amounts, float minutes."""
    xprof_home.mkdir(parents=True)
    (xprof_home / "config.toml").write_text(GOOD)
    settings = Settings()
    rules = settings["alerts"]
    assert [r.rule for r in rules] == ["run_failed", "run_cost_above", "gpu_idle",
                                       "metric_threshold", "project_budget"]
    assert rules[0].statuses == ("failed", "crashed")
    assert rules[1].amount == Decimal(25) and rules[1].mails == ("lead@example.com",
                                                                 "ops@example.com")
    assert rules[2].minutes == 30.0
    assert (rules[3].metric, rules[3].op, rules[3].value, rules[3].key) == (
        "loss", ">=", 10.0, "loss diverged")
    assert [(b.project, b.period, b.amount) for b in settings["budgets"]] == [
        ("vision", "month", Decimal(500)), ("*", "week", Decimal("1200.50"))]


@pytest.mark.parametrize(("toml", "message"), [
    ('[[alerts]]\nrule = "run_failed"\nwebhook = "https://x.test/h"\n'
     '[[alerts]]\nrule = "gpu_idle"\nminute = 5\nmail = "a@b.test"\n',
     "[[alerts]] #2 (gpu_idle): unknown field 'minute' (expected rule, name, project, "
     "webhook, mail, minutes)"),
    ('[[alerts]]\nrule = "gpu_idle"\nmail = "a@b.test"\n',
     "[[alerts]] #1 (gpu_idle): 'minutes' is required"),
    ('[[alerts]]\nrule = "run_failed"\n',
     "[[alerts]] #1 (run_failed): give a webhook"),
    ('[[alerts]]\nrule = "run_crashed"\nmail = "a@b.test"\n',
     "[[alerts]] #1 (run_crashed): rule 'run_crashed' is not one of run_failed, "
     "run_cost_above, gpu_idle, metric_threshold, project_budget"),
    ('[[alerts]]\nrule = "run_cost_above"\namount = -3\nmail = "a@b.test"\n',
     "[[alerts]] #1 (run_cost_above): amount must be above 0"),
    ('[[alerts]]\nrule = "metric_threshold"\nmetric = "loss"\nop = "=>"\nvalue = 1\n'
     'mail = "a@b.test"\n', "op '=>' is not one of >, >=, <, <=, =="),
    ('[[alerts]]\nrule = "run_failed"\nwebhook = "hooks.slack.com/x"\n',
     "[[alerts]] #1 (run_failed): webhook must be an http:// or https:// URL"),
    ('[[alerts]]\nrule = "run_failed"\nmail = "ops"\n', "mail 'ops' is not an e-mail"),
    ('[[alerts]]\nrule = "project_budget"\nproject = "nlp"\nmail = "a@b.test"\n'
     '[[budgets]]\nproject = "vision"\nperiod = "month"\namount = 5\n',
     "[[alerts]] #1 (project_budget): no [[budgets]] entry for project 'nlp'"),
    ('[[budgets]]\nproject = "vision"\nperiod = "year"\namount = 5\n',
     "[[budgets]] #1: period 'year' is not one of week, month"),
    ('[alerts]\nrule = "run_failed"\n', "alerts must be written as [[alerts]] tables"),
])
def test_a_mistake_is_one_line_naming_file_and_table(xprof_home, toml, message):
    """Each mistake raises ConfigError: one line, the config file, the table and the fix."""
    xprof_home.mkdir(parents=True)
    path = xprof_home / "config.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as info:
        Settings()
    text = str(info.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text


def test_xprof_collect_refuses_a_bad_rule_with_exit_2(xprof_home):
    """`xprof collect` with a bad [[alerts]] table prints one line, exits 2, writes nothing."""
    xprof_home.mkdir(parents=True)
    (xprof_home / "config.toml").write_text(
        '[[alerts]]\nrule = "run_cost_above"\nwebhook = "https://x.test/h"\n')
    result = run_xprof("collect")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"xprof: error: {xprof_home / 'config.toml'}: [[alerts]] #1 (run_cost_above): "
        "'amount' is required"]
    assert result.stdout == ""
    assert not (xprof_home / "xprof.db").exists()


def test_xprof_config_hides_webhook_secrets(xprof_home):
    """`xprof config` lists the rules but shows a webhook as scheme://host only."""
    xprof_home.mkdir(parents=True)
    (xprof_home / "config.toml").write_text(GOOD)
    for args in (("config",), ("config", "--json")):
        result = run_xprof(*args)
        assert result.returncode == 0, result.stderr
        assert "webhook https://hooks.slack.com" in result.stdout
        assert "s3cret" not in result.stdout
