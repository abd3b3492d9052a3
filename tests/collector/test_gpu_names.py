"""One normaliser maps the GPU names NVML reports to the catalog's model and memory."""

from __future__ import annotations

import pytest

from xprof.collector.catalog import cheapest_equivalent, list_prices
from xprof.collector.gpu_names import gcp_n1_key, is_neuron, normalise_gpu

GIB = 2**30


@pytest.mark.parametrize(("nvml_name", "model", "memory_gib"), [
    ("Tesla T4", "T4", 16),
    ("NVIDIA A100-SXM4-80GB", "A100", 80),
    ("NVIDIA A100-SXM4-40GB", "A100", 40),
    ("NVIDIA A100-PCIE-40GB", "A100", 40),
    ("NVIDIA A100 80GB PCIe", "A100", 80),
    ("NVIDIA H100 80GB HBM3", "H100", 80),
    ("NVIDIA H100 NVL", "H100", 94),
    ("NVIDIA H200", "H200", 141),
    ("NVIDIA A10G", "A10G", 24),
    ("NVIDIA A10", "A10", 24),
    ("NVIDIA L4", "L4", 24),
    ("NVIDIA L40S", "L40S", 48),
    ("Tesla V100-SXM2-16GB", "V100", 16),
    ("Tesla V100-SXM2-32GB", "V100", 32),
    ("Tesla P100-PCIE-16GB", "P100", 16),
    ("Tesla M60", "M60", 8),
    ("NVIDIA T4G", "T4g", 16),
])
def test_real_nvml_names_map_to_catalog_models(nvml_name, model, memory_gib):
    """Each NVML device name seen on cloud GPUs gives the catalog's model and GiB per GPU."""
    gpu = normalise_gpu(nvml_name)
    assert (gpu.model, gpu.memory_gib, gpu.known) == (model, memory_gib, True)


def test_every_normalised_model_is_priced_somewhere(store):
    """The models the normaliser gives are the ones the shipped catalog uses."""
    for name in ("Tesla T4", "NVIDIA A100-SXM4-80GB", "NVIDIA H100 80GB HBM3", "NVIDIA A10G",
                 "NVIDIA L4", "Tesla V100-SXM2-16GB", "NVIDIA L40S", "NVIDIA H200"):
        assert list_prices(store, gpu=normalise_gpu(name)), name


def test_an_unknown_gpu_keeps_its_name_and_measured_memory():
    """A consumer GPU is not mistaken for a catalog model; its memory comes from NVML."""
    gpu = normalise_gpu("NVIDIA GeForce RTX 4090", memory_bytes=24564 * 2**20)
    assert gpu.known is False
    assert gpu.model == "GeForce RTX 4090"
    assert gpu.memory_gib == 24.0
    assert normalise_gpu("") is None and normalise_gpu(None) is None


@pytest.mark.parametrize(("machine", "nvml_name", "count", "key"), [
    ("n1-standard-8", "Tesla T4", 1, "n1-standard-8+nvidia-tesla-t4:1"),
    ("n1-standard-16", "Tesla V100-SXM2-16GB", 4, "n1-standard-16+nvidia-tesla-v100:4"),
    ("n1-standard-4", "Tesla P100-PCIE-16GB", 2, "n1-standard-4+nvidia-tesla-p100:2"),
])
def test_gcp_n1_keys_are_built_from_nvml_names(store, machine, nvml_name, count, key):
    """The N1 + attached GPU key is the catalog's, and the catalog prices it in us-central1."""
    assert gcp_n1_key(machine, normalise_gpu(nvml_name), count) == key
    assert list_prices(store, provider="gcp", region="us-central1", instance_type=key)


def test_gpus_gcp_cannot_attach_build_no_key():
    """A GPU without a GCP accelerator type, or a count of zero, gives no key."""
    assert gcp_n1_key("n1-standard-8", normalise_gpu("NVIDIA A10G"), 1) is None
    assert gcp_n1_key("n1-standard-8", normalise_gpu("Tesla T4"), 0) is None


def test_neuron_devices_are_never_gpu_substitutes(store):
    """Trainium and Inferentia rows are in the catalog, but no GPU search ever returns them."""
    neuron_rows = [p for p in list_prices(store, provider="aws", region="us-east-1")
                   if is_neuron(p.gpu_model)]
    assert {p.gpu_model for p in neuron_rows} == {"Trainium", "Inferentia2"}
    assert all(p.gpus == 0 for p in neuron_rows)
    assert normalise_gpu("Trainium").known is False
    assert cheapest_equivalent(store, "aws", "us-east-1", gpu=normalise_gpu("Trainium"),
                               gpu_count=1, vcpus=None, memory_gib=None) is None
    # A CPU-only machine's equivalent is never an accelerator instance either.
    cpu = cheapest_equivalent(store, "aws", "us-east-1", gpu=None, gpu_count=0, vcpus=96,
                              memory_gib=370)
    assert cpu.gpu_count == 0 and cpu.gpu_model is None
