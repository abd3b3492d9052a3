"""Local HTTP servers for tests: ``serving`` runs any server for a block; ``JsonServer``
is a JSON server on 127.0.0.1 for the price APIs' tests: it answers each GET with the
next reply a test queued (or a handler's), records the requests, and stops with the test."""

from __future__ import annotations

import contextlib
import json
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class JsonServer:
    """Queued (status, JSON body) replies served in order, or a ``handler(path, query)``
    giving them; requests kept as (path, query)."""

    def __init__(self) -> None:
        self.replies: list[tuple[int, Any]] = []
        self.handler: Callable[[str, dict[str, list[str]]], tuple[int, Any]] | None = None
        self.requests: list[tuple[str, dict[str, list[str]]]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parsed = urllib.parse.urlsplit(self.path)
                with server._lock:
                    server.requests.append((parsed.path, urllib.parse.parse_qs(parsed.query)))
                    query = urllib.parse.parse_qs(parsed.query)
                    if server.handler is not None:
                        status, body = server.handler(parsed.path, query)
                    else:
                        status, body = server.replies.pop(0) if server.replies else (404, {})
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"

    def reply(self, body: Any, status: int = 200) -> None:
        self.replies.append((status, body))


@contextlib.contextmanager
def serving(httpd: ThreadingHTTPServer) -> Iterator[ThreadingHTTPServer]:
    """Serve ``httpd`` in a daemon thread for the block; shut it down and close it after."""
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@contextlib.contextmanager
def json_server() -> Iterator[JsonServer]:
    server = JsonServer()
    with serving(server.httpd):
        yield server
