"""Runs recorded with --instance-type are billed (issue 15 #3): the flags fill what the
metadata service cannot tell, the instance id still comes from IMDS (local server), and
--instance-id names the machine where there is none. Then a FOCUS import bills the run."""

from __future__ import annotations

import csv
import datetime as dt
import sys
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from tests.agent.imds_servers import AwsImdsServer, closed_port_url, make_dmi_dir, pinned_env
from tests.collector.billing_helpers import run_amount

PY = sys.executable
HOURLY = Decimal("0.384")  # m5.2xlarge us-east-1 on-demand, per hour
FLAG_ID = "i-0feed0000000000001"


def _hours(start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    hour = start.replace(minute=0, second=0, microsecond=0)
    out = []
    while hour < end:
        out.append(hour)
        hour += dt.timedelta(hours=1)
    return out


def _focus_file(path: Path, instance_id: str, start: dt.datetime, end: dt.datetime) -> Path:
    """One hourly m5.2xlarge usage row per hour the run touched, in FOCUS 1.0 columns."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["BilledCost", "BillingCurrency", "ChargePeriodStart", "ChargePeriodEnd",
                         "ChargeCategory", "ResourceId", "ProviderName", "ServiceName",
                         "RegionId", "ConsumedQuantity", "ConsumedUnit", "ChargeDescription"])
        for hour in _hours(start, end):
            writer.writerow([str(HOURLY), "USD", f"{hour:%Y-%m-%d %H:%M:%S}",
                             f"{hour + dt.timedelta(hours=1):%Y-%m-%d %H:%M:%S}", "Usage",
                             f"arn:aws:ec2:us-east-1:123456789012:instance/{instance_id}",
                             "AWS", "Amazon Elastic Compute Cloud", "us-east-1", "1", "Hours",
                             "$0.384 per On Demand Linux m5.2xlarge Instance Hour"])
    return path


@pytest.mark.parametrize("where", ["imds", "no-metadata"])
def test_run_with_instance_type_is_billed(tmp_path, xprof, store, where):
    """`xprof run --provider aws --instance-type m5.2xlarge --region us-east-1` records the
    instance id (from IMDS, else --instance-id) and `xprof collect --focus` bills the run:
    hourly price × its share of the hour, replacing the estimate."""
    flags = ["--provider", "aws", "--instance-type", "m5.2xlarge", "--region", "us-east-1"]
    with AwsImdsServer(instance_type="m5.2xlarge") as server:
        url = server.url if where == "imds" else closed_port_url()
        if where == "no-metadata":
            flags += ["--instance-id", FLAG_ID]
        env = {**pinned_env(make_dmi_dir(tmp_path / "dmi", None), {"aws": url}),
               "XPROF_PROVIDER": "", "XPROF_IDENTITY_TIMEOUT": "10"}
        ran = xprof("run", "--quiet", *flags, "--", PY, "-c", "import time; time.sleep(0.3)",
                    env=env)
    assert ran.returncode == 0, ran.stderr
    [run] = store.list_runs()
    expected_id = "i-0abc1234def567890" if where == "imds" else FLAG_ID
    assert (run["instance_id"], run["instance_type"]) == (expected_id, "m5.2xlarge")

    export = _focus_file(tmp_path / "focus.csv", expected_id, run["started_at"],
                         run["ended_at"])
    collected = xprof("collect", "--focus", str(export))
    assert collected.returncode == 0, collected.stdout + collected.stderr
    seconds = Fraction((run["ended_at"] - run["started_at"]) // dt.timedelta(microseconds=1),
                       3_600_000_000)
    expected = Fraction(HOURLY) * seconds
    billed = run_amount(store, run["id"])
    assert abs(Fraction(billed) - expected) <= Fraction(1, 10**9)
    assert billed > 0
    counted = store.run_costs([run["id"]])[run["id"]]
    assert (counted["source"], counted["amount"]) == ("billed", billed)
