"""Sending an alert exactly once per (rule, subject, channel), across agents and collectors.

Before delivering, a sender claims the alert in the store's ``alerts_sent`` table with an
insert that skips existing keys: the one whose row went in delivers, everyone else (another
flush, another agent of a multi-node run, ``xprof collect``) sees the row and stays quiet.
After a successful delivery the row is marked ``delivered``; after a failed one it is removed
so a later evaluation (or ``xprof collect``) tries again. A claim left undelivered for
``STALE_CLAIM`` (its sender died mid-way) may be taken over. Without a store, the process's
own memory keeps each alert once.

Delivery is :mod:`xprof.delivery`: a Slack-compatible ``{"text": ...}`` POST, or a
plain-text mail through the ``report.smtp_*`` server.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from xprof.alert_rules import Alert
from xprof.delivery import post_webhook, redact_webhook, send_mail

log = logging.getLogger("xprof.alerts")
STALE_CLAIM = dt.timedelta(minutes=10)
DELIVERY_TIMEOUT_S = 5.0
MAX_ATTEMPTS = 3  # failed deliveries of one alert per process before it is left to collect
MAIL_FOOTER = "\n\n-- \nSent by xprof; the rule is [[alerts]] #{index} ({rule}) in config.toml."


@dataclass(frozen=True)
class Channel:
    """Where an alert goes: ``key`` is what ``alerts_sent`` records (no webhook secret)."""

    kind: str  # webhook | mail
    target: str
    key: str

    @classmethod
    def webhook(cls, url: str) -> Channel:
        digest = hashlib.sha256(url.encode()).hexdigest()[:12]
        return cls("webhook", url, f"webhook:{redact_webhook(url)}#{digest}"[:255])

    @classmethod
    def mail(cls, address: str) -> Channel:
        return cls("mail", address, f"mail:{address}"[:255])


def _alerts_sent() -> Any:
    """The ``alerts_sent`` table; the schema (SQLAlchemy) is imported only once a store is
    asked, so that alerts evaluated without a store never load it (agent start path)."""
    from xprof import schema  # lazy: SQLAlchemy is heavy

    return schema.alerts_sent


def channels(alert: Alert) -> list[Channel]:
    rule = alert.rule
    return [Channel.webhook(u) for u in rule.webhooks] + [Channel.mail(m) for m in rule.mails]


class AlertSender:
    """Claims and delivers alerts; thread-safe; never raises from :meth:`send`."""

    def __init__(self, settings: Any, store: Any | None, *,
                 timeout: float = DELIVERY_TIMEOUT_S,
                 now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)) -> None:
        self.settings = settings
        self.store = store
        self.timeout = timeout
        self.now = now
        self._lock = threading.Lock()
        self._done: set[tuple[str, str, str]] = set()  # sent, claimed elsewhere or in flight
        self._failures: dict[tuple[str, str, str], int] = {}
        self._warned: set[str] = set()

    def _warn(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            log.warning(message)

    def seen(self, alert: Alert) -> bool:
        """Whether every channel of the alert was already handled by this process."""
        with self._lock:
            return all((alert.rule.key, alert.subject, c.key) in self._done
                       for c in channels(alert))

    def send(self, alert: Alert) -> dict[str, str]:
        """Deliver the alert to each channel not yet done; channel key -> sent | already |
        the one-line failure."""
        return {channel.key: self._send_one(alert, channel) for channel in channels(alert)}

    def _send_one(self, alert: Alert, channel: Channel) -> str:
        key = (alert.rule.key, alert.subject, channel.key)
        with self._lock:
            if key in self._done:
                return "already"
            self._done.add(key)
        claimed = self._claim(alert, channel)
        if claimed is False:
            return "already"
        try:
            self._deliver(alert, channel)
        except Exception as exc:
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self._warn(f"deliver:{channel.key}", f"alert not delivered: {message}")
            if claimed:
                self._release(key)
            with self._lock:
                self._failures[key] = self._failures.get(key, 0) + 1
                if self._failures[key] < MAX_ATTEMPTS:
                    self._done.discard(key)  # a later evaluation tries again
            return f"failed: {message}"
        if claimed:
            self._mark_delivered(key)
        log.info("alert sent (%s): %s", channel.kind, alert.title)
        return "sent"

    # -- delivery ----------------------------------------------------------------------------
    def _deliver(self, alert: Alert, channel: Channel) -> None:
        if channel.kind == "webhook":
            post_webhook(channel.target, {"text": alert.text}, timeout=self.timeout)
        else:
            footer = MAIL_FOOTER.format(index=alert.rule.index, rule=alert.rule.rule)
            send_mail(self.settings, channel.target, alert.title.removeprefix("xprof: "),
                      alert.body + footer, timeout=self.timeout)

    # -- claims in the store -----------------------------------------------------------------
    def _claim(self, alert: Alert, channel: Channel) -> bool | None:
        """True: ours to send; False: another sender has it; None: no store to ask."""
        if self.store is None:
            return None
        t = _alerts_sent()
        now = self.now()
        try:
            with self.store.write() as conn:
                inserted = conn.execute(self.store.insert_ignore(t).values(
                    rule_key=alert.rule.key, subject=alert.subject, channel=channel.key,
                    rule=alert.rule.rule, run_id=alert.run_id, project=alert.project,
                    title=alert.title, sent_at=now, delivered=False)
                    .returning(t.c.rule_key)).first()  # rowcount is -1 on psycopg
                if inserted is not None:
                    return True
                taken = conn.execute(t.update().where(
                    t.c.rule_key == alert.rule.key, t.c.subject == alert.subject,
                    t.c.channel == channel.key, t.c.delivered.is_(False),
                    t.c.sent_at < now - STALE_CLAIM).values(sent_at=now)).rowcount
                return bool(taken)
        except Exception as exc:
            self._warn("claim", f"alerts: the store cannot record sent alerts ({exc}); "
                       "this process keeps them once on its own")
            return None

    def _where(self, key: tuple[str, str, str]) -> Any:
        t = _alerts_sent()
        return t, (t.c.rule_key == key[0], t.c.subject == key[1], t.c.channel == key[2])

    def _mark_delivered(self, key: tuple[str, str, str]) -> None:
        t, where = self._where(key)
        try:
            with self.store.write() as conn:
                conn.execute(t.update().where(*where).values(delivered=True,
                                                              sent_at=self.now()))
        except Exception as exc:
            self._warn("claim-mark", f"alerts: could not record a sent alert: {exc}")

    def _release(self, key: tuple[str, str, str]) -> None:
        t, where = self._where(key)
        try:
            with self.store.write() as conn:
                conn.execute(t.delete().where(*where, t.c.delivered.is_(False)))
        except Exception as exc:
            self._warn("claim-release", f"alerts: could not release a failed alert: {exc}")
