"""FOCUS 0.5 and 1.0–1.2 billing files (CSV, gzip CSV or Parquet) from any provider.

The portable path: AWS Data Exports, Azure Cost Management exports, Google's FOCUS BigQuery
view and others all write FOCUS. Columns read (names compare case-insensitively):

| FOCUS column | billing item | notes |
| --- | --- | --- |
| BilledCost, ListCost, EffectiveCost | billed / list / effective cost | BilledCost required |
| BillingCurrency | currency | required, ISO 4217 |
| ChargePeriodStart, ChargePeriodEnd | charge period | required; no zone means UTC |
| ChargeCategory (0.5: ChargeType) | charge category | usage, purchase, tax, credit, adjustment |
| ResourceId | resource id | what runs are matched on |
| ConsumedQuantity / ConsumedUnit | usage quantity / unit | UsageQuantity/UsageUnit (0.5) too |
| ProviderName, SubAccountId (else BillingAccountId), RegionId, ServiceName | as named | |
| SkuPriceId (else SkuId), ChargeDescription | sku, description | |
| Tags | tags | JSON object; ``user:`` prefixes dropped |

FOCUS 0.5 files (``ChargeType``, ``UsageQuantity``/``UsageUnit``) are read through those
aliases: 0.5's ChargeType takes the same values as 1.0's ChargeCategory. A file of another
format gets a message naming the option that reads it (an Azure cost details export, a GCP
billing export, a CUR).

The EC2 instance type is read from AWS charge descriptions ("… c5.2xlarge Instance Hour").
"""

from __future__ import annotations

from typing import Any

from xprof.collector.billing.file_import import Echo, import_location
from xprof.collector.billing.normalise import Column, Spec
from xprof.collector.billing.store_items import ImportResult
from xprof.store import Store

KIND = "focus"

_TEXT = ("BillingAccountId", "SubAccountId", "ResourceId", "ResourceType", "ServiceName",
         "SkuId", "SkuPriceId", "ChargeDescription", "AvailabilityZone", "PricingCategory",
         "CommitmentDiscountId", "InvoiceId", "Id")

COLUMNS: dict[str, Column] = {
    "BilledCost": Column("money", required=True, not_null=True),
    "ListCost": Column("money"),
    "EffectiveCost": Column("money"),
    "BillingCurrency": Column("currency", required=True, not_null=True),
    "ChargePeriodStart": Column("time", required=True, not_null=True),
    "ChargePeriodEnd": Column("time", required=True, not_null=True),
    "ChargeCategory": Column("category", required=True, aliases=("ChargeType",)),
    "ChargeClass": Column("lower"),
    "BillingPeriodStart": Column("time"),
    "ConsumedQuantity": Column("number", aliases=("UsageQuantity",)),
    "ConsumedUnit": Column("text", aliases=("UsageUnit",)),
    "ProviderName": Column("text", aliases=("ServiceProviderName",)),
    "RegionId": Column("text", aliases=("Region",)),
    "Tags": Column("tags"),
    **{name: Column("text") for name in _TEXT},
}

_INSTANCE_TYPE = (r"([a-z][a-z0-9-]*\.[a-z0-9]+)\s+(?:Dedicated\s+|Spot\s+)?Instance[- ][Hh]our")

SPEC = Spec(
    name="FOCUS",
    columns=COLUMNS,
    fields={
        "provider": 'xprovider("ProviderName")',
        "account_id": 'coalesce("SubAccountId", "BillingAccountId")',
        "resource_id": '"ResourceId"',
        "region": '"RegionId"',
        "service": '"ServiceName"',
        "sku": 'coalesce("SkuPriceId", "SkuId")',
        "charge_category": '"ChargeCategory"',
        "charge_description": '"ChargeDescription"',
        "period_start_us": '"ChargePeriodStart"',
        "period_end_us": '"ChargePeriodEnd"',
        "usage_quantity": '"ConsumedQuantity"',
        "usage_unit": '"ConsumedUnit"',
        "instance_type":
            f"nullif(regexp_extract(\"ChargeDescription\", '{_INSTANCE_TYPE}', 1), '')",
        "list_nanos": '"ListCost"',
        "billed_nanos": '"BilledCost"',
        "effective_nanos": '"EffectiveCost"',
        "currency": '"BillingCurrency"',
        "tags": """xtags("Tags", '^user:')""",
    },
    identity=('lower("ProviderName")', '"BillingAccountId"', '"SubAccountId"', '"ResourceId"',
              '"ChargePeriodStart"', '"ChargePeriodEnd"', '"ChargeCategory"', '"ChargeClass"',
              '"ChargeDescription"', '"ServiceName"', '"SkuId"', '"SkuPriceId"', '"RegionId"',
              '"AvailabilityZone"', 'lower("PricingCategory")', '"ConsumedUnit"',
              '"CommitmentDiscountId"', '"BillingCurrency"', '"BillingPeriodStart"',
              '"InvoiceId"', '"Id"'),
    field_columns={"period_start_us": "ChargePeriodStart", "period_end_us": "ChargePeriodEnd",
                   "billed_nanos": "BilledCost", "currency": "BillingCurrency",
                   "charge_category": "ChargeCategory"},
    hints={"CostInBillingCurrency": "an Azure cost details export: import it with "
                                    "--azure-export",
           "usage_start_time": "a GCP billing export: import it with --gcp-export",
           "line_item_unblended_cost": "an AWS CUR: import it with --cur",
           "lineItem/UnblendedCost": "an AWS CUR: import it with --cur"},
)


def import_focus(store: Store, location: str, *, s3_client: Any = None, force: bool = False,
                 echo: Echo | None = None) -> ImportResult:
    """Import the FOCUS files at ``location`` (a file, a folder or an s3:// prefix)."""
    return import_location(store, kind=KIND, location=location, spec=SPEC, s3_client=s3_client,
                           force=force, echo=echo)
