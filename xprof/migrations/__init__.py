"""Schema migrations (Alembic), imported only when a store is new or out of date.

A new store gets the current schema in one step (``metadata.create_all``) and is stamped with
``SCHEMA_REVISION``, Alembic's recipe for building an up-to-date database from scratch; an
older store is upgraded through the revisions in ``versions/``. To change the schema: edit
``xprof/schema.py``, add a revision in ``versions/`` that makes the same change with ``op``
calls, and set ``SCHEMA_REVISION`` to its id.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

from xprof import schema


def _config(connection):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: Engine, current: str | None) -> None:
    """Create the schema (current is None) or upgrade it to ``SCHEMA_REVISION``."""
    from alembic import command

    with engine.begin() as conn:
        if current is None:
            schema.metadata.create_all(conn)
            command.stamp(_config(conn), schema.SCHEMA_REVISION)
        else:
            command.upgrade(_config(conn), schema.SCHEMA_REVISION)
