"""Every billing source behind one interface: is it configured (where to read), then import.

A source is a :class:`BillingSource`: ``locations(job)`` says where to read from (empty when
the source is not configured) and ``import_from(job, location)`` reads one location into
``billing_items``. :data:`SOURCES` lists them in the order ``xprof collect`` imports them;
adding a source is one class here plus one entry in that list.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from xprof.collector.allocate import load_runs
from xprof.collector.billing.aws_cost_explorer import import_cost_explorer
from xprof.collector.billing.aws_cur import import_cur
from xprof.collector.billing.azure_cost import import_azure
from xprof.collector.billing.azure_export import import_azure_export
from xprof.collector.billing.focus import import_focus
from xprof.collector.billing.gcp_bigquery import import_bigquery
from xprof.collector.billing.gcp_export import import_gcp_export
from xprof.collector.billing.store_items import ImportResult
from xprof.settings import Settings
from xprof.store import Store


@dataclass(frozen=True)
class ImportJob:
    """What every source import shares: the store, the settings (with the command's overrides
    by setting name), ready clients (``s3``, ``ce``, ``azure``, ``bigquery``) and options."""

    store: Store
    settings: Settings
    now: dt.datetime
    overrides: Mapping[str, Any] = field(default_factory=dict)
    clients: Mapping[str, Any] = field(default_factory=dict)
    force: bool = False
    echo: Callable[[str], None] | None = None

    def setting(self, name: str) -> Any:
        """The override of a setting when given (not None), else the setting."""
        value = self.overrides.get(name)
        return self.settings.get(name) if value is None else value

    @property
    def lookback_days(self) -> int:
        return int(self.settings.get("billing.lookback_days") or 31)


class BillingSource(ABC):
    """One kind of billing data: configured? (``locations``) → import → ``ImportResult``."""

    kind: ClassVar[str]
    setting: ClassVar[str]  # the setting that configures it

    def locations(self, job: ImportJob) -> list[str]:
        """Where to read from: the configured paths, or the one configured location."""
        value = job.setting(self.setting)
        if isinstance(value, list | tuple):
            return [str(v) for v in value]
        return [str(value)] if value else []

    @abstractmethod
    def import_from(self, job: ImportJob, location: str) -> ImportResult:
        """Import one location into ``billing_items``."""


class FocusFiles(BillingSource):
    """FOCUS 1.0-1.2 files (CSV or Parquet), a folder or an ``s3://`` prefix."""

    kind, setting = "focus", "billing.focus.paths"

    def import_from(self, job: ImportJob, location: str) -> ImportResult:
        return import_focus(job.store, location, s3_client=job.clients.get("s3"),
                            force=job.force, echo=job.echo)


class AwsCur(BillingSource):
    """AWS CUR 2.0 (Data Exports) and legacy CUR folders or ``s3://`` prefixes."""

    kind, setting = "aws-cur", "billing.cur.paths"

    def import_from(self, job: ImportJob, location: str) -> ImportResult:
        return import_cur(job.store, location, s3_client=job.clients.get("s3"),
                          force=job.force, echo=job.echo)


class AwsCostExplorer(BillingSource):
    """AWS Cost Explorer, hourly for the EC2 instances runs used."""

    kind, setting = "aws-ce", "billing.aws_ce.enabled"

    def locations(self, job: ImportJob) -> list[str]:
        return ["Cost Explorer"] if job.setting(self.setting) else []

    def import_from(self, job: ImportJob, location: str) -> ImportResult:
        spans = [(key, s.start, s.end) for s in load_runs(job.store, job.now) for key in s.keys
                 if key.startswith("i-")]
        return import_cost_explorer(job.store, spans, client=job.clients.get("ce"), now=job.now,
                                    echo=job.echo, force=job.force)


class AzureCostManagement(BillingSource):
    """Azure Cost Management ``query.usage`` of one scope, daily per resource."""

    kind, setting = "azure", "billing.azure.scope"

    def import_from(self, job: ImportJob, location: str) -> ImportResult:
        return import_azure(job.store, location, client=job.clients.get("azure"),
                            lookback_days=job.lookback_days, now=job.now, echo=job.echo,
                            force=job.force)


class GcpBigQuery(BillingSource):
    """The GCP Cloud Billing detailed export table in BigQuery."""

    kind, setting = "gcp-bq", "billing.gcp.table"

    def import_from(self, job: ImportJob, location: str) -> ImportResult:
        return import_bigquery(job.store, location, client=job.clients.get("bigquery"),
                               project=job.settings.get("billing.gcp.project"),
                               lookback_days=job.lookback_days, now=job.now, echo=job.echo,
                               force=job.force)


class AzureExportFiles(BillingSource):
    """Azure cost details exports (CSV or Parquet, actual or amortized cost)."""

    kind, setting = "azure-export", "billing.azure_export.paths"

    def import_from(self, job: ImportJob, location: str) -> ImportResult:
        return import_azure_export(job.store, location,
                                   cost_type=job.setting("billing.azure_export.cost_type"),
                                   s3_client=job.clients.get("s3"), force=job.force,
                                   echo=job.echo)


class GcpExportFiles(BillingSource):
    """The GCP billing export table exported to files (Parquet, JSON or CSV)."""

    kind, setting = "gcp-export", "billing.gcp_export.paths"

    def import_from(self, job: ImportJob, location: str) -> ImportResult:
        return import_gcp_export(job.store, location, s3_client=job.clients.get("s3"),
                                 force=job.force, echo=job.echo)


SOURCES: list[BillingSource] = [FocusFiles(), AwsCur(), AwsCostExplorer(),
                                AzureCostManagement(), GcpBigQuery(), AzureExportFiles(),
                                GcpExportFiles()]
"""Every billing source, in import order."""

SOURCE_KINDS = tuple(source.kind for source in SOURCES)
