"""run_hosts: one row per host of a run, for multi-node runs that share XPROF_RUN_ID.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

from xprof.schema import UTCDateTime

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "run_hosts",
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("host", sa.String(255), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("exit_code", sa.Integer),
        sa.Column("signal", sa.Integer),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("ended_at", UTCDateTime),
        sa.Column("heartbeat_at", UTCDateTime, nullable=False),
        sa.Column("hardware", sa.JSON),
        sa.Column("cloud_provider", sa.String(16)),
        sa.Column("cloud_account", sa.String(128)),
        sa.Column("cloud_region", sa.String(64)),
        sa.Column("cloud_zone", sa.String(64)),
        sa.Column("instance_id", sa.String(255)),
        sa.Column("instance_type", sa.String(128)),
        sa.Column("lifecycle", sa.String(16)),
        sa.Column("cloud", sa.JSON),
        sa.Column("cpu_seconds", sa.Float(53)),
        sa.Column("peak_rss_bytes", sa.BigInteger),
        sa.Column("summary", sa.JSON),
    )
    # runs recorded before multi-node support ran on one host each
    op.execute(
        "INSERT INTO run_hosts (run_id, host, status, exit_code, signal, started_at, ended_at, "
        "heartbeat_at, hardware, cloud_provider, cloud_account, cloud_region, cloud_zone, "
        "instance_id, instance_type, lifecycle, cloud, cpu_seconds, peak_rss_bytes, summary) "
        "SELECT id, host, status, exit_code, signal, started_at, ended_at, heartbeat_at, "
        "hardware, cloud_provider, cloud_account, cloud_region, cloud_zone, instance_id, "
        "instance_type, lifecycle, cloud, cpu_seconds, peak_rss_bytes, summary FROM runs")
