"""CUDA_VISIBLE_DEVICES is read the way CUDA reads it: indices, UUIDs and prefixes, MIG."""

from __future__ import annotations

import pytest

from xprof.agent.gpu_sampler import parse_visible_devices
from xprof.agent.nvml import Device

GPU = ["GPU-aaaa1111-0000-0000-0000-000000000000", "GPU-aaaa2222-0000-0000-0000-000000000000",
       "GPU-bbbb3333-0000-0000-0000-000000000000"]
MIG = ["MIG-cccc0000-0000-0000-0000-000000000000", "MIG-cccc1111-0000-0000-0000-000000000000"]


def machine() -> list[Device]:
    """GPUs 0 and 1 whole; GPU 2 in MIG mode with instances 0 and 3 (GPU instances 5, 6)."""
    devices = [Device(i, -1, None, GPU[i], "NVIDIA A100-SXM4-80GB", 1) for i in range(3)]
    devices[2].mig_mode = True
    devices[2].instances = [Device(2, 0, None, MIG[0], "MIG 3g.40gb", 1, gpu_instance_id=5),
                            Device(2, 3, None, MIG[1], "MIG 3g.40gb", 1, gpu_instance_id=6)]
    return devices


@pytest.mark.parametrize(("value", "expected"), [
    (None, None),                                   # unset: nothing to go by
    ("", set()),                                    # set but empty: no GPU visible
    ("-1", set()),
    ("1,0", {(1, -1), (0, -1)}),
    (" 1 , 0 ", {(1, -1), (0, -1)}),
    ("0,7,1", {(0, -1)}),                           # CUDA stops at the first invalid entry
    (GPU[1], {(1, -1)}),
    ("GPU-bbbb", {(2, 0), (2, 3)}),                  # unique prefix; a MIG GPU = its instances
    ("GPU-aaaa", set()),                            # ambiguous prefix names nothing
    ("2", {(2, 0), (2, 3)}),
    (MIG[1], {(2, 3)}),
    (f"MIG-{GPU[2]}/6/0", {(2, 3)}),                # legacy MIG-GPU-<uuid>/<gi>/<ci>
    (f"{MIG[0]},{GPU[0]}", {(2, 0), (0, -1)}),
])
def test_visible_devices(value, expected):
    """Each CUDA_VISIBLE_DEVICES form resolves to the NVML devices CUDA would use."""
    result = parse_visible_devices(value, machine())
    assert result == (None if expected is None else frozenset(expected))
