"""Every Python package of the three parts is installed (pyproject lists it), so a regular,
non-editable install has the same modules as a checkout."""

from __future__ import annotations

import re
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


HEAVY = {"torch", "transformers", "accelerate", "lightning", "mlflow", "nbclient", "nbformat",
         "ipykernel"}


def _requirements(extra: str, extras: dict[str, list[str]]) -> set[str]:
    """The distribution names an extra pulls in, following ``xprof[...]`` references."""
    names: set[str] = set()
    for requirement in extras[extra]:
        name = re.split(r"[\[<>=!~ ;]", requirement, maxsplit=1)[0].lower()
        if name == "xprof":
            inner = re.search(r"\[(.*)\]", requirement).group(1)
            for sub in inner.split(","):
                names |= _requirements(sub.strip(), extras)
        else:
            names.add(name)
    return names


def test_the_test_extra_is_lean():
    """`pip install -e '.[test]'` pulls no training framework (torch, transformers,
    lightning, mlflow, nbclient...): those are the integrations extra's."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    assert _requirements("test", extras) & HEAVY == set()
    assert _requirements("integrations", extras) >= HEAVY


def test_integration_tests_are_marked():
    """Every test file that imports a package of the integrations extra (or runs a script
    that does) is marked ``integrations``, and the marker is registered; -rs shows skips."""
    pytest_config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"][
        "ini_options"]
    assert any(m.startswith("integrations:") for m in pytest_config["markers"])
    assert "-rs" in pytest_config["addopts"].split()
    heavy = re.compile(r"^\s*(?:import|from)\s+(" + "|".join(HEAVY) + r")\b|require\(\"("
                       + "|".join(HEAVY) + r")|tiny_models|train_(?:hf|lightning)\.py",
                       re.MULTILINE)
    unmarked = [path.relative_to(ROOT).as_posix() for path in (ROOT / "tests").rglob("test_*.py")
                if path.parent.name != "gpu" and heavy.search(text := path.read_text())
                and "pytest.mark.integrations" not in text]
    assert unmarked == []
