"""Run rollups say which periods a run's cost falls in: per cost basis, the number of counted
cost rows and their earliest and latest ``period_start`` (the weekly report adds up a run
from its rollup when all its cost lies inside the week). Backfills every rollup.

The backfill is :func:`xprof.rollups.refresh` over every run: one set-based
``INSERT ... SELECT`` (costs by the counting rule, the objective's last and best value) and
one ``UPDATE`` of the scores, no Python loop per run, on SQLite and PostgreSQL alike.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

from xprof.schema import UTCDateTime

revision = "0009"
down_revision = "0008"

BASES = ("billed", "effective", "list")


def upgrade() -> None:
    with op.batch_alter_table("run_rollups") as batch:
        for b in BASES:
            batch.add_column(sa.Column(f"cost_rows_{b}", sa.Integer))
            batch.add_column(sa.Column(f"cost_first_{b}", UTCDateTime))
            batch.add_column(sa.Column(f"cost_last_{b}", UTCDateTime))
    indexes = {i["name"] for i in sa.inspect(op.get_bind()).get_indexes("runs")}
    if "ix_runs_project_objective" not in indexes:
        op.create_index("ix_runs_project_objective", "runs",
                        ["project", "objective_name", "objective_mode"])
    from xprof.rollups import refresh  # the same statement the writers use

    refresh(op.get_bind())
