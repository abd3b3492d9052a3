"""Store URLs: parse, check cheaply before launch, and print without passwords.

Standard library only: ``xprof run`` checks its store here before the child starts, and only
imports SQLAlchemy once the child is running.
"""

from __future__ import annotations

import importlib.util
import os
import sqlite3
from pathlib import Path

from xprof.secret_patterns import URL_PASSWORD

_DRIVERS = {"postgresql+psycopg": "psycopg", "postgresql": "psycopg2",
            "postgresql+psycopg2": "psycopg2"}


class StoreError(RuntimeError):
    """The store cannot be opened or written; the message says which and why."""


def redact_url(url: str) -> str:
    """The URL with any password replaced by ***."""
    return URL_PASSWORD.sub(r"\1***@", url)


def sqlite_path(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL; None for other engines (and in-memory SQLite)."""
    if not url.startswith("sqlite"):
        return None
    rest = url.split("://", 1)[1] if "://" in url else ""
    if not rest.startswith("/") or rest in ("/", "/:memory:"):
        return None
    return Path(rest[1:].split("?", 1)[0]).expanduser()


def check_store(url: str) -> None:
    """Fail fast (StoreError) on a URL that cannot work: bad scheme, missing driver, a SQLite
    file that cannot be created or written. Network stores are only checked for a driver."""
    scheme = url.split("://", 1)[0] if "://" in url else ""
    path = sqlite_path(url)
    if scheme.startswith("sqlite"):
        if path is None:
            raise StoreError(f"store {url!r}: give a file, e.g. sqlite:////abs/path/xprof.db")
        _check_sqlite_file(path)
        return
    if scheme not in _DRIVERS:
        raise StoreError(f"store {redact_url(url)!r}: unsupported URL scheme {scheme or '(none)'!r}"
                         " (use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB)")
    driver = _DRIVERS[scheme]
    if importlib.util.find_spec(driver) is None:
        raise StoreError(f"store {redact_url(url)!r} needs the {driver!r} driver: "
                         "pip install 'xprof[postgres]'")


def _check_sqlite_file(path: Path) -> None:
    parent = path.parent
    existing = parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise StoreError(f"store {path}: folder {existing} is not writable")
    if path.exists():
        if not os.access(path, os.R_OK | os.W_OK):
            raise StoreError(f"store {path}: file is not writable")
        try:
            con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
            try:
                con.execute("SELECT 1 FROM sqlite_master LIMIT 1")
            finally:
                con.close()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"store {path}: not a SQLite database ({exc})") from exc
    elif parent.exists() and not os.access(parent, os.W_OK | os.X_OK):
        raise StoreError(f"store {path}: folder {parent} is not writable")
