"""CPU cost per sample that GPU sampling adds to the agent.

Times ``GpuSampler.sample`` (CPU time of the calling thread, median and p95 over repeated
samples) against the fake NVML of the tests with 8 simulated GPUs in several shapes, and,
with ``--real``, against this machine's real NVML. With the fake, the figure includes the fake
module's own Python work, which stands in for the driver's time in a real call; the NVML calls
per sample are counted so the two can be compared.

    python benchmarks/gpu_sampling.py [--samples 300] [--real]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from xprof.agent.gpu_sampler import GpuSampler

FAKE = Path(__file__).resolve().parents[1] / "tests" / "fake_nvml" / "pynvml.py"
GIB = 2**30


def a100(**extra) -> dict:
    return {"name": "NVIDIA A100-SXM4-80GB", "util_gpu": 50, "util_mem": 20, **extra}


def scenarios(run_pid: int) -> dict[str, tuple[dict, str | None]]:
    """name -> (scenario, CUDA_VISIBLE_DEVICES)."""
    foreign = 3_999_999
    on_two = [a100() for _ in range(8)]
    for i in (2, 5):
        on_two[i] = a100(processes=[{"pid": run_pid, "used_memory": 4 * GIB, "sm_util": 70}])
    container = [a100(processes=[{"pid": foreign + i, "used_memory": GIB, "sm_util": 50}])
                 for i in range(8)]
    mig = [a100() for _ in range(8)]
    for i in (0, 1):
        mig[i] = a100(mig=[{"memory_total": 20 * GIB,
                            "processes": [{"pid": run_pid, "used_memory": GIB}]}] * 3)
    unsupported = [a100(fail={"nvmlDeviceGetPowerUsage": "NotSupported",
                              "nvmlDeviceGetTotalEnergyConsumption": "NotSupported"})
                   for _ in range(8)]
    return {
        "8 GPUs, run on none": ({"devices": [a100() for _ in range(8)]}, None),
        "8 GPUs, run on 2 (pid)": ({"devices": on_two}, None),
        "8 GPUs, container (visible-devices)": ({"devices": container}, "0,1,2,3,4,5,6,7"),
        "8 GPUs, 2 in MIG mode x 3 instances": ({"devices": mig}, None),
        "8 GPUs, power+energy unsupported": ({"devices": unsupported}, None),
    }


def load_fake(scenario: dict, folder: Path):
    path = folder / "scenario.json"
    path.write_text(json.dumps(scenario))
    os.environ["XPROF_FAKE_NVML"] = str(path)
    spec = importlib.util.spec_from_file_location("pynvml", FAKE)
    module = importlib.util.module_from_spec(spec)
    sys.modules["pynvml"] = module
    spec.loader.exec_module(module)
    return module


def measure(sampler: GpuSampler, pids: frozenset[int], samples: int) -> tuple[list[float], int]:
    """CPU microseconds per sample() call, and rows per sample."""
    for _ in range(5):  # warm up: unsupported calls are dropped on the first samples
        rows = sampler.sample(time.time(), pids)
    costs = []
    for _ in range(samples):
        start = time.thread_time_ns()
        sampler.sample(time.time(), pids)
        costs.append((time.thread_time_ns() - start) / 1000)
    return costs, len(rows)


def row(name: str, costs: list[float], rows: int, calls: float | None) -> str:
    costs = sorted(costs)
    p95 = costs[int(0.95 * (len(costs) - 1))]
    per_call = f"{statistics.median(costs) / calls:7.1f}" if calls else "      -"
    calls_text = f"{calls:5.0f}" if calls else "    -"
    return (f"| {name:<38} | {rows:4d} | {calls_text} | {statistics.median(costs):9.0f} | "
            f"{p95:8.0f} | {per_call} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--real", action="store_true", help="also time this machine's NVML")
    args = parser.parse_args()

    child = subprocess.Popen(["sleep", "600"])  # a real process the run's pid set names
    pids = frozenset({os.getpid(), child.pid})
    lines = ["| setup | rows | NVML calls/sample | CPU µs/sample (median) | p95 | "
             "µs/call |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    try:
        with tempfile.TemporaryDirectory() as folder:
            for name, (scenario, visible) in scenarios(child.pid).items():
                fake = load_fake(scenario, Path(folder))
                sampler = GpuSampler.create(visible)
                assert sampler is not None, name
                before = sum(fake._calls.values())
                costs, rows = measure(sampler, pids, args.samples)
                calls = (sum(fake._calls.values()) - before) / (args.samples + 5)
                sampler.close()
                lines.append(row(name, costs, rows, calls))
            if args.real:
                sys.modules.pop("pynvml", None)
                os.environ.pop("XPROF_FAKE_NVML", None)
                sampler = GpuSampler.create(os.environ.get("CUDA_VISIBLE_DEVICES"))
                if sampler is None:
                    lines.append("| real NVML: none on this machine | | | | | |")
                else:
                    model = sampler.hardware()["gpu_model"]
                    costs, rows = measure(sampler, pids, args.samples)
                    sampler.close()
                    lines.append(row(f"real: {model}"[:38], costs, rows, None))
    finally:
        child.kill()
        child.wait()
    print(f"GPU sampling cost, {args.samples} samples each, Python "
          f"{sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
