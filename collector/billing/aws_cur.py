"""AWS Cost and Usage Reports: CUR 2.0 (Data Exports) and legacy CUR.

Parquet or (gzip) CSV, from a local folder or an ``s3://bucket/prefix``. Legacy CSV headers
(``lineItem/UsageStartDate``) are read as their Parquet/Athena names
(``line_item_usage_start_date``), so one set of rules serves both. Deliveries are grouped by
billing period (``BILLING_PERIOD=2024-09`` or ``20240901-20241001`` folders); a period AWS
re-delivers (a restatement) replaces what was imported for it.

Costs per line item type (``line_item_line_item_type``):

| type | billed | effective (amortised) |
| --- | --- | --- |
| Usage, Tax, Credit, Refund, discounts | unblended | unblended |
| SavingsPlanCoveredUsage | unblended (on-demand) | savings_plan_savings_plan_effective_cost |
| SavingsPlanNegation | unblended (negative) | 0 |
| SavingsPlanRecurringFee | unblended | total commitment − used commitment (the unused part) |
| SavingsPlanUpfrontFee | unblended | 0 (amortised into covered usage) |
| DiscountedUsage (RI) | unblended | reservation_effective_cost |
| RIFee | unblended | unused amortised upfront + unused recurring fee |
| Fee of a reservation (upfront) | unblended | 0 |

Where the export has net columns (accounts with discounts), billed is
``line_item_net_unblended_cost`` and effective uses the ``net_`` variants. List cost is
``pricing_public_on_demand_cost``. Usage amount, pricing unit (``Hrs`` for instance hours),
pricing term and instance type are kept. Tags: CUR 2.0's ``resource_tags`` (a map, or JSON in
CSV) and legacy CUR's one column per tag (``resourceTags/user:project``), with the ``user:`` /
``user_`` prefix of user-defined tags dropped (``{"project": "…"}``).
"""

from __future__ import annotations

import re
from typing import Any

from xprof.collector.billing.file_import import Echo, import_location
from xprof.collector.billing.normalise import Column, Spec
from xprof.collector.billing.store_items import ImportResult
from xprof.store import Store

KIND = "aws-cur"

_MONEY = (
    "line_item_net_unblended_cost", "pricing_public_on_demand_cost",
    "savings_plan_savings_plan_effective_cost", "savings_plan_net_savings_plan_effective_cost",
    "savings_plan_total_commitment_to_date", "savings_plan_used_commitment",
    "reservation_effective_cost", "reservation_net_effective_cost",
    "reservation_unused_amortized_upfront_fee_for_billing_period",
    "reservation_net_unused_amortized_upfront_fee_for_billing_period",
    "reservation_unused_recurring_fee", "reservation_net_unused_recurring_fee",
)
_TEXT = (
    "line_item_resource_id", "line_item_usage_account_id", "line_item_product_code",
    "line_item_usage_type", "line_item_operation", "line_item_line_item_description",
    "line_item_availability_zone", "pricing_unit", "pricing_term", "product_instance_type",
    "product_sku", "reservation_reservation_a_r_n", "savings_plan_savings_plan_a_r_n",
    "identity_time_interval",
)

COLUMNS: dict[str, Column] = {
    "line_item_usage_start_date": Column("time", required=True, not_null=True),
    "line_item_usage_end_date": Column("time", required=True, not_null=True),
    "line_item_unblended_cost": Column("money", required=True, not_null=True),
    "line_item_currency_code": Column("currency", required=True, not_null=True),
    "line_item_line_item_type": Column("lower", required=True),
    "line_item_usage_amount": Column("number"),
    "bill_billing_period_start_date": Column("time"),
    "product_region_code": Column("text", aliases=("product_region",)),
    "resource_tags": Column("tags"),
    **{name: Column("money") for name in _MONEY},
    **{name: Column("text") for name in _TEXT},
}


def _net(name: str) -> str:
    """The net variant of a cost column if the export has it, else the column."""
    net = {"line_item_unblended_cost": "line_item_net_unblended_cost",
           "savings_plan_savings_plan_effective_cost":
               "savings_plan_net_savings_plan_effective_cost",
           "reservation_effective_cost": "reservation_net_effective_cost",
           "reservation_unused_amortized_upfront_fee_for_billing_period":
               "reservation_net_unused_amortized_upfront_fee_for_billing_period",
           "reservation_unused_recurring_fee": "reservation_net_unused_recurring_fee"}[name]
    return f'coalesce("{net}", "{name}")'


_TYPE = '"line_item_line_item_type"'
_UNBLENDED = _net("line_item_unblended_cost")
_EFFECTIVE = f"""CASE {_TYPE}
    WHEN 'savingsplancoveredusage'
        THEN coalesce({_net('savings_plan_savings_plan_effective_cost')}, {_UNBLENDED})
    WHEN 'savingsplannegation' THEN 0
    WHEN 'savingsplanupfrontfee' THEN 0
    WHEN 'savingsplanrecurringfee' THEN coalesce("savings_plan_total_commitment_to_date"
        - "savings_plan_used_commitment", {_UNBLENDED})
    WHEN 'discountedusage' THEN coalesce({_net('reservation_effective_cost')}, {_UNBLENDED})
    WHEN 'rifee' THEN CASE
        WHEN "reservation_unused_amortized_upfront_fee_for_billing_period" IS NULL
             AND "reservation_unused_recurring_fee" IS NULL THEN {_UNBLENDED}
        ELSE coalesce({_net('reservation_unused_amortized_upfront_fee_for_billing_period')}, 0)
             + coalesce({_net('reservation_unused_recurring_fee')}, 0) END
    WHEN 'fee' THEN CASE WHEN "reservation_reservation_a_r_n" IS NOT NULL THEN 0
                         ELSE {_UNBLENDED} END
    ELSE {_UNBLENDED} END"""
_CATEGORY = f"""CASE {_TYPE}
    WHEN 'tax' THEN 'tax' WHEN 'credit' THEN 'credit' WHEN 'refund' THEN 'credit'
    WHEN 'rifee' THEN 'purchase' WHEN 'fee' THEN 'purchase'
    WHEN 'savingsplanrecurringfee' THEN 'purchase' WHEN 'savingsplanupfrontfee' THEN 'purchase'
    WHEN 'usage' THEN 'usage' WHEN 'discountedusage' THEN 'usage'
    WHEN 'savingsplancoveredusage' THEN 'usage'
    ELSE 'adjustment' END"""
_HOURLY_USAGE = ("regexp_matches(coalesce(\"line_item_usage_type\", ''), "
                 "'(BoxUsage|SpotUsage|DedicatedUsage|HostUsage)')")

SPEC = Spec(
    name="CUR",
    columns=COLUMNS,
    fields={
        "provider": "'aws'",
        "account_id": '"line_item_usage_account_id"',
        "resource_id": '"line_item_resource_id"',
        "region": '"product_region_code"',
        "service": '"line_item_product_code"',
        "sku": 'coalesce("product_sku", "line_item_usage_type")',
        "charge_category": _CATEGORY,
        "charge_description": '"line_item_line_item_description"',
        "period_start_us": '"line_item_usage_start_date"',
        "period_end_us": '"line_item_usage_end_date"',
        "usage_quantity": '"line_item_usage_amount"',
        "usage_unit": f"coalesce(\"pricing_unit\", CASE WHEN {_HOURLY_USAGE} THEN 'Hrs' END)",
        "instance_type": ("coalesce(\"product_instance_type\", CASE WHEN " + _HOURLY_USAGE
                          + " THEN nullif(regexp_extract(\"line_item_usage_type\", "
                          "':([a-z0-9-]+\\.[a-z0-9]+)$', 1), '') END)"),
        "list_nanos": '"pricing_public_on_demand_cost"',
        "billed_nanos": _UNBLENDED,
        "effective_nanos": _EFFECTIVE,
        "currency": '"line_item_currency_code"',
        "tags": """xtags(coalesce("resource_tags", "__tag_columns"), '^user[_:]')""",
    },
    identity=('"line_item_usage_start_date"', '"line_item_usage_end_date"',
              '"line_item_resource_id"', '"line_item_usage_account_id"', _TYPE,
              '"line_item_usage_type"', '"line_item_operation"', '"line_item_product_code"',
              '"line_item_line_item_description"', '"line_item_availability_zone"',
              '"pricing_term"', '"reservation_reservation_a_r_n"',
              '"savings_plan_savings_plan_a_r_n"', '"line_item_currency_code"',
              '"bill_billing_period_start_date"'),
    field_columns={"period_start_us": "line_item_usage_start_date",
                   "period_end_us": "line_item_usage_end_date",
                   "billed_nanos": "line_item_unblended_cost",
                   "currency": "line_item_currency_code"},
    tag_prefixes=("resource_tags/", "resource_tags_"),
)

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def cur_column_name(header: str) -> str:
    """A legacy CUR CSV header as its Parquet name: ``lineItem/UsageStartDate`` ->
    ``line_item_usage_start_date``, ``reservation/ReservationARN`` ->
    ``reservation_reservation_a_r_n``, ``resourceTags/user:Team`` -> ``resource_tags/user:Team``
    (the tag key kept as it is); CUR 2.0 names are unchanged."""
    if "/" not in header:
        return header
    if header.lower().startswith("resourcetags/"):  # one column per tag: keep the tag's key
        return "resource_tags/" + header.split("/", 1)[1]
    return "_".join(_CAMEL.sub("_", part).lower() for part in header.split("/"))


def import_cur(store: Store, location: str, *, s3_client: Any = None, force: bool = False,
               echo: Echo | None = None) -> ImportResult:
    """Import the CUR files at ``location`` (a file, a folder or an s3:// prefix)."""
    return import_location(store, kind=KIND, location=location, spec=SPEC,
                           rename=cur_column_name, s3_client=s3_client, force=force, echo=echo)
