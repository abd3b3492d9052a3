"""Guard rails: hypothesis and expectation, experiments of several attempts, budgets.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from xprof.schema import Money

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("hypothesis", sa.Text))
        batch.add_column(sa.Column("expectation", sa.String(200)))
        batch.add_column(sa.Column("outcome", sa.String(16)))
        batch.add_column(sa.Column("experiment", sa.String(200)))
        batch.add_column(sa.Column("attempt", sa.Integer))
        batch.add_column(sa.Column("resumed_from", sa.String(32)))
        batch.add_column(sa.Column("budget", Money))
        batch.add_column(sa.Column("stopped_by", sa.String(16)))
        batch.create_index("ix_runs_experiment", ["experiment"])
