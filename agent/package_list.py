"""The installed packages of a Python, as {name: version}: standalone (stdlib only), so the
agent runs it in-process when the command's Python is its own, and as ``python -c <this
file>`` in the command's Python otherwise (it prints JSON then).

The distributions are found the way ``importlib.metadata.distributions()`` finds them (each
``sys.path`` folder's ``*.dist-info`` and ``*.egg-info``, in path order; the first of a name
wins, the one ``import`` finds), and their ``Name:`` and ``Version:`` header lines are read
from the first few KB of each METADATA / PKG-INFO: importing ``importlib.metadata`` alone costs
~23 ms of CPU, and reading whole files (long descriptions) or the ``email`` parser behind
``Distribution.metadata`` costs several times the ~3 ms this takes for 200 packages. A zip on
the path, or a file whose headers cannot be read so, goes through ``importlib.metadata``.
"""

from __future__ import annotations

import os
import sys

_HEAD = 2048  # bytes read first: Name and Version come first, the description last
_KINDS = (".dist-info", ".egg-info")


def _headers(text: str) -> tuple[str | None, str | None]:
    """(Name, Version) of a METADATA / PKG-INFO text; the headers end at the first blank
    line."""
    name = version = None
    for line in text.partition("\n\n")[0].splitlines():
        if name is None and line.startswith("Name:"):
            name = line[5:].strip() or None
        elif version is None and line.startswith("Version:"):
            version = line[8:].strip() or None
        if name is not None and version is not None:
            break
    return name, version


def _read_headers(path: str) -> tuple[str | None, str | None]:
    """(Name, Version) of one metadata file: from its first bytes, else from all of it."""
    with open(path, "rb") as fh:
        head = fh.read(_HEAD)
        name, version = _headers(head.decode("utf-8", "replace"))
        if (name is None or version is None) and len(head) == _HEAD:
            name, version = _headers((head + fh.read()).decode("utf-8"))
    return name, version


def _metadata_files(folder: str, is_egg: bool) -> list[tuple[str, str | None]]:
    """(distribution path, its METADATA / PKG-INFO file or None) of ``folder``'s
    distributions, dist-info before egg-info, as ``importlib.metadata`` orders them."""
    try:
        children = os.listdir(folder)
    except OSError:
        return []
    infos: list[str] = []
    eggs: list[str] = []
    for child in children:
        low = child.lower()
        if low.endswith(_KINDS):
            (infos if low.endswith(".dist-info") else eggs).append(child)
        elif is_egg and low == "egg-info":
            eggs.append(child)
    out: list[tuple[str, str | None]] = []
    for child in infos + eggs:
        path = os.path.join(folder, child)
        if not os.path.isdir(path):  # an egg-info file is its own PKG-INFO
            out.append((path, path))
            continue
        files = (os.path.join(path, name) for name in ("METADATA", "PKG-INFO"))
        out.append((path, next((f for f in files if os.path.isfile(f)), None)))
    return out


def _thorough(dists) -> list[tuple[str | None, str | None]]:
    """(Name, Version) of ``importlib.metadata`` distributions, the slow, thorough way."""
    found = []
    for dist in dists:
        try:
            found.append((dist.metadata["Name"], dist.version))
        except (OSError, UnicodeDecodeError, ValueError):
            continue
    return found


def installed() -> dict[str, str]:
    """{name: version} of every distribution on this interpreter's path."""
    found: dict[str, str] = {}
    for entry in sys.path:
        folder = entry or "."
        if os.path.isfile(folder):  # a zip on the path
            import importlib.metadata as metadata

            pairs = _thorough(metadata.distributions(path=[folder]))
        else:
            listed = (_dist_headers(dist, meta)
                      for dist, meta in _metadata_files(folder, folder.lower().endswith(".egg")))
            pairs = [pair for pair in listed if pair is not None]
        for name, version in pairs:
            found.setdefault(name or "?", version or "?")
    return found


def _dist_headers(dist: str, meta: str | None) -> tuple[str | None, str | None] | None:
    """(Name, Version) of the distribution at ``dist``: its headers read directly, else
    through ``importlib.metadata``; None if it cannot be read."""
    try:
        name, version = _read_headers(meta) if meta else (None, None)
        if name is None or version is None:  # unusual layout
            import importlib.metadata as metadata
            import pathlib

            thorough = _thorough([metadata.PathDistribution(pathlib.Path(dist))])
            if not thorough:
                return None
            name, version = thorough[0][0] or name, thorough[0][1] or version
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return name, version


if __name__ == "__main__":  # ``python -c <this file>`` in the command's own Python
    import json

    json.dump(installed(), sys.stdout)
