"""Spend no run accounts for is split by project tags (issue 15): billing items keep their
tags, ``billing.project_tag_keys`` names the keys, and `xprof collect` and `xprof report` show
other spend (and idle machine time) by project, "untagged" for the rest.

The expected split of the real FOCUS sample is computed by DuckDB straight from the CSV
(its own JSON functions and its own machine rule), not by xprof."""

from __future__ import annotations

import csv
import gzip
import json
from collections import defaultdict
from decimal import ROUND_HALF_EVEN, Decimal

import duckdb
import pytest
import sqlalchemy as sa

from tests.collector.billing_helpers import FOCUS_SAMPLE, run_on
from tests.collector.cur_fixture import line_items, write_legacy_csv, write_parquet
from tests.collector.helpers import utc
from xprof import schema
from xprof.collector.allocate import allocate_store
from xprof.collector.billing.aws_cur import import_cur
from xprof.collector.billing.azure_export import import_azure_export
from xprof.collector.billing.bill import whole_bill
from xprof.collector.billing.focus import import_focus
from xprof.collector.billing.gcp_export import import_gcp_export

NANO = Decimal("1e-9")
KEYS = ("Project", "application")

# the sample's rows with their project (first of KEYS in Tags) and whether the row is on a
# machine (EC2 instance, Azure VM, OCI instance: the resources allocation takes)
_ORACLE = """
WITH t AS (SELECT *, CASE WHEN json_valid(Tags) THEN Tags END AS j
           FROM read_csv(?, header=true, all_varchar=true))
SELECT coalesce(nullif(trim(json_extract_string(j, '$.Project')), ''),
                nullif(trim(json_extract_string(j, '$.application')), ''),
                'untagged') AS project,
       coalesce(regexp_matches(ResourceId, '(^|/)i-[0-9A-Za-z]+$')
           OR regexp_matches(lower(ResourceId), '/providers/microsoft\\.compute/virtualmachines/')
           OR regexp_matches(lower(ResourceId), '^ocid[0-9]*\\.instance\\.'), false) AS machine,
       BilledCost
FROM t
"""


def _oracle() -> tuple[dict[str, Decimal], Decimal, set[str]]:
    """(other spend by project, other total, every project tag value) of the sample."""
    rows = duckdb.connect().execute(_ORACLE, [str(FOCUS_SAMPLE)]).fetchall()
    other: dict[str, Decimal] = defaultdict(Decimal)
    for project, machine, cost in rows:
        if not machine:
            other[project] += Decimal(cost).quantize(NANO, ROUND_HALF_EVEN)
    return dict(other), sum(other.values()), {p for p, _, _ in rows}


def _plain(rows: list[dict]) -> dict[str, Decimal]:
    return {r["key"]: Decimal(r["amount"]) for r in rows}


def test_items_keep_the_samples_tags(store):
    """Every tagged row of the sample is stored with its tags as a JSON object; 'NULL' is
    no tags."""
    import_focus(store, str(FOCUS_SAMPLE))
    with store.read() as conn:
        tags = [t for (t,) in conn.execute(sa.select(schema.billing_items.c.tags))]
    expected = duckdb.connect().execute(
        "SELECT count(*) FILTER (WHERE json_valid(Tags)), count(*) FILTER (WHERE Tags = 'NULL') "
        "FROM read_csv(?, header=true, all_varchar=true)", [str(FOCUS_SAMPLE)]).fetchone()
    assert sum(t is not None for t in tags) == expected[0] == 711
    assert sum(t is None for t in tags) == expected[1] == 289
    assert {json.loads(t).get("Project") for t in tags if t} >= {"Foo"}


def test_collect_and_report_split_other_spend_by_project(store, xprof, tmp_path):
    """`xprof collect --focus sample` then `xprof report --format json|md`: other spend by
    project (keys Project, application) equals DuckDB's split of the CSV, sums to other
    spend, and idle by project sums to idle."""
    env = {"XPROF_PROJECT_TAG_KEYS": ",".join(KEYS)}
    collected = xprof("collect", "--focus", str(FOCUS_SAMPLE), env=env)
    assert collected.returncode == 0, collected.stdout + collected.stderr
    expected, other_total, projects = _oracle()
    assert len(expected) > 50 and "untagged" in expected
    largest = max(expected, key=lambda p: (expected[p], p))
    assert "(other by project " in collected.stdout
    assert f"other by project {largest} ${expected[largest].quantize(Decimal('0.01'))}" \
        in collected.stdout

    out = tmp_path / "report.json"
    made = xprof("report", "--from", "2024-09-01", "--to", "2024-09-30", "--format", "json",
                 "--out", str(out), env=env)
    assert made.returncode == 0, made.stderr
    [bill] = json.loads(out.read_text())["bill"]
    assert _plain(bill["other_by_project"]) == expected
    assert Decimal(bill["other"]) == other_total == sum(expected.values())
    idle = _plain(bill["idle_by_project"])
    assert sum(idle.values()) == Decimal(bill["idle"]) and set(idle) <= projects

    md = tmp_path / "report.md"
    made = xprof("report", "--from", "2024-09-01", "--to", "2024-09-30", "--format", "md",
                 "--out", str(md), env=env)
    assert made.returncode == 0, made.stderr
    text = md.read_text()
    assert "Other spend by project (tags)" in text and "Idle machine time by project" in text


def test_default_keys_find_the_samples_project_tag(store):
    """With the default keys (project, Project, team) only the sample's "Project": "Foo" rows
    have a project; the rest of other spend is untagged; a key list with no match leaves all
    of it untagged."""
    import_focus(store, str(FOCUS_SAMPLE))
    allocate_store(store)
    [bill] = whole_bill(store, tag_keys=["project", "Project", "team"])
    assert set(bill.other_by_project) <= {"Foo", "untagged"}
    assert sum(bill.other_by_project.values()) == bill.other
    [none] = whole_bill(store, tag_keys=["no-such-key"])
    assert none.other_by_project == {"untagged": none.other}


def _focus(path, rows: list[tuple[str, str, str, str]]) -> None:
    """A FOCUS file of (resource id, service, billed cost, tags JSON) rows for 2024-09-02."""
    lines = ["BilledCost,BillingCurrency,ChargePeriodStart,ChargePeriodEnd,ChargeCategory,"
             "ServiceName,ProviderName,ResourceId,ChargeDescription,Tags"]
    for resource, service, cost, tags in rows:
        quoted = '"' + tags.replace('"', '""') + '"'
        what = "$0.80 per On Demand Linux c5.2xlarge Instance Hour" \
            if resource.startswith("i-") else service
        lines.append(f"{cost},USD,2024-09-02T10:00:00Z,2024-09-02T11:00:00Z,Usage,{service},AWS,"
                     f"{resource},{what},{quoted}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_idle_goes_to_the_machines_project(store, tmp_path):
    """A tagged instance whose hour a run used 15 minutes of: the run pays 1/4, the idle 3/4
    is the machine's project; a tagged volume and an untagged bucket are other spend of
    their own project and "untagged"."""
    path = tmp_path / "hand.csv"
    _focus(path, [("i-0aaa1111bbbb2222c", "Amazon Elastic Compute Cloud", "0.80",
                   '{"user:project": "alpha", "team": "ml"}'),
                  ("vol-0123", "Amazon Elastic Block Store", "0.30", '{"team": "ml"}'),
                  ("arn:aws:s3:::bucket", "Amazon Simple Storage Service", "0.10", "")])
    run_on(store, "i-0aaa1111bbbb2222c", utc(2024, 9, 2, 10, 0), 900,
           instance_type="c5.2xlarge")
    import_focus(store, str(path))
    allocate_store(store)
    [bill] = whole_bill(store, tag_keys=["project", "team"])
    assert (bill.runs, bill.idle, bill.other) == (Decimal("0.2"), Decimal("0.6"),
                                                   Decimal("0.4"))
    assert bill.idle_by_project == {"alpha": Decimal("0.6")}
    assert bill.other_by_project == {"ml": Decimal("0.3"), "untagged": Decimal("0.1")}


def test_bad_tags_name_the_row(store, tmp_path):
    """A Tags value that is not a JSON object stops the import with the file, row and column;
    nothing is written."""
    path = tmp_path / "bad.csv"
    _focus(path, [("vol-1", "Amazon Elastic Block Store", "0.30", '{"team": "ml"}'),
                  ("vol-2", "Amazon Elastic Block Store", "0.30", "not json")])
    from xprof.collector.billing import BillingInputError

    with pytest.raises(BillingInputError, match=r"bad\.csv: data row 2, column Tags: not a JSON "
                                                r"object of tags \('not json'\)"):
        import_focus(store, str(path))
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(
            schema.billing_items)).scalar() == 0


def _tags_by_resource(store) -> dict[str, dict]:
    b = schema.billing_items
    with store.read() as conn:
        return {r: json.loads(t) for r, t in conn.execute(sa.select(b.c.resource_id, b.c.tags))
                if t}


def test_cur_azure_and_gcp_exports_fill_tags(store, tmp_path):
    """CUR 2.0 (resource_tags map, user_ prefix dropped), legacy CUR (one column per tag,
    user: prefix dropped), an Azure cost details export (EA's brace-less Tags) and a GCP
    export as JSON lines (labels [{key, value}]) all store their tags."""
    write_parquet(tmp_path / "cur2" / "BILLING_PERIOD=2024-09", line_items())
    import_cur(store, str(tmp_path / "cur2"))
    cur_tags = _tags_by_resource(store)
    assert cur_tags and all(t == {"team": "ml"} for t in cur_tags.values())
    with store.write() as conn:
        conn.execute(schema.billing_items.delete())

    write_legacy_csv(tmp_path / "cur" / "20240901-20241001" / "cur-00001.csv.gz", line_items())
    import_cur(store, str(tmp_path / "cur"))
    cur_tags = _tags_by_resource(store)
    assert cur_tags and all(t == {"team": "ml"} for t in cur_tags.values())

    azure = tmp_path / "azure.csv"
    vm = "/subscriptions/s1/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/vm1"
    azure.write_text(
        "Date,CostInBillingCurrency,BillingCurrencyCode,ResourceId,MeterCategory,Tags\n"
        f'09/02/2024,1.50,USD,{vm},Virtual Machines,"""project"": ""nlp"",""owner"": ""ann"""\n',
        encoding="utf-8")
    import_azure_export(store, str(azure))
    assert _tags_by_resource(store)[vm] == {"project": "nlp", "owner": "ann"}

    gcp = tmp_path / "gcp.jsonl"
    gcp.write_text(json.dumps({
        "billing_account_id": "A", "service": {"description": "Cloud Storage"},
        "usage_start_time": "2024-09-02T10:00:00Z", "usage_end_time": "2024-09-02T11:00:00Z",
        "cost": 0.25, "currency": "USD", "resource": {"name": "projects/p/buckets/b",
                                                      "global_name": "//storage/b"},
        "labels": [{"key": "project", "value": "speech"}]}) + "\n", encoding="utf-8")
    import_gcp_export(store, str(gcp))
    assert _tags_by_resource(store)["//storage/b"] == {"project": "speech"}


def test_tags_whose_names_meet_after_the_prefix_is_dropped(store, tmp_path):
    """A legacy CUR with the tag columns ``user:team`` and ``user_team`` (both ``team`` once
    the prefix is dropped) imports: the first column's value is kept, no DuckDB error."""
    path = write_legacy_csv(tmp_path / "cur" / "20240901-20241001" / "cur-00001.csv.gz",
                            line_items())
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    with gzip.open(path, "wt", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([[*rows[0], "resourceTags/user_team"],
                                  *([*row, "cv"] for row in rows[1:])])
    import_cur(store, str(tmp_path / "cur"))
    tags = _tags_by_resource(store)
    assert tags and all(t == {"team": "ml"} for t in tags.values())
