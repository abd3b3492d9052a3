"""The store's schema: the contract every part of xprof reads and writes.

One SQLAlchemy Core ``MetaData`` for SQLite and PostgreSQL alike. Conventions:

- Times of runs, billing and costs are timezone-aware UTC ``DateTime`` columns (``*_at``,
  ``*_start``, ``*_end``); high-volume series (samples, gpu_samples, metrics) use ``ts``, UNIX
  epoch seconds as a double, because they are written a million at a time.
- Money is :class:`Money`: a ``Decimal`` in Python, stored as an integer count of nano-units
  (1e-9) of the row's ``currency`` (NUMERIC(38,0) on PostgreSQL), summed in SQL with
  :class:`money_sum`, exact on both engines and for any currency.
- A value that is unknown is NULL, never 0 or "N/A".
- Free-form structures (git, environment, hardware, evidence) are JSON.

Schema changes go through ``xprof/migrations`` (Alembic); bump ``SCHEMA_REVISION`` with them.
The table-by-table contract is documented in README.md ("The store").
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator

from xprof.records import GPU_FIELDS, SAMPLE_FIELDS, Field
from xprof.store_values import NANO, fits_int64, nanos_of, sqlite_money, to_nanos

SCHEMA_REVISION = "0009"


class Money(TypeDecorator):
    """Decimal money stored as integer nano-units: NUMERIC(38,0) on PostgreSQL (exact up to
    1e29 units of any currency); a 64-bit INTEGER on SQLite, where an amount beyond ±9.2e9
    units (an IDR or VND bill) is kept exactly as its digits in a BLOB (a BLOB is the one
    value SQLite's integer affinity leaves alone). Sum with :class:`money_sum`: exact, never
    an integer overflow, on both engines."""

    impl = BigInteger
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(38, 0))
        return dialect.type_descriptor(BigInteger())

    def process_bind_param(self, value, dialect):
        if value is None or dialect.name == "sqlite":
            return sqlite_money(value)
        return to_nanos(value)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return (Decimal(nanos_of(value)) * NANO).normalize()


class money_sum(FunctionElement):
    """``sum()`` of a Money column: exact and unbounded on PostgreSQL (NUMERIC) and on SQLite,
    where the store registers ``xprof_money_sum`` (Python integers) on every connection."""

    type = Money()
    name = "money_sum"
    inherit_cache = True


@compiles(money_sum)
def _money_sum(element, compiler, **kw):
    return f"sum({compiler.process(element.clauses, **kw)})"


@compiles(money_sum, "sqlite")
def _money_sum_sqlite(element, compiler, **kw):
    return f"xprof_money_sum({compiler.process(element.clauses, **kw)})"


class MoneySum:
    """The SQLite aggregate behind :class:`money_sum`: exact, an integer while it fits in
    64 bits, else decimal text (read back exactly by :class:`Money`)."""

    def __init__(self) -> None:
        self.total: int | None = None

    def step(self, value: Any) -> None:
        if value is not None:
            self.total = (self.total or 0) + nanos_of(value)

    def finalize(self) -> int | str | None:
        if self.total is None or fits_int64(self.total):
            return self.total
        return str(self.total)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every engine (SQLite stores them naive, in UTC)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: xprof stores UTC-aware times only")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)

    def load_dialect_impl(self, dialect):
        return dialect.type_descriptor(DateTime(timezone=dialect.name != "sqlite"))


_KINDS = {"float": Float(53), "int": BigInteger(), "bool": Boolean(), "str": String(96)}


def _metric_columns(table_fields: tuple[Field, ...]) -> list[Column]:
    return [Column(f.name, _KINDS[f.kind], comment=f.doc) for f in table_fields]


ROLLUP_STATS = ("min", "mean", "max", "p95")  # what `xprof gc` keeps of each minute
ROLLUP_SECONDS = 60.0  # the span of one rollup row (`samples_1m`, `gpu_samples_1m`)


def rollup_fields(table_fields: tuple[Field, ...]) -> tuple[Field, ...]:
    """The numeric fields of a series, which one-minute rollups keep as min/mean/max/p95."""
    return tuple(f for f in table_fields if f.kind in ("float", "int"))


def _rollup_columns(table_fields: tuple[Field, ...]) -> list[Column]:
    columns = []
    for f in rollup_fields(table_fields):
        for stat in ROLLUP_STATS:
            kind = _KINDS[f.kind] if stat in ("min", "max") else Float(53)
            columns.append(Column(f"{f.name}_{stat}", kind, comment=f"{stat} of {f.name}"))
    return columns


metadata = MetaData()

runs = Table(
    "runs", metadata,
    Column("id", String(32), primary_key=True, comment="client-supplied uuid4 hex"),
    Column("name", String(200), nullable=False),
    Column("project", String(200), nullable=False),
    Column("status", String(16), nullable=False,
           comment="running | finished | failed | killed | crashed (crashed is also derived "
                   "on read from a stale heartbeat)"),
    Column("exit_code", Integer),
    Column("signal", Integer, comment="signal number that killed the child, if any"),
    Column("started_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime),
    Column("heartbeat_at", UTCDateTime, nullable=False),
    Column("duration_s", Float(53)),
    Column("interval_s", Float(53), nullable=False),
    Column("flush_interval_s", Float(53), nullable=False),
    Column("command", JSON, nullable=False, comment="argv, secrets redacted"),
    Column("cwd", Text),
    Column("host", String(255), nullable=False),
    Column("user", String(255)),
    Column("os", String(255)),
    Column("python", String(64)),
    Column("git", JSON, comment="{repo, commit, branch, dirty, diff_sha256}"),
    Column("environment", JSON, comment="{cuda_visible_devices, packages, env}"),
    Column("hardware", JSON, comment="{cpu_model, cpu_count, memory_bytes, gpus: [...]}"),
    Column("cloud_provider", String(16), comment="aws | gcp | azure | none | unknown"),
    Column("cloud_account", String(128)),
    Column("cloud_region", String(64)),
    Column("cloud_zone", String(64)),
    Column("instance_id", String(255), comment="provider resource id billing joins on"),
    Column("instance_type", String(128)),
    Column("lifecycle", String(16), comment="on-demand | spot"),
    Column("cloud", JSON, comment="{source, resource_id, interruption, error}"),
    Column("objective_name", String(200)),
    Column("objective_mode", String(3), comment="max | min"),
    Column("cpu_seconds", Float(53), comment="total CPU seconds of the tree, exited included"),
    Column("peak_rss_bytes", BigInteger),
    Column("summary", JSON, comment="percentiles and peaks computed at the end"),
    Column("output_tail", Text, comment="last bytes of stdout/stderr, secrets redacted"),
    Column("agent_version", String(32)),
    Column("hypothesis", Text, comment="what the run is expected to show, declared up front"),
    Column("expectation", String(200), comment="e.g. val_acc>=0.92, checked at the end"),
    Column("outcome", String(16), comment="confirmed | refuted | inconclusive"),
    Column("experiment", String(200), comment="groups attempts of one training job"),
    Column("attempt", Integer, comment="1, 2, ... within the experiment"),
    Column("resumed_from", String(32), comment="the run this attempt resumes"),
    Column("budget", Money, comment="cost limit of the run, catalog currency"),
    Column("stopped_by", String(16), comment="budget, when xprof stopped the run"),
    Index("ix_runs_project_started", "project", "started_at"),
    Index("ix_runs_project_objective", "project", "objective_name", "objective_mode"),
    Index("ix_runs_experiment", "experiment"),
    Index("ix_runs_status", "status"),
    Index("ix_runs_instance", "instance_id"),
)

run_hosts = Table(
    "run_hosts", metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("host", String(255), primary_key=True,
           comment="host name, or host/rank when several agents share a host"),
    Column("status", String(16), nullable=False),
    Column("exit_code", Integer),
    Column("signal", Integer),
    Column("started_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime),
    Column("heartbeat_at", UTCDateTime, nullable=False),
    Column("hardware", JSON),
    Column("cloud_provider", String(16)),
    Column("cloud_account", String(128)),
    Column("cloud_region", String(64)),
    Column("cloud_zone", String(64)),
    Column("instance_id", String(255)),
    Column("instance_type", String(128)),
    Column("lifecycle", String(16)),
    Column("cloud", JSON),
    Column("cpu_seconds", Float(53)),
    Column("peak_rss_bytes", BigInteger),
    Column("summary", JSON),
    comment="one row per host of a run (several for multi-node runs sharing XPROF_RUN_ID)",
)

run_params = Table(
    "run_params", metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("value", Text),
    Column("source", String(8), comment="flag | argv"),
)

run_tags = Table(
    "run_tags", metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("value", Text),
    Index("ix_run_tags_kv", "key", "value"),
)

samples = Table(
    "samples", metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("host", String(255), primary_key=True),
    Column("ts", Float(53), primary_key=True),
    *_metric_columns(SAMPLE_FIELDS),
)

gpu_samples = Table(
    "gpu_samples", metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("host", String(255), primary_key=True),
    Column("ts", Float(53), primary_key=True),
    Column("gpu_index", Integer, primary_key=True),
    Column("mig_index", Integer, primary_key=True, comment="-1: the whole device"),
    *_metric_columns(GPU_FIELDS),
)

metrics = Table(
    "metrics", metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("host", String(255), primary_key=True),
    Column("seq", Integer, primary_key=True, comment="per run and host, from the agent"),
    Column("key", String(200), nullable=False),
    Column("value", Float(53), nullable=False),
    Column("step", BigInteger),
    Column("ts", Float(53), nullable=False),
    Column("source", String(8), nullable=False, comment="log | stdout | file"),
    Index("ix_metrics_run_key", "run_id", "key"),
)

prices = Table(
    "prices", metadata,
    Column("provider", String(16), primary_key=True),
    Column("instance_type", String(128), primary_key=True),
    Column("region", String(64), primary_key=True),
    Column("vcpus", Integer, nullable=False),
    Column("memory_gib", Float(53), nullable=False),
    Column("gpu_count", Integer, nullable=False),
    Column("gpu_model", String(64), comment="normalised short model, e.g. A100; NULL for none"),
    Column("gpu_memory_gib", Float(53), comment="per GPU"),
    Column("price_on_demand", Money),
    Column("price_spot", Money),
    Column("currency", String(3), nullable=False),
    Column("as_of", Date, nullable=False),
    Column("source", String(128), nullable=False),
    Index("ix_prices_gpu", "provider", "region", "gpu_model"),
)

billing_items = Table(
    "billing_items", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(200), nullable=False,
           comment="e.g. focus, aws-ce, aws-cur, azure, gcp-bq"),
    Column("row_key", String(200), nullable=False, comment="stable id of the source row"),
    Column("provider", String(16)),
    Column("account_id", String(128)),
    Column("resource_id", String(512), comment="instance id / ARN / Azure resourceId"),
    Column("region", String(64)),
    Column("service", String(200)),
    Column("sku", String(200)),
    Column("charge_category", String(32), comment="usage | purchase | tax | credit | adjustment"),
    Column("charge_description", Text),
    Column("charge_period_start", UTCDateTime, nullable=False),
    Column("charge_period_end", UTCDateTime, nullable=False),
    Column("usage_quantity", Float(53)),
    Column("usage_unit", String(64)),
    Column("instance_type", String(128)),
    Column("list_cost", Money),
    Column("billed_cost", Money, nullable=False),
    Column("effective_cost", Money),
    Column("currency", String(3), nullable=False),
    Column("imported_at", UTCDateTime, nullable=False),
    Column("tags", Text, comment='the resource\'s tags/labels as a JSON object {"key": "value"}'),
    UniqueConstraint("source", "row_key", name="uq_billing_source_row"),
    Index("ix_billing_resource_period", "resource_id", "charge_period_start"),
)

costs = Table(
    "costs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(8), nullable=False, comment="run | idle"),
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"),
           comment="NULL for idle rows"),
    Column("resource_id", String(512)),
    Column("source", String(16), nullable=False, comment="estimate | billed"),
    Column("basis", String(16), nullable=False, comment="list | billed | effective"),
    Column("period_start", UTCDateTime, nullable=False),
    Column("period_end", UTCDateTime, nullable=False),
    Column("amount", Money, comment="NULL when the cost is unknown (see detail.reason)"),
    Column("currency", String(3), nullable=False),
    Column("upper_bound", Boolean, nullable=False, default=False,
           comment="true when the amount is an upper bound (spot priced at on-demand)"),
    Column("detail", JSON, comment="price copy, share, allocation method, reason if unknown"),
    Column("computed_at", UTCDateTime, nullable=False),
    Index("ix_costs_run", "run_id", "source"),
    Index("ix_costs_resource", "resource_id", "period_start"),
)

recommendations = Table(
    "recommendations", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE")),
    Column("project", String(200)),
    Column("resource_id", String(512), comment="for abandoned-spend advice"),
    Column("rule", String(64), nullable=False),
    Column("severity", String(8), nullable=False, comment="info | warn | high"),
    Column("title", Text, nullable=False),
    Column("evidence", JSON, nullable=False),
    Column("current_instance", String(128)),
    Column("suggested_instance", String(128)),
    Column("saving_per_run", Money),
    Column("saving_per_month", Money),
    Column("currency", String(3)),
    Column("status", String(12), nullable=False, default="open",
           comment="open | dismissed | done"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("run_id", "rule", name="uq_recommendation_run_rule"),
    Index("ix_recommendations_status", "status"),
)

imports = Table(
    "imports", metadata,
    Column("source", String(200), primary_key=True, comment="billing source and location"),
    Column("cursor", String(200), comment="high-water mark for incremental imports"),
    Column("last_import_at", UTCDateTime, nullable=False),
    Column("items", Integer, nullable=False),
)

samples_1m = Table(
    "samples_1m", metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("host", String(255), primary_key=True),
    Column("ts", Float(53), primary_key=True, comment="start of the minute, epoch seconds"),
    Column("samples", Integer, nullable=False, comment="raw samples folded into this row"),
    *_rollup_columns(SAMPLE_FIELDS),
    comment="one-minute aggregates of samples older than `xprof gc --keep-raw`",
)

gpu_samples_1m = Table(
    "gpu_samples_1m", metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("host", String(255), primary_key=True),
    Column("ts", Float(53), primary_key=True, comment="start of the minute, epoch seconds"),
    Column("gpu_index", Integer, primary_key=True),
    Column("mig_index", Integer, primary_key=True),
    Column("samples", Integer, nullable=False, comment="raw samples folded into this row"),
    Column("uuid", String(96), comment="last uuid of the minute"),
    Column("used_by_run", Boolean, comment="true if the run used the device in the minute"),
    Column("attribution", String(96), comment="last attribution of the minute"),
    *_rollup_columns(GPU_FIELDS),
    comment="one-minute aggregates of gpu_samples older than `xprof gc --keep-raw`",
)

alerts_sent = Table(
    "alerts_sent", metadata,
    Column("rule_key", String(200), primary_key=True, comment="the rule's name or parameters"),
    Column("subject", String(200), primary_key=True,
           comment="run id, or project/period/start/kind for budgets"),
    Column("channel", String(255), primary_key=True,
           comment="webhook:<scheme://host>#<hash of the URL> | mail:<address>"),
    Column("rule", String(32), nullable=False),
    Column("run_id", String(32), comment="no foreign key: the record outlives `xprof rm`"),
    Column("project", String(200)),
    Column("title", Text),
    Column("sent_at", UTCDateTime, nullable=False, comment="when it was claimed or sent"),
    Column("delivered", Boolean, nullable=False, default=False,
           comment="false while being sent; a stale false row may be taken over"),
    comment="each alert once per (rule, subject, channel), across agents and collectors",
)


def run_owned_tables() -> list[Table]:
    """Every table that holds rows of a run (it has a ``run_id`` column), ``runs`` itself
    excluded, in dependency order: what ``xprof sync`` carries and ``xprof rm`` deletes (those
    with a foreign key to ``runs``). Derived from the schema, so a table added later is
    included."""
    return [t for t in metadata.sorted_tables if "run_id" in t.c and t is not runs]


def _rollup_cost_columns() -> list[Column]:
    """Per cost basis: the run's cost under the one counting rule, and what the score needs."""
    columns = []
    for basis in ("billed", "effective", "list"):
        columns += [
            Column(f"cost_{basis}", Money, comment="counted cost; NULL unless state is "
                                                   "billed or estimate"),
            Column(f"currency_{basis}", String(3)),
            Column(f"cost_source_{basis}", String(16), comment="billed | estimate"),
            Column(f"cost_state_{basis}", String(16), nullable=False,
                   comment="billed | estimate | not priced | unknown | mixed currencies"),
            Column(f"upper_bound_{basis}", Boolean, nullable=False),
            Column(f"cost_reason_{basis}", Text),
            Column(f"cost_value_{basis}", Float(53), comment="the cost as a float, for ratios"),
            Column(f"score_{basis}", Float(53),
                   comment="objective_last / cost (metric per unit of money, baseline 0)"),
            Column(f"cost_rows_{basis}", Integer, comment="counted cost rows; NULL if none"),
            Column(f"cost_first_{basis}", UTCDateTime,
                   comment="earliest period_start of the counted rows (the report's periods)"),
            Column(f"cost_last_{basis}", UTCDateTime,
                   comment="latest period_start of the counted rows"),
        ]
    return columns


ROLLUP_PARTIAL_INDEXES = [
    ("ix_run_rollups_running", ["project", "objective_name"], "status = 'running'"),
    ("ix_run_rollups_unnamed", ["project"], "objective_name IS NULL")]

run_rollups = Table(
    "run_rollups", metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("project", String(200), nullable=False),
    Column("name", String(200), nullable=False),
    Column("status", String(16), nullable=False, comment="as stored (not derived)"),
    Column("started_at", UTCDateTime, nullable=False),
    Column("ended_at", UTCDateTime),
    Column("duration_s", Float(53)),
    Column("instance_type", String(128)),
    Column("provider", String(16)),
    Column("user", String(255)),
    Column("cpu_cores_p50", Float(53)),
    Column("gpu_util_p50", Float(53)),
    Column("rss_peak_bytes", Float(53)),
    Column("gpu_hours", Float(53), comment="GPUs used x duration; NULL when never recorded"),
    Column("objective_name", String(200)),
    Column("objective_mode", String(3)),
    Column("objective_last", Float(53), comment="last logged value of the objective"),
    Column("objective_best", Float(53), comment="best logged value, by objective_mode"),
    *_rollup_cost_columns(),
    Column("computed_at", UTCDateTime, nullable=False),
    Index("ix_run_rollups_project_started", "project", "started_at"),
    Index("ix_run_rollups_status", "status"),
    # the leaderboard: top runs by score, and the frontier walked in cost order (xprof.board)
    *(Index(f"ix_run_rollups_score_{b}", "project", "objective_name", f"currency_{b}",
            f"score_{b}") for b in ("billed", "effective", "list")),
    *(Index(f"ix_run_rollups_cost_{b}", "project", "objective_name", f"currency_{b}",
            f"cost_{b}", "objective_last", "status", f"cost_state_{b}")
      for b in ("billed", "effective", "list")),
    Index("ix_run_rollups_objective", "project", "objective_name", "objective_last"),
    # the few runs the leaderboard reads live (SQLite's statistics alone scan for them)
    *(Index(name, *columns, sqlite_where=text(where), postgresql_where=text(where))
      for name, columns, where in ROLLUP_PARTIAL_INDEXES),
    comment="one row per run, recomputed from the raw tables at write time (xprof.rollups)",
)

rollup_counts = Table(
    "rollup_counts", metadata,
    Column("project", String(200), primary_key=True),
    Column("basis", String(16), primary_key=True, comment="billed | effective | list"),
    Column("currency", String(3), primary_key=True, comment="'' where the run has none"),
    Column("cost_state", String(16), primary_key=True),
    Column("runs", Integer, nullable=False, comment="run_rollups rows with these values"),
    Column("priced", Integer, nullable=False, comment="those of them with a cost"),
    comment="run_rollups counted per project, basis, currency and cost state, kept with it "
            "(xprof.rollup_counts): the leaderboard's counts without a row read per run",
)
