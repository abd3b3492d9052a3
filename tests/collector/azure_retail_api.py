"""A stand-in for the Azure Retail Prices API over a fixed list of items: it applies the
``$filter`` terms xprof sends (``eq`` joined by ``and``/``or``) and pages the answer with
``NextPageLink`` / ``$skip`` as the real API does."""

from __future__ import annotations

import re
from typing import Any

PAGE_SIZE = 3
FIELDS = {"priceType": "type"}  # filter name -> item field, where they differ


def vm_item(sku: str, region: str, price: float, *, kind: str = "linux",
            primary: bool = True, price_type: str = "Consumption") -> dict[str, Any]:
    """One ``Items`` entry shaped like the real API's for a VM meter."""
    short = sku.removeprefix("Standard_").replace("_", " ")
    series = re.sub(r"^([A-Z]+)\d+", r"\1", sku.removeprefix("Standard_")).replace("_", "")
    sku_name = {"spot": f"{short} Spot", "low": f"{short} Low Priority"}.get(kind, short)
    return {
        "currencyCode": "USD", "tierMinimumUnits": 0.0, "retailPrice": price,
        "unitPrice": price, "armRegionName": region, "location": region,
        "effectiveStartDate": "2026-06-01T00:00:00Z", "meterId": f"m-{sku}-{region}-{kind}",
        "meterName": sku_name, "productId": f"DZH318Z0{len(sku):04d}",
        "skuId": f"DZH318Z0{len(sku):04d}/00{len(kind)}", "availabilityId": None,
        "productName": f"Virtual Machines {series} Series"
                       + (" Windows" if kind == "windows" else ""),
        "skuName": sku_name, "serviceName": "Virtual Machines", "serviceId": "DZH313Z7MMC8",
        "serviceFamily": "Compute", "unitOfMeasure": "1 Hour", "type": price_type,
        "isPrimaryMeterRegion": primary, "armSkuName": sku,
    }


def _matches(item: dict[str, Any], expression: str) -> bool:
    for clause in re.split(r"\s+and\s+", expression):
        options = re.findall(r"(\w+) eq '([^']*)'", clause)
        if options and not any(item.get(FIELDS.get(field, field)) == value
                               for field, value in options):
            return False
    return True


class RetailPricesApi:
    """Serves ``items`` through /api/retail/prices with filtering and paging."""

    def __init__(self, base: str, items: list[dict[str, Any]]) -> None:
        self.base = base
        self.items = items
        self.pages_served = 0
        self.next_links_followed = 0

    def __call__(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        if path != "/api/retail/prices":
            return 404, {"Error": {"Code": "NotFound", "Message": path}}
        expression = query.get("$filter", [""])[0]
        skip = int(query.get("$skip", ["0"])[0])
        self.next_links_followed += skip > 0
        chosen = [item for item in self.items if _matches(item, expression)]
        page = chosen[skip:skip + PAGE_SIZE]
        self.pages_served += 1
        next_link = None
        if skip + PAGE_SIZE < len(chosen):
            from urllib.parse import urlencode

            next_link = f"{self.base}/api/retail/prices?" + urlencode(
                {"api-version": "2023-01-01-preview", "$filter": expression,
                 "$skip": skip + PAGE_SIZE})
        return 200, {"BillingCurrency": "USD", "CustomerEntityId": "Default",
                     "CustomerEntityType": "Retail", "Items": page,
                     "NextPageLink": next_link, "Count": len(page)}
