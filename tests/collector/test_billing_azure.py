"""Azure Cost Management through azure-core's transport hook: a requests session whose
adapter answers like management.azure.com (columns + rows, nextLink paging), the VM matched
on its IMDS resourceId whatever the case, hours it ran honoured, idle VMs found."""

from __future__ import annotations

import io
import json
import time
from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from requests.adapters import HTTPAdapter
from urllib3.response import HTTPResponse

from tests.collector.billing_helpers import conservation_errors, idle_amount, run_amount, run_on
from tests.collector.helpers import utc
from xprof.collector.allocate import allocate_store
from xprof.collector.billing import BillingSourceError
from xprof.collector.billing.azure_cost import import_azure, make_client

SUB = "3f2a1b4c-5d6e-4f70-8a9b-0c1d2e3f4a5b"
SCOPE = f"/subscriptions/{SUB}"
VM = (f"/subscriptions/{SUB}/resourceGroups/ML-Training/providers/Microsoft.Compute/"
      "virtualMachines/gpu-box-1")
VM_BILLED = VM.lower()  # Cost Management returns resource ids in lower case
SPARE = f"/subscriptions/{SUB}/resourcegroups/ml-training/providers/microsoft.compute/" \
        "virtualmachines/forgotten-box"
COLUMNS = [{"name": "Cost", "type": "Number"}, {"name": "UsageQuantity", "type": "Number"},
           {"name": "UsageDate", "type": "Number"}, {"name": "ResourceId", "type": "String"},
           {"name": "MeterCategory", "type": "String"}, {"name": "Currency", "type": "String"}]
ACTUAL_PAGES = [
    [[36.73, 10.0, 20240910, VM_BILLED, "Virtual Machines", "USD"],
     [0.4, 3.2, 20240910, VM_BILLED, "Bandwidth", "USD"],
     [4.8, 24.0, 20240910, SPARE, "Virtual Machines", "USD"]],
    [[88.152, 24.0, 20240911, VM_BILLED, "Virtual Machines", "USD"],
     [1.25, 1.0, 20240911, "", "Azure Support", "USD"]],
]
AMORTIZED = [[22.0, 10.0, 20240910, VM_BILLED, "Virtual Machines", "USD"],
             [0.4, 3.2, 20240910, VM_BILLED, "Bandwidth", "USD"],
             [4.8, 24.0, 20240910, SPARE, "Virtual Machines", "USD"],
             [52.8, 24.0, 20240911, VM_BILLED, "Virtual Machines", "USD"],
             [1.25, 1.0, 20240911, "", "Azure Support", "USD"]]


class CostManagementAdapter(HTTPAdapter):
    """Answers Cost Management query POSTs the way management.azure.com does."""

    def __init__(self, status: int = 200) -> None:
        super().__init__()
        self.requests: list[tuple[str, dict]] = []
        self.status = status

    def send(self, request, **kwargs):
        body = json.loads(request.body)
        self.requests.append((request.url, body))
        url = urlparse(request.url)
        token = parse_qs(url.query).get("$skiptoken", [None])[0]
        if self.status != 200:
            payload = {"error": {"code": "AuthorizationFailed",
                                 "message": "The client does not have authorization to perform "
                                            "action 'Microsoft.CostManagement/query/action'."}}
        elif body["type"] == "ActualCost":
            page = 1 if token == "AQAAAA==" else 0
            payload = {"properties": {"columns": COLUMNS, "rows": ACTUAL_PAGES[page]}}
            if page == 0:
                payload["properties"]["nextLink"] = (
                    f"https://management.azure.com{SCOPE}/providers/Microsoft.CostManagement/"
                    "query?api-version=2025-03-01&$skiptoken=AQAAAA%3D%3D")
        else:
            payload = {"properties": {"columns": COLUMNS, "rows": AMORTIZED, "nextLink": None}}
        payload.update({"id": f"subscriptions/{SUB}/providers/Microsoft.CostManagement/query/"
                              "9b3c8e4a-0000-0000-0000-000000000000",
                        "name": "9b3c8e4a-0000-0000-0000-000000000000",
                        "type": "Microsoft.CostManagement/query", "location": None,
                        "sku": None, "eTag": None})
        content = json.dumps(payload).encode()
        raw = HTTPResponse(body=io.BytesIO(content), status=self.status, preload_content=False,
                           headers={"Content-Type": "application/json; charset=utf-8",
                                    "Content-Length": str(len(content)),
                                    "x-ms-request-id": "7d0a55c4-2c3f-4b55-9a1e-0f5c8b1e9e01"})
        return self.build_response(request, raw)


class StaticToken:
    """A token credential for tests (what azure-identity returns, without any login)."""

    def get_token(self, *scopes, **kwargs):
        from azure.core.credentials import AccessToken

        return AccessToken("eyJ0eXAiOiJKV1QifQ.test.token", int(time.time()) + 3600)

    def get_token_info(self, *scopes, options=None):
        from azure.core.credentials import AccessTokenInfo

        return AccessTokenInfo("eyJ0eXAiOiJKV1QifQ.test.token", int(time.time()) + 3600)


def _client(adapter):
    from azure.core.pipeline.transport import RequestsTransport

    session = requests.Session()
    session.mount("https://", adapter)
    return make_client(StaticToken(), transport=RequestsTransport(session=session),
                       retry_total=0)


def _run(store):
    return run_on(store, "0f8fad5b-d9cb-469f-a165-70867728950e", utc(2024, 9, 10, 9), 5 * 3600,
                  provider="azure", instance_type="Standard_NC24ads_A100_v4",
                  cloud={"source": "imds", "resource_id": VM})


def test_daily_costs_follow_next_link_and_allocate(store):
    """Actual and amortized queries (the first in two pages) give billed and effective
    costs; a run of 5 of the 10 hours the VM ran pays half of that day, the rest is idle."""
    adapter = CostManagementAdapter()
    run = _run(store)
    result = import_azure(store, SCOPE, client=_client(adapter), now=utc(2024, 9, 12, 3))
    assert result.inserted == 5
    urls = [urlparse(u) for u, _ in adapter.requests]
    assert [u.path for u in urls] == [f"{SCOPE}/providers/Microsoft.CostManagement/query"] * 3
    assert parse_qs(urls[1].query)["$skiptoken"] == ["AQAAAA=="]
    body = adapter.requests[0][1]
    assert (body["type"], body["timeframe"], body["dataset"]["granularity"]) == \
        ("ActualCost", "Custom", "Daily")
    assert [g["name"] for g in body["dataset"]["grouping"]] == ["ResourceId", "MeterCategory"]
    assert adapter.requests[2][1]["type"] == "AmortizedCost"
    allocate_store(store)
    assert run_amount(store, run) == Decimal("18.365") + Decimal("0.2")
    assert run_amount(store, run, "effective") == Decimal("11") + Decimal("0.2")
    assert idle_amount(store, VM_BILLED) == Decimal("18.565") + Decimal("88.152")
    assert idle_amount(store, SPARE) == Decimal("4.8")
    assert conservation_errors(store) == []


def test_second_import_asks_only_recent_days(store):
    """The next import starts three days before the last one and changes nothing."""
    adapter = CostManagementAdapter()
    import_azure(store, SCOPE, client=_client(adapter), now=utc(2024, 9, 12, 3))
    again = import_azure(store, SCOPE, client=_client(adapter), now=utc(2024, 9, 13, 3))
    assert again.changed == 0
    period = adapter.requests[-1][1]["timePeriod"]
    assert period["from"].startswith("2024-09-09T00:00:00")
    assert period["to"].startswith("2024-09-13T23:59:59")


def test_refused_query_is_one_line(store):
    """A 403 from Cost Management becomes one line naming the scope."""
    with pytest.raises(BillingSourceError) as info:
        import_azure(store, SCOPE, client=_client(CostManagementAdapter(status=403)),
                     now=utc(2024, 9, 12, 3))
    assert str(info.value).startswith(f"Azure Cost Management {SCOPE}: ")
    assert "\n" not in str(info.value)
