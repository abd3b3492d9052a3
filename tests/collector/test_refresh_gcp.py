"""`prices update --provider gcp` prices machines as vCPU + RAM + GPU SKUs of the region,
read through google-cloud-billing's real client (its REST transport pointed at a local
server), and writes them in one transaction."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import billing_v1
from google.cloud.billing_v1.services.cloud_catalog.transports.rest import (
    CloudCatalogRestTransport,
)

from tests.collector.local_http import json_server
from xprof.collector import catalog
from xprof.collector.refresh_gcp import refresh_gcp

TODAY = dt.date(2026, 11, 24)
SERVICE = "services/6F81-5844-456A"


def sku(description: str, group: str, usage: str, regions: list[str], usd: str,
        unit: str = "h") -> dict:
    """One Compute Engine SKU as the Cloud Billing Catalog REST API returns it."""
    units, _, frac = usd.partition(".")
    nanos = int((frac + "000000000")[:9])
    sku_id = f"{abs(hash((description, usage))) % 0xFFFF:04X}-{len(description):04X}-0001"
    return {
        "name": f"{SERVICE}/skus/{sku_id}", "skuId": sku_id, "description": description,
        "category": {"serviceDisplayName": "Compute Engine", "resourceFamily": "Compute",
                     "resourceGroup": group, "usageType": usage},
        "serviceRegions": regions,
        "pricingInfo": [{
            "effectiveTime": "2026-11-24T08:00:00Z", "summary": "",
            "pricingExpression": {
                "usageUnit": unit, "displayQuantity": 1,
                "usageUnitDescription": "hour" if unit == "h" else "gibibyte hour",
                "baseUnit": "s" if unit == "h" else "By.s", "baseUnitConversionFactor": 3600,
                "tieredRates": [{"startUsageAmount": 0, "unitPrice": {
                    "currencyCode": "USD", "units": units, "nanos": nanos}}]},
            "currencyConversionRate": 1}],
        "serviceProviderName": "Google",
        "geoTaxonomy": {"type": "REGIONAL", "regions": regions},
    }


CENTRAL = ["us-central1"]
PAGE_1 = [
    sku("N1 Predefined Instance Core running in Americas", "N1Standard", "OnDemand", CENTRAL,
        "0.031611"),
    sku("N1 Predefined Instance Ram running in Americas", "N1Standard", "OnDemand", CENTRAL,
        "0.004237", "GiBy.h"),
    sku("Spot Preemptible N1 Predefined Instance Core running in Americas", "N1Standard",
        "Preemptible", CENTRAL, "0.00698"),
    sku("Spot Preemptible N1 Predefined Instance Ram running in Americas", "N1Standard",
        "Preemptible", CENTRAL, "0.00094", "GiBy.h"),
    sku("Nvidia Tesla T4 GPU running in Americas", "GPU", "OnDemand", CENTRAL, "0.35"),
    sku("Nvidia Tesla T4 GPU attached to Spot Preemptible VMs running in Americas", "GPU",
        "Preemptible", CENTRAL, "0.069"),
    sku("Custom Instance Core running in Americas", "CPU", "OnDemand", CENTRAL, "0.033174"),
]
PAGE_2 = [
    sku("A2 Instance Core running in Americas", "CPU", "OnDemand", CENTRAL, "0.031611"),
    sku("A2 Instance Ram running in Americas", "RAM", "OnDemand", CENTRAL, "0.004237",
        "GiBy.h"),
    sku("Nvidia Tesla A100 GPU running in Americas", "GPU", "OnDemand", CENTRAL, "2.933908"),
    sku("Nvidia Tesla A100 80GB GPU running in Americas", "GPU", "OnDemand", CENTRAL,
        "3.9287"),
    sku("Commitment v1: A2 Cpu in Americas for 1 Year", "CPU", "Commit1Yr", CENTRAL,
        "0.019915"),
]


def _client(base: str) -> billing_v1.CloudCatalogClient:
    transport = CloudCatalogRestTransport(host=base.removeprefix("http://"), url_scheme="http",
                                          credentials=AnonymousCredentials())
    return billing_v1.CloudCatalogClient(transport=transport)


def test_machine_price_is_the_sum_of_its_skus(store):
    """n1-standard-8 = 8 × core + 30 GiB × RAM; + a T4 for the N1 GPU key; a2-highgpu-1g adds
    an A100 40GB; spot comes from the Spot Preemptible SKUs; both pages are read."""
    with json_server() as server:
        server.reply({"skus": PAGE_1, "nextPageToken": "page-2"})
        server.reply({"skus": PAGE_2})
        result = refresh_gcp(store, ["us-central1"], client=_client(server.base), today=TODAY)
        paths = [path for path, _query in server.requests]
        assert paths == [f"/v1/{SERVICE}/skus"] * 2
        assert server.requests[1][1]["pageToken"] == ["page-2"]
    n1 = catalog.price_of(store, "gcp", "n1-standard-8", "us-central1")
    assert n1.on_demand == Decimal("0.379998")
    assert n1.spot == Decimal("0.08404")  # 8 × 0.00698 + 30 × 0.00094
    assert (n1.source, n1.as_of) == ("gcp-cloud-billing-catalog-api", TODAY)
    t4 = catalog.price_of(store, "gcp", "n1-standard-8+nvidia-tesla-t4:1", "us-central1")
    assert (t4.on_demand, t4.spot) == (Decimal("0.729998"), Decimal("0.15304"))
    a2 = catalog.price_of(store, "gcp", "a2-highgpu-1g", "us-central1")
    assert a2.on_demand == Decimal("3.673385") and a2.spot is None
    a2_80 = catalog.price_of(store, "gcp", "a2-ultragpu-1g", "us-central1")
    assert a2_80.source == "gcp-cyclenerd-20260730"  # bundled local SSD: kept as shipped
    g2 = catalog.price_of(store, "gcp", "g2-standard-4", "us-central1")
    assert g2.source == "gcp-cyclenerd-20260730"  # no G2/L4 SKUs in the listing: kept
    assert "g2-standard-4 us-central1" in result.skipped
    assert result.written == len([p for p in catalog.list_prices(store, provider="gcp")
                                  if p.source == "gcp-cloud-billing-catalog-api"])


def test_failure_on_a_later_page_leaves_the_old_catalog(store):
    """An HTTP 500 on page 2 aborts the refresh; every GCP row is as it was."""
    before = catalog.list_prices(store, provider="gcp")
    with json_server() as server:
        server.reply({"skus": PAGE_1, "nextPageToken": "page-2"})
        server.reply({"error": {"code": 500, "message": "backend error",
                                "status": "INTERNAL"}}, status=500)
        with pytest.raises(catalog.RefreshError, match="backend error"):
            refresh_gcp(store, ["us-central1"], client=_client(server.base), today=TODAY)
    assert catalog.list_prices(store, provider="gcp") == before
