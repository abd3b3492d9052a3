"""An in-process run counts the CPU used while it is open, not what its process (a script,
a notebook kernel up for hours) used before it started."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.integrations.conftest import SCRIPTS

BURN = """import time
def burn(seconds):
    start = time.process_time()
    while time.process_time() - start < seconds:
        pass
"""


def test_script_cpu_before_the_run_is_left_out(store):
    """3 s of CPU burnt before `with xprof.profile(...)` and 3 s inside: ~3 CPU-s recorded."""
    subprocess.run([sys.executable, str(SCRIPTS / "burn_before_profile.py"), "3", "3",
                    "burn-script"], check=True, timeout=120)
    run = store.find_run("burn-script")
    assert run["status"] == "finished"
    assert run["cpu_seconds"] == pytest.approx(3.0, abs=0.5)


@pytest.mark.integrations
def test_notebook_cpu_before_the_run_is_left_out(store, tmp_path):
    """A kernel that burnt 3 s of CPU in earlier cells records ~3 CPU-s for a run that burns
    3 s; the process-tree samples start near 0 too."""
    import nbformat  # the integrations extra: only this test needs it
    from nbclient import NotebookClient

    cells = [BURN + "burn(3)",
             "import xprof\nwith xprof.profile(name='burn-nb', project='cpu', interval=0.2,"
             " quiet=True):\n    burn(3)"]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(notebook, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    run = store.find_run("burn-nb")
    assert run["cpu_seconds"] == pytest.approx(3.0, abs=0.5)
    from tests.integrations.conftest import rows

    samples = rows(store, "samples", run["id"])
    assert samples[0]["cpu_seconds_total"] < 0.5
