"""`import xprof` stays light; its lazy names load only their own modules; the framework
callbacks import their framework only when their module is imported."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = {"pandas", "sqlalchemy", "torch", "transformers", "lightning", "pytorch_lightning",
         "mlflow", "pyarrow", "numpy"}


def loaded_after(code: str) -> set[str]:
    code += "\nimport sys\nprint(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    return {name.split(".")[0] for name in out.split()}


def test_profile_is_light():
    """`xprof.profile`, `xprof.start` and the integrations package load no heavy library."""
    loaded = loaded_after("import xprof\nxprof.profile\nxprof.start\nxprof.stop\n"
                          "import xprof.agent.integrations.channel")
    assert not loaded & HEAVY


def test_runs_loads_pandas_on_use():
    """`xprof.runs` is there on demand (and brings pandas then)."""
    loaded = loaded_after("import xprof\nassert callable(xprof.runs)\n"
                          "assert callable(xprof.samples)")
    assert "pandas" in loaded


def test_unknown_name():
    """Any other missing attribute is an AttributeError as usual."""
    import xprof

    with pytest.raises(AttributeError, match="no_such_thing"):
        xprof.no_such_thing  # noqa: B018
