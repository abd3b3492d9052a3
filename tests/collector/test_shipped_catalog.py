"""The package ships the price catalog with its sources and licences, and a new store is
seeded with every row of it."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from decimal import Decimal

import sqlalchemy as sa

from xprof import schema
from xprof.collector import catalog
from xprof.store import Store


def test_every_row_names_a_documented_source_with_a_licence():
    """Each CSV row's source is a row of SOURCES.md's price sources table, with a licence."""
    sources = (catalog.DATA_DIR / "SOURCES.md").read_text(encoding="utf-8")
    table = sources.split("## Price sources", 1)[1].split("\n## ", 1)[0]
    documented = dict(re.findall(r"^\| `([\w.-]+)` \|.*?\| ([^|]*(?:Apache|MIT|CC BY)[^|]*) \|",
                                 table, flags=re.M))
    assert documented, "no licensed source rows found"
    used = set()
    for provider in catalog.PROVIDERS:
        with open(catalog.DATA_DIR / f"{provider}.csv", newline="") as fh:
            for row in csv.DictReader(fh):
                assert row["provider"] == provider
                used.add(row["source"])
    assert used <= set(documented)
    assert (catalog.DATA_DIR / "README.md").is_file()


def test_a_new_store_holds_the_whole_shipped_catalog(tmp_path):
    """The first catalog lookup on a new store seeds every shipped row, with prices as exact
    decimals and dates kept."""
    store = Store.open(f"sqlite:///{tmp_path / 'fresh.db'}")
    shipped = catalog.read_shipped()
    p4d = catalog.price_of(store, "aws", "p4d.24xlarge", "us-east-1")
    with store.read() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(schema.prices)).scalar()
    assert count == len(shipped) > 5000
    assert p4d.on_demand == Decimal("21.957642") and p4d.as_of.isoformat() == "2026-07-20"
    assert catalog.seed_prices(store) == 0  # a catalog with rows is left alone


def test_estimating_imports_no_cloud_sdk_or_pandas():
    """The agent's end-of-run path (estimate) loads neither boto3, google nor pandas."""
    code = ("import sys, xprof.collector.estimate, xprof.collector.refresh_aws, "
            "xprof.collector.refresh_gcp, xprof.collector.refresh_azure\n"
            "heavy = [m for m in ('boto3', 'botocore', 'google.cloud', 'pandas') "
            "if m in sys.modules]\nprint(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
