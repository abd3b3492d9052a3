"""--mail sends the report through the SMTP server of the config (a real SMTP server on
127.0.0.1 here: aiosmtpd), logging in with the configured user; the password is never
printed; a server that is down or refuses gives one line, exit 1, and the file is kept."""

from __future__ import annotations

import email
import socket
from email import policy

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from tests.conftest import run_xprof
from tests.dashboard.report_helpers import error_lines, run_report

PASSWORD = "hunter2-very-secret"
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


class Inbox:
    """An aiosmtpd handler that keeps every message, or refuses data with ``refuse``."""

    def __init__(self, refuse: str | None = None) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.refuse = refuse

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            return self.refuse
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _login(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = auth_data.login == b"reports" and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp(monkeypatch):
    """A local SMTP server that wants a login; the report.smtp_* settings point at it."""
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, authenticator=_login,
                            auth_required=True, auth_require_tls=False,
                            auth_exclude_mechanism=["LOGIN"])
    controller.start()
    for key, value in (("HOST", "127.0.0.1"), ("PORT", str(port)), ("USER", "reports"),
                       ("PASSWORD", PASSWORD), ("FROM", "xprof@example.com"),
                       ("STARTTLS", "false")):
        monkeypatch.setenv(f"XPROF_REPORT_SMTP_{key}", value)
    yield inbox
    controller.stop()


def test_mail_carries_the_report(report_store, tmp_path, smtp) -> None:
    """The mail has the subject, the Markdown text, the HTML page and the file attached."""
    out = tmp_path / "weekly.html"
    result = run_report("--week", "2026-W47", "--out", str(out), "--mail", "lead@example.com",
                        "--mail", "ops@example.com", "--store", report_store.url)
    assert result.exit_code == 0, result.output
    [(sender, rcpts, raw)] = smtp.messages
    assert sender == "xprof@example.com" and rcpts == ["lead@example.com", "ops@example.com"]
    message = email.message_from_bytes(raw, policy=policy.default)
    assert message["Subject"] == "xprof cost report 2026-W47"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "| USD | \\$85.70 | \\$2.40 | \\$83.30 |" in text
    assert html.replace("\r\n", "\n") == out.read_text()
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "weekly.html"
    assert attachment.get_content().encode() == out.read_bytes()
    assert PASSWORD not in result.output


def test_wrong_password_down_and_refused(report_store, tmp_path, smtp, monkeypatch) -> None:
    """A refused login, a refused message and a server that is down: one line each, exit 1,
    the report file written, the password never shown."""
    out = tmp_path / "r.json"
    args = ("--week", "2026-W47", "--format", "json", "--out", str(out), "--mail",
            "lead@example.com", "--store", report_store.url)
    monkeypatch.setenv("XPROF_REPORT_SMTP_PASSWORD", "wrong-" + PASSWORD)
    result = run_report(*args)
    assert result.exit_code == 1 and out.exists()
    assert error_lines(result.output) == [
        f"xprof: error: mail via 127.0.0.1:{_port()}: login as 'reports' refused (535) "
        f"(the report is in {out})"]
    assert PASSWORD not in result.output

    monkeypatch.setenv("XPROF_REPORT_SMTP_PASSWORD", PASSWORD)
    smtp.refuse = "554 5.7.1 message rejected as spam"
    out.unlink()
    result = run_report(*args)
    assert result.exit_code == 1 and out.exists()
    assert "refused: 554 5.7.1 message rejected as spam" in result.output
    assert len(error_lines(result.output)) == 1

    monkeypatch.setenv("XPROF_REPORT_SMTP_PORT", str(_free_port()))
    out.unlink()
    result = run_report(*args)
    assert result.exit_code == 1 and out.exists()
    [error] = error_lines(result.output)
    assert error.startswith("xprof: error: mail via 127.0.0.1:") and "failed" in error


def _port() -> str:
    import os

    return os.environ["XPROF_REPORT_SMTP_PORT"]


def test_starttls_against_a_plain_server(report_store, tmp_path, smtp, monkeypatch) -> None:
    """report.smtp_starttls on (the default) with a server without TLS: a one-line hint."""
    monkeypatch.setenv("XPROF_REPORT_SMTP_STARTTLS", "true")
    result = run_report("--week", "2026-W47", "--format", "md", "--out",
                        str(tmp_path / "r.md"), "--mail", "lead@example.com",
                        "--store", report_store.url)
    assert result.exit_code == 1
    assert "report.smtp_starttls = false" in result.output.splitlines()[-1]


def test_config_never_shows_the_password(monkeypatch) -> None:
    """`xprof config` lists the SMTP settings but shows the password as (secret)."""
    monkeypatch.setenv("XPROF_REPORT_SMTP_PASSWORD", PASSWORD)
    for args in (("config",), ("config", "--json")):
        result = run_xprof(*args)
        assert result.returncode == 0
        assert "report.smtp_password" in result.stdout and "(secret)" in result.stdout
        assert PASSWORD not in result.stdout + result.stderr
