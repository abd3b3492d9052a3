"""Alembic environment: runs on the connection xprof hands it (see __init__.py)."""

from alembic import context

from xprof.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
