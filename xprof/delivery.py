"""Sending things out: a JSON webhook POST and an SMTP mail. Used by the report, later alerts.

Standard library only (urllib, smtplib). Every failure is a :class:`DeliveryError` whose
message is one line that names the target without its secrets: a webhook URL is shown as
scheme://host only (Slack's path is the credential), a mail server as host:port; the SMTP
password never appears in a message or a log.
"""

from __future__ import annotations

import json
import mimetypes
import smtplib
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

__all__ = ["DeliveryError", "post_webhook", "redact_webhook", "send_mail"]

TIMEOUT_S = 20.0


class DeliveryError(RuntimeError):
    """A webhook or mail could not be delivered; the message is one line, without secrets."""


def redact_webhook(url: str) -> str:
    """``https://hooks.slack.com/services/T0/B0/XYZ`` -> ``https://hooks.slack.com``."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def _one_line(text: object) -> str:
    return " ".join(str(text).split())[:200]


def post_webhook(url: str, payload: Mapping[str, Any], *, timeout: float = TIMEOUT_S) -> int:
    """POST ``payload`` as JSON to ``url`` (e.g. a Slack incoming webhook); the HTTP status.

    Raises DeliveryError on a bad URL, a connection failure, a timeout or a non-2xx answer.
    """
    shown = redact_webhook(url)
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise DeliveryError(f"webhook {shown}: only http:// and https:// URLs can be posted to")
    body = json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8")
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json; charset=utf-8", "User-Agent": "xprof"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status = response.status
            response.read()
    except urllib.error.HTTPError as exc:
        detail = _one_line(exc.read().decode("utf-8", "replace")) if exc.fp else ""
        raise DeliveryError(f"webhook {shown} answered HTTP {exc.code} {exc.reason}"
                            + (f": {detail}" if detail else "")) from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(f"webhook {shown} unreachable: {_one_line(reason)}") from None
    if not 200 <= status < 300:
        raise DeliveryError(f"webhook {shown} answered HTTP {status}")
    return status


Attachment = tuple[str, bytes] | tuple[str, bytes, str] | Path | str


def _attach(message: EmailMessage, item: Attachment) -> None:
    if isinstance(item, str | Path):
        path = Path(item)
        name, data, mime = path.name, path.read_bytes(), None
    else:
        name, data = item[0], item[1]
        mime = item[2] if len(item) > 2 else None
    mime = mime or mimetypes.guess_type(name)[0] or "application/octet-stream"
    maintype, subtype = mime.split("/", 1)
    params = {"charset": "utf-8"} if maintype == "text" else None  # the report's encoding
    message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name,
                           params=params)


def _setting(settings: Any, key: str) -> Any:
    return settings.get(key) if hasattr(settings, "get") else settings[key]


def build_message(sender: str, to: Sequence[str], subject: str, text: str,
                  html: str | None = None, attachments: Iterable[Attachment] = ()
                  ) -> EmailMessage:
    """A MIME message: text (and an HTML alternative), then the attachments."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(to)
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    for item in attachments:
        _attach(message, item)
    return message


def _sender(settings: Any, user: str | None) -> str:
    """``report.smtp_from``, else the login, else ``xprof@<host>``; always with an ``@``."""
    sender = (_setting(settings, "report.smtp_from") or user
              or f"xprof@{socket.gethostname() or 'localhost'}")
    if "@" not in sender:
        sender = f"{sender}@{socket.gethostname() or 'localhost'}"
    return sender


def _transmit(host: str, port: int, timeout: float, starttls: bool,
              login: tuple[str | None, str | None], message: EmailMessage, sender: str,
              recipients: list[str]) -> dict:
    """One SMTP session: connect (TLS on 465), STARTTLS if asked, log in, send; the refused
    recipients. smtplib's errors pass through."""
    user, password = login
    if port == 465:
        client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=timeout,
                                                context=ssl.create_default_context())
    else:
        client = smtplib.SMTP(host, port, timeout=timeout)
    with client:
        client.ehlo()
        if starttls and port != 465:
            client.starttls(context=ssl.create_default_context())
            client.ehlo()
        if user:
            client.login(user, password or "")
        return client.send_message(message, from_addr=sender, to_addrs=recipients)


def send_mail(settings: Any, to: str | Sequence[str], subject: str, text: str,
              html: str | None = None, attachments: Iterable[Attachment] = (), *,
              timeout: float = TIMEOUT_S) -> None:
    """Send one mail through the SMTP server of ``settings`` (the ``report.smtp_*`` keys).

    ``to`` is an address or a list; ``attachments`` are paths or (name, bytes[, mime]).
    Port 465 speaks TLS from the start; otherwise STARTTLS when ``report.smtp_starttls``.
    Logs in when ``report.smtp_user`` is set. Raises DeliveryError (one line, no password).
    """
    host = _setting(settings, "report.smtp_host")
    port = int(_setting(settings, "report.smtp_port") or 587)
    user = _setting(settings, "report.smtp_user")
    password = _setting(settings, "report.smtp_password")
    starttls = bool(_setting(settings, "report.smtp_starttls"))
    recipients = [to] if isinstance(to, str) else list(to)
    if not host:
        raise DeliveryError("mail: no SMTP server configured (set report.smtp_host in "
                            "config.toml or XPROF_REPORT_SMTP_HOST)")
    if not recipients:
        raise DeliveryError("mail: no recipient")
    sender = _sender(settings, user)
    message = build_message(sender, recipients, subject, text, html, attachments)
    where = f"{host}:{port}"
    try:
        refused = _transmit(host, port, timeout, starttls, (user, password), message,
                            sender, recipients)
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(f"mail via {where}: login as {user!r} refused "
                            f"({exc.smtp_code})") from None
    except smtplib.SMTPNotSupportedError as exc:
        raise DeliveryError(f"mail via {where}: {_one_line(exc)} (set report.smtp_starttls "
                            "= false for a server without TLS)") from None
    except smtplib.SMTPResponseException as exc:
        detail = _one_line(exc.smtp_error.decode("utf-8", "replace")
                           if isinstance(exc.smtp_error, bytes) else exc.smtp_error)
        raise DeliveryError(f"mail via {where} refused: {exc.smtp_code} {detail}") from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryError(f"mail via {where}: every recipient refused "
                            f"({', '.join(exc.recipients)})") from None
    except (smtplib.SMTPException, OSError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise DeliveryError(f"mail via {where} failed: {_one_line(reason)}") from None
    if refused:
        raise DeliveryError(f"mail via {where}: refused for {', '.join(sorted(refused))}")
