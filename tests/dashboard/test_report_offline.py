"""The HTML report is one self-contained file: charts are inline SVG, nothing is loaded from
anywhere (no script, stylesheet link, external image or font)."""

from __future__ import annotations

import re

from tests.dashboard.report_helpers import parse_html, run_report


def test_html_needs_nothing_from_outside(report_store, tmp_path) -> None:
    """Every chart is an inline <svg>; no tag refers to another file or a network address."""
    path = tmp_path / "r.html"
    assert run_report("--week", "2026-W47", "--out", str(path), "--store",
                      report_store.url).exit_code == 0
    text = path.read_text()
    page = parse_html(text)
    tags = [tag for tag, _ in page.tags]
    assert tags.count("svg") >= 4  # spend per day and by project (2 currencies), frontiers
    assert not {"script", "link", "img", "iframe", "object", "embed"} & set(tags)
    for _tag, attrs in page.tags:
        for name in ("src", "href", "xlink:href"):
            assert name not in attrs, (name, attrs)
    assert not re.search(r"url\(|@import|https?://(?!www\.w3\.org/2000/svg)", text)
