"""Run names, tags and params are user input: shown as text, never interpreted as HTML or
Markdown."""

from __future__ import annotations

import re

from tests.dashboard.helpers import DASHBOARD, XSS, plain
from xprof.dashboard.formatting import escape_markdown


def test_markdown_escape_is_inert_and_reversible() -> None:
    """Escaped text contains no live markup and reads back as the original."""
    for text in (XSS, "[click](http://evil.example)", ":red[x] **b** `c` $x$", "# h1",
                 "1. item", "a_b*c", "<img src=x onerror=alert(1)>"):
        escaped = escape_markdown(text)
        assert plain(escaped) == text
        assert not re.search(r"(?<!\\)[<>\[\]`*_$]", escaped)


def test_html_run_name_is_text_on_the_leaderboard(seeded, open_page) -> None:
    """The run named <script>…</script> is a table cell and escaped text in the top-run line."""
    at = open_page("views/leaderboard.py", seeded.url, project="digits")
    assert at.dataframe[0].value["name"].iloc[0] == XSS
    best_line = next(c.value for c in at.caption if "alert" in c.value)
    assert "\\<script\\>" in best_line and plain(best_line).startswith(XSS)
    assert not at.get("html")


def test_no_page_allows_raw_html() -> None:
    """No dashboard source turns HTML rendering on."""
    for path in DASHBOARD.rglob("*.py"):
        source = path.read_text()
        assert "unsafe_allow_html" not in source, path
        assert "st.html" not in source and "components.html" not in source, path
