"""Helpers of the GPU tests: scenarios for the fake NVML, and reading GPU rows back."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import sqlalchemy as sa

FAKE_NVML_DIR = Path(__file__).resolve().parents[1] / "fake_nvml"
GIB = 2**30
A100 = "NVIDIA A100-SXM4-80GB"
A100_BYTES = 85899345920  # what NVML reports for an 80 GB A100 (81920 MiB)


def write_scenario(tmp_path: Path, scenario: dict[str, Any]) -> Path:
    path = tmp_path / "nvml-scenario.json"
    path.write_text(json.dumps(scenario))
    return path


def fake_nvml_env(tmp_path: Path, scenario: dict[str, Any]) -> dict[str, str]:
    """Environment that puts the fake pynvml ahead of the real one for `xprof run`."""
    path = write_scenario(tmp_path, scenario)
    python_path = os.pathsep.join(p for p in (str(FAKE_NVML_DIR),
                                              os.environ.get("PYTHONPATH")) if p)
    return {"XPROF_FAKE_NVML": str(path), "PYTHONPATH": python_path}


def load_fake_nvml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                   scenario: dict[str, Any]) -> ModuleType:
    """A fresh fake pynvml module installed as ``pynvml`` for this test (in-process use)."""
    path = write_scenario(tmp_path, scenario)
    monkeypatch.setenv("XPROF_FAKE_NVML", str(path))
    spec = importlib.util.spec_from_file_location("pynvml", FAKE_NVML_DIR / "pynvml.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "pynvml", module)
    spec.loader.exec_module(module)
    return module


def a100(**overrides: Any) -> dict[str, Any]:
    """An idle 80 GB A100 as the fake describes it, with overrides."""
    return {"name": A100, "memory_total": A100_BYTES, "util_gpu": 0, "util_mem": 0,
            "power_mw": 60_000, "power_limit_mw": 400_000, "temperature_c": 33,
            "sm_clock_mhz": 1410, **overrides}


def spawn_tree(children: int = 0) -> subprocess.Popen:
    """A real process (sh) with ``children`` sleeping children; kill it with ``reap``."""
    script = " ".join(["sleep 60 &"] * children) + " sleep 60 & wait"
    proc = subprocess.Popen(["sh", "-c", script])
    import psutil

    deadline = time.monotonic() + 5
    while len(psutil.Process(proc.pid).children()) < children + 1:
        assert time.monotonic() < deadline, "the test's process tree did not start"
        time.sleep(0.01)
    return proc


def tree_pids(proc: subprocess.Popen) -> frozenset[int]:
    import psutil

    root = psutil.Process(proc.pid)
    return frozenset([proc.pid, *(p.pid for p in root.children(recursive=True))])


def reap(proc: subprocess.Popen) -> None:
    import psutil

    for child in psutil.Process(proc.pid).children(recursive=True):
        child.kill()
    proc.kill()
    proc.wait()


def only_run(store, result: subprocess.CompletedProcess | None = None) -> dict[str, Any]:
    """The one run in the store (the stderr of ``result`` explains it if there is none)."""
    runs = store.list_runs()
    assert len(runs) == 1, result.stderr if result is not None else runs
    return runs[0]


def gpu_rows(store, run_id: str) -> list[dict[str, Any]]:
    """Every stored GPU sample of the run, in time order."""
    from xprof import schema

    g = schema.gpu_samples
    with store.read() as conn:
        return [dict(r) for r in conn.execute(
            sa.select(g).where(g.c.run_id == run_id)
            .order_by(g.c.ts, g.c.gpu_index, g.c.mig_index)).mappings()]


def by_target(rows: list[dict[str, Any]]) -> dict[tuple[int, int], list[dict[str, Any]]]:
    out: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault((row["gpu_index"], row["mig_index"]), []).append(row)
    return out


def sample_pinned(fake: ModuleType, sampler: Any, pids_at: Any, seconds: int,
                  final: list[bool] | None = None) -> tuple[list[list[Any]], Any]:
    """Samples at t = 0, 1, ..., ``seconds`` with the fake's clock pinned to them (the last
    one final when ``final`` is the sampler's flag): (each sample's GpuSamples, the NVML
    calls made, by function)."""
    from collections import Counter

    def by_function() -> Counter:
        total: Counter = Counter()
        for (function, _, _), n in fake._calls.items():
            total[function] += n
        return total

    before = by_function()
    samples = []
    for t in range(seconds + 1):
        fake._set_clock(float(t))
        if final is not None:
            final[0] = t == seconds
        samples.append(sampler.sample(1_000_000.0 + t, pids_at(t)))
    return samples, by_function() - before
