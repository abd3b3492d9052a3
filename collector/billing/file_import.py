"""Importing a location of export files (FOCUS or CUR): group, skip what is unchanged, replace.

For each billing-period group of the location (see :mod:`locations`), the group's signature is
compared with the cursor of the last import; an unchanged group is skipped without reading.
A changed group is read whole (every file checked first), then replaces the rows the source
holds for that group: new rows are added, restated rows updated, rows no longer delivered
removed. A bad file stops the import before anything of its group is written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from xprof.collector.billing.locations import (
    SUFFIXES,
    fetch,
    groups,
    is_s3,
    list_files,
    signature,
)
from xprof.collector.billing.normalise import Normaliser, Spec
from xprof.collector.billing.store_items import ImportResult, Scope, read_cursor, write_items
from xprof.store import Store

Echo = Callable[[str], None]
AddFile = Callable[[Normaliser, Path, str], None]
"""Reads one local file into the normaliser (``label`` names it in messages)."""


def source_name(kind: str, location: str) -> str:
    """``kind:location`` (an absolute path or the s3:// URI), shortened with a hash if long."""
    where = location.rstrip("/") if is_s3(location) else \
        str(Path(location).expanduser().resolve())
    name = f"{kind}:{where}"
    if len(name) > 160:
        name = f"{name[:140]}~{hashlib.sha1(name.encode()).hexdigest()[:12]}"
    return name


def import_location(store: Store, *, kind: str, location: str, spec: Spec,
                    rename: Callable[[str], str] | None = None, s3_client: Any = None,
                    force: bool = False, echo: Echo | None = None,
                    now: dt.datetime | None = None, suffixes: tuple[str, ...] = SUFFIXES,
                    add_file: AddFile | None = None) -> ImportResult:
    """Import every changed billing-period group of ``location``; see the module docstring.

    ``add_file`` reads one file (default: :meth:`Normaliser.add_file` with ``rename``);
    ``suffixes`` are the file names read.
    """
    source = source_name(kind, location)
    result = ImportResult(source=source)
    for group, members in groups(list_files(location, s3_client, suffixes)).items():
        import_key = f"{source}#{group}"
        stamp = signature(members)
        if not force and read_cursor(store, import_key) == stamp:
            result.groups_skipped += 1
            continue
        if echo:
            size = sum(f.size for f in members) / 2**20
            echo(f"billing: reading {len(members)} {kind} file(s) for {group} "
                 f"({size:.1f} MiB) from {location}")
        with tempfile.TemporaryDirectory(prefix="xprof-billing-") as tmp:
            normaliser = Normaliser(spec)
            try:
                for f in members:
                    path = fetch(f, Path(tmp), s3_client)
                    if add_file is None:
                        normaliser.add_file(path, label=f.uri, rename=rename)
                    else:
                        add_file(normaliser, path, f.uri)
                repeats, first = normaliser.drop_repeats()
                if repeats and echo:
                    echo(f"billing: skipped {repeats:,} duplicate row(s) of {group} "
                         f"(the same line item again, e.g. {first})")
                result.extra["duplicates"] = result.extra.get("duplicates", 0) + repeats
                result.merge(write_items(store, normaliser, group, source=source,
                                         scope=Scope.group(group), import_key=import_key,
                                         cursor=stamp, now=now))
            finally:
                normaliser.con.close()
        result.groups_read += 1
    return result
