"""A week without runs or cost says so in one plain sentence in every format, and an empty
store gives the same, not an error."""

from __future__ import annotations

import json

from tests.dashboard.report_helpers import parse_html, run_report

SENTENCE = "No runs and no spend recorded in 2026-W30, 2026-07-20 to 2026-07-26 (UTC)."


def _render(url: str, tmp_path, fmt: str) -> str:
    path = tmp_path / f"empty.{fmt}"
    result = run_report("--week", "2026-W30", "--format", fmt, "--out", str(path),
                        "--store", url)
    assert result.exit_code == 0, result.output
    return path.read_text()


def test_empty_week_html(report_store, tmp_path) -> None:
    """HTML: the headline is the plain sentence and the tables say there is nothing."""
    page = parse_html(_render(report_store.url, tmp_path, "html"))
    assert SENTENCE in page.paragraphs
    assert page.tables.get("Total spend") is None  # no table with empty rows
    assert "Nothing in this period." in page.paragraphs


def test_empty_week_markdown_and_json(report_store, tmp_path) -> None:
    """Markdown carries the same sentence; JSON has empty: true and no totals."""
    assert SENTENCE in _render(report_store.url, tmp_path, "md").replace("\\", "")
    data = json.loads(_render(report_store.url, tmp_path, "json"))
    assert data["empty"] is True and data["totals"] == [] and data["runs"]["started"] == 0


def test_empty_store(tmp_path) -> None:
    """A store with no runs at all gives the same plain report."""
    url = f"sqlite:///{tmp_path / 'new.db'}"
    page = parse_html(_render(url, tmp_path, "html"))
    assert SENTENCE in page.paragraphs
