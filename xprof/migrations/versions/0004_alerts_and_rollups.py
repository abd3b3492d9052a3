"""Alerts sent once, and the one-minute rollups `xprof gc` keeps of old samples.

The rollup columns are listed here as they were at this revision (not derived from
``xprof.records``), so a later field added to the records gets its own revision.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from xprof.schema import UTCDateTime

revision = "0004"
down_revision = "0003"

STATS = ("min", "mean", "max", "p95")
SAMPLE_FIELDS = (
    ("cpu_cores", "float"), ("cpu_seconds_total", "float"), ("rss_bytes", "int"),
    ("threads", "int"), ("processes", "int"), ("read_bytes_total", "int"),
    ("write_bytes_total", "int"), ("host_cpu_pct", "float"), ("host_iowait_pct", "float"),
    ("host_mem_used_bytes", "int"), ("host_mem_available_bytes", "int"))
GPU_FIELDS = (
    ("util_gpu_pct", "float"), ("util_mem_pct", "float"), ("mem_used_bytes", "int"),
    ("mem_total_bytes", "int"), ("power_w", "float"), ("power_limit_w", "float"),
    ("temperature_c", "float"), ("sm_clock_mhz", "float"), ("energy_j", "float"),
    ("run_mem_used_bytes", "int"), ("run_sm_util_pct", "float"))


def _stats(fields):
    columns = []
    for name, kind in fields:
        for stat in STATS:
            exact = sa.BigInteger() if kind == "int" else sa.Float(53)
            columns.append(sa.Column(f"{name}_{stat}",
                                     exact if stat in ("min", "max") else sa.Float(53)))
    return columns


def _run_id():
    return sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"),
                     primary_key=True)


def upgrade() -> None:
    op.create_table(
        "samples_1m",
        _run_id(),
        sa.Column("host", sa.String(255), primary_key=True),
        sa.Column("ts", sa.Float(53), primary_key=True),
        sa.Column("samples", sa.Integer, nullable=False),
        *_stats(SAMPLE_FIELDS),
    )
    op.create_table(
        "gpu_samples_1m",
        _run_id(),
        sa.Column("host", sa.String(255), primary_key=True),
        sa.Column("ts", sa.Float(53), primary_key=True),
        sa.Column("gpu_index", sa.Integer, primary_key=True),
        sa.Column("mig_index", sa.Integer, primary_key=True),
        sa.Column("samples", sa.Integer, nullable=False),
        sa.Column("uuid", sa.String(96)),
        sa.Column("used_by_run", sa.Boolean),
        sa.Column("attribution", sa.String(96)),
        *_stats(GPU_FIELDS),
    )
    op.create_table(
        "alerts_sent",
        sa.Column("rule_key", sa.String(200), primary_key=True),
        sa.Column("subject", sa.String(200), primary_key=True),
        sa.Column("channel", sa.String(255), primary_key=True),
        sa.Column("rule", sa.String(32), nullable=False),
        sa.Column("run_id", sa.String(32)),
        sa.Column("project", sa.String(200)),
        sa.Column("title", sa.Text),
        sa.Column("sent_at", UTCDateTime, nullable=False),
        sa.Column("delivered", sa.Boolean, nullable=False),
    )
