"""``collect_billing`` runs the configured sources and the allocation, reports progress on
stderr and a summary; an unreachable source is listed while the others go on; bad data stops
it with one line after what was already imported is allocated."""

from __future__ import annotations

from decimal import Decimal

import boto3
import pytest
from botocore.stub import Stubber

from tests.collector import cur_fixture as cur
from tests.collector.billing_helpers import (
    FOCUS_SAMPLE,
    billed_costs,
    conservation_errors,
    run_amount,
    run_on,
)
from tests.collector.helpers import utc
from xprof.collector.billing import BillingInputError
from xprof.collector.collect_billing import collect_billing
from xprof.settings import Settings


def _config(home, text):
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(text)


def test_configured_sources_are_imported_and_allocated(store, xprof_home, tmp_path, capsys):
    """FOCUS and CUR paths from config.toml are imported, runs billed, idle reported; a
    second collect imports nothing new."""
    cur.write_parquet(tmp_path / "cur" / "BILLING_PERIOD=2024-09", cur.line_items())
    _config(xprof_home, f'[billing.focus]\npaths = ["{FOCUS_SAMPLE}"]\n'
                        f'[billing.cur]\npaths = ["{tmp_path / "cur"}"]\n')
    runs = cur.make_runs(store)
    sample_run = run_on(store, "i-081360af1l266l589", utc(2024, 9, 26, 0, 15), 1800)
    summary = collect_billing(store, Settings(env={}), now=utc(2024, 10, 2))
    assert [s["kind"] for s in summary["sources"]] == ["focus", "aws-cur"]
    assert summary["inserted"] == 1000 + len(cur.line_items())
    assert summary["runs_billed"] == 4 and summary["runs_partial"] == 0
    assert summary["errors"] == []
    assert run_amount(store, sample_run) == Decimal("0.17")
    assert run_amount(store, runs["run1"]) == cur.expected()["run1"]["billed"]
    assert summary["summary"].startswith(f"billing: {summary['inserted']:,} item(s) imported "
                                         "from 2 source(s)")
    assert "billing: reading 2 aws-cur file(s) for 2024-09" in capsys.readouterr().err
    assert conservation_errors(store) == []
    again = collect_billing(store, Settings(env={}), now=utc(2024, 10, 2))
    assert again["items_imported"] == 0
    assert "2 unchanged export(s) skipped" in again["summary"]


def test_unreachable_source_is_listed_and_the_others_go_on(store, tmp_path, monkeypatch):
    """Cost Explorer refusing the credentials is one error line; FOCUS still imports."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    run_on(store, "i-0ce0000000000aaa1", utc(2024, 9, 20, 10), 3600)
    client = boto3.client("ce", region_name="us-east-1")
    with Stubber(client) as stubber:
        stubber.add_client_error("get_cost_and_usage_with_resources",
                                 service_error_code="AccessDeniedException",
                                 service_message="User is not authorized to perform "
                                                 "ce:GetCostAndUsageWithResources",
                                 http_status_code=400)
        summary = collect_billing(store, Settings(env={}, config={}),
                                  focus_paths=[str(FOCUS_SAMPLE)], aws_ce=True,
                                  clients={"ce": client}, now=utc(2024, 9, 21, 6),
                                  echo=None)
    assert len(summary["errors"]) == 1
    assert summary["errors"][0].startswith("AWS Cost Explorer: ")
    assert "ce:GetCostAndUsageWithResources" in summary["errors"][0]
    assert summary["inserted"] == 1000
    assert "1 source(s) failed" in summary["summary"]


def test_bad_file_stops_after_allocating_what_came_before(store, tmp_path):
    """A bad CUR file raises its one-line error; the FOCUS items imported before it are
    allocated, and nothing of the CUR is stored."""
    bad = tmp_path / "cur" / "export.csv"
    bad.parent.mkdir()
    bad.write_text("lineItem/UsageStartDate,lineItem/UsageEndDate,lineItem/UnblendedCost\n"
                   "2024-09-10T00:00:00Z,2024-09-10T01:00:00Z,1.0\n")
    run = run_on(store, "i-081360af1l266l589", utc(2024, 9, 26, 0, 15), 1800)
    with pytest.raises(BillingInputError, match="missing column line_item_currency_code"):
        collect_billing(store, Settings(env={}, config={}), focus_paths=[str(FOCUS_SAMPLE)],
                        cur_paths=[str(tmp_path / "cur")], echo=None)
    assert run_amount(store, run) == Decimal("0.17")
    assert not [c for c in billed_costs(store) if "aws-cur" in c["detail"]["billing_source"]]


def test_nothing_configured_says_how_to_configure(store):
    """With no source configured the summary names the settings to set."""
    summary = collect_billing(store, Settings(env={}, config={}), echo=None)
    assert summary["summary"].startswith("billing: no source configured (billing.focus.paths")
    assert summary["sources"] == []


def test_unknown_source_name_is_bad_input(store):
    """Asking for a source that does not exist is refused in one line."""
    with pytest.raises(BillingInputError, match="unknown billing source 'aws-cure'"):
        collect_billing(store, Settings(env={}, config={}), sources=["aws-cure"], echo=None)


def test_collect_step_adapter(store, tmp_path):
    """The ``xprof collect`` step returns a StepResult, and bad data raises BillingInputError
    with its one-line message (the command turns it into exit 2)."""
    from xprof.collector.collect import collect_billing_step

    settings = Settings(env={}, config={})
    result = collect_billing_step(store, settings, {"focus_paths": [str(FOCUS_SAMPLE)]})
    assert result.name == "billing" and result.errors == []
    assert result.data["inserted"] == 1000
    bad = tmp_path / "bad.csv"
    bad.write_text("BilledCost,BillingCurrency,ChargePeriodStart,ChargePeriodEnd,ChargeCategory\n"
                   "1.0,USD,yesterday,2024-09-02,Usage\n")
    with pytest.raises(BillingInputError, match=r"bad\.csv: data row 1, column ChargePeriodStart"):
        collect_billing_step(store, settings, {"focus_paths": [str(bad)]})
