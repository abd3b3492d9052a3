"""Off any cloud a run is priced at the cheapest catalog instance covering the machine's
GPUs, vCPUs and memory (shown as an equivalent), or at a configured hourly rate."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from tests.collector.helpers import GIB, cpu_hardware, gpu_hardware, make_run, utc
from xprof.collector.estimate import estimate_run
from xprof.settings import Settings

NO_CONFIG = Settings(env={}, config={})
LAPTOP = cpu_hardware(8, 33_331_000_000)  # 8 threads, 31 GiB as MemTotal reports it


def test_cpu_laptop_is_priced_as_the_cheapest_covering_instance(store):
    """8 vCPUs and 31 GiB: m5.2xlarge ($0.384/h) is the cheapest covering aws us-east-1 type."""
    run_id = make_run(store, started_at=utc(2026, 11, 20, 9, 0), duration_s=240,
                      hardware=LAPTOP, provider="none")
    estimate = estimate_run(store, run_id, NO_CONFIG)
    assert estimate.method == "equivalent"
    assert estimate.amount == Decimal("0.0256")
    assert estimate.summary_line() == \
        "est. $0.026 (≈ m5.2xlarge on-demand equivalent, aws us-east-1, $0.38/h, 4m)"


def test_gpu_workstation_equivalent_covers_model_and_count(store):
    """One T4 with 8 vCPUs and 31 GiB is a g4dn.2xlarge; unknown provider counts as off-cloud."""
    hw = gpu_hardware("Tesla T4", 1, 15360 * 2**20, [0], 8, 31.0)
    run_id = make_run(store, started_at=utc(2026, 11, 20, 9, 0), duration_s=3600, hardware=hw,
                      provider="unknown")
    estimate = estimate_run(store, run_id, NO_CONFIG)
    assert estimate.price.instance_type == "g4dn.2xlarge"
    assert estimate.amount == Decimal("0.752")


def test_equivalent_provider_and_region_are_settings(store):
    """offcloud_provider / offcloud_region choose the catalog: GCP us-central1 gives an N1+T4."""
    hw = gpu_hardware("Tesla T4", 1, 15360 * 2**20, [0], 8, 29.0)
    run_id = make_run(store, started_at=utc(2026, 11, 20, 9, 0), duration_s=3600, hardware=hw)
    settings = Settings(env={"XPROF_OFFCLOUD_PROVIDER": "gcp",
                             "XPROF_OFFCLOUD_REGION": "us-central1"}, config={})
    estimate = estimate_run(store, run_id, settings)
    assert estimate.price.instance_type == "n1-standard-8+nvidia-tesla-t4:1"
    assert estimate.amount == Decimal("0.73")


def test_bigger_host_than_any_instance_falls_back_to_the_gpus(store):
    """8× A100 80GB with 128 vCPUs: no instance covers the host, so p4de's price covers the
    GPUs, and the summary says so."""
    hw = gpu_hardware("NVIDIA A100-SXM4-80GB", 8, 80 * GIB, list(range(8)), 256, 2015)
    run_id = make_run(store, started_at=utc(2026, 11, 20, 9, 0), duration_s=3600, hardware=hw)
    estimate = estimate_run(store, run_id, NO_CONFIG)
    assert estimate.price.instance_type == "p4de.24xlarge"
    assert estimate.amount == Decimal("27.44705")
    assert "equivalent for the GPUs only" in estimate.summary_line()


def test_configured_rate_wins_over_the_equivalent(store):
    """XPROF_OFFCLOUD_RATE=2.5 prices half an hour at $1.25."""
    run_id = make_run(store, started_at=utc(2026, 11, 20, 9, 0), duration_s=1800,
                      hardware=LAPTOP, provider="none")
    estimate = estimate_run(store, run_id, Settings(env={"XPROF_OFFCLOUD_RATE": "2.5"},
                                                    config={}))
    assert estimate.amount == Decimal("1.25") and estimate.method == "configured-rate"
    assert estimate.summary_line() == "est. $1.25 (off-cloud rate $2.50/h, 30m)"
    assert estimate.detail()["price_source"] == "offcloud_rate setting"


def test_gpu_the_catalog_lacks_is_unknown_with_the_fix(store):
    """An RTX 4090 has no cloud equivalent: the cost is unknown and says to set a rate."""
    hw = gpu_hardware("NVIDIA GeForce RTX 4090", 1, 24564 * 2**20, [0], 32, 62.5)
    run_id = make_run(store, started_at=utc(2026, 11, 20, 9, 0), duration_s=3600, hardware=hw)
    estimate = estimate_run(store, run_id, NO_CONFIG)
    assert estimate.amount is None
    assert "GeForce RTX 4090" in estimate.reason
    assert "offcloud_rate" in estimate.reason


def test_unused_gpu_without_equivalent_is_priced_without_it(store):
    """A CPU job on a laptop with a GeForce it never touched is priced as the CPU equivalent,
    and the summary says the GPUs were left out."""
    hw = gpu_hardware("NVIDIA GeForce RTX 4090", 1, 24564 * 2**20, [], 8, 31.0)
    run_id = make_run(store, started_at=utc(2026, 11, 20, 9, 0), duration_s=240, hardware=hw)
    estimate = estimate_run(store, run_id, NO_CONFIG)
    assert estimate.amount == Decimal("0.0256")
    assert estimate.summary_line() == ("est. $0.026 (≈ m5.2xlarge on-demand equivalent without "
                                       "the GPUs, aws us-east-1, $0.38/h, 4m)")


# -- the host's own hardware: an instance scaled to the host's GPUs ---------------------------
P5EN = Decimal("63.296")  # p5en.48xlarge, 8× H200, aws us-east-1 on-demand
P4D = Decimal("21.957642")  # p4d.24xlarge, 8× A100 40GB


def test_one_h200_host_is_an_eighth_of_p5en(store):
    """1× H200 (16 vCPUs, 128 GiB) off the cloud for an hour: p5en.48xlarge's price / 8, and
    the summary states the arithmetic."""
    hw = gpu_hardware("NVIDIA H200", 1, 143771 * 2**20, [0], 16, 128)
    run_id = make_run(store, started_at=utc(2026, 11, 20, 9, 0), duration_s=3600, hardware=hw,
                      provider="none")
    estimate = estimate_run(store, run_id, NO_CONFIG)
    assert estimate.price.instance_type == "p5en.48xlarge"
    assert estimate.rate == P5EN / 8
    assert estimate.amount == Decimal("7.912")
    assert estimate.summary_line() == (
        "est. $7.91 (≈ p5en.48xlarge $63.30/h × 1/8 GPUs, on-demand equivalent, "
        "aws us-east-1, $7.91/h, 1h)")
    assert estimate.detail()["equivalent"]["fraction"] == 0.125


def test_four_a100_host_run_on_one_gpu_is_shared_by_the_rule(store):
    """4× A100 40GB host, a run on 1 GPU for 2 h: the host is p4d.24xlarge × 4/8 GPUs, and the
    run pays 1/4 of that (its GPUs over the host's)."""
    hw = gpu_hardware("NVIDIA A100-SXM4-40GB", 4, 40960 * 2**20, [2], 48, 500)
    run_id = make_run(store, started_at=utc(2026, 11, 20, 9, 0), duration_s=7200, hardware=hw,
                      provider="none")
    estimate = estimate_run(store, run_id, NO_CONFIG)
    assert estimate.price.instance_type == "p4d.24xlarge"
    assert estimate.rate == P4D * 4 / 8
    assert (estimate.used_gpus, estimate.machine_gpus) == (1, 4)
    assert estimate.amount == P4D * 4 / 8 * 2 / 4
    assert estimate.summary_line() == (
        "est. $5.49 (≈ p4d.24xlarge $21.96/h × 4/8 GPUs, on-demand equivalent, aws us-east-1, "
        "$10.98/h × 1/4 GPUs, 2h)")


def test_cpu_host_is_priced_for_its_vcpus_not_the_next_bundle(store):
    """A 6-vCPU, 20 GiB host has no bundle of its size: it is priced as the cheapest scaled
    CPU instance (price × the larger of vCPU and memory fractions), below m5.2xlarge's whole
    price, and the summary names the fraction."""
    hw = cpu_hardware(6, 20 * GIB)
    run_id = make_run(store, started_at=utc(2026, 11, 20, 9, 0), duration_s=3600,
                      hardware=hw, provider="none")
    estimate = estimate_run(store, run_id, NO_CONFIG)
    p = estimate.price
    fraction = max(Fraction(6, p.vcpus), Fraction(20) / Fraction(p.memory_gib))
    assert estimate.rate == p.on_demand * fraction.numerator / fraction.denominator
    assert fraction < 1 and estimate.amount < Decimal("0.384")
    assert f"≈ {p.instance_type} $" in estimate.summary_line()
    assert " vCPUs, on-demand equivalent" in estimate.summary_line() or \
        " GiB, on-demand equivalent" in estimate.summary_line()
