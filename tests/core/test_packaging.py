"""Every Python package of the three parts is installed (pyproject lists it), so a regular,
non-editable install has the same modules as a checkout."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PARTS = {"agent": "xprof.agent", "collector": "xprof.collector", "dashboard": "xprof.dashboard",
         "xprof": "xprof"}


def test_all_packages_are_declared():
    """Folders with an __init__.py under agent/, collector/, dashboard/ and xprof/ are in
    [tool.setuptools] packages, mapped to their xprof.* names."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    declared = set(config["packages"])
    found = set()
    for folder, package in PARTS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((package, *rel)))
    assert found - declared == set()


def test_shipped_data_is_declared():
    """The price catalog and its sources ship with the package."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = config["package-data"]["xprof.collector"]
    assert "data/*.csv" in patterns and "data/*.md" in patterns
    assert list((ROOT / "collector" / "data").glob("*.csv"))
