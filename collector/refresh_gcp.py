"""Refresh GCP prices from the Cloud Billing Catalog API (google-cloud-billing).

``xprof prices update --provider gcp [--region R ...]``. ``CloudCatalogClient.list_skus``
lists the Compute Engine service's SKUs; a machine's hourly price is

    per-vCPU SKU × vCPUs + per-GiB RAM SKU × GiB + per-GPU SKU × GPUs

with the SKUs of the machine's family in its region (``Spot Preemptible …`` SKUs give the
spot price). vCPUs, memory and GPUs come from the catalog. Families whose price also
bundles local SSD (a2-ultragpu, a3) are kept as they were. Everything is fetched first and
written in one transaction, so a failure anywhere leaves the catalog as it was.

google-cloud-billing is imported here only (extra ``xprof[gcp]``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from xprof.collector import catalog
from xprof.collector.catalog import Price, RefreshError, RefreshResult
from xprof.store import Store

SOURCE = "gcp-cloud-billing-catalog-api"
COMPUTE_ENGINE = "services/6F81-5844-456A"
SPOT_PREFIX = "Spot Preemptible "

# Machine series -> the start of its vCPU and RAM SKU descriptions ("N1 Predefined Instance
# Core running in Americas", "Compute optimized Ram running in EMEA").
SERIES_SKUS: dict[str, str] = {
    "n1": "N1 Predefined Instance",
    "n2": "N2 Instance",
    "e2": "E2 Instance",
    "c2": "Compute optimized",
    "a2": "A2 Instance",
    "g2": "G2 Instance",
}
# (catalog GPU model, GiB per GPU) -> the start of its SKU description.
GPU_SKUS: dict[tuple[str, float], str] = {
    ("T4", 16.0): "Nvidia Tesla T4 GPU",
    ("V100", 16.0): "Nvidia Tesla V100 GPU",
    ("P100", 16.0): "Nvidia Tesla P100 GPU",
    ("A100", 40.0): "Nvidia Tesla A100 GPU",
    ("A100", 80.0): "Nvidia Tesla A100 80GB GPU",
    ("L4", 24.0): "Nvidia L4 GPU",
    ("H100", 80.0): "Nvidia H100 80GB GPU",
}
BUNDLED_SSD = ("a2-ultragpu-", "a3-")

Rates = dict[tuple[str, str, bool], Decimal]  # (region, component, spot) -> USD per unit-hour


def _unit_price(sku: Any) -> tuple[Decimal, str] | None:
    """(price per usage unit, usage unit) of a SKU's current pricing, or None."""
    if not sku.pricing_info:
        return None
    expression = sku.pricing_info[0].pricing_expression
    if not expression.tiered_rates:
        return None
    money = expression.tiered_rates[-1].unit_price
    if money.currency_code and money.currency_code != "USD":
        return None
    return Decimal(money.units) + Decimal(money.nanos) / Decimal(10**9), expression.usage_unit


def _component(description: str, group: str) -> str | None:
    """``cpu:n1`` / ``ram:a2`` / ``gpu:T4:16`` for the SKUs machine prices are built from."""
    if group == "GPU" or description.startswith("Nvidia"):
        for (model, memory), prefix in GPU_SKUS.items():
            if description.startswith(prefix + " "):
                return f"gpu:{model}:{memory:g}"
        return None
    for series, prefix in SERIES_SKUS.items():
        if description.startswith(prefix + " Core"):
            return f"cpu:{series}"
        if description.startswith(prefix + " Ram"):
            return f"ram:{series}"
    return None


def collect_rates(skus: Iterable[Any]) -> Rates:
    """Per-region unit prices of every vCPU, RAM and GPU SKU machine prices need."""
    rates: Rates = {}
    expected_unit = {"cpu": "h", "ram": "GiBy.h", "gpu": "h"}
    for sku in skus:
        category = sku.category
        if category.resource_family != "Compute":
            continue
        if category.usage_type not in ("OnDemand", "Preemptible"):
            continue
        spot = category.usage_type == "Preemptible"
        description = sku.description.removeprefix(SPOT_PREFIX)
        component = _component(description, category.resource_group)
        priced = _unit_price(sku) if component else None
        if priced is None or priced[1] != expected_unit[component.split(":")[0]]:
            continue
        for region in sku.service_regions:
            rates[(region, component, spot)] = priced[0]
    return rates


def machine_price(rates: Rates, hardware: Price, region: str, spot: bool) -> Decimal | None:
    """vCPU × vCPUs + RAM × GiB + GPU × GPUs in a region, or None if a SKU is missing."""
    series = hardware.instance_type.split("-", 1)[0]
    cpu = rates.get((region, f"cpu:{series}", spot))
    ram = rates.get((region, f"ram:{series}", spot))
    if cpu is None or ram is None:
        return None
    total = cpu * hardware.vcpus + ram * Decimal(repr(hardware.memory_gib))
    if hardware.gpu_count:
        memory = hardware.gpu_memory_gib or 0.0
        gpu = rates.get((region, f"gpu:{hardware.gpu_model}:{memory:g}", spot))
        if gpu is None:
            return None
        total += gpu * hardware.gpu_count
    return total.quantize(Decimal("1e-9"))


def refresh_gcp(store: Store, regions: Iterable[str] | None = None, *, client: Any = None,
                today: dt.date | None = None) -> RefreshResult:
    """Price the catalog's GCP machine types in ``regions`` (default: the catalog's GCP
    regions) from Cloud Billing Catalog SKUs; one transaction; RefreshError leaves the
    catalog as it was."""
    try:
        from google.api_core import exceptions as api_exceptions  # optional SDK (xprof[gcp])
        from google.auth import exceptions as auth_exceptions
    except ImportError as exc:
        raise RefreshError("gcp: google-cloud-billing is not installed "
                           "(pip install 'xprof[gcp]')") from exc
    known = catalog.hardware_by_type(store, "gcp")
    explicit = list(regions) if regions else None
    wanted = explicit or catalog.regions_in_catalog(store, "gcp")
    try:
        if client is None:
            from google.cloud import billing_v1  # optional cloud SDK (xprof[gcp])

            client = billing_v1.CloudCatalogClient()
        rates = collect_rates(client.list_skus(parent=COMPUTE_ENGINE))
    except (api_exceptions.GoogleAPIError, auth_exceptions.GoogleAuthError) as exc:
        raise RefreshError(f"gcp: reading the Cloud Billing Catalog failed: {exc}") from exc
    today = today or dt.datetime.now(dt.UTC).date()
    prices = []
    for instance_type, hardware in sorted(known.items()):
        if instance_type.startswith(BUNDLED_SSD):
            continue
        for region in wanted:
            on_demand = machine_price(rates, hardware, region, spot=False)
            if on_demand is None:
                continue
            prices.append(Price(
                provider="gcp", instance_type=instance_type, region=region,
                vcpus=hardware.vcpus, memory_gib=hardware.memory_gib,
                gpu_count=hardware.gpu_count, gpu_model=hardware.gpu_model,
                gpu_memory_gib=hardware.gpu_memory_gib, on_demand=on_demand,
                spot=machine_price(rates, hardware, region, spot=True),
                currency=catalog.CURRENCY, as_of=today, source=SOURCE))
    if not prices:
        where = ", ".join(explicit) if explicit else "any catalog region"
        raise RefreshError(f"gcp: the Cloud Billing Catalog has no Compute Engine prices for "
                           f"the catalog's machine types in {where}")
    kept_keys = catalog.keys_in(store, "gcp", wanted)
    written = catalog.write_prices(store, prices)
    fetched = {(p.region, p.instance_type) for p in prices}
    kept = tuple(sorted(f"{t} {r}" for r, t in kept_keys - fetched))
    return RefreshResult("gcp", tuple(wanted), written,
                         sum(p.spot is not None for p in prices), kept)
