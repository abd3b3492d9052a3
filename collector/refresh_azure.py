"""Refresh Azure prices from the Azure Retail Prices API (public, no authentication).

``xprof prices update --provider azure [--region R ...]``. For the catalog's VM sizes, a few
at a time, the API is asked for ``priceType eq 'Consumption'`` items of those
``armSkuName``s (and regions, when given), following ``NextPageLink`` from page to page.
Linux pay-as-you-go only: items whose ``productName`` ends in `` Windows`` and
``Low Priority`` meters are skipped; a ``skuName`` ending in `` Spot`` is the spot price.
Hardware comes from the catalog. Everything is fetched first and written in one
transaction, so a failure anywhere leaves the catalog as it was.

Standard library HTTP; the base URL is the ``azure_prices_url`` setting
(``XPROF_AZURE_PRICES_URL``), which tests point at a local server.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from xprof.collector import catalog
from xprof.collector.catalog import Price, RefreshError, RefreshResult
from xprof.settings import Settings
from xprof.store import Store

SOURCE = "azure-retail-prices-api"
API_VERSION = "2023-01-01-preview"
SKUS_PER_QUERY = 10
MAX_PAGES = 1000


def query_url(base_url: str, skus: list[str], regions: list[str] | None) -> str:
    """The first page's URL for these VM sizes (and regions)."""
    def any_of(field: str, values: list[str]) -> str:
        return "(" + " or ".join(f"{field} eq '{v}'" for v in values) + ")"

    terms = ["priceType eq 'Consumption'", "serviceName eq 'Virtual Machines'",
             any_of("armSkuName", skus)]
    if regions:
        terms.append(any_of("armRegionName", regions))
    query = (f"api-version={API_VERSION}&$filter="
             + urllib.parse.quote(" and ".join(terms), safe="'()"))
    return f"{base_url}{'&' if '?' in base_url else '?'}{query}"


def fetch_items(url: str, timeout: float) -> Iterator[dict[str, Any]]:
    """Every item of a listing, page after page (``NextPageLink``)."""
    for _ in range(MAX_PAGES):
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            page = json.load(response)
        yield from page.get("Items") or []
        url = page.get("NextPageLink")
        if not url:
            return
    raise RefreshError(f"azure: more than {MAX_PAGES} pages; stopped")


def _is_linux_payg(item: dict[str, Any]) -> bool:
    return (item.get("type") == "Consumption"
            and item.get("unitOfMeasure") == "1 Hour"
            and item.get("currencyCode", "USD") == "USD"
            and not (item.get("productName") or "").endswith(" Windows")
            and not (item.get("meterName") or "").endswith("Low Priority")
            and not (item.get("skuName") or "").endswith("Low Priority"))


def collect_prices(items: Iterable[dict[str, Any]]
                   ) -> dict[tuple[str, str], dict[str, Decimal]]:
    """``{(sku, region): {"on_demand": …, "spot": …}}`` from API items (primary meters win,
    then the lower price)."""
    chosen: dict[tuple[str, str, str], tuple[int, Decimal]] = {}
    for item in items:
        if not _is_linux_payg(item):
            continue
        price = Decimal(str(item.get("retailPrice") or 0))
        if price <= 0:
            continue
        kind = "spot" if (item.get("skuName") or "").endswith(" Spot") else "on_demand"
        key = (item.get("armSkuName") or "", item.get("armRegionName") or "", kind)
        rank = (0 if item.get("isPrimaryMeterRegion", True) else 1, price)
        if key not in chosen or rank < chosen[key]:
            chosen[key] = rank
    out: dict[tuple[str, str], dict[str, Decimal]] = {}
    for (sku, region, kind), (_rank, price) in chosen.items():
        out.setdefault((sku, region), {})[kind] = price
    return out


def refresh_azure(store: Store, regions: Iterable[str] | None = None, *,
                  base_url: str | None = None, today: dt.date | None = None,
                  timeout: float = 60.0) -> RefreshResult:
    """Fetch Azure prices of the catalog's VM sizes in ``regions`` (default: the catalog's
    Azure regions) and write them in one transaction; RefreshError leaves the catalog as
    it was."""
    base_url = base_url or Settings().get("azure_prices_url")
    known = catalog.hardware_by_type(store, "azure")
    explicit = list(regions) if regions else None
    wanted = explicit or catalog.regions_in_catalog(store, "azure")
    skus = sorted(known)
    found: dict[tuple[str, str], dict[str, Decimal]] = {}
    try:
        for start in range(0, len(skus), SKUS_PER_QUERY):
            url = query_url(base_url, skus[start:start + SKUS_PER_QUERY], explicit)
            found.update(collect_prices(fetch_items(url, timeout)))
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        raise RefreshError(f"azure: reading the Retail Prices API failed: {exc}") from exc
    today = today or dt.datetime.now(dt.UTC).date()
    prices = []
    for (sku, region), kinds in sorted(found.items()):
        if region not in wanted or sku not in known or "on_demand" not in kinds:
            continue
        k = known[sku]
        prices.append(Price(provider="azure", instance_type=sku, region=region,
                            vcpus=k.vcpus, memory_gib=k.memory_gib, gpu_count=k.gpu_count,
                            gpu_model=k.gpu_model, gpu_memory_gib=k.gpu_memory_gib,
                            on_demand=kinds["on_demand"], spot=kinds.get("spot"),
                            currency=catalog.CURRENCY, as_of=today, source=SOURCE))
    if explicit and not prices:
        raise RefreshError(f"azure: the Retail Prices API has no Linux pay-as-you-go prices "
                           f"for the catalog's VM sizes in {', '.join(explicit)} "
                           "(check the region name, e.g. eastus)")
    kept_keys = catalog.keys_in(store, "azure", wanted)
    written = catalog.write_prices(store, prices)
    fetched = {(p.region, p.instance_type) for p in prices}
    kept = tuple(sorted(f"{t} {r}" for r, t in kept_keys - fetched))
    return RefreshResult("azure", tuple(wanted), written,
                         sum(p.spot is not None for p in prices), kept)
