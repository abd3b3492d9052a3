"""On a real NVIDIA GPU, `xprof run` sees a CUDA workload: busy GPU, memory that is the run's.

Skipped unless NVML lists a device and torch can use CUDA. On virtual machines and in
containers NVML may list no PIDs or host PIDs; attribution by visible devices (recorded as
such) is then the expected result, so the run sets CUDA_VISIBLE_DEVICES=0.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.agent.gpu_helpers import gpu_rows, only_run
from xprof.stats import percentile

pytestmark = pytest.mark.gpu

PROBE = "import pynvml; pynvml.nvmlInit(); print(pynvml.nvmlDeviceGetCount())"
WORKLOAD = """
import time, torch
a = torch.randn(8192, 8192, device="cuda")
b = torch.randn(8192, 8192, device="cuda")
torch.cuda.synchronize()
end = time.time() + {seconds}
while time.time() < end:
    c = a @ b
    torch.cuda.synchronize()
print("done", float(c[0, 0]))
"""


def real_nvml_devices() -> int:
    """Devices the real NVML lists (0 when there is no driver), asked in a clean process."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "XPROF_FAKE_NVML")}
    probe = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                           env=env, timeout=60)
    return int(probe.stdout.strip() or 0) if probe.returncode == 0 else 0


@pytest.fixture(scope="module")
def cuda() -> None:
    if real_nvml_devices() == 0:
        pytest.skip("no NVIDIA GPU: NVML lists no device here")
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch cannot use CUDA here")


def test_matmul_loop_is_seen_as_busy_and_attributed(cuda, xprof, store):
    """A torch matmul loop: p50 GPU util > 50 % while the run holds GPU 0, its memory > 0."""
    env = {"CUDA_VISIBLE_DEVICES": "0", "XPROF_FAKE_NVML": ""}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
        if p and "fake_nvml" not in p)
    result = xprof("run", "--interval", "0.5", "--", sys.executable, "-c",
                   WORKLOAD.format(seconds=10), env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "done" in result.stdout

    run = only_run(store, result)
    assert run["hardware"]["gpu_count"] >= 1
    assert run["hardware"]["gpus_used"] == [0]
    held = [r for r in gpu_rows(store, run["id"]) if r["gpu_index"] == 0
            and r["mig_index"] == -1 and r["used_by_run"]]
    assert len(held) >= 10
    assert {r["attribution"] for r in held} <= {"pid", "visible-devices"}
    util_p50 = percentile([r["util_gpu_pct"] for r in held], 50)
    assert util_p50 is not None and util_p50 > 50
    assert max(r["run_mem_used_bytes"] or 0 for r in held) > 0
    print(f"\nreal GPU {run['hardware']['gpu_model']}: util p50 {util_p50:.0f} %, "
          f"run memory peak {max(r['run_mem_used_bytes'] or 0 for r in held) / 2**30:.2f} GiB,"
          f" attribution {sorted({r['attribution'] for r in held})}", file=sys.stderr)
