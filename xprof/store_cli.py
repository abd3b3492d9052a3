"""``xprof store init|upgrade|info`` and ``xprof sync``: operating stores."""

from __future__ import annotations

from pathlib import Path

import click

from xprof.cli import BadInput
from xprof.runs_cli import store_option
from xprof.settings import ConfigError, Settings
from xprof.storeurl import StoreError, redact_url, sqlite_path


def _settings(url: str | None) -> Settings:
    try:
        return Settings(flags={"store": url})
    except ConfigError as exc:
        raise BadInput(str(exc)) from exc


def _open(url: str, migrate: bool = True):
    from xprof.store import Store  # lazy: SQLAlchemy, not for --help

    try:
        return Store.open(url, migrate=migrate)
    except StoreError as exc:
        raise BadInput(str(exc)) from exc


@click.group()
def store() -> None:
    """Create, upgrade and inspect a store (for operators of a shared PostgreSQL store).

    \b
    Examples:
      xprof store init --store postgresql+psycopg://xprof@db.internal/xprof
      xprof store upgrade
      xprof store info
    """


@store.command()
@store_option
def init(store: str | None) -> None:
    """Create the schema in an empty store (a no-op on an up-to-date one)."""
    url = _settings(store).store_url
    db = _open(url, migrate=False)
    try:
        outcome = db.migrate()
    except Exception as exc:
        raise BadInput(f"cannot create the schema in {redact_url(url)}: {exc}") from exc
    click.echo(f"{redact_url(url)}: schema {outcome} at revision {db.revision()}")


@store.command()
@store_option
def upgrade(store: str | None) -> None:
    """Upgrade the schema to this version of xprof (runs the pending migrations)."""
    url = _settings(store).store_url
    db = _open(url, migrate=False)
    before = db.revision()
    outcome = db.migrate()
    click.echo(f"{redact_url(url)}: {outcome} ({before or 'empty'} -> {db.revision()})")


@store.command()
@store_option
def info(store: str | None) -> None:
    """Show the store's URL (password hidden), engine, schema revision and run count."""
    import sqlalchemy as sa  # lazy: not for --help

    from xprof import schema

    url = _settings(store).store_url
    db = _open(url, migrate=False)
    revision = db.revision()
    runs = "n/a"
    if revision:
        with db.read() as conn:
            runs = conn.execute(sa.select(sa.func.count()).select_from(schema.runs)).scalar()
    click.echo(f"store     {redact_url(url)}\nengine    {db.engine.dialect.name}\n"
               f"revision  {revision or 'empty (run `xprof store init`)'}\nruns      {runs}")


@click.command()
@click.option("--from", "source", metavar="URL",
              help="Copy every run of this store (e.g. sqlite:///~/.xprof/xprof.db) instead "
                   "of the spool.")
@store_option
def sync(source: str | None, store: str | None) -> None:
    """Upload runs the agent spooled while the store was unreachable, or copy another store's
    runs (--from) into this one. Exactly once: running it again uploads nothing new.

    \b
    Examples:
      xprof sync
      xprof sync --from sqlite:////home/ada/.xprof/xprof.db --store postgresql+psycopg://xprof@db/xprof
    """
    from xprof.sync import sync_runs  # lazy: SQLAlchemy, not for --help

    settings = _settings(store)
    target_url = settings.store_url
    source_url = source or settings.spool_url
    if source is None:
        path = sqlite_path(source_url)
        if path is None or not path.exists():
            click.echo("Nothing to sync: no spooled runs.", err=True)
            return
    elif sqlite_path(source) is not None and not Path(sqlite_path(source)).exists():
        raise BadInput(f"--from {source}: no such file")
    if redact_url(source_url) == redact_url(target_url):
        raise BadInput("the source and the target are the same store")
    source_db = _open(source_url)
    target_db = _open(target_url)
    result = sync_runs(source_db, target_db,
                       progress=lambda line: click.echo(f"sync {line}", err=True))
    if source is None and result.run_ids:
        source_db.delete_runs(result.run_ids)  # uploaded: the spool forgets them
    rows = ", ".join(f"{n} {table}" for table, n in sorted(result.rows.items())) or "no rows"
    click.echo(f"Synced {len(result.run_ids)} run(s) from {redact_url(source_url)} to "
               f"{redact_url(target_url)}: {result.runs_new} new, {result.runs_updated} "
               f"updated; {rows} uploaded.")
