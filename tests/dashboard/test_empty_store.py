"""On an empty store every page greets the user with the one command that records a run."""

from __future__ import annotations

import pytest

PAGES = ["app.py", "views/leaderboard.py", "views/run.py", "views/compare.py",
         "views/recommendations.py", "views/spend.py"]


@pytest.mark.parametrize("page", PAGES)
def test_empty_store_shows_first_command(tmp_path, open_page, page) -> None:
    """No runs: a welcome title and `xprof run -- python train.py`, no error."""
    at = open_page(page, f"sqlite:///{tmp_path / 'empty.db'}")
    assert [t.value for t in at.title] == ["Welcome to xprof"]
    assert at.code[0].value == "xprof run -- python train.py"
    assert not at.error
