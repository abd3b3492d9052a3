"""AWS Cost Explorer, through botocore's Stubber with answers shaped like the real API
(amounts are strings): hourly per-instance costs with paging and throttling, account totals,
restated hours, and the allocation that follows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import boto3
import pytest
from botocore.stub import Stubber

from tests.collector.billing_helpers import conservation_errors, idle_amount, run_amount, run_on
from tests.collector.helpers import utc
from xprof.collector.allocate import allocate_store
from xprof.collector.billing import BillingSourceError
from xprof.collector.billing.aws_cost_explorer import SERVICE, import_cost_explorer

GPU_BOX, CPU_BOX = "i-0ce0000000000aaa1", "i-0ce0000000000bbb2"
NOW = utc(2024, 9, 21, 6, 10)


@pytest.fixture
def ce(monkeypatch):
    """A real Cost Explorer client (dummy credentials) whose calls a Stubber answers."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = boto3.client("ce", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def _group(instance, usage_type, amount, quantity="1", unit="N/A", amortized=None):
    return {"Keys": [instance, usage_type],
            "Metrics": {"UnblendedCost": {"Amount": amount, "Unit": "USD"},
                        "AmortizedCost": {"Amount": amortized or amount, "Unit": "USD"},
                        "UsageQuantity": {"Amount": quantity, "Unit": unit}}}


def _hour(start, groups, estimated=False):
    end = start + dt.timedelta(hours=1)
    return {"TimePeriod": {"Start": f"{start:%Y-%m-%dT%H:%M:%SZ}",
                           "End": f"{end:%Y-%m-%dT%H:%M:%SZ}"},
            "Total": {}, "Groups": groups, "Estimated": estimated}


def _request(token=None):
    params = {
        "TimePeriod": {"Start": "2024-09-20T10:00:00Z", "End": "2024-09-21T06:00:00Z"},
        "Granularity": "HOURLY",
        "Filter": {"And": [{"Dimensions": {"Key": "SERVICE", "Values": [SERVICE]}},
                           {"Dimensions": {"Key": "RESOURCE_ID",
                                           "Values": [GPU_BOX, CPU_BOX]}}]},
        "Metrics": ["UnblendedCost", "AmortizedCost", "UsageQuantity"],
        "GroupBy": [{"Type": "DIMENSION", "Key": "RESOURCE_ID"},
                    {"Type": "DIMENSION", "Key": "USAGE_TYPE"}],
    }
    if token:
        params["NextPageToken"] = token
    return params


GROUP_DEFS = [{"Type": "DIMENSION", "Key": "RESOURCE_ID"},
              {"Type": "DIMENSION", "Key": "USAGE_TYPE"}]


def _stub_resources(stubber, first_hour_amount="32.7726"):
    stubber.add_response("get_cost_and_usage_with_resources", {
        "GroupDefinitions": GROUP_DEFS,
        "ResultsByTime": [
            _hour(utc(2024, 9, 20, 10), [
                _group(GPU_BOX, "USE1-BoxUsage:p4d.24xlarge", first_hour_amount)]),
            _hour(utc(2024, 9, 20, 11), [
                _group(GPU_BOX, "USE1-BoxUsage:p4d.24xlarge", "32.7726"),
                _group(CPU_BOX, "USE1-BoxUsage:m5.2xlarge", "0.384")])],
        "NextPageToken": "AAMA-EFRSURBSGxXTXRvek1UT3dNakF5TkMwd09TMHlNRlF4TVRvd01Eb3dNRm89",
        "DimensionValueAttributes": []}, _request())
    stubber.add_client_error("get_cost_and_usage_with_resources",
                             service_error_code="LimitExceededException",
                             service_message="Rate exceeded", http_status_code=400,
                             expected_params=_request(
                                 "AAMA-EFRSURBSGxXTXRvek1UT3dNakF5TkMwd09TMHlNRlF4TVRvd01Eb3dNRm89"))
    stubber.add_response("get_cost_and_usage_with_resources", {
        "GroupDefinitions": GROUP_DEFS,
        "ResultsByTime": [
            _hour(utc(2024, 9, 20, 12), [
                _group(CPU_BOX, "USE1-BoxUsage:m5.2xlarge", "0.384"),
                _group(CPU_BOX, "USE1-DataTransfer-Out-Bytes", "0.018", "0.2", "GB")],
                estimated=True)],
        "DimensionValueAttributes": []},
        _request("AAMA-EFRSURBSGxXTXRvek1UT3dNakF5TkMwd09TMHlNRlF4TVRvd01Eb3dNRm89"))


def _stub_totals(stubber):
    stubber.add_response("get_cost_and_usage", {
        "GroupDefinitions": [],
        "ResultsByTime": [
            {"TimePeriod": {"Start": "2024-09-20", "End": "2024-09-21"},
             "Total": {"UnblendedCost": {"Amount": "1234.5678", "Unit": "USD"}},
             "Groups": [], "Estimated": True},
            {"TimePeriod": {"Start": "2024-09-21", "End": "2024-09-22"},
             "Total": {"UnblendedCost": {"Amount": "10.0001", "Unit": "USD"}},
             "Groups": [], "Estimated": True}],
        "DimensionValueAttributes": []},
        {"TimePeriod": {"Start": "2024-09-20", "End": "2024-09-22"}, "Granularity": "DAILY",
         "Metrics": ["UnblendedCost"]})


def _runs(store):
    gpu = run_on(store, GPU_BOX, utc(2024, 9, 20, 10), 7200, gpu_count=8,
                 gpus_used=[0, 1, 2, 3])
    cpu = run_on(store, CPU_BOX, utc(2024, 9, 20, 11, 30), 3600, instance_type="m5.2xlarge")
    old = run_on(store, "i-0ce0000000000ccc3", utc(2024, 8, 1, 10), 3600)  # outside 14 days
    return gpu, cpu, old


def _spans(store):
    from xprof.collector.allocate import load_runs

    return [(k, s.start, s.end) for s in load_runs(store, NOW) for k in s.keys]


def test_hourly_costs_paged_throttled_and_allocated(store, ce):
    """Two pages (NextPageToken), one throttling error in between (backed off), the
    account's totals; then each run gets its share and the rest is idle."""
    client, stubber = ce
    gpu, cpu, _ = _runs(store)
    _stub_resources(stubber)
    _stub_totals(stubber)
    sleeps = []
    result = import_cost_explorer(store, _spans(store), client=client, now=NOW,
                                  sleep=sleeps.append)
    assert sleeps == [1.0]
    assert (result.rows, result.inserted) == (5, 5)
    assert result.extra["account_totals"] == {"USD": "1244.5679"}
    assert result.extra["estimated_hours"] == 2
    allocate_store(store)
    assert run_amount(store, gpu) == Decimal("32.7726")  # 4 of 8 GPUs for two hours
    assert idle_amount(store, GPU_BOX) == Decimal("32.7726")
    assert run_amount(store, cpu) == Decimal("0.192") + Decimal("0.192") + Decimal("0.018") / 2
    assert conservation_errors(store) == []


def test_revised_hour_is_updated_not_added(store, ce):
    """Asking again after AWS revised an estimated hour updates that hour only."""
    client, stubber = ce
    gpu, _, _ = _runs(store)
    _stub_resources(stubber)
    _stub_totals(stubber)
    import_cost_explorer(store, _spans(store), client=client, now=NOW, sleep=lambda s: None)
    _stub_resources(stubber, first_hour_amount="30.0000")
    _stub_totals(stubber)
    again = import_cost_explorer(store, _spans(store), client=client, now=NOW,
                                 sleep=lambda s: None)
    assert (again.inserted, again.updated, again.deleted) == (0, 1, 0)
    allocate_store(store)
    assert run_amount(store, gpu) == (Decimal("30") + Decimal("32.7726")) / 2


def test_no_run_no_request(store, ce):
    """Without a run on an EC2 instance in the last 14 days nothing is asked (each request
    costs money)."""
    client, _ = ce
    result = import_cost_explorer(store, [], client=client, now=NOW)
    assert result.rows == 0 and "no run" in result.extra["note"]


def test_hourly_data_not_enabled_is_explained(store, ce):
    """When resource-level hourly data is off, the error says how to turn it on."""
    client, stubber = ce
    _runs(store)
    stubber.add_client_error("get_cost_and_usage_with_resources",
                             service_error_code="DataUnavailableException",
                             service_message="Data is not available.", http_status_code=400)
    with pytest.raises(BillingSourceError, match="turn on hourly and resource-level data"):
        import_cost_explorer(store, _spans(store), client=client, now=NOW)
