"""Schema migrations (Alembic), imported only when a store is new or out of date.

A new store gets the current schema in one step (``metadata.create_all``) and is stamped with
``SCHEMA_REVISION``, Alembic's recipe for building an up-to-date database from scratch; an
older store is upgraded through the revisions in ``versions/``. To change the schema: edit
``xprof/schema.py``, add a revision in ``versions/`` that makes the same change with ``op``
calls, and set ``SCHEMA_REVISION`` to its id.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from xprof import schema


def _config(connection):
    from alembic.config import Config  # lazy: Alembic is heavy, only for upgrades

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: Engine, current: str | None) -> None:
    """Create the schema (current is None) or upgrade it to ``SCHEMA_REVISION``.

    Creating needs no Alembic import (about 12 MB and 100 ms the agent would otherwise pay on
    a new store's first run): the tables and Alembic's own version table are written
    directly, exactly as ``alembic stamp`` writes it.
    """
    with engine.begin() as conn:
        if current is None:
            schema.metadata.create_all(conn)
            version = sa.Table("alembic_version", sa.MetaData(),
                               sa.Column("version_num", sa.String(32), primary_key=True))
            version.create(conn)
            conn.execute(version.insert().values(version_num=schema.SCHEMA_REVISION))
        else:
            from alembic import command  # lazy: see above

            command.upgrade(_config(conn), schema.SCHEMA_REVISION)
