"""`prices update --provider aws` reads the Price List API and spot history (boto3 clients
under botocore's Stubber) and writes the catalog in one transaction."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import boto3
import pytest
from botocore.stub import ANY, Stubber

from tests.collector.aws_price_list import product, spot
from tests.collector.helpers import GIB, gpu_hardware, make_run, utc
from xprof.collector import catalog
from xprof.collector.estimate import estimate_run
from xprof.collector.refresh_aws import product_filters, refresh_aws
from xprof.settings import Settings

TODAY = dt.date(2026, 11, 24)
NOW = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)
CREDS = {"aws_access_key_id": "AKIDEXAMPLE", "aws_secret_access_key": "not-a-secret"}


def _client(service: str, region: str):
    return boto3.client(service, region_name=region, **CREDS)


def _products_request(region: str, token: str | None = None) -> dict:
    request = {"ServiceCode": "AmazonEC2", "Filters": product_filters(region),
               "FormatVersion": "aws_v1", "MaxResults": 100}
    if token:
        request["NextToken"] = token
    return request


PAGE_1 = [product("p3.2xlarge", "us-east-1", "2.90", vcpu="8", memory="61 GiB", gpu="1"),
          product("m7i.2xlarge", "us-east-1", "0.4032", vcpu="8", memory="32 GiB"),
          product("m7i.2xlarge", "us-east-1", "0.5032", vcpu="8", memory="32 GiB",
                  operation="RunInstances:0010")]
PAGE_2 = [product("g4dn.xlarge", "us-east-1", "0.526", vcpu="4", memory="16 GiB", gpu="1"),
          product("c7a.2xlarge", "us-east-1", "0.41056", vcpu="8", memory="16 GiB"),
          product("g6f.xlarge", "us-east-1", "0.3", vcpu="4", memory="16 GiB", gpu="1"),
          product("t3.micro", "us-east-1", "0.0104", vcpu="2", memory="1 GiB")]
WRITTEN = ["c7a.2xlarge", "g4dn.xlarge", "m7i.2xlarge", "p3.2xlarge"]


def _stub_pricing(pricing, region="us-east-1", fail_page_2=False):
    stub = Stubber(pricing)
    stub.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": PAGE_1,
                                       "NextToken": "page-2-token"}, _products_request(region))
    if fail_page_2:
        stub.add_client_error("get_products", service_error_code="ThrottlingException",
                              service_message="Rate exceeded", http_status_code=400,
                              expected_params=_products_request(region, "page-2-token"))
    else:
        stub.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": PAGE_2},
                          _products_request(region, "page-2-token"))
    return stub


def _stub_spot(ec2):
    stub = Stubber(ec2)
    request = {"InstanceTypes": WRITTEN, "ProductDescriptions": ["Linux/UNIX"],
               "StartTime": ANY, "MaxResults": 1000}
    stub.add_response("describe_spot_price_history", {"SpotPriceHistory": [
        spot("p3.2xlarge", "us-east-1a", "0.950000", NOW),
        spot("p3.2xlarge", "us-east-1a", "2.000000", NOW - dt.timedelta(hours=3)),  # older
        spot("p3.2xlarge", "us-east-1b", "1.050000", NOW),
    ], "NextToken": "spot-2"}, request)
    stub.add_response("describe_spot_price_history", {"SpotPriceHistory": [
        spot("g4dn.xlarge", "us-east-1c", "0.210400", NOW),
    ]}, {**request, "NextToken": "spot-2"})
    return stub


def test_refresh_writes_list_and_spot_prices(store):
    """Two pages of products and two of spot history become catalog rows: refreshed prices,
    the mean spot price over zones, a new CPU-only type; GPU types of unknown model and
    burstable types are not added, and untouched rows stay."""
    pricing, ec2 = _client("pricing", "us-east-1"), _client("ec2", "us-east-1")
    p4d_before = catalog.price_of(store, "aws", "p4d.24xlarge", "us-east-1")
    with _stub_pricing(pricing) as ps, _stub_spot(ec2) as es:
        result = refresh_aws(store, ["us-east-1"], pricing=pricing,
                             ec2_for_region=lambda region: ec2, today=TODAY)
        ps.assert_no_pending_responses()
        es.assert_no_pending_responses()
    assert (result.written, result.with_spot) == (4, 2)
    p3 = catalog.price_of(store, "aws", "p3.2xlarge", "us-east-1")
    assert (p3.on_demand, p3.spot) == (Decimal("2.9"), Decimal("1"))
    assert (p3.as_of, p3.source) == (TODAY, "aws-price-list-api")
    assert (p3.gpu_model, p3.gpu_count, p3.vcpus) == ("V100", 1, 8)  # hardware kept
    m7i = catalog.price_of(store, "aws", "m7i.2xlarge", "us-east-1")
    assert m7i.on_demand == Decimal("0.4032") and m7i.spot is None  # plain RunInstances wins
    new = catalog.price_of(store, "aws", "c7a.2xlarge", "us-east-1")
    assert (new.vcpus, new.memory_gib, new.gpu_count, new.on_demand) == \
        (8, 16.0, 0, Decimal("0.41056"))
    assert catalog.price_of(store, "aws", "g6f.xlarge", "us-east-1") is None
    assert catalog.price_of(store, "aws", "t3.micro", "us-east-1") is None
    assert catalog.price_of(store, "aws", "p4d.24xlarge", "us-east-1") == p4d_before
    assert "p4d.24xlarge us-east-1" in result.skipped
    assert "4 prices written (2 with a spot price)" in result.summary_line()


def test_estimates_use_refreshed_prices(store):
    """After a refresh a us-east-1 spot run is priced at the spot price, not an upper bound."""
    pricing, ec2 = _client("pricing", "us-east-1"), _client("ec2", "us-east-1")
    with _stub_pricing(pricing), _stub_spot(ec2):
        refresh_aws(store, ["us-east-1"], pricing=pricing, ec2_for_region=lambda r: ec2,
                    today=TODAY)
    run_id = make_run(store, started_at=utc(2026, 11, 24, 9, 0), duration_s=7200,
                      hardware=gpu_hardware("Tesla V100-SXM2-16GB", 1, 16 * GIB, [0], 8, 61),
                      provider="aws", instance_type="p3.2xlarge", region="us-east-1",
                      lifecycle="spot")
    estimate = estimate_run(store, run_id, Settings(env={}, config={}))
    assert estimate.amount == Decimal("2") and not estimate.upper_bound
    assert estimate.detail()["price_source"] == "aws-price-list-api"


def test_failure_mid_refresh_leaves_the_old_catalog(store):
    """A throttled second page aborts the refresh and no row changes."""
    before = catalog.list_prices(store, provider="aws")
    pricing, ec2 = _client("pricing", "us-east-1"), _client("ec2", "us-east-1")
    with _stub_pricing(pricing, fail_page_2=True), Stubber(ec2), \
            pytest.raises(catalog.RefreshError, match="ThrottlingException"):
        refresh_aws(store, ["us-east-1"], pricing=pricing, ec2_for_region=lambda r: ec2,
                    today=TODAY)
    assert catalog.list_prices(store, provider="aws") == before


def test_failure_in_a_later_region_writes_nothing_for_earlier_ones(store):
    """us-east-1 fetched fine, then us-west-2's spot history fails: us-east-1 is unchanged too."""
    before = catalog.list_prices(store, provider="aws")
    pricing = _client("pricing", "us-east-1")
    east, west = _client("ec2", "us-east-1"), _client("ec2", "us-west-2")
    stub = _stub_pricing(pricing)
    west_products = [product("p3.2xlarge", "us-west-2", "3.06", vcpu="8", memory="61 GiB",
                             gpu="1")]
    stub.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": west_products},
                      _products_request("us-west-2"))
    west_stub = Stubber(west)
    west_stub.add_client_error("describe_spot_price_history",
                               service_error_code="UnauthorizedOperation",
                               service_message="You are not authorized", http_status_code=403)
    with stub, _stub_spot(east), west_stub, pytest.raises(catalog.RefreshError,
                                                          match="us-west-2"):
        refresh_aws(store, ["us-east-1", "us-west-2"], pricing=pricing,
                    ec2_for_region={"us-east-1": east, "us-west-2": west}.__getitem__,
                    today=TODAY)
    assert catalog.list_prices(store, provider="aws") == before
