"""Refresh AWS prices: the Price List API (on-demand) and EC2 spot price history.

``xprof prices update --provider aws [--region R ...]``. For each region, ``pricing``
``get_products`` lists Linux, on-demand, shared-tenancy, no-pre-installed-software EC2
products (``PriceList`` entries are JSON strings; pages follow ``NextToken``), and
``ec2.describe_spot_price_history`` gives the current Linux/UNIX spot price in each
availability zone (the catalog keeps their mean). Instance types the catalog knows keep its
hardware (the API does not name GPU models); CPU-only types the API describes fully are
added. Everything is fetched first and written in one transaction, so a failure anywhere
leaves the catalog as it was.

boto3 is imported here only (extra ``xprof[aws]``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from xprof.collector import catalog
from xprof.collector.catalog import Price, RefreshError, RefreshResult
from xprof.store import Store

SOURCE = "aws-price-list-api"
PRICING_REGION = "us-east-1"  # the Price List API answers from us-east-1 (and a few others)
SPOT_BATCH = 100


def product_filters(region: str) -> list[dict[str, str]]:
    """The Price List filters: Linux, on-demand, shared tenancy, used capacity, no extra
    software, no licence."""
    fields = {"regionCode": region, "operatingSystem": "Linux", "tenancy": "Shared",
              "capacitystatus": "Used", "preInstalledSw": "NA", "marketoption": "OnDemand",
              "licenseModel": "No License required"}
    return [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in fields.items()]


def _hourly_usd(terms: dict[str, Any]) -> Decimal | None:
    for term in (terms.get("OnDemand") or {}).values():
        for dim in (term.get("priceDimensions") or {}).values():
            if dim.get("unit") != "Hrs":
                continue
            usd = (dim.get("pricePerUnit") or {}).get("USD")
            if usd is not None and Decimal(usd) > 0:
                return Decimal(usd)
    return None


def fetch_on_demand(pricing: Any, region: str) -> dict[str, tuple[Decimal, dict[str, str]]]:
    """``{instance type: (hourly USD, product attributes)}`` of one region."""
    found: dict[str, tuple[Decimal, dict[str, str]]] = {}
    kwargs: dict[str, Any] = {"ServiceCode": "AmazonEC2", "Filters": product_filters(region),
                              "FormatVersion": "aws_v1", "MaxResults": 100}
    while True:
        page = pricing.get_products(**kwargs)
        for entry in page.get("PriceList", []):
            item = json.loads(entry) if isinstance(entry, str) else entry
            attrs = (item.get("product") or {}).get("attributes") or {}
            instance_type = attrs.get("instanceType")
            price = _hourly_usd(item.get("terms") or {})
            if not instance_type or price is None:
                continue
            preferred = attrs.get("operation", "RunInstances") == "RunInstances"
            if instance_type not in found or preferred:
                found[instance_type] = (price, attrs)
        token = page.get("NextToken")
        if not token:
            return found
        kwargs["NextToken"] = token


def fetch_spot(ec2: Any, instance_types: Iterable[str]) -> dict[str, Decimal]:
    """``{instance type: mean over zones of the current Linux/UNIX spot price}``."""
    latest: dict[tuple[str, str], tuple[dt.datetime, Decimal]] = {}
    types = sorted(instance_types)
    now = dt.datetime.now(dt.UTC)
    for start in range(0, len(types), SPOT_BATCH):
        kwargs: dict[str, Any] = {"InstanceTypes": types[start:start + SPOT_BATCH],
                                  "ProductDescriptions": ["Linux/UNIX"], "StartTime": now,
                                  "MaxResults": 1000}
        while True:
            page = ec2.describe_spot_price_history(**kwargs)
            for rec in page.get("SpotPriceHistory", []):
                key = (rec["InstanceType"], rec["AvailabilityZone"])
                stamp = rec.get("Timestamp") or now
                if key not in latest or stamp > latest[key][0]:
                    latest[key] = (stamp, Decimal(rec["SpotPrice"]))
            token = page.get("NextToken")
            if not token:
                break
            kwargs["NextToken"] = token
    per_type: dict[str, list[Decimal]] = defaultdict(list)
    for (instance_type, _zone), (_stamp, price) in latest.items():
        if price > 0:
            per_type[instance_type].append(price)
    return {t: (sum(ps) / len(ps)).quantize(Decimal("1e-9")) for t, ps in per_type.items()}


def _memory_gib(text: str | None) -> float | None:
    """``"61 GiB"`` / ``"1,952 GiB"`` -> GiB."""
    if not text:
        return None
    number = text.replace(",", "").split()[0]
    try:
        return float(number)
    except ValueError:
        return None


def _new_cpu_only(instance_type: str, attrs: dict[str, str]) -> dict[str, Any] | None:
    """Hardware of a type the catalog lacks, when the API states it fully and it has no
    accelerator (burstable t* types are left out: their CPU is not theirs to keep)."""
    if instance_type.startswith("t") or attrs.get("gpu") not in (None, "", "0", "NA"):
        return None
    if any(k in attrs for k in ("neuronDevice", "inferentia", "trainium")):
        return None
    vcpus, memory = attrs.get("vcpu"), _memory_gib(attrs.get("memory"))
    if not vcpus or not vcpus.isdigit() or not memory:
        return None
    return {"vcpus": int(vcpus), "memory_gib": memory, "gpu_count": 0, "gpu_model": None,
            "gpu_memory_gib": None}


def fetch_region(pricing: Any, ec2: Any, region: str, known: dict[str, Price],
                 today: dt.date) -> list[Price]:
    """Catalog rows of one region from the APIs (nothing written)."""
    on_demand = fetch_on_demand(pricing, region)
    if not on_demand:
        raise RefreshError(f"aws: the Price List API has no Linux on-demand EC2 prices for "
                           f"region {region!r} (check the region code)")
    hardware: dict[str, dict[str, Any]] = {}
    for instance_type, (_price, attrs) in on_demand.items():
        if instance_type in known:
            k = known[instance_type]
            hardware[instance_type] = {"vcpus": k.vcpus, "memory_gib": k.memory_gib,
                                       "gpu_count": k.gpu_count, "gpu_model": k.gpu_model,
                                       "gpu_memory_gib": k.gpu_memory_gib}
        elif (new := _new_cpu_only(instance_type, attrs)) is not None:
            hardware[instance_type] = new
    spot = fetch_spot(ec2, hardware)
    return [Price(provider="aws", instance_type=t, region=region, **hw,
                  on_demand=on_demand[t][0], spot=spot.get(t), currency=catalog.CURRENCY,
                  as_of=today, source=SOURCE)
            for t, hw in sorted(hardware.items())]


def refresh_aws(store: Store, regions: Iterable[str] | None = None, *,
                pricing: Any | None = None, ec2_for_region: Callable[[str], Any] | None = None,
                today: dt.date | None = None) -> RefreshResult:
    """Fetch AWS prices of ``regions`` (default: the catalog's AWS regions) and write them
    in one transaction; raise RefreshError (catalog unchanged) on any failure."""
    try:
        from botocore.exceptions import BotoCoreError, ClientError  # optional SDK (xprof[aws])
    except ImportError as exc:
        raise RefreshError("aws: boto3 is not installed (pip install 'xprof[aws]')") from exc
    if pricing is None or ec2_for_region is None:
        import boto3  # optional cloud SDK (xprof[aws])

        pricing = pricing or boto3.client("pricing", region_name=PRICING_REGION)
        ec2_for_region = ec2_for_region or (lambda r: boto3.client("ec2", region_name=r))
    known = catalog.hardware_by_type(store, "aws")
    wanted = list(regions or catalog.regions_in_catalog(store, "aws"))
    today = today or dt.datetime.now(dt.UTC).date()
    prices: list[Price] = []
    for region in wanted:
        try:
            prices.extend(fetch_region(pricing, ec2_for_region(region), region, known, today))
        except (BotoCoreError, ClientError) as exc:
            raise RefreshError(f"aws: fetching prices for {region} failed: {exc}") from exc
    kept_keys = catalog.keys_in(store, "aws", wanted)
    written = catalog.write_prices(store, prices)
    fetched = {(p.region, p.instance_type) for p in prices}
    kept = tuple(sorted(f"{t} {r}" for r, t in kept_keys - fetched))
    return RefreshResult("aws", tuple(wanted), written, sum(p.spot is not None for p in prices),
                         kept)
