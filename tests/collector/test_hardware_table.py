"""The hardware table shipped with the catalog: every catalog GPU has a datasheet row with a
source, instance types map to their CPU architecture, and GPU memory reads as its class."""

from __future__ import annotations

import pytest

from xprof.collector import catalog
from xprof.collector.hardware import (
    DATA_DIR,
    benchmarks,
    cpu_arch,
    cpu_arch_of_model,
    gpu_spec,
    gpu_specs,
)


def test_every_catalog_gpu_has_a_row_with_a_cited_source():
    """Each (GPU model, memory class) of aws/gcp/azure.csv is in gpus.csv, and each row's
    source id is described in HARDWARE.md."""
    doc = (DATA_DIR / "HARDWARE.md").read_text(encoding="utf-8")
    for price in catalog.read_shipped():
        if price.gpu_count and price.gpu_model:
            spec = gpu_spec(price.gpu_model, price.gpu_memory_gib)
            assert spec is not None, price.instance_type
            assert abs(spec.memory_gib - price.gpu_memory_gib) <= 0.15 * spec.memory_gib
    for spec in gpu_specs():
        assert f"`{spec.source}`" in doc


@pytest.mark.parametrize(("model", "memory", "figure"), [
    ("H100", 80, (989.5, "bf16")), ("L4", 22.35, (121.0, "fp16")), ("T4", 16, (65.0, "fp16")),
    ("P100", 16, (9.3, "fp32")), ("A10G", 22.35, None)])
def test_compute_figure_falls_back_bf16_fp16_fp32(model, memory, figure):
    assert gpu_spec(model, memory).compute == figure


def test_memory_class_is_the_nearest():
    """The catalog's 44.70 GiB L40S is the 48 GB part; A100 80 GB has its own bandwidth."""
    assert gpu_spec("L40S", 44.703125).memory_gib == 48
    assert (gpu_spec("A100", 40).bandwidth_gbs, gpu_spec("A100", 80).bandwidth_gbs) == (
        1555, 2039)


@pytest.mark.parametrize(("provider", "instance", "arch"), [
    ("aws", "c6gd.large", "arm64"), ("aws", "is4gen.xlarge", "arm64"),
    ("aws", "g5g.xlarge", "arm64"), ("aws", "a1.large", "arm64"),
    ("aws", "g4dn.xlarge", "x86_64"), ("aws", "m7i-flex.large", "x86_64"),
    ("aws", "p5en.48xlarge", "x86_64"), ("azure", "Standard_D4ps_v5", "arm64"),
    ("azure", "Standard_D4pls_v5", "arm64"), ("azure", "Standard_E4pds_v6", "arm64"),
    ("azure", "Standard_NC24ads_A100_v4", "x86_64"), ("azure", "Standard_D16s_v5", "x86_64"),
    ("azure", "Standard_NP10s", "x86_64"), ("gcp", "t2a-standard-4", "arm64"),
    ("gcp", "c4a-standard-8", "arm64"), ("gcp", "a2-highgpu-1g", "x86_64")])
def test_cpu_architecture_of_instance_types(provider, instance, arch):
    """The tested examples of HARDWARE.md."""
    assert cpu_arch(provider, instance) == arch


def test_cpu_architecture_of_an_off_cloud_cpu_model():
    assert cpu_arch_of_model("Intel(R) Xeon(R) Platinum 8480C") == "x86_64"
    assert cpu_arch_of_model("AMD EPYC 9654 96-Core Processor") == "x86_64"
    assert cpu_arch_of_model("Neoverse-V2") == "arm64"
    assert cpu_arch_of_model(None) is None


def test_gpu_memory_label_is_human():
    """`1× L40S 48 GB`, not `L40S 44.7031GB`."""
    price = catalog.Price("aws", "g6e.xlarge", "us-east-1", 4, 32, 1, "L40S", 44.703125, None,
                          None, "USD", None, "test")
    assert price.hardware_label() == "4 vCPU, 32 GiB, 1× L40S 48 GB"


def test_benchmarks_parse():
    rows = benchmarks()
    assert len(rows) == 7 and all(r.published_speedup > 1 for r in rows)
