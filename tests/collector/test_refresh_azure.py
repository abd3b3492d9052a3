"""`prices update --provider azure` reads the Retail Prices API (a local server on 127.0.0.1,
paged) for Linux pay-as-you-go and spot prices, and writes them in one transaction."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from tests.collector.azure_retail_api import RetailPricesApi, vm_item
from tests.collector.local_http import json_server
from tests.conftest import run_xprof
from xprof.collector import catalog
from xprof.collector.refresh_azure import refresh_azure

TODAY = dt.date(2026, 11, 24)
NC = "Standard_NC24ads_A100_v4"
ITEMS = [
    vm_item(NC, "eastus", 3.5),
    vm_item(NC, "eastus", 6.61, kind="windows"),
    vm_item(NC, "eastus", 0.7346, kind="spot"),
    vm_item(NC, "eastus", 0.7, kind="low"),
    vm_item(NC, "eastus", 3.9, primary=False),
    vm_item(NC, "eastus", 3.1, price_type="DevTestConsumption"),
    vm_item(NC, "westeurope", 4.2),
    vm_item("Standard_D2s_v5", "eastus", 0.096),
    vm_item("Standard_D2s_v5", "eastus", 0.0192, kind="spot"),
    vm_item("Standard_D4s_v5", "eastus", 0.192),
    vm_item("Standard_D4s_v5", "eastus", 0.284, kind="windows"),
    vm_item("Standard_D8s_v5", "eastus", 0.384),
    vm_item("Standard_D16s_v5", "eastus", 0.768),
    vm_item("Standard_D16s_v5", "eastus", 1.504, kind="windows"),
]


def test_two_pages_of_linux_payg_and_spot_prices_land_in_the_catalog(store):
    """Linux PAYG becomes on-demand and " Spot" SKUs spot; Windows, Low Priority, non-primary
    and DevTest meters and other regions are skipped; NextPageLink is followed."""
    westeurope_before = catalog.price_of(store, "azure", NC, "westeurope")
    with json_server() as server:
        api = RetailPricesApi(server.base, ITEMS)
        server.handler = api
        result = refresh_azure(store, ["eastus"], base_url=f"{server.base}/api/retail/prices",
                               today=TODAY)
        filters = [q["$filter"][0] for _path, q in server.requests]
    assert api.next_links_followed >= 1
    assert all("priceType eq 'Consumption'" in f and "armRegionName eq 'eastus'" in f
               and "armSkuName eq 'Standard_" in f for f in filters)
    nc = catalog.price_of(store, "azure", NC, "eastus")
    assert (nc.on_demand, nc.spot) == (Decimal("3.5"), Decimal("0.7346"))
    assert (nc.source, nc.as_of) == ("azure-retail-prices-api", TODAY)
    assert (nc.gpu_model, nc.gpu_count, nc.gpu_memory_gib) == ("A100", 1, 80.0)
    d2 = catalog.price_of(store, "azure", "Standard_D2s_v5", "eastus")
    assert (d2.on_demand, d2.spot) == (Decimal("0.096"), Decimal("0.0192"))
    assert catalog.price_of(store, "azure", NC, "westeurope") == westeurope_before
    assert (result.written, result.with_spot) == (5, 2)


def test_failure_on_page_two_leaves_the_old_catalog(store):
    """The API failing after its first page aborts the refresh; no Azure row changes."""
    before = catalog.list_prices(store, provider="azure")
    with json_server() as server:
        api = RetailPricesApi(server.base, ITEMS)

        def failing(path, query):
            if "$skip" in query:
                return 503, {"Error": {"Code": "ServiceUnavailable", "Message": "try later"}}
            return api(path, query)

        server.handler = failing
        with pytest.raises(catalog.RefreshError, match="503"):
            refresh_azure(store, ["eastus"], base_url=f"{server.base}/api/retail/prices",
                          today=TODAY)
    assert catalog.list_prices(store, provider="azure") == before


def test_cli_update_reads_the_api_named_by_the_setting(store):
    """`xprof prices update --provider azure` uses XPROF_AZURE_PRICES_URL and reports what it
    wrote; a failing API exits 1 with one line and the catalog unchanged."""
    with json_server() as server:
        server.handler = RetailPricesApi(server.base, ITEMS)
        env = {"XPROF_AZURE_PRICES_URL": f"{server.base}/api/retail/prices"}
        done = run_xprof("prices", "update", "--provider", "azure", "--region", "eastus",
                         env=env)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith("azure: 5 prices written (2 with a spot price) in 1 "
                                      "region(s): eastus")
        server.handler = lambda path, query: (500, {"Error": {"Message": "boom"}})
        failed = run_xprof("prices", "update", "--provider", "azure", "--region", "eastus",
                           env=env)
    assert failed.returncode == 1
    assert failed.stderr.count("\n") == 1 and "the catalog is unchanged" in failed.stderr
    assert catalog.price_of(store, "azure", NC, "eastus").on_demand == Decimal("3.5")
