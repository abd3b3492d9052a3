"""The run-time predictor: a run whose bottleneck is known (compute-bound at 95 % SM,
memory-bound at 90 % memory controller, data-loader-bound at 20 % GPU with the CPUs
saturated, an idle tail) is predicted on three other GPU models at exactly the ratios worked
out by hand from the datasheet figures (L40S: 362.05 BF16 TFLOP/s, 864 GB/s, 4 vCPU on
g6e.xlarge; V100: 125 FP16 tensor TFLOP/s, 900 GB/s, 8 vCPU on p3.2xlarge; T4: 65, 320, 4 vCPU
on g4dn.xlarge; A100 40 GB: 312 BF16, 1,555 GB/s, on p4d.24xlarge, of which the 1-GPU run
uses one GPU)."""

from __future__ import annotations

import pytest

from tests.collector.advise_seed import GIB, L40S, gpu_row, seed_run
from xprof.collector import catalog
from xprof.collector.advise import limits_from, load_evidence
from xprof.collector.rightsizing.predict import predict, split_time
from xprof.settings import Settings

T = 3600.0
L40S_TF, L40S_BW = 362.05, 864.0
OTHERS = {"p3.2xlarge": (125.0, 900.0, 8), "g4dn.xlarge": (65.0, 320.0, 4),
          "p4d.24xlarge": (312.0, 1555.0, 96)}


def one_gpu(sm, mem):
    """GPU 0 at ``sm(t)`` / ``mem(t)`` percent, 4 GiB of the run's own memory."""
    def row(k: int, i: int, t: float) -> dict:
        return {**gpu_row(sm(t), 4 * GIB, L40S[1], 4 * GIB, True), "util_mem_pct": mem(t)}
    return row


def predicted(store, run_id: str) -> dict[str, float]:
    """Predicted duration of the run on each of the three other machines."""
    settings = Settings()
    ev = load_evidence(store, store.find_run(run_id), settings)
    split = split_time(ev)
    out = {}
    for instance in OTHERS:
        price = catalog.price_of(store, "aws", instance, "us-east-1")
        out[instance] = predict(ev, split, price, limits_from(settings)).duration_s
    return out


def l40s_run(store, sm, mem, cores=1.0) -> str:
    return seed_run(store, gpu=L40S, gpu_count=1, instance_type="g6e.xlarge", cpu_count=4,
                    memory_gib=32, interval_s=1.0, duration_s=T,
                    host_fn=lambda k, t: {"cpu_cores": cores(t) if callable(cores) else cores,
                                          "rss_bytes": 3 * GIB},
                    gpu_fn=one_gpu(sm, mem))


def test_compute_bound_run_scales_by_tflops(store):
    """95 % SM, 30 % memory controller: 95 % of the time scales by the TFLOP/s ratio, the
    other 5 % (GPU idle, CPU not saturated) stays."""
    got = predicted(store, l40s_run(store, lambda t: 95.0, lambda t: 30.0))
    for instance, (tflops, _, _) in OTHERS.items():
        assert got[instance] == pytest.approx(0.95 * T * L40S_TF / tflops + 0.05 * T, rel=1e-9)


def test_memory_bound_run_scales_by_bandwidth(store):
    """95 % SM, 90 % memory controller: the busy time scales by the bandwidth ratio."""
    got = predicted(store, l40s_run(store, lambda t: 95.0, lambda t: 90.0))
    for instance, (_, bandwidth, _) in OTHERS.items():
        assert got[instance] == pytest.approx(0.95 * T * L40S_BW / bandwidth + 0.05 * T,
                                              rel=1e-9)


def test_data_loader_bound_run_scales_by_vcpus(store):
    """20 % SM (5 % memory) with the 4 vCPUs saturated: 20 % scales by TFLOP/s, the 80 %
    the GPU waited on the CPUs by 4 / the candidate's vCPUs, at most twice as fast (p4d's 96
    vCPUs halve it; 8 vCPUs halve it; 4 keep it)."""
    got = predicted(store, l40s_run(store, lambda t: 20.0, lambda t: 5.0, cores=4.0))
    cpu_ratio = {"p3.2xlarge": 0.5, "g4dn.xlarge": 1.0, "p4d.24xlarge": 0.5}
    for instance, (tflops, _, _) in OTHERS.items():
        expected = 0.2 * T * L40S_TF / tflops + 0.8 * T * cpu_ratio[instance]
        assert got[instance] == pytest.approx(expected, rel=1e-9)


def test_idle_tail_does_not_scale(store):
    """Compute-bound for the first half, then GPU and CPU idle: only the busy part scales.
    Samples at 0 .. 3600 s: 1,800 of the 3,601 are busy (t < 1800)."""
    run = l40s_run(store, lambda t: 95.0 if t < 1800 else 0.0,
                   lambda t: 30.0 if t < 1800 else 0.0,
                   cores=lambda t: 1.0 if t < 1800 else 0.05)
    got = predicted(store, run)
    step = T / 3601
    busy = 1800 * step * 0.95
    for instance, (tflops, _, _) in OTHERS.items():
        assert got[instance] == pytest.approx(busy * L40S_TF / tflops + (T - busy), rel=1e-9)


def test_time_split_is_the_evidence(store):
    """The split the model used is stored with the prediction: parts that sum to the run."""
    settings = Settings()
    run = l40s_run(store, lambda t: 20.0, lambda t: 5.0, cores=4.0)
    split = split_time(load_evidence(store, store.find_run(run), settings))
    assert (split.compute_s, split.memory_s, split.cpu_s, split.idle_s) == pytest.approx(
        (0.2 * T, 0.0, 0.8 * T, 0.0))
    assert split.explained == pytest.approx(1.0)
