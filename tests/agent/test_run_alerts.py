"""Alert rules fire from a real `xprof run`, once each: a failed run, a metric crossing its
threshold, a run's cost passing an amount."""

from __future__ import annotations

import sys

from tests.collector.alert_servers import webhook_server

PY = sys.executable


def _config(home, url: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(f'''
[[alerts]]
rule = "run_failed"
webhook = "{url}"

[[alerts]]
rule = "metric_threshold"
metric = "loss"
op = ">"
value = 10
webhook = "{url}"

[[alerts]]
rule = "run_cost_above"
amount = 0.001
webhook = "{url}"
''')


def test_alerts_fire_once_from_the_agent(xprof, xprof_home, store):
    """A run on a $21.96/h machine whose loss diverges and which then fails: one message per
    rule, even though the agent checks at every flush."""
    with webhook_server() as hook:
        _config(xprof_home, hook.url)
        script = ("import time, xprof\nfor i in range(12):\n"
                  "    xprof.log(step=i, loss=float(i * 3))\n    time.sleep(0.2)\n"
                  "raise SystemExit(4)\n")
        result = xprof("run", "--provider", "aws", "--instance-type", "p4d.24xlarge",
                       "--region", "us-east-1", "--name", "diverging", "--", PY, "-c", script,
                       env={"XPROF_FLUSH_INTERVAL": "0.3"})
        assert result.returncode == 4, result.stderr
        texts = hook.texts
    assert len(texts) == 3, texts
    assert sum("loss" in t for t in texts) == 1
    assert sum("diverging" in t and "failed" in t for t in texts) >= 1
    assert all("What to do" in t for t in texts)
    assert "s3cret" not in result.stderr
