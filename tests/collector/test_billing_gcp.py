"""GCP's detailed billing export in BigQuery, through the client's own HTTP seam
(``bigquery.Client(_http=...)``) answering like the BigQuery REST API: paged query results,
credits as negative items, instances matched on their id, incremental on export_time."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from requests.adapters import HTTPAdapter
from urllib3.response import HTTPResponse

from tests.collector.billing_helpers import conservation_errors, idle_amount, run_amount, run_on
from tests.collector.helpers import utc
from xprof.collector.allocate import allocate_store
from xprof.collector.billing import BillingInputError
from xprof.collector.billing.gcp_bigquery import import_bigquery

TABLE = "ml-research-42.billing.gcp_billing_export_resource_v1_01A2B3_C4D5E6_F7A8B9"
INSTANCE_ID = "4417650201982123456"
GLOBAL = f"//compute.googleapis.com/projects/ml-research-42/zones/us-central1-a/instances/" \
         f"{INSTANCE_ID}"
IDLE_ID = "7730023100198877665"
FIELDS = [("billing_account_id", "STRING"), ("service", "STRING"), ("sku_id", "STRING"),
          ("sku_description", "STRING"), ("usage_start_time", "TIMESTAMP"),
          ("usage_end_time", "TIMESTAMP"), ("project_id", "STRING"), ("region", "STRING"),
          ("resource_name", "STRING"), ("resource_global_name", "STRING"), ("cost", "FLOAT"),
          ("cost_at_list", "FLOAT"), ("currency", "STRING"), ("usage_amount", "FLOAT"),
          ("usage_unit", "STRING"), ("cost_type", "STRING"), ("invoice_month", "STRING"),
          ("export_time", "TIMESTAMP"), ("credits", "FLOAT")]
SKUS = [("CF4E-A0C7-E3BF", "A2 Instance Core running in Americas", "1.0448", "43200",
         "seconds", "0"),
        ("5E59-7C3B-0E5A", "A2 Instance Ram running in Americas", "0.2803",
         "3.1675718615040E14", "byte-seconds", "0"),
        ("039F-D0DA-4055", "Nvidia Tesla A100 GPU running in Americas", "2.933908", "3600",
         "seconds", "-0.88")]


def _us(value: dt.datetime) -> str:
    return str(int(value.timestamp() * 1_000_000))


def export_rows(extra: list[dict] | None = None) -> list[dict]:
    """Rows as the export holds them (the SELECT's flat columns), two hours of one A100 VM
    and a day of a VM nobody used."""
    rows = []
    for hour, exported in ((10, utc(2024, 9, 10, 15, 2, 11)), (11, utc(2024, 9, 10, 16, 4, 9))):
        for sku, description, cost, amount, unit, credits in SKUS:
            rows.append({"billing_account_id": "01A2B3-C4D5E6-F7A8B9",
                         "service": "Compute Engine", "sku_id": sku,
                         "sku_description": description,
                         "usage_start_time": utc(2024, 9, 10, hour),
                         "usage_end_time": utc(2024, 9, 10, hour + 1),
                         "project_id": "ml-research-42", "region": "us-central1",
                         "resource_name": "a100-trainer", "resource_global_name": GLOBAL,
                         "cost": cost, "cost_at_list": cost, "currency": "USD",
                         "usage_amount": amount, "usage_unit": unit, "cost_type": "regular",
                         "invoice_month": "202409", "export_time": exported,
                         "credits": credits})
    rows.append(dict(rows[0], resource_name="spare", sku_id="0C5C-D8E4-38C3",
                     resource_global_name=GLOBAL.replace(INSTANCE_ID, IDLE_ID),
                     usage_start_time=utc(2024, 9, 10), usage_end_time=utc(2024, 9, 11),
                     cost="0.5", cost_at_list="0.5", credits="0"))
    return rows + (extra or [])


class BigQueryAdapter(HTTPAdapter):
    """Answers jobs.query and jobs.getQueryResults like bigquery.googleapis.com, two rows a
    page, honouring the ``since`` parameter against export_time."""

    def __init__(self, rows: list[dict]) -> None:
        super().__init__()
        self.rows = rows
        self.requests: list[tuple[str, str, dict | None]] = []
        self.pending: list[dict] = []

    def _page(self, start: int) -> dict:
        page = self.pending[start:start + 2]
        out = {"kind": "bigquery#getQueryResultsResponse", "jobComplete": True,
               "jobReference": {"projectId": "ml-research-42", "jobId": "job_xprof_1",
                                "location": "US"},
               "schema": {"fields": [{"name": n, "type": t, "mode": "NULLABLE"}
                                     for n, t in FIELDS]},
               "totalRows": str(len(self.pending)),
               "rows": [{"f": [{"v": self._value(row[n], t)} for n, t in FIELDS]}
                        for row in page]}
        if start + 2 < len(self.pending):
            out["pageToken"] = f"BHX{start + 2}"
        return out

    def _job(self) -> dict:
        return {"kind": "bigquery#job", "id": "ml-research-42:US.job_xprof_1",
                "jobReference": {"projectId": "ml-research-42", "jobId": "job_xprof_1",
                                 "location": "US"},
                "configuration": {"jobType": "QUERY", "query": {
                    "query": self.query, "useLegacySql": False, "priority": "INTERACTIVE",
                    "destinationTable": {"projectId": "ml-research-42",
                                         "datasetId": "_8b1f3c0e2d4a",
                                         "tableId": "anon5e1c7f0a"}}},
                "status": {"state": "DONE"},
                "statistics": {"creationTime": "1726000000000", "startTime": "1726000000100",
                               "endTime": "1726000001200",
                               "query": {"totalBytesProcessed": "1048576",
                                         "statementType": "SELECT"}}}

    @staticmethod
    def _value(value, kind):
        if value is None:
            return None
        return _us(value) if kind == "TIMESTAMP" else str(value)

    def send(self, request, **kwargs):
        url = urlparse(request.url)
        body = json.loads(request.body) if request.body else None
        self.requests.append((request.method, url.path, body))
        if request.method == "POST" and url.path.endswith("/queries"):
            since = body["queryParameters"][0]["parameterValue"]["value"]
            since_dt = dt.datetime.fromisoformat(since)
            self.query = body["query"]
            self.pending = [r for r in self.rows if r["export_time"] >= since_dt]
            payload = {**self._page(0), "kind": "bigquery#queryResponse", "queryId": "q-1"}
        elif "/jobs/" in url.path:
            payload = self._job()
        else:
            token = parse_qs(url.query).get("pageToken", ["BHX0"])[0]
            payload = self._page(int(token[3:]))
        content = json.dumps(payload).encode()
        raw = HTTPResponse(body=io.BytesIO(content), status=200, preload_content=False,
                           headers={"Content-Type": "application/json; charset=UTF-8"})
        return self.build_response(request, raw)


def _client(adapter):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    session = requests.Session()
    session.mount("https://", adapter)
    session.is_mtls = False
    return bigquery.Client(project="ml-research-42", credentials=AnonymousCredentials(),
                           _http=session)


def _run(store):
    return run_on(store, INSTANCE_ID, utc(2024, 9, 10, 10), 5400, provider="gcp",
                  instance_type="a2-highgpu-1g", gpu_count=1, gpus_used=[0],
                  cloud={"source": "imds", "resource_id": INSTANCE_ID})


def test_export_rows_credits_and_allocation(store):
    """Seven export rows over four pages become usage and credit items; the run of 1.5 of 2
    hours pays 1.5 hours net of credits, the rest and the unused VM are idle."""
    adapter = BigQueryAdapter(export_rows())
    run = _run(store)
    result = import_bigquery(store, TABLE, client=_client(adapter), now=utc(2024, 9, 11))
    assert result.extra["export_rows"] == 7
    assert result.inserted == 7 + 2  # two credit items (the A100 hours)
    pages = [path for method, path, _ in adapter.requests if path.endswith("/job_xprof_1")
             and "/queries/" in path]
    assert adapter.requests[0][:2] == ("POST", "/bigquery/v2/projects/ml-research-42/queries")
    assert len(pages) == 3  # rows 3-7 in pages of two, by pageToken
    query = adapter.requests[0][2]["query"]
    assert f"FROM `{TABLE}`" in query and "export_time >= @since" in query
    allocate_store(store)
    hourly = sum(Decimal(c) for _, _, c, _, _, _ in SKUS) - Decimal("0.88")
    assert run_amount(store, run) == hourly * Decimal("1.5")
    assert run_amount(store, run, "list") == (hourly + Decimal("0.88")) * Decimal("1.5")
    assert idle_amount(store, INSTANCE_ID) == hourly / 2
    assert idle_amount(store, IDLE_ID) == Decimal("0.5")
    assert conservation_errors(store) == []


def test_next_import_reads_only_newer_exports(store):
    """The next import asks from the last export_time: rows seen are left alone, a late
    correction is added."""
    rows = export_rows()
    adapter = BigQueryAdapter(rows)
    import_bigquery(store, TABLE, client=_client(adapter), now=utc(2024, 9, 11))
    late = dict(rows[0], cost="-0.1", cost_type="adjustment", credits="0",
                export_time=utc(2024, 9, 11, 2, 0, 1))
    adapter.rows = [*rows, late]
    again = import_bigquery(store, TABLE, client=_client(adapter), now=utc(2024, 9, 12))
    assert again.inserted == 1 and again.updated == 0
    posts = [body for method, _, body in adapter.requests if method == "POST"]
    assert posts[-1]["queryParameters"][0]["parameterValue"]["value"].startswith(
        "2024-09-10 16:04:09")


def test_table_name_is_checked(store):
    """A table name that is not project.dataset.table is refused before any query."""
    with pytest.raises(BillingInputError, match=r"billing\.gcp\.table"):
        import_bigquery(store, "billing_export", client=object())
