"""The installed packages of a Python, as {name: version}: standalone (stdlib only), so the
agent runs it in-process when the command's Python is its own, and as ``python -c <this
file>`` in the command's Python otherwise (it prints JSON then).

Names and versions come from each distribution's ``Name:`` and ``Version:`` header lines,
read directly: the ``email`` parser behind ``Distribution.metadata`` costs ~8× as much CPU
(100 ms for 200 packages on a small VM). Where one name is installed twice on the path, the
first one (the one ``import`` and ``importlib.metadata.version`` find) wins.
"""

from __future__ import annotations

import importlib.metadata as metadata


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


def installed() -> dict[str, str]:
    """{name: version} of every distribution on this interpreter's path."""
    found: dict[str, str] = {}
    for dist in metadata.distributions():
        try:
            text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
            name, version = _headers(text)
            if name is None or version is None:  # unusual layout: the slow, thorough way
                name, version = dist.metadata["Name"] or name, dist.version or version
        except (OSError, UnicodeDecodeError, ValueError):
            continue
        found.setdefault(name or "?", version or "?")
    return found


if __name__ == "__main__":  # ``python -c <this file>`` in the command's own Python
    import json
    import sys

    json.dump(installed(), sys.stdout)
