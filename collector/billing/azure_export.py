"""Azure cost details exports (Cost Management exports, portal downloads): CSV or Parquet.

The files of a scheduled export ("Cost and usage details", actual or amortized cost; EA, MCA
and pay-as-you-go layouts). Columns read, named as Microsoft's "Understand cost details
fields" and the cost-usage-details dataset schema (2023-12-01-preview) name them, compared
case-insensitively (EA's PascalCase and MCA's camelCase alike):

| cost details column | billing item | notes |
| --- | --- | --- |
| CostInBillingCurrency (else Cost, PreTaxCost) | billed cost | required |
| BillingCurrencyCode (else BillingCurrency, Currency) | currency | required |
| Date | charge day [Date, Date + 1 day) | ISO or ``MM/DD/YYYY``; required |
| ResourceId (else InstanceId) | resource id | a VM's id is what runs match on |
| Quantity, UnitOfMeasure | usage quantity / unit | VM hours ("10 Hours" scaled) |
| ChargeType | charge category | Usage, Purchase, Refund (credit), Tax, … |
| PricingModel | — | OnDemand, Reservation, SavingsPlan, Spot: part of the identity |
| MeterCategory, MeterName, MeterId | service, description, sku | |
| ResourceLocation (else MeterRegion) | region | |
| SubscriptionId (else SubscriptionGuid, BillingAccountId) | account | |
| PayGPrice × Quantity | list cost | when given |
| Tags | tags | ``{"k": "v"}`` or EA's ``"k": "v", …`` without braces |

An **actual** cost export gives billed cost as the invoice shows it (reservation purchases
when bought, usage they cover at 0); an **amortized** export spreads the purchases over the
days they cover. Set ``billing.azure_export.cost_type`` (``--azure-cost-type``) to say which
one a location holds: amortized amounts go to the effective cost and, as nothing else bills
those days, also to the billed amount. Import one kind per scope, or the bill counts twice.
"""

from __future__ import annotations

from typing import Any

from xprof.collector.billing.file_import import Echo, import_location
from xprof.collector.billing.normalise import Column, Spec
from xprof.collector.billing.store_items import ImportResult
from xprof.store import Store

KIND = "azure-export"
COST_TYPES = ("actual", "amortized")
DAY_US = 86_400_000_000

_CATEGORY = """CASE lower(coalesce("ChargeType", 'usage'))
    WHEN 'usage' THEN 'usage' WHEN 'unusedreservation' THEN 'usage'
    WHEN 'unusedsavingsplan' THEN 'usage' WHEN 'purchase' THEN 'purchase'
    WHEN 'refund' THEN 'credit' WHEN 'credit' THEN 'credit' WHEN 'tax' THEN 'tax'
    ELSE 'adjustment' END"""
# "1 Hour", "10 Hours", "100 Hours": Quantity counts that many hours
_HOUR_UNIT = """regexp_matches(lower(coalesce("UnitOfMeasure", '')),
    '^\\s*[0-9]*\\s*hours?\\s*$')"""
_HOURS = f"""CASE WHEN {_HOUR_UNIT} THEN "Quantity" * coalesce(TRY_CAST(
    nullif(regexp_extract("UnitOfMeasure", '[0-9]+'), '') AS DOUBLE), 1) ELSE "Quantity" END"""


def spec(cost_type: str = "actual") -> Spec:
    """The import spec of an export of ``cost_type`` (actual | amortized)."""
    if cost_type not in COST_TYPES:
        raise ValueError(f"Azure cost type must be one of {', '.join(COST_TYPES)}, "
                         f"got {cost_type!r}")
    return Spec(
        name=f"Azure cost details ({cost_type})",
        columns={
            "CostInBillingCurrency": Column("money", required=True, not_null=True,
                                            aliases=("Cost", "PreTaxCost")),
            "BillingCurrencyCode": Column("currency", required=True, not_null=True,
                                          aliases=("BillingCurrency", "Currency")),
            "Date": Column("date", required=True, not_null=True, aliases=("UsageDate",)),
            "ResourceId": Column("text", aliases=("InstanceId",)),
            "Quantity": Column("number"), "UnitOfMeasure": Column("text"),
            "ChargeType": Column("text"), "PricingModel": Column("lower"),
            "MeterCategory": Column("text"), "MeterName": Column("text"),
            "MeterId": Column("text"), "ReservationId": Column("text"),
            "BenefitId": Column("text"), "PayGPrice": Column("number"),
            "ResourceLocation": Column("text", aliases=("MeterRegion",)),
            "SubscriptionId": Column("text", aliases=("SubscriptionGuid",)),
            "BillingAccountId": Column("text"), "AdditionalInfo": Column("text"),
            "Tags": Column("tags"),
        },
        fields={
            "provider": "'azure'",
            "account_id": 'coalesce("SubscriptionId", "BillingAccountId")',
            "resource_id": '"ResourceId"', "region": 'lower("ResourceLocation")',
            "service": '"MeterCategory"', "sku": '"MeterId"',
            "charge_category": _CATEGORY, "charge_description": '"MeterName"',
            "period_start_us": '"Date"', "period_end_us": f'"Date" + {DAY_US}',
            "usage_quantity": _HOURS,
            "usage_unit": f"""CASE WHEN {_HOUR_UNIT} THEN 'Hours' ELSE "UnitOfMeasure" END""",
            "list_nanos": 'TRY_CAST(round_even("PayGPrice" * "Quantity" * 1e9, 0) AS BIGINT)',
            "billed_nanos": '"CostInBillingCurrency"',
            "effective_nanos": '"CostInBillingCurrency"' if cost_type == "amortized" else
                               "NULL",
            "currency": '"BillingCurrencyCode"',
            "tags": """xtags("Tags", '^user:')""",
        },
        identity=(f"'{cost_type}'", '"Date"', 'lower("ResourceId")', '"MeterId"',
                  '"MeterName"', 'lower("ChargeType")', '"PricingModel"', '"ReservationId"',
                  '"BenefitId"', '"SubscriptionId"', '"BillingAccountId"',
                  '"BillingCurrencyCode"', '"AdditionalInfo"'),
        field_columns={"period_start_us": "Date", "billed_nanos": "CostInBillingCurrency",
                       "currency": "BillingCurrencyCode", "period_end_us": "Date"},
        hints={"BilledCost": "a FOCUS file: import it with --focus",
               "usage_start_time": "a GCP billing export: import it with --gcp-export"},
    )


def import_azure_export(store: Store, location: str, *, cost_type: str = "actual",
                        s3_client: Any = None, force: bool = False,
                        echo: Echo | None = None) -> ImportResult:
    """Import the Azure cost details export files at ``location`` (file, folder, s3://)."""
    return import_location(store, kind=f"{KIND}-{cost_type}", location=location,
                           spec=spec(cost_type), s3_client=s3_client, force=force, echo=echo)
