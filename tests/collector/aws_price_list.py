"""Responses shaped like the AWS Price List and EC2 spot-history APIs (PriceList entries are
JSON strings, as the real ``get_products`` returns them)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

LOCATIONS = {"us-east-1": "US East (N. Virginia)", "us-west-2": "US West (Oregon)"}


def _code(*parts: str) -> str:
    return hashlib.sha1("/".join(parts).encode()).hexdigest()[:16].upper()


def product(instance_type: str, region: str, usd: str, *, vcpu: str, memory: str,
            gpu: str | None = None, operation: str = "RunInstances") -> str:
    """One PriceList entry: a Linux on-demand shared-tenancy EC2 product, as a JSON string."""
    sku = _code(instance_type, region, operation)
    attributes: dict[str, Any] = {
        "instanceType": instance_type, "vcpu": vcpu, "memory": memory,
        "regionCode": region, "location": LOCATIONS.get(region, region),
        "locationType": "AWS Region", "operatingSystem": "Linux", "tenancy": "Shared",
        "capacitystatus": "Used", "preInstalledSw": "NA", "licenseModel": "No License required",
        "marketoption": "OnDemand", "operation": operation, "currentGeneration": "Yes",
        "usagetype": f"BoxUsage:{instance_type}", "servicecode": "AmazonEC2",
        "servicename": "Amazon Elastic Compute Cloud", "storage": "EBS only",
        "networkPerformance": "Up to 10 Gigabit", "processorArchitecture": "64-bit",
        "instanceFamily": "GPU instance" if gpu else "General purpose",
    }
    if gpu:
        attributes["gpu"] = gpu
    on_demand_term = f"{sku}.JRTCKXETXF"
    reserved_term = f"{sku}.4NA7Y494T4"
    return json.dumps({
        "product": {"productFamily": "Compute Instance", "attributes": attributes, "sku": sku},
        "serviceCode": "AmazonEC2",
        "terms": {
            "OnDemand": {on_demand_term: {
                "priceDimensions": {f"{on_demand_term}.6YS6EN2CT7": {
                    "unit": "Hrs", "endRange": "Inf", "beginRange": "0", "appliesTo": [],
                    "description": f"${usd} per On Demand Linux {instance_type} Instance Hour",
                    "rateCode": f"{on_demand_term}.6YS6EN2CT7",
                    "pricePerUnit": {"USD": f"{float(usd):.10f}"}}},
                "sku": sku, "effectiveDate": "2026-11-01T00:00:00Z",
                "offerTermCode": "JRTCKXETXF", "termAttributes": {}}},
            "Reserved": {reserved_term: {
                "priceDimensions": {f"{reserved_term}.2TG2D8R56U": {
                    "unit": "Quantity", "description": "Upfront Fee",
                    "rateCode": f"{reserved_term}.2TG2D8R56U",
                    "pricePerUnit": {"USD": "9999"}, "appliesTo": []}},
                "sku": sku, "effectiveDate": "2026-11-01T00:00:00Z",
                "offerTermCode": "4NA7Y494T4",
                "termAttributes": {"LeaseContractLength": "1yr",
                                   "OfferingClass": "standard",
                                   "PurchaseOption": "All Upfront"}}},
        },
        "version": "20261115000000",
        "publicationDate": "2026-11-15T00:00:00Z",
    })


def spot(instance_type: str, zone: str, price: str, when: dt.datetime) -> dict[str, Any]:
    """One SpotPriceHistory record."""
    return {"AvailabilityZone": zone, "InstanceType": instance_type,
            "ProductDescription": "Linux/UNIX", "SpotPrice": price, "Timestamp": when}
