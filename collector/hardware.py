"""The hardware table shipped with the catalog: GPU datasheet figures, instance CPU
architectures and published training speed-ups (``data/gpus.csv``, ``data/instance_arch.csv``,
``data/gpu_benchmarks.csv``; every row's source is in ``data/HARDWARE.md``).

Light on purpose (csv, re): the agent's end-of-run advice reads it.
"""

from __future__ import annotations

import csv
import functools
import re
from dataclasses import dataclass
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
X86_64, ARM64 = "x86_64", "arm64"


@dataclass(frozen=True)
class GpuSpec:
    """One GPU's datasheet figures (dense TFLOP/s, GB/s); None where no source gave one."""

    model: str
    memory_gib: float  # the datasheet's memory class (24 for an A10G the catalog lists at 22.35)
    architecture: str
    fp32_tflops: float | None
    tf32_tflops: float | None
    bf16_tflops: float | None
    fp16_tflops: float | None
    bandwidth_gbs: float | None
    source: str

    @property
    def compute(self) -> tuple[float, str] | None:
        """Training throughput figure and its precision: BF16 tensor where known, else FP16
        tensor, else FP32 (None: no figure)."""
        for value, name in ((self.bf16_tflops, "bf16"), (self.fp16_tflops, "fp16"),
                            (self.fp32_tflops, "fp32")):
            if value:
                return value, name
        return None

    def as_evidence(self) -> dict[str, object]:
        compute = self.compute
        return {"gpu": f"{self.model} {self.memory_gib:g} GB",
                "tflops": compute[0] if compute else None,
                "precision": compute[1] if compute else None,
                "bandwidth_gbs": self.bandwidth_gbs, "source": self.source}


def _number(text: str) -> float | None:
    text = text.strip()
    return float(text) if text else None


@functools.cache
def gpu_specs(data_dir: Path = DATA_DIR) -> tuple[GpuSpec, ...]:
    """Every row of ``gpus.csv``."""
    with open(data_dir / "gpus.csv", newline="", encoding="utf-8") as fh:
        return tuple(GpuSpec(
            model=rec["gpu_model"], memory_gib=float(rec["memory_gib"]),
            architecture=rec["architecture"], fp32_tflops=_number(rec["fp32_tflops"]),
            tf32_tflops=_number(rec["tf32_tensor_tflops"]),
            bf16_tflops=_number(rec["bf16_tensor_tflops"]),
            fp16_tflops=_number(rec["fp16_tensor_tflops"]),
            bandwidth_gbs=_number(rec["memory_bandwidth_gbs"]), source=rec["source"])
            for rec in csv.DictReader(fh))


def gpu_spec(model: str | None, memory_gib: float | None = None) -> GpuSpec | None:
    """The row of a catalog GPU model whose memory class is nearest ``memory_gib`` (the
    catalog gives GiB, datasheets GB: 44.7 GiB is the 48 GB L40S); None when not listed."""
    rows = [s for s in gpu_specs() if model and s.model.lower() == model.lower()]
    if not rows:
        return None
    if memory_gib is None:
        return rows[0]
    return min(rows, key=lambda s: abs(s.memory_gib - memory_gib))


def memory_label(model: str | None, memory_gib: float | None) -> str:
    """GPU memory as people read it: the datasheet class (``48 GB``), else whole GiB."""
    spec = gpu_spec(model, memory_gib) if memory_gib else None
    if spec is not None and memory_gib \
            and abs(spec.memory_gib - memory_gib) <= 0.15 * spec.memory_gib:
        return f"{spec.memory_gib:g} GB"
    return f"{memory_gib:.0f} GiB" if memory_gib else ""


@dataclass(frozen=True)
class ArchRule:
    provider: str
    pattern: str  # as written in instance_arch.csv
    cpu_arch: str

    def matches(self, instance_type: str) -> bool:
        if self.pattern.startswith("any other"):
            return True
        if self.pattern.startswith("regex "):
            regex = re.compile(self.pattern.split()[1])
            return bool(regex.match(instance_type) or regex.match(instance_type.split(".")[0]))
        if self.pattern.endswith("-"):
            return instance_type.lower().startswith(self.pattern.lower())
        return instance_type.split(".")[0].lower() == self.pattern.lower()


@functools.cache
def arch_rules(data_dir: Path = DATA_DIR) -> tuple[ArchRule, ...]:
    """The rules of ``instance_arch.csv``, in file order (the fallback row of each provider
    comes last)."""
    with open(data_dir / "instance_arch.csv", newline="", encoding="utf-8") as fh:
        return tuple(ArchRule(rec["provider"], rec["family_prefix_or_pattern"].strip(),
                              rec["cpu_arch"]) for rec in csv.DictReader(fh))


def cpu_arch(provider: str | None, instance_type: str | None) -> str | None:
    """``x86_64`` or ``arm64`` for a catalog instance type (None: provider not covered)."""
    if not provider or not instance_type:
        return None
    for rule in arch_rules():
        if rule.provider == provider and rule.matches(instance_type):
            return rule.cpu_arch
    return None


_ARM_WORDS = ("aarch64", "arm", "neoverse", "graviton", "ampere", "apple", "cortex")
_X86_WORDS = ("intel", "amd", "x86", "xeon", "epyc", "core(tm)")


def cpu_arch_of_model(cpu_model: str | None) -> str | None:
    """The architecture a recorded CPU model name implies (None: cannot tell)."""
    name = (cpu_model or "").lower()
    if any(word in name for word in _X86_WORDS):
        return X86_64
    if any(word in name for word in _ARM_WORDS):
        return ARM64
    return None


@dataclass(frozen=True)
class Benchmark:
    """A published relative training speed between two GPU classes."""

    gpu_fast: str
    gpu_slow: str
    workload: str
    published_speedup: float
    source: str


@functools.cache
def benchmarks(data_dir: Path = DATA_DIR) -> tuple[Benchmark, ...]:
    """Every row of ``gpu_benchmarks.csv``."""
    with open(data_dir / "gpu_benchmarks.csv", newline="", encoding="utf-8") as fh:
        return tuple(Benchmark(rec["gpu_fast"], rec["gpu_slow"], rec["workload"],
                               float(rec["published_speedup"]), rec["source"])
                     for rec in csv.DictReader(fh))
