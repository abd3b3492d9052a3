"""Host CPU and memory figures, and what the machine is, agree with the kernel and psutil."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import psutil
import pytest

from xprof.agent.host_stats import HostStats, host_hardware

BUSY = "import time\nend = time.process_time() + 0.8\nwhile time.process_time() < end:\n    pass"


@pytest.mark.parametrize("procfs", [True, False], ids=["procfs", "psutil"])
def test_host_cpu_shows_busy_cores(procfs):
    """With every core kept busy, host CPU busy reads well above half, iowait stays a
    percentage."""
    stats = HostStats(procfs=procfs)
    burners = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(os.cpu_count())]
    time.sleep(0.4)
    stats.measure(0.0)  # from here on every core is busy
    time.sleep(0.3)
    sample = stats.measure(1.0)
    for p in burners:
        p.wait()
    stats.close()
    assert 50.0 < sample.host_cpu_pct <= 100.0
    assert 0.0 <= sample.host_iowait_pct <= 100.0


@pytest.mark.parametrize("procfs", [True, False], ids=["procfs", "psutil"])
def test_host_memory_adds_up_to_the_machine_memory(procfs):
    """Used + available is the machine's memory, and available agrees with psutil."""
    sample = HostStats(procfs=procfs).measure(0.0)
    vm = psutil.virtual_memory()
    assert sample.host_mem_used_bytes + sample.host_mem_available_bytes == vm.total
    assert sample.host_mem_available_bytes == pytest.approx(vm.available, rel=0.05)


def test_a_fresh_sampler_reports_cpu_since_it_was_made():
    """The first sample already has host CPU figures (measured since construction)."""
    stats = HostStats()
    time.sleep(0.05)
    sample = stats.measure(1.0)
    assert sample.host_cpu_pct is not None and sample.host_iowait_pct is not None


def test_hardware_is_the_machine():
    """host_hardware() names the CPU model as lscpu does, the core count and the memory."""
    hw = host_hardware()
    assert hw["cpu_count"] == os.cpu_count()
    assert hw["memory_bytes"] == psutil.virtual_memory().total
    assert isinstance(hw["cpu_model"], str) and hw["cpu_model"]
    if shutil.which("lscpu") and sys.platform.startswith("linux"):
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        names = [line.split(":", 1)[1].strip() for line in out.splitlines()
                 if line.startswith("Model name:")]
        if names and names[0] != "-":
            assert hw["cpu_model"] == names[0]
