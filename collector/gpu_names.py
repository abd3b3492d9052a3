"""One normaliser from the GPU names NVML reports to the price catalog's model and memory.

NVML says ``Tesla T4``, ``NVIDIA A100-SXM4-80GB`` or ``NVIDIA H100 80GB HBM3``; the catalog
says model ``T4`` / ``A100`` / ``H100`` with ``gpu_memory_gib`` per GPU (A100 40 GB and 80 GB
are told apart by memory). GCP prices N1 machines with attached GPUs under keys such as
``n1-standard-8+nvidia-tesla-t4:1``; :func:`gcp_n1_key` builds them.

AWS Neuron devices (Trainium, Inferentia) sit in the catalog's GPU columns of ``trn1`` and
``inf2`` rows but are never GPUs: :func:`is_neuron` tells them apart, and nothing here maps a
GPU name to them.

Standard library only: the agent calls this at a run's end.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Catalog spelling of each known GPU model, keyed by its upper-case NVML token, with the
# nominal memory per GPU (GiB) when the NVML name does not state it.
KNOWN_MODELS: dict[str, tuple[str, float | None]] = {
    "A100": ("A100", 40.0),
    "H100": ("H100", 80.0),
    "H200": ("H200", 141.0),
    "B200": ("B200", 180.0),
    "V100": ("V100", 16.0),
    "T4": ("T4", 16.0),
    "T4G": ("T4g", 16.0),
    "A10G": ("A10G", 24.0),
    "A10": ("A10", 24.0),
    "L4": ("L4", 24.0),
    "L40S": ("L40S", 48.0),
    "L40": ("L40", 48.0),
    "M60": ("M60", 8.0),
    "P100": ("P100", 16.0),
    "P4": ("P4", 8.0),
    "K80": ("K80", 12.0),
    "A30": ("A30", 24.0),
    "A40": ("A40", 48.0),
}

# Names NVML gives without a memory figure although the model has several sizes.
_NAMED_VARIANTS: dict[str, float] = {"H100 NVL": 94.0}

NEURON_MODELS = frozenset({"Trainium", "Trainium2", "Inferentia", "Inferentia2"})

# GCP accelerator-type ids by (model, memory GiB per GPU); memory None matches any size.
_GCP_ACCELERATORS: dict[tuple[str, float | None], str] = {
    ("T4", None): "nvidia-tesla-t4",
    ("V100", None): "nvidia-tesla-v100",
    ("P100", None): "nvidia-tesla-p100",
    ("P4", None): "nvidia-tesla-p4",
    ("K80", None): "nvidia-tesla-k80",
    ("L4", None): "nvidia-l4",
    ("A100", 40.0): "nvidia-tesla-a100",
    ("A100", 80.0): "nvidia-a100-80gb",
    ("H100", 80.0): "nvidia-h100-80gb",
}

_PREFIXES = ("NVIDIA ", "TESLA ", "QUADRO ")
_MEMORY_RE = re.compile(r"(\d+)\s*GB\b", re.IGNORECASE)

# The catalog may publish usable rather than nominal memory (AWS lists A10G at 22.35 GiB):
# a catalog GPU covers a requirement when it has at least this fraction of the memory.
MEMORY_TOLERANCE = 0.9


@dataclass(frozen=True)
class GpuModel:
    """A GPU as the catalog names it: short model, memory per GPU in GiB, known to the catalog."""

    model: str
    memory_gib: float | None
    known: bool

    def label(self) -> str:
        """``A100 80GB``, ``T4 16GB``: how summaries and errors name the GPU."""
        return f"{self.model} {self.memory_gib:g}GB" if self.memory_gib else self.model


def normalise_gpu(name: str | None, memory_bytes: int | None = None) -> GpuModel | None:
    """The catalog model and memory of an NVML device name; None for no name.

    Memory comes from the name (``…-80GB``), else from the model's nominal size, else from
    ``memory_bytes`` (what NVML measured). Unknown names keep their cleaned text, ``known``
    False, so callers can say which GPU the catalog lacks.
    """
    if not name or not name.strip():
        return None
    text = " ".join(name.split())
    upper = text.upper()
    for prefix in _PREFIXES:
        if upper.startswith(prefix):
            text, upper = text[len(prefix):], upper[len(prefix):]
    measured = round(memory_bytes / 2**30, 1) if memory_bytes else None
    if text in NEURON_MODELS:
        return GpuModel(text, measured, known=False)
    stated = _MEMORY_RE.search(text)
    first = re.split(r"[\s\-_]", upper, maxsplit=1)[0]
    if first in KNOWN_MODELS:
        model, nominal = KNOWN_MODELS[first]
        if stated:
            memory = float(stated.group(1))
        else:
            memory = next((gib for variant, gib in _NAMED_VARIANTS.items()
                           if upper.startswith(variant.upper())), nominal)
        return GpuModel(model, memory if memory is not None else measured, known=True)
    memory = float(stated.group(1)) if stated else measured
    return GpuModel(text, memory, known=False)


def is_neuron(model: str | None) -> bool:
    """True for AWS Neuron accelerators (Trainium, Inferentia), which are never GPUs."""
    return bool(model) and model in NEURON_MODELS


def covers(catalog_model: str | None, catalog_memory_gib: float | None, need: GpuModel) -> bool:
    """Whether a catalog GPU (model, memory per GPU) can stand in for ``need``."""
    if not catalog_model or is_neuron(catalog_model) or not need.known:
        return False
    if catalog_model != need.model:
        return False
    if need.memory_gib is None or catalog_memory_gib is None:
        return True
    return catalog_memory_gib >= MEMORY_TOLERANCE * need.memory_gib


def gcp_accelerator_type(gpu: GpuModel) -> str | None:
    """GCP's accelerator-type id (``nvidia-tesla-t4``) for a GPU, or None if GCP has none."""
    if not gpu.known:
        return None
    exact = _GCP_ACCELERATORS.get((gpu.model, gpu.memory_gib))
    return exact or _GCP_ACCELERATORS.get((gpu.model, None))


def gcp_n1_key(machine_type: str, gpu: GpuModel, count: int) -> str | None:
    """The catalog key of an N1 machine with GPUs: ``n1-standard-8+nvidia-tesla-t4:1``.

    None when the GPU cannot be attached on GCP or ``count`` is not positive.
    """
    accelerator = gcp_accelerator_type(gpu)
    if accelerator is None or count <= 0:
        return None
    return f"{machine_type}+{accelerator}:{count}"
