"""Billing sources: each turns one provider's billing data into FOCUS-shaped ``billing_items``.

- :mod:`focus` — FOCUS 1.0–1.2 files (CSV or Parquet, any provider), a folder or ``s3://`` prefix;
- :mod:`aws_cur` — AWS CUR 2.0 (Data Exports) and legacy CUR, Parquet or gzip CSV;
- :mod:`aws_cost_explorer` — AWS Cost Explorer, hourly per EC2 instance, last 14 days;
- :mod:`azure_cost` — Azure Cost Management ``query.usage``, daily per resource;
- :mod:`gcp_bigquery` — the GCP Cloud Billing detailed export in BigQuery.

Every source goes through :mod:`normalise` (one set of rules for untidy data, one-line errors)
and :mod:`store_items` (idempotent, incremental writes). :mod:`xprof.collector.allocate` then
splits the items over runs; :mod:`xprof.collector.collect_billing` runs it all
(one :class:`~sources.BillingSource` per kind, listed in :data:`sources.SOURCES`).

Heavy libraries (duckdb, pyarrow, boto3, cloud SDKs) are imported inside the modules that use
them; importing this package costs nothing.
"""

from __future__ import annotations


class BillingInputError(ValueError):
    """Billing data that cannot be imported; the one-line message names file, row and column."""


class BillingSourceError(RuntimeError):
    """A billing API or bucket could not be read (credentials, permissions, service); one line."""
