"""Billing items keep their tags/labels (a JSON object), to split other spend by project.

Revision ID: 0006_tags
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_tags"
down_revision = "0005"


def upgrade() -> None:
    with op.batch_alter_table("billing_items") as batch:
        batch.add_column(sa.Column("tags", sa.Text))
