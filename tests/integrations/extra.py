"""The ``integrations`` extra: which of its packages are missing, and how tests that need it
skip (with the install line as the reason) or fail in CI, where `.ci/run` installs it."""

from __future__ import annotations

import importlib
import importlib.util
import os
from types import ModuleType

import pytest

PACKAGES = ("torch", "transformers", "accelerate", "lightning", "mlflow", "nbclient",
            "nbformat", "ipykernel")
INSTALL = "pip install -e '.[test,integrations]'"


def missing() -> list[str]:
    """The extra's packages this interpreter cannot import (found without importing them)."""
    return [name for name in PACKAGES if importlib.util.find_spec(name) is None]


def skip_reason() -> str | None:
    """Why integration tests cannot run here, or None when they can."""
    absent = missing()
    if not absent:
        return None
    return f"needs the integrations extra ({', '.join(absent)} missing): {INSTALL}"


def require(module: str) -> ModuleType:
    """``module`` imported, for a test module's top; skips the whole file with the install
    line when the extra is missing (fails instead in CI, which installs it)."""
    if importlib.util.find_spec(module.split(".")[0]) is None:
        reason = f"needs the integrations extra ({module.split('.')[0]} missing): {INSTALL}"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason, allow_module_level=True)
    return importlib.import_module(module)
