"""`xprof prices ls` shows the catalog as a table or JSON, filtered by provider, region and
GPU (any spelling the normaliser understands); bad flags exit 2 with one line."""

from __future__ import annotations

import json

from tests.conftest import run_xprof


def test_table_filtered_by_provider_region_and_nvml_gpu_name(store):
    """--gpu takes an NVML name: 80 GB A100s in aws us-east-1 are exactly p4de.24xlarge."""
    done = run_xprof("prices", "ls", "--provider", "aws", "--region", "us-east-1",
                     "--gpu", "NVIDIA A100-SXM4-80GB")
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert header.split()[:3] == ["PROVIDER", "INSTANCE", "TYPE"]
    assert len(rows) == 1
    assert rows[0].split() == ["aws", "p4de.24xlarge", "us-east-1", "96", "1152", "8×", "A100",
                               "80GB", "27.44705", "-", "2026-07-20", "aws-karpenter-20260720"]


def test_json_lists_every_matching_row_cheapest_first(store):
    """--json gives prices as decimal strings; T4 rows of gcp us-central1 come cheapest first."""
    done = run_xprof("prices", "ls", "--provider", "gcp", "--region", "us-central1",
                     "--gpu", "t4", "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert len(rows) == 20 and {r["gpu_model"] for r in rows} == {"T4"}
    assert rows[0]["instance_type"] == "n1-standard-1+nvidia-tesla-t4:1"
    assert rows[0]["on_demand"] == "0.3975"
    prices = [float(r["on_demand"]) for r in rows]
    assert prices == sorted(prices)


def test_no_match_and_bad_flags(store):
    """A GPU the catalog lacks prints a hint (exit 0); an unknown provider exits 2."""
    empty = run_xprof("prices", "ls", "--gpu", "GeForce RTX 4090")
    assert empty.returncode == 0 and empty.stdout == ""
    assert "not a GPU model the catalog knows" in empty.stderr
    bad = run_xprof("prices", "ls", "--provider", "oracle")
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "oracle" in bad.stderr
    missing = run_xprof("prices", "update")
    assert missing.returncode == 2 and "--provider" in missing.stderr
