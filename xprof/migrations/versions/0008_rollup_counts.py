"""``rollup_counts``: the runs of ``run_rollups`` counted per project, cost basis, currency
and cost state, created and backfilled, so the leaderboard's counts (runs shown, priced, not
yet priced) read a few rows instead of one per run; and indexes on ``run_rollups``: (project,
objective, its last value), where the leaderboard's frontier walk stops, and two partial ones
holding the runs the leaderboard reads live (still running, or no objective declared), which
SQLite's planner otherwise scans the table for.

The backfill is :func:`xprof.rollup_counts.recount`: one ``INSERT ... SELECT`` grouping
``run_rollups``, the statement ``refresh`` of every run uses.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"

PARTIAL = [("ix_run_rollups_running", ["project", "objective_name"], "status = 'running'"),
           ("ix_run_rollups_unnamed", ["project"], "objective_name IS NULL")]


def upgrade() -> None:
    op.create_table(
        "rollup_counts",
        sa.Column("project", sa.String(200), primary_key=True),
        sa.Column("basis", sa.String(16), primary_key=True),
        sa.Column("currency", sa.String(3), primary_key=True),
        sa.Column("cost_state", sa.String(16), primary_key=True),
        sa.Column("runs", sa.Integer, nullable=False),
        sa.Column("priced", sa.Integer, nullable=False),
    )
    op.create_index("ix_run_rollups_objective", "run_rollups",
                    ["project", "objective_name", "objective_last"])
    for name, columns, where in PARTIAL:
        op.create_index(name, "run_rollups", columns, sqlite_where=sa.text(where),
                        postgresql_where=sa.text(where))
    from xprof.rollup_counts import recount  # the same statement the writers use

    recount(op.get_bind())


def downgrade() -> None:
    for name, _columns, _where in PARTIAL:
        op.drop_index(name, "run_rollups")
    op.drop_index("ix_run_rollups_objective", "run_rollups")
    op.drop_table("rollup_counts")
