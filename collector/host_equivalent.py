"""What an off-cloud host's hardware costs in the catalog: its "host equivalent".

The equivalent of a host with GPUs is the catalog instance with at least the host's GPUs of
the same model whose price, scaled to the host, is the lowest: an instance with more GPUs
than the host is priced at ``price × host GPUs / instance GPUs`` (a 1×H200 workstation is an
eighth of a p5en.48xlarge, not all of it). The scaled instance must also cover the host's
vCPUs and memory; where none does, the cheapest scaled instance covering the GPUs alone is
used and says so (:data:`NOTE_GPUS_ONLY`).

A CPU-only host is priced the same way for its vCPUs and memory: each instance without
accelerators that has at least both is scaled by the larger of host vCPUs / instance vCPUs
and host memory / instance memory, and the cheapest scaled price wins (not the nearest bigger
bundle).

Pure catalog reads: no pandas, no cloud SDK (this runs as ``xprof run`` ends).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from xprof.collector import catalog
from xprof.collector.gpu_names import GpuModel
from xprof.money import format_rate
from xprof.store import Store

NOTE_GPUS_ONLY = "covers the GPUs only"  # no instance also covers the host's vCPUs and memory


@dataclass(frozen=True)
class HostEquivalent:
    """An instance priced as the host: ``rate = price.on_demand × fraction``."""

    price: catalog.Price
    rate: Decimal
    fraction: Fraction  # host's share of the instance (1: the whole instance)
    unit: str  # what the fraction counts: "GPUs", "vCPUs" or "GiB"
    host_units: float
    instance_units: float
    note: str | None = None

    @property
    def scaled(self) -> bool:
        return self.fraction < 1

    def arithmetic(self) -> str:
        """``p5en.48xlarge $63.30/h × 1/8 GPUs``; just the instance type when unscaled."""
        if not self.scaled:
            return self.price.instance_type
        rate = format_rate(self.price.on_demand, self.price.currency)
        return (f"{self.price.instance_type} {rate} × {self.host_units:g}/"
                f"{self.instance_units:g} {self.unit}")

    def to_json(self) -> dict:
        return {"instance_type": self.price.instance_type,
                "instance_rate_per_hour": str(self.price.on_demand),
                "fraction": float(self.fraction), "unit": self.unit,
                "host_units": self.host_units, "instance_units": self.instance_units,
                "rate_per_hour": str(self.rate), "text": self.arithmetic()}


def host_equivalent(store: Store, provider: str, region: str, *, gpu: GpuModel | None,
                    gpu_count: int, vcpus: int | None, memory_gib: float | None
                    ) -> HostEquivalent | None:
    """The host's equivalent (see the module docstring); None when the catalog has none."""
    if gpu_count > 0:
        return _gpu_equivalent(store, provider, region, gpu, gpu_count, vcpus, memory_gib)
    offers = [p for p in catalog.list_prices(store, provider=provider, region=region)
              if p.on_demand is not None and p.gpu_count == 0 and not p.gpu_model
              and p.vcpus >= (vcpus or 0) and p.memory_gib >= (memory_gib or 0)]
    scaled = [_cpu_scaled(p, vcpus, memory_gib) for p in offers]
    return _cheapest(scaled) if scaled else None


def _gpu_equivalent(store: Store, provider: str, region: str, gpu: GpuModel | None,
                    gpu_count: int, vcpus: int | None, memory_gib: float | None
                    ) -> HostEquivalent | None:
    if gpu is None or not gpu.known or catalog.is_neuron(gpu.model):
        return None
    offers = [p for p in catalog.list_prices(store, provider=provider, region=region, gpu=gpu)
              if p.on_demand is not None and p.gpus >= gpu_count]
    scaled = [_gpu_scaled(p, gpu_count) for p in offers]
    covering = [e for e in scaled if _covers(e, vcpus, memory_gib)]
    if covering:
        return _cheapest(covering)
    if not scaled:
        return None
    best = _cheapest(scaled)
    return HostEquivalent(best.price, best.rate, best.fraction, best.unit, best.host_units,
                          best.instance_units, NOTE_GPUS_ONLY)


def _gpu_scaled(price: catalog.Price, gpu_count: int) -> HostEquivalent:
    fraction = Fraction(gpu_count, price.gpus)
    return HostEquivalent(price, _times(price.on_demand, fraction), fraction, "GPUs",
                          gpu_count, price.gpus)


def _cpu_scaled(price: catalog.Price, vcpus: int | None, memory_gib: float | None
                ) -> HostEquivalent:
    by_cpu = Fraction(vcpus, price.vcpus) if vcpus and price.vcpus else Fraction(0)
    by_memory = (Fraction(memory_gib).limit_denominator(10**6) /
                 Fraction(price.memory_gib).limit_denominator(10**6)
                 if memory_gib and price.memory_gib else Fraction(0))
    if by_cpu == 0 and by_memory == 0:
        return HostEquivalent(price, price.on_demand, Fraction(1), "vCPUs", price.vcpus,
                              price.vcpus)
    if by_cpu >= by_memory:
        return HostEquivalent(price, _times(price.on_demand, by_cpu), by_cpu, "vCPUs",
                              vcpus or 0, price.vcpus)
    return HostEquivalent(price, _times(price.on_demand, by_memory), by_memory, "GiB",
                          round(memory_gib or 0, 1), price.memory_gib)


def _covers(equivalent: HostEquivalent, vcpus: int | None, memory_gib: float | None) -> bool:
    p, f = equivalent.price, equivalent.fraction
    return (not vcpus or p.vcpus * f >= vcpus) and \
        (not memory_gib or p.memory_gib * f >= Fraction(memory_gib).limit_denominator(10**6))


def _cheapest(options: list[HostEquivalent]) -> HostEquivalent:
    """Lowest rate; on a tie the unscaled (smaller) instance, then the type's name."""
    return min(options, key=lambda e: (e.rate, e.instance_units, e.price.instance_type))


def _times(value: Decimal | None, fraction: Fraction) -> Decimal:
    assert value is not None
    if fraction == 1:
        return value
    return value * fraction.numerator / fraction.denominator
