"""Money of any currency: nano-units as NUMERIC(38,0) on PostgreSQL.

Nano-units in 64 bits hold ±9.2e9 units, less than one IDR or VND bill. On PostgreSQL the
Money columns become NUMERIC(38,0) (values kept as they are). On SQLite nothing changes:
integers stay integers, and an amount beyond 64 bits is written as its digits in a BLOB (see
``xprof.schema.Money``); sums go through ``money_sum`` on both.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"

# The Money columns at this revision (not derived from the schema: a later one gets its own).
MONEY_COLUMNS = {
    "runs": ("budget",),
    "prices": ("price_on_demand", "price_spot"),
    "billing_items": ("list_cost", "billed_cost", "effective_cost"),
    "costs": ("amount",),
    "recommendations": ("saving_per_run", "saving_per_month"),
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, columns in MONEY_COLUMNS.items():
        for column in columns:
            op.alter_column(table, column, type_=sa.Numeric(38, 0),
                            existing_type=sa.BigInteger(),
                            postgresql_using=f"{column}::numeric(38,0)")
