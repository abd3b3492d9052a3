"""Where alerts go in tests: a webhook server and an SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.collector.local_http import serving


class WebhookServer:
    """Records each POST as (path, content type, JSON body) in ``requests`` and the accepted
    bodies in ``posts``; answers ``status``; holds requests while ``hold`` is set (to show
    that the caller does not wait)."""

    def __init__(self, path: str = "services/T0/B0/s3cret", status: int = 200) -> None:
        self.posts: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str | None, Any]] = []
        self.status = status
        self.hold = threading.Event()
        self.release = threading.Event()
        self.arrived = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.arrived.set()
                if server.hold.is_set():
                    server.release.wait(30)
                status = server.status
                server.requests.append((self.path, self.headers.get("Content-Type"),
                                        json.loads(body)))
                if status < 300:
                    server.posts.append(json.loads(body))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/{path}"

    @property
    def texts(self) -> list[str]:
        return [p["text"] for p in self.posts]


@contextlib.contextmanager
def webhook_server(path: str = "services/T0/B0/s3cret",
                   status: int = 200) -> Iterator[WebhookServer]:
    server = WebhookServer(path, status)
    try:
        with serving(server.httpd):
            yield server
    finally:
        server.release.set()


class SmtpServer:
    """Messages received, parsed (``email.message.EmailMessage``), with their envelopes."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.recipients: list[list[str]] = []
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content,
                                                      policy=email.policy.default))
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"

    def bodies(self) -> list[str]:
        return [m.get_content() for m in self.messages]

    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for m in self.messages]

    def settings(self) -> dict[str, Any]:
        """The report.smtp_* config that sends through this server."""
        return {"report.smtp_host": "127.0.0.1", "report.smtp_port": self.port,
                "report.smtp_starttls": False, "report.smtp_from": "xprof@test.invalid"}


@contextlib.contextmanager
def smtp_server() -> Iterator[SmtpServer]:
    from aiosmtpd.controller import Controller

    server = SmtpServer()
    controller = Controller(server, hostname="127.0.0.1", port=server.port)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()
