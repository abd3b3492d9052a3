"""The agent's alerts: run rules evaluated on every flush and at the end, sent in the background.

The runner's writer thread calls :meth:`RunAlerts.on_flush` after each flush and
:meth:`RunAlerts.on_end` once the run is over. Evaluation is pure and quick
(:mod:`xprof.alerts`); claiming and delivering happen on one daemon thread, each delivery
with a short timeout, so a slow webhook or mail server never holds the training up. Neither
method raises. ``on_end`` waits at most ``END_WAIT_S`` for the alerts it queued (a failed
run's alert should leave before the agent exits); whatever is not delivered by then is
left to ``xprof collect``.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
from collections.abc import Mapping
from typing import Any

from xprof.alert_rules import RUN_RULES, Alert, AlertRule
from xprof.alert_sender import AlertSender
from xprof.alerts import end_alerts, live_alerts

log = logging.getLogger("xprof.alerts")
END_WAIT_S = 6.0


class RunAlerts:
    """Run alert rules for one run."""

    def __init__(self, rules: tuple[AlertRule, ...], sender: AlertSender) -> None:
        self.rules = rules
        self.sender = sender
        self._queue: queue.Queue[Alert] = queue.Queue()
        self._pending = 0
        self._queued: set[tuple[str, str]] = set()  # (rule key, subject) waiting or in flight
        self._idle = threading.Condition()
        self._thread: threading.Thread | None = None
        self._warned: set[str] = set()

    @classmethod
    def from_settings(cls, settings: Any, store: Any | None) -> RunAlerts | None:
        """Alerts of the configured run rules; None when there are none."""
        try:
            rules = tuple(r for r in settings["alerts"] if r.rule in RUN_RULES)
        except Exception as exc:  # settings are validated up front; never fail a run here
            log.warning("alerts are off: %s", exc)
            return None
        if not rules:
            return None
        return cls(rules, AlertSender(settings, store))

    # -- called by the runner -----------------------------------------------------------------
    def on_flush(self, run: Mapping[str, Any], live: Mapping[str, Any]) -> None:
        """Check the live figures of a running run; queue what fires (never raises)."""
        try:
            self._submit(live_alerts(self.rules, run, live, dt.datetime.now(dt.UTC)))
        except Exception as exc:
            self._warn("flush", f"alerts: could not evaluate the run's rules: {exc}")

    def on_end(self, run: Mapping[str, Any], final: Mapping[str, Any]) -> None:
        """Check the run's final status, cost and metrics; wait briefly for the queue to
        empty (never raises)."""
        try:
            self._submit(end_alerts(self.rules, run, final))
        except Exception as exc:
            self._warn("end", f"alerts: could not evaluate the run's rules: {exc}")
        self.wait(END_WAIT_S)

    def wait(self, timeout: float) -> bool:
        """Wait until every queued alert was handled, at most ``timeout`` s; True if done."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    # -- internals ----------------------------------------------------------------------------
    def _warn(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message)

    def _submit(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            ident = (alert.rule.key, alert.subject)
            if ident in self._queued or self.sender.seen(alert):
                continue
            with self._idle:
                self._queued.add(ident)
                self._pending += 1
            self._queue.put(alert)
            if self._thread is None:
                self._thread = threading.Thread(target=self._deliver_loop,
                                                name="xprof-alerts", daemon=True)
                self._thread.start()

    def _deliver_loop(self) -> None:
        while True:
            alert = self._queue.get()
            try:
                self.sender.send(alert)
            except Exception as exc:  # AlertSender does not raise; belt and braces
                self._warn("send", f"alerts: {exc}")
            finally:
                with self._idle:
                    self._queued.discard((alert.rule.key, alert.subject))
                    self._pending -= 1
                    self._idle.notify_all()
