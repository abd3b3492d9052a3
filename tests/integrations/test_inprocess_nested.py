"""Under `xprof run`, `xprof.profile` starts no second run: its metrics go to the outer run."""

from __future__ import annotations

import sys

from tests.integrations.conftest import SCRIPTS


def test_profile_inside_xprof_run(xprof, store):
    """One run in the store, the outer one, holding the block's metrics."""
    result = xprof("run", "--quiet", "--name", "outer", "--", sys.executable,
                   str(SCRIPTS / "profile_inside.py"))
    assert result.returncode == 0, result.stderr
    runs = store.list_runs()
    assert [r["name"] for r in runs] == ["outer"]
    assert f"inner-id {runs[0]['id']}" in result.stdout
    metrics = store.run_details(runs[0]["id"])["metrics"]
    assert metrics["loss"] == {"value": 1.0 / 3, "step": 2}
