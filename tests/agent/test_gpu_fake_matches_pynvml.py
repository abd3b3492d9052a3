"""The fake NVML never drifts from the installed pynvml: same names, values, signatures, fields."""

from __future__ import annotations

import ctypes
import importlib.machinery
import importlib.util
import inspect
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.agent.gpu_helpers import FAKE_NVML_DIR

AGENT_NVML = Path(__file__).resolve().parents[2] / "agent"


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # the error classes look their module up by name
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


@pytest.fixture(scope="module")
def real() -> ModuleType:
    paths = [p for p in sys.path if Path(p or ".").resolve() != FAKE_NVML_DIR]
    spec = importlib.machinery.PathFinder.find_spec("pynvml", paths)
    if spec is None or spec.origin is None:
        pytest.skip("nvidia-ml-py is not installed (extra `gpu`)")
    return _load("pynvml_real_for_test", Path(spec.origin))


@pytest.fixture(scope="module")
def fake() -> ModuleType:
    return _load("pynvml_fake_for_test", FAKE_NVML_DIR / "pynvml.py")


def public(module: ModuleType) -> dict[str, object]:
    """Names the module defines itself (not its imports), without a leading underscore."""
    out = {}
    for name, value in vars(module).items():
        if name.startswith("_") or inspect.ismodule(value) or name == "annotations":
            continue
        if (inspect.isclass(value) or inspect.isfunction(value)) and \
                value.__module__ != module.__name__:
            continue
        out[name] = value
    return out


def test_every_fake_name_exists_in_pynvml(real, fake):
    """Each public name the fake defines is a pynvml name."""
    missing = [name for name in public(fake) if not hasattr(real, name)]
    assert missing == []


def test_constants_have_pynvml_values(real, fake):
    """NVML_* constants (error codes, sensors, clocks, MIG modes) have pynvml's values."""
    for name, value in vars(fake).items():
        if name.startswith("NVML_"):
            expected = getattr(real, name)
            if isinstance(value, ctypes._SimpleCData):
                assert value.value == expected.value, name
            else:
                assert value == expected, name


def test_functions_have_pynvml_signatures(real, fake):
    """Every nvml* function takes the same parameters as pynvml's."""
    functions = [n for n, v in vars(fake).items() if n.startswith("nvml") and callable(v)
                 and not inspect.isclass(v)]
    assert len(functions) > 20
    for name in functions:
        assert (list(inspect.signature(getattr(fake, name)).parameters)
                == list(inspect.signature(getattr(real, name)).parameters)), name


def test_error_classes_match(real, fake):
    """Every NVMLError_* of pynvml exists in the fake, maps to the same value, and
    NVMLError(value) picks that subclass in both."""
    real_errors = {n for n in vars(real) if n.startswith("NVMLError_")}
    assert real_errors == {n for n in vars(fake) if n.startswith("NVMLError_")}
    for name in real_errors:
        assert getattr(fake, name)().value == getattr(real, name)().value, name
        value = getattr(real, name)().value
        assert type(fake.NVMLError(value)).__name__ == type(real.NVMLError(value)).__name__
        assert isinstance(getattr(fake, name)(), fake.NVMLError)


def test_structs_have_pynvml_fields(real, fake):
    """Returned structs carry pynvml's field names and types."""
    structs = {n: v for n, v in public(fake).items()
               if inspect.isclass(v) and issubclass(v, ctypes.Structure)}
    assert {"c_nvmlMemory_t", "c_nvmlUtilization_t", "c_nvmlProcessUtilizationSample_t"} <= set(
        structs)
    for name, value in structs.items():
        assert value._fields_ == getattr(real, name)._fields_, name


def test_agent_calls_only_what_both_provide():
    """Every pynvml function xprof's NVML module names exists in pynvml and in the fake."""
    source = (AGENT_NVML / "nvml.py").read_text() + (AGENT_NVML / "gpu_sampler.py").read_text()
    called = set(re.findall(r"\b(nvml[A-Z]\w+)", source))
    assert "nvmlDeviceGetProcessUtilization" in called
    real_source = importlib.machinery.PathFinder.find_spec(
        "pynvml", [p for p in sys.path if Path(p or ".").resolve() != FAKE_NVML_DIR])
    fake_names = set(vars(_load("pynvml_fake_names", FAKE_NVML_DIR / "pynvml.py")))
    assert called - fake_names == set()
    if real_source is not None:
        real_names = set(vars(_load("pynvml_real_names", Path(real_source.origin))))
        assert called - real_names == set()
