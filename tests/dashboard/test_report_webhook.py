"""--post sends a Slack-compatible JSON message to a webhook (a real HTTP server on
127.0.0.1 here); a server that is down or answers 500 gives one line naming the host but not
the secret path, exit 1, and the report file is written all the same."""

from __future__ import annotations

import socket

import pytest

from tests.collector.alert_servers import webhook_server
from tests.dashboard.report_helpers import error_lines, run_report

SECRET = "services/T000/B000/s3cr3tT0ken"


@pytest.fixture
def hook():
    with webhook_server(SECRET) as server:
        yield server


def test_webhook_receives_the_summary(report_store, tmp_path, hook) -> None:
    """The webhook gets JSON with `text` and Slack blocks: totals, top runs, saving, file."""
    out = tmp_path / "r.html"
    result = run_report("--week", "2026-W47", "--out", str(out), "--post", hook.url,
                        "--store", report_store.url)
    assert result.exit_code == 0, result.output
    [(path, content_type, payload)] = hook.requests
    assert path == f"/{SECRET}" and content_type.startswith("application/json")
    assert payload["text"].startswith("xprof cost report 2026-W47: Total €7.60")
    assert "Total $85.70 (billed $2.40, estimated $83.30; idle $2.40)" in payload["text"]
    assert payload["blocks"][0] == {"type": "header", "text": {
        "type": "plain_text", "text": "xprof cost report 2026-W47"}}
    texts = [b["text"]["text"] for b in payload["blocks"] if b["type"] == "section"]
    assert any("multi-node (vision): $65.54" in t for t in texts)
    assert any("2 worth $42.50/month" in t for t in texts)
    assert str(out) in payload["blocks"][-1]["elements"][0]["text"]


def _down_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/{SECRET}"


def test_webhook_down_or_failing(report_store, tmp_path) -> None:
    """Refused connection and HTTP 500: one line each, exit 1, the file is still written."""
    with webhook_server(SECRET, status=500) as failing:
        out = tmp_path / "r.md"
        result = run_report("--week", "2026-W47", "--format", "md", "--out", str(out),
                            "--post", _down_url(), "--post", failing.url,
                            "--store", report_store.url)
    assert result.exit_code == 1
    assert out.read_text().startswith("# xprof cost report 2026-W47")
    lines = result.output.splitlines()
    assert lines[0] == str(out)
    errors = error_lines(result.output)
    assert len(errors) == 2 and all(e.startswith("xprof: error: webhook http://127.0.0.1:")
                                    for e in errors)
    assert "unreachable" in errors[0] and "answered HTTP 500" in errors[1]
    assert all(f"(the report is in {out})" in e for e in errors)
    assert SECRET.split("/")[-1] not in result.output
    assert len(failing.requests) == 1  # it did get the message
