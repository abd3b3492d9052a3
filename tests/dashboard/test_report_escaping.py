"""User text (a run named `<script>alert(1)</script>`) is shown as text in every format: no
markup is injected into the HTML page, the Markdown or the Slack message."""

from __future__ import annotations

from tests.dashboard.report_helpers import parse_html, parse_markdown, run_report
from tests.dashboard.report_seed import XSS


def _render(report_store, tmp_path, fmt: str) -> str:
    path = tmp_path / f"r.{fmt}"
    assert run_report("--week", "2026-W47", "--format", fmt, "--out", str(path),
                      "--store", report_store.url).exit_code == 0
    return path.read_text()


def test_html_escapes_run_names(report_store, tmp_path) -> None:
    """The name appears as text in the tables; the page has no <script> element at all."""
    text = _render(report_store, tmp_path, "html")
    assert XSS not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    page = parse_html(text)
    assert not [tag for tag, _ in page.tags if tag == "script"]
    assert XSS in [row["Run"] for row in page.tables["Most expensive runs"]]


def test_markdown_escapes_run_names(report_store, tmp_path) -> None:
    """Markdown escapes the angle brackets, so renderers show the name, not a tag."""
    text = _render(report_store, tmp_path, "md")
    assert XSS not in text and r"\<script\>alert(1)\</script\>" in text
    assert XSS in [row["Run"] for row in parse_markdown(text)["Most expensive runs"]]


def test_slack_message_escapes_run_names(report_store) -> None:
    """The webhook message escapes <, > and & as Slack requires."""
    from xprof.dashboard.report import build_report
    from xprof.dashboard.report_period import iso_week
    from xprof.dashboard.report_render import slack_payload
    from xprof.store import Store

    payload = slack_payload(build_report(Store.open(report_store.url), iso_week("2026-W47")))
    blocks = str(payload["blocks"])
    assert "<script>" not in blocks
