"""Per-run rollups: ``run_rollups``, one row per run (backfilled by 0009).

The columns are listed as they are at this revision. The backfill is in 0009 (it is
:func:`xprof.rollups.refresh` over every run, which writes the current schema's columns).

Revision ID: 0007
Revises: 0006_tags
"""

import sqlalchemy as sa
from alembic import op

from xprof.schema import Money, UTCDateTime

revision = "0007"
down_revision = "0006_tags"

BASES = ("billed", "effective", "list")


def _cost_columns() -> list[sa.Column]:
    columns = []
    for b in BASES:
        columns += [sa.Column(f"cost_{b}", Money), sa.Column(f"currency_{b}", sa.String(3)),
                    sa.Column(f"cost_source_{b}", sa.String(16)),
                    sa.Column(f"cost_state_{b}", sa.String(16), nullable=False),
                    sa.Column(f"upper_bound_{b}", sa.Boolean, nullable=False),
                    sa.Column(f"cost_reason_{b}", sa.Text),
                    sa.Column(f"cost_value_{b}", sa.Float(53)),
                    sa.Column(f"score_{b}", sa.Float(53))]
    return columns


def upgrade() -> None:
    op.create_table(
        "run_rollups",
        sa.Column("run_id", sa.String(32), sa.ForeignKey("runs.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("project", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("ended_at", UTCDateTime),
        sa.Column("duration_s", sa.Float(53)),
        sa.Column("instance_type", sa.String(128)),
        sa.Column("provider", sa.String(16)),
        sa.Column("user", sa.String(255)),
        sa.Column("cpu_cores_p50", sa.Float(53)),
        sa.Column("gpu_util_p50", sa.Float(53)),
        sa.Column("rss_peak_bytes", sa.Float(53)),
        sa.Column("gpu_hours", sa.Float(53)),
        sa.Column("objective_name", sa.String(200)),
        sa.Column("objective_mode", sa.String(3)),
        sa.Column("objective_last", sa.Float(53)),
        sa.Column("objective_best", sa.Float(53)),
        *_cost_columns(),
        sa.Column("computed_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_run_rollups_project_started", "run_rollups", ["project", "started_at"])
    op.create_index("ix_run_rollups_status", "run_rollups", ["status"])
    for b in BASES:
        op.create_index(f"ix_run_rollups_score_{b}", "run_rollups",
                        ["project", "objective_name", f"currency_{b}", f"score_{b}"])
        op.create_index(f"ix_run_rollups_cost_{b}", "run_rollups",
                        ["project", "objective_name", f"currency_{b}", f"cost_{b}",
                         "objective_last", "status", f"cost_state_{b}"])
    # the backfill (xprof.rollups.refresh, the writers' statement) runs in 0009: it writes
    # the columns of the current schema, which 0009 completes
