"""The GPU lines of a run's end-of-run summary, computed from its GpuSamples."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from xprof.records import GpuSample
from xprof.stats import percentile


def gpu_summary(samples: Sequence[GpuSample], hardware: dict) -> list[str]:
    """Util p50/p95 and memory peak per GPU the run used, and the GPUs it never used.

    Percentiles cover the span from the first to the last sample in which the run used the
    device. Memory peak is the run's own where NVML attributed memory to it, else the whole
    device's (labelled so).
    """
    by_target: dict[tuple[int, int], list[GpuSample]] = {}
    for sample in sorted(samples, key=lambda s: s.ts):
        by_target.setdefault((sample.gpu_index, sample.mig_index), []).append(sample)
    names = {g.get("index"): g.get("name") for g in hardware.get("gpus") or []}
    mig_gpus = {index for index, mig_index in by_target if mig_index >= 0}

    lines: list[str] = []
    used_gpus: set[int] = set()
    for (index, mig_index), series in sorted(by_target.items()):
        held = [s.ts for s in series if s.used_by_run]
        if not held:
            continue
        used_gpus.add(index)
        if mig_index < 0 and index in mig_gpus:
            continue  # a MIG device is reported through the instances the run used
        span = [s for s in series if held[0] <= s.ts <= held[-1]]
        label = f"GPU {index}" + (f" MIG {mig_index}" if mig_index >= 0 else "")
        name = names.get(index)
        lines.append(f"{label}{f' ({name})' if name else ''}: "
                     f"{_util_text(span, mig_index >= 0)}; {_memory_text(span)}")

    if any(s.attribution == "visible-devices" for s in samples):
        lines.append("GPU use attributed by CUDA_VISIBLE_DEVICES: no process of the run was in "
                     "NVML's process lists (containers and VMs list host or no PIDs)")
    count = hardware.get("gpu_count") or len({s.gpu_index for s in samples})
    all_gpus = [g.get("index") for g in hardware.get("gpus") or []] or list(range(count))
    unused = [i for i in all_gpus if i not in used_gpus]
    if count and not used_gpus:
        lines.append(f"GPUs: the run used none of the {count} on this machine")
    elif unused:
        lines.append(f"GPUs the run never used: {', '.join(map(str, unused))} "
                     f"({len(unused)} of {count})")
    return lines


def _util_text(span: Sequence[GpuSample], mig: bool) -> str:
    util = [s.util_gpu_pct for s in span if s.util_gpu_pct is not None]
    if not util:
        return "util n/a" + (" under MIG" if mig else "")
    text = f"util p50 {_pct(percentile(util, 50))}, p95 {_pct(percentile(util, 95))}"
    own = [s.run_sm_util_pct for s in span if s.run_sm_util_pct is not None]
    if own:
        text += f" (run's SM p50 {_pct(percentile(own, 50))})"
    return text


def _memory_text(span: Sequence[GpuSample]) -> str:
    own = _peak(s.run_mem_used_bytes for s in span if s.used_by_run)
    if own:
        return f"memory peak {_gib(own)} (run's own)"
    device = _peak(s.mem_used_bytes for s in span)
    if device is None:
        return "memory peak n/a"
    return f"memory peak {_gib(device)} (whole device)"


def _peak(values: Iterable[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} %"


def _gib(value: int) -> str:
    return f"{value / 2**30:.1f} GiB"
