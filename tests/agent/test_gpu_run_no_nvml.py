"""Without NVML (no library, no driver, no bindings, no device) a run is a CPU run, silently."""

from __future__ import annotations

import pytest

from tests.agent.gpu_helpers import fake_nvml_env, gpu_rows, only_run


@pytest.mark.parametrize("scenario", [
    {"library": "missing"},
    {"library": "driver_not_loaded"},
    {"library": "import_error"},
    {"devices": []},
], ids=["library-missing", "driver-not-loaded", "bindings-missing", "no-device"])
def test_no_nvml_means_no_gpu(xprof, store, tmp_path, scenario):
    """The run succeeds with the child's exit code, no GPU rows, no GPU hardware, no warning."""
    result = xprof("run", "--interval", "0.1", "--", "sh", "-c", "sleep 0.3; exit 3",
                   env=fake_nvml_env(tmp_path, scenario))
    assert result.returncode == 3, result.stderr
    run = only_run(store, result)
    assert run["status"] == "failed" and run["exit_code"] == 3
    assert gpu_rows(store, run["id"]) == []
    assert not run["hardware"].get("gpu_count")
    assert "nvml" not in result.stderr.lower()
    assert "gpu" not in result.stderr.lower()
