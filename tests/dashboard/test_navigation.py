"""The entrypoint routes to five pages, the leaderboard first; a bad store is one error line."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.dashboard.helpers import DASHBOARD


def test_entrypoint_opens_leaderboard_and_routes_to_every_page(seeded, open_page) -> None:
    """app.py shows the leaderboard by default and each declared page renders."""
    at = open_page("app.py", seeded.url)
    assert [t.value for t in at.title] == ["Leaderboard"]
    titles = {"views/run.py": "Run", "views/compare.py": "Compare",
              "views/recommendations.py": "Recommendations", "views/spend.py": "Spend"}
    for page, title in titles.items():
        at.switch_page(page).run()
        assert not at.exception, page
        assert at.title[0].value.startswith(title)


def test_entrypoint_only_declares_pages() -> None:
    """app.py holds no queries or layout: only set_page_config, st.Page and st.navigation."""
    tree = ast.parse(Path(DASHBOARD / "app.py").read_text())
    calls = {node.func.attr for node in ast.walk(tree)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)}
    assert calls == {"set_page_config", "Page", "navigation", "run"}


def test_unreadable_store_is_one_error(tmp_path, open_page) -> None:
    """A store URL that cannot be opened shows one error naming it, not a traceback."""
    at = open_page("views/leaderboard.py", "bogus://nowhere")
    assert len(at.error) == 1 and "bogus" in at.error[0].value


def test_shared_modules_do_not_import_streamlit() -> None:
    """ranking, queries, formatting, tables and charts load without Streamlit (the report
    reuses them)."""
    code = ("import sys\nimport xprof.dashboard.ranking, xprof.dashboard.queries, "
            "xprof.dashboard.formatting, xprof.dashboard.tables, xprof.dashboard.charts\n"
            "print('streamlit' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"
