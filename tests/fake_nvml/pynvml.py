"""A stand-in ``pynvml`` (nvidia-ml-py) for tests: simulated GPUs from a JSON scenario.

Put this folder ahead of the real module (``PYTHONPATH=tests/fake_nvml``) and name a scenario
file in ``XPROF_FAKE_NVML``. It implements the subset of pynvml that xprof calls, with the same
names, signatures, error classes (``NVMLError`` and its generated ``NVMLError_*`` subclasses,
same values) and return types (ctypes structs with the same fields; process lists as
``nvmlFriendlyObject``). ``tests/agent/test_gpu_fake_matches_pynvml.py`` checks that against the
installed pynvml.

Scenario (every key optional)::

    {
      "library": "ok" | "missing" | "driver_not_loaded" | "import_error",
      "driver": "550.54.15",
      "record_calls": "/tmp/calls.json",     # call counts written at nvmlShutdown
      "fail": {"nvmlSystemGetDriverVersion": "Unknown"},   # failures not tied to a device
      "devices": [{
        "name": "NVIDIA A100-SXM4-80GB", "uuid": "GPU-...",
        "memory_total": 85899345920,        # SERIES too (a device that changed)
        "memory_idle": 0,                   # used = idle + processes' memory, unless
        "memory_used": SERIES,              # ... given outright
        "util_gpu": SERIES, "util_mem": SERIES, "power_mw": SERIES, "power_limit_mw": 400000,
        "temperature_c": SERIES, "sm_clock_mhz": SERIES, "energy_start_mj": 0,
        "mig_capable": false,
        "mig_from": 0.0, "mig_until": 1e9,  # MIG mode on (with "mig") only in this span
        "mig": [{"uuid": "MIG-...", "memory_total": N, "memory_idle": 0, "memory_used": SERIES,
                 "gpu_instance_id": 1, "processes": [...], "fail": {...}}, null, ...],
        "processes": [{"pid": PID, "used_memory": 1073741824 | null, "sm_util": 80,
                       "type": "compute" | "graphics", "from": 0.0, "until": 5.0}],
        "fail": {"nvmlDeviceGetPowerUsage": "NotSupported",
                 "nvmlDeviceGetUtilizationRates": {"error": "Unknown", "times": 2},
                 "nvmlDeviceGetTemperature": {"error": "Timeout", "from": 1.0, "until": 2.0}}
      }]
    }

SERIES is a number or ``[[t, value], ...]`` (a step function of the seconds since nvmlInit).
The energy counter is ``energy_start_mj`` plus the integral of the power series (exact for a
step function, so tests know the true energy between any two instants).
PID is a number (a foreign process), ``"$AGENT"`` (the process that loaded NVML),
``"$ROOT"`` (its oldest child: the run's root under ``xprof run``), ``"$CHILDREN"``
(every descendant of the root, one entry each) or ``"$CHILD:n"`` (the n-th of those by start).
An error is named by its class suffix (``NotSupported``), as in ``NVMLError_NotSupported``.
"""

from __future__ import annotations

import json
import os
import string
import sys
import time
from collections import Counter
from ctypes import Structure, c_uint, c_ulonglong

# ---- constants (values as in nvidia-ml-py) ---------------------------------------------------
NVML_SUCCESS = 0
NVML_ERROR_UNINITIALIZED = 1
NVML_ERROR_INVALID_ARGUMENT = 2
NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NO_PERMISSION = 4
NVML_ERROR_ALREADY_INITIALIZED = 5
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_INSUFFICIENT_SIZE = 7
NVML_ERROR_INSUFFICIENT_POWER = 8
NVML_ERROR_DRIVER_NOT_LOADED = 9
NVML_ERROR_TIMEOUT = 10
NVML_ERROR_IRQ_ISSUE = 11
NVML_ERROR_LIBRARY_NOT_FOUND = 12
NVML_ERROR_FUNCTION_NOT_FOUND = 13
NVML_ERROR_CORRUPTED_INFOROM = 14
NVML_ERROR_GPU_IS_LOST = 15
NVML_ERROR_RESET_REQUIRED = 16
NVML_ERROR_OPERATING_SYSTEM = 17
NVML_ERROR_LIB_RM_VERSION_MISMATCH = 18
NVML_ERROR_IN_USE = 19
NVML_ERROR_MEMORY = 20
NVML_ERROR_NO_DATA = 21
NVML_ERROR_VGPU_ECC_NOT_SUPPORTED = 22
NVML_ERROR_INSUFFICIENT_RESOURCES = 23
NVML_ERROR_FREQ_NOT_SUPPORTED = 24
NVML_ERROR_ARGUMENT_VERSION_MISMATCH = 25
NVML_ERROR_DEPRECATED = 26
NVML_ERROR_NOT_READY = 27
NVML_ERROR_GPU_NOT_FOUND = 28
NVML_ERROR_INVALID_STATE = 29
NVML_ERROR_RESET_TYPE_NOT_SUPPORTED = 30
NVML_ERROR_UNKNOWN = 999

NVML_TEMPERATURE_GPU = 0
NVML_CLOCK_GRAPHICS = 0
NVML_CLOCK_SM = 1
NVML_CLOCK_MEM = 2
NVML_DEVICE_MIG_DISABLE = 0x0
NVML_DEVICE_MIG_ENABLE = 0x1
NVML_VALUE_NOT_AVAILABLE_ulonglong = c_ulonglong(-1)


# ---- errors (same construction as nvidia-ml-py) ----------------------------------------------
class NVMLError(Exception):
    _valClassMapping: dict = {}  # noqa: RUF012 - same shape as pynvml's
    _errcode_to_string: dict = {  # noqa: RUF012
        NVML_ERROR_UNINITIALIZED: "Uninitialized",
        NVML_ERROR_INVALID_ARGUMENT: "Invalid Argument",
        NVML_ERROR_NOT_SUPPORTED: "Not Supported",
        NVML_ERROR_NO_PERMISSION: "Insufficient Permissions",
        NVML_ERROR_NOT_FOUND: "Not Found",
        NVML_ERROR_DRIVER_NOT_LOADED: "Driver Not Loaded",
        NVML_ERROR_TIMEOUT: "Timeout",
        NVML_ERROR_LIBRARY_NOT_FOUND: "NVML Shared Library Not Found",
        NVML_ERROR_FUNCTION_NOT_FOUND: "Function Not Found",
        NVML_ERROR_GPU_IS_LOST: "GPU is lost",
        NVML_ERROR_UNKNOWN: "Unknown Error",
    }

    def __new__(typ, value):
        if typ == NVMLError:
            typ = NVMLError._valClassMapping.get(value, typ)
        obj = Exception.__new__(typ)
        obj.value = value
        return obj

    def __str__(self):
        return NVMLError._errcode_to_string.get(self.value, f"NVML Error with code {self.value}")

    def __eq__(self, other):
        return self.value == other.value


def nvmlExceptionClass(nvmlErrorCode):
    if nvmlErrorCode not in NVMLError._valClassMapping:
        raise ValueError(f"nvmlErrorCode {nvmlErrorCode} is not valid")
    return NVMLError._valClassMapping[nvmlErrorCode]


def _extractNVMLErrorsAsClasses():
    this_module = sys.modules[__name__]
    for err_name in [x for x in dir(this_module) if x.startswith("NVML_ERROR_")]:
        class_name = "NVMLError_" + string.capwords(
            err_name.replace("NVML_ERROR_", ""), "_").replace("_", "")
        err_val = getattr(this_module, err_name)

        def gen_new(val):
            def new(typ, *args):
                return NVMLError.__new__(typ, val)
            return new
        new_error_class = type(class_name, (NVMLError,), {"__new__": gen_new(err_val)})
        new_error_class.__module__ = __name__
        setattr(this_module, class_name, new_error_class)
        NVMLError._valClassMapping[err_val] = new_error_class


_extractNVMLErrorsAsClasses()


# ---- return types (same fields as nvidia-ml-py) ----------------------------------------------
class c_nvmlMemory_t(Structure):
    _fields_ = [("total", c_ulonglong), ("free", c_ulonglong), ("used", c_ulonglong)]


class c_nvmlUtilization_t(Structure):
    _fields_ = [("gpu", c_uint), ("memory", c_uint)]


class c_nvmlProcessInfo_v2_t(Structure):
    _fields_ = [("pid", c_uint), ("usedGpuMemory", c_ulonglong),
                ("gpuInstanceId", c_uint), ("computeInstanceId", c_uint)]


c_nvmlProcessInfo_v3_t = c_nvmlProcessInfo_v2_t
c_nvmlProcessInfo_t = c_nvmlProcessInfo_v3_t


class c_nvmlProcessUtilizationSample_t(Structure):
    _fields_ = [("pid", c_uint), ("timeStamp", c_ulonglong), ("smUtil", c_uint),
                ("memUtil", c_uint), ("encUtil", c_uint), ("decUtil", c_uint)]


class nvmlFriendlyObject:
    def __init__(self, dictionary):
        for x in dictionary:
            setattr(self, x, dictionary[x])

    def __str__(self):
        return self.__dict__.__str__()


def nvmlStructToFriendlyObject(struct):
    d = {}
    for x in struct._fields_:
        value = getattr(struct, x[0])
        d[x[0]] = value.decode() if isinstance(value, bytes) else value
    return nvmlFriendlyObject(d)


# ---- the simulated machine -------------------------------------------------------------------
def _load_scenario() -> dict:
    path = os.environ.get("XPROF_FAKE_NVML")
    if not path:
        return {"library": "missing"}
    with open(path, encoding="utf-8") as f:
        return json.load(f)


_scenario = _load_scenario()
if _scenario.get("library") == "import_error":
    raise ImportError("fake pynvml: scenario says nvidia-ml-py is not installed")

_calls: Counter = Counter()   # (function, gpu_index, mig_index) -> calls
_failures_seen: Counter = Counter()
_refcount = 0
_started_at: float | None = None
_started_epoch: float = 0.0
_manual_clock: float | None = None
_tree_cache: tuple[float, list[int], list[int]] | None = None


class _Handle:
    """Opaque device handle (the real one is a ctypes pointer)."""

    def __init__(self, index: int, mig_index: int, spec: dict) -> None:
        self.index, self.mig_index, self.spec = index, mig_index, spec

    def __repr__(self) -> str:
        return f"<fake nvmlDevice {self.index}/{self.mig_index}>"


def _set_clock(seconds: float | None) -> None:
    """Fake-only: pin the scenario clock (seconds since nvmlInit); None resumes real time."""
    global _manual_clock
    _manual_clock = seconds


def _now() -> float:
    if _manual_clock is not None:
        return _manual_clock
    return time.monotonic() - (_started_at or time.monotonic())


def _at(series, default=None):
    if series is None:
        return default
    if not isinstance(series, list):
        return series
    t = _now()
    value = series[0][1]
    for when, v in series:
        if when <= t:
            value = v
    return value


def _integral(series, default: float) -> float:
    """The integral of a SERIES over [0, now] (a step function; before its first step, its
    first value)."""
    t = _now()
    if not isinstance(series, list):
        return (default if series is None else series) * t
    total = 0.0
    steps = sorted(series)
    for i, (when, value) in enumerate(steps):
        start = 0.0 if i == 0 else max(0.0, when)
        end = steps[i + 1][0] if i + 1 < len(steps) else float("inf")
        if t > start:
            total += value * (min(t, end) - start)
    return total


def _check(name: str, handle: _Handle | None = None) -> None:
    """Count the call; raise Uninitialized or the scenario's injected failure."""
    key = (name, handle.index, handle.mig_index) if handle else (name, -1, -1)
    _calls[key] += 1
    if _refcount <= 0:
        raise NVMLError(NVML_ERROR_UNINITIALIZED)
    spec = (handle.spec if handle else _scenario).get("fail", {}).get(name)
    if spec is None:
        return
    if isinstance(spec, str):
        spec = {"error": spec}
    t = _now()
    if "times" in spec:
        _failures_seen[key] += 1
        if _failures_seen[key] > spec["times"]:
            return
    elif not spec.get("from", 0) <= t < spec.get("until", float("inf")):
        return
    raise getattr(sys.modules[__name__], "NVMLError_" + spec["error"])()


def _tree() -> tuple[list[int], list[int]]:
    """([the root], its descendants in start order) of the process hosting this module.

    The root is this process's oldest live child: under ``xprof run`` the run's command,
    which starts before any helper the agent runs (git, pip).
    """
    global _tree_cache
    now = time.monotonic()
    if _tree_cache is None or now - _tree_cache[0] > 0.05:
        import psutil
        roots, descendants = [], []
        try:
            children = [c for c in psutil.Process(os.getpid()).children()
                        if c.status() != psutil.STATUS_ZOMBIE]
            if children:
                root = min(children, key=lambda p: (_create_time(p), p.pid))
                roots.append(root.pid)
                below = root.children(recursive=True)
                below.sort(key=lambda p: (_create_time(p), p.pid))
                descendants.extend(p.pid for p in below)
        except psutil.Error:
            pass
        _tree_cache = (now, roots, descendants)
    return _tree_cache[1], _tree_cache[2]


def _create_time(process) -> float:
    try:
        return process.create_time()
    except Exception:
        return 0.0


def _pids(spec) -> list[int]:
    if isinstance(spec, int):
        return [spec]
    if spec == "$AGENT":
        return [os.getpid()]
    roots, descendants = _tree()
    if spec == "$ROOT":
        return roots
    if spec == "$CHILDREN":
        return descendants
    if isinstance(spec, str) and spec.startswith("$CHILD:"):
        n = int(spec.split(":")[1])
        return descendants[n:n + 1]
    raise ValueError(f"fake pynvml: unknown pid placeholder {spec!r}")


def _active_processes(spec: dict, kind: str | None = None) -> list[tuple[int, dict]]:
    t = _now()
    found = []
    for proc in spec.get("processes", []):
        if kind is not None and proc.get("type", "compute") != kind:
            continue
        if proc.get("from", 0) <= t < proc.get("until", float("inf")):
            found.extend((pid, proc) for pid in _pids(proc["pid"]))
    return found


def _device_spec(index: int) -> dict:
    return _scenario.get("devices", [])[index]


def _mig_on(spec: dict) -> bool:
    """Whether a whole device's MIG mode is on now (it has instances, in their span)."""
    return bool(spec.get("mig")) and \
        spec.get("mig_from", 0) <= _now() < spec.get("mig_until", float("inf"))


def _mig(handle: _Handle) -> list:
    return (handle.spec.get("mig") or []) if handle.mig_index < 0 and _mig_on(handle.spec) \
        else []


def _require_whole_device(handle: _Handle) -> None:
    if handle.mig_index >= 0:
        raise NVMLError(NVML_ERROR_NOT_SUPPORTED)


def _memory_used(spec: dict) -> int:
    if "memory_used" in spec:
        return int(_at(spec["memory_used"]))
    used = int(spec.get("memory_idle", 0))
    used += sum(p.get("used_memory") or 0 for _, p in _active_processes(spec))
    for instance in (spec.get("mig") or []) if _mig_on(spec) else []:
        if instance:
            used += _memory_used(instance)
    return used


# ---- the API ---------------------------------------------------------------------------------
def nvmlInitWithFlags(flags):
    global _refcount, _started_at, _started_epoch
    _calls[("nvmlInit", -1, -1)] += 1
    library = _scenario.get("library", "ok")
    if library == "missing":
        raise NVMLError(NVML_ERROR_LIBRARY_NOT_FOUND)
    if library == "driver_not_loaded":
        raise NVMLError(NVML_ERROR_DRIVER_NOT_LOADED)
    if _refcount == 0:
        _started_at, _started_epoch = time.monotonic(), time.time()
    _refcount += 1


def nvmlInit():
    nvmlInitWithFlags(0)


def nvmlShutdown():
    global _refcount
    _check("nvmlShutdown")
    _refcount -= 1
    path = _scenario.get("record_calls")
    if path:
        rows = [{"function": f, "gpu": g, "mig": m, "count": n} for (f, g, m), n in _calls.items()]
        with open(path, "w", encoding="utf-8") as f:
            json.dump(rows, f)


def nvmlErrorString(result):
    return f"NVML Error with code {result}"


def nvmlSystemGetDriverVersion():
    _check("nvmlSystemGetDriverVersion")
    return _scenario.get("driver", "550.54.15")


def nvmlDeviceGetCount():
    _check("nvmlDeviceGetCount")
    return len(_scenario.get("devices", []))


def nvmlDeviceGetHandleByIndex(index):
    _check("nvmlDeviceGetHandleByIndex")
    if not 0 <= index < len(_scenario.get("devices", [])):
        raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
    return _Handle(index, -1, _device_spec(index))


def nvmlDeviceGetHandleByUUID(uuid):
    _check("nvmlDeviceGetHandleByUUID")
    for index in range(len(_scenario.get("devices", []))):
        handle = _Handle(index, -1, _device_spec(index))
        if nvmlDeviceGetUUID(handle) == uuid:
            return handle
    raise NVMLError(NVML_ERROR_NOT_FOUND)


def nvmlDeviceGetIndex(handle):
    _check("nvmlDeviceGetIndex", handle)
    return handle.index


def nvmlDeviceGetName(handle):
    _check("nvmlDeviceGetName", handle)
    if handle.mig_index >= 0:
        return handle.spec.get("name", "MIG 1g.10gb")
    return handle.spec.get("name", "NVIDIA A100-SXM4-80GB")


def nvmlDeviceGetUUID(handle):
    _check("nvmlDeviceGetUUID", handle)
    if handle.mig_index >= 0:
        default = f"MIG-{handle.index:08x}-0000-4000-8000-{handle.mig_index:012x}"
    else:
        default = f"GPU-{handle.index:08x}-0000-4000-8000-000000000000"
    return handle.spec.get("uuid", default)


def nvmlDeviceGetMemoryInfo(handle, version=None):
    _check("nvmlDeviceGetMemoryInfo", handle)
    total = int(_at(handle.spec.get("memory_total"), 85899345920))
    used = min(_memory_used(handle.spec), total)
    return c_nvmlMemory_t(total=total, free=total - used, used=used)


def nvmlDeviceGetUtilizationRates(handle):
    _check("nvmlDeviceGetUtilizationRates", handle)
    if handle.mig_index >= 0 or _mig(handle):
        raise NVMLError(NVML_ERROR_NOT_SUPPORTED)  # NVML gives no utilisation under MIG
    return c_nvmlUtilization_t(gpu=int(_at(handle.spec.get("util_gpu"), 0)),
                               memory=int(_at(handle.spec.get("util_mem"), 0)))


def nvmlDeviceGetPowerUsage(handle):
    _check("nvmlDeviceGetPowerUsage", handle)
    _require_whole_device(handle)
    return int(_at(handle.spec.get("power_mw"), 70000))


def nvmlDeviceGetEnforcedPowerLimit(handle):
    _check("nvmlDeviceGetEnforcedPowerLimit", handle)
    _require_whole_device(handle)
    return int(_at(handle.spec.get("power_limit_mw"), 400000))


def nvmlDeviceGetTemperature(handle, sensor):
    _check("nvmlDeviceGetTemperature", handle)
    _require_whole_device(handle)
    if sensor != NVML_TEMPERATURE_GPU:
        raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
    return int(_at(handle.spec.get("temperature_c"), 35))


def nvmlDeviceGetClockInfo(handle, type):
    _check("nvmlDeviceGetClockInfo", handle)
    _require_whole_device(handle)
    if type != NVML_CLOCK_SM:
        raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
    return int(_at(handle.spec.get("sm_clock_mhz"), 1410))


def nvmlDeviceGetTotalEnergyConsumption(handle):
    _check("nvmlDeviceGetTotalEnergyConsumption", handle)
    _require_whole_device(handle)
    return int(handle.spec.get("energy_start_mj", 0) + _integral(handle.spec.get("power_mw"),
                                                                 70000))


def _process_list(handle: _Handle, kind: str) -> list:
    if handle.mig_index < 0 and _mig(handle):  # the parent lists every instance's processes
        specs = [s for s in _mig(handle) if s]
    else:
        specs = [handle.spec]
    found = []
    for gi, spec in enumerate(specs):
        for pid, proc in _active_processes(spec, kind):
            memory = proc.get("used_memory")
            struct = c_nvmlProcessInfo_v2_t(
                pid=pid,
                usedGpuMemory=NVML_VALUE_NOT_AVAILABLE_ulonglong.value if memory is None
                else int(memory),
                gpuInstanceId=spec.get("gpu_instance_id", gi) if spec is not handle.spec
                or handle.mig_index >= 0 else 0xFFFFFFFF,
                computeInstanceId=0)
            obj = nvmlStructToFriendlyObject(struct)
            if obj.usedGpuMemory == NVML_VALUE_NOT_AVAILABLE_ulonglong.value:
                obj.usedGpuMemory = None
            found.append(obj)
    return found


def nvmlDeviceGetComputeRunningProcesses(handle):
    _check("nvmlDeviceGetComputeRunningProcesses", handle)
    return _process_list(handle, "compute")


def nvmlDeviceGetGraphicsRunningProcesses(handle):
    _check("nvmlDeviceGetGraphicsRunningProcesses", handle)
    return _process_list(handle, "graphics")


def nvmlDeviceGetProcessUtilization(handle, timeStamp):
    _check("nvmlDeviceGetProcessUtilization", handle)
    if handle.mig_index >= 0 or _mig(handle):
        raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
    now_us = int((_started_epoch + _now()) * 1e6)
    samples = [c_nvmlProcessUtilizationSample_t(
        pid=pid, timeStamp=now_us, smUtil=int(proc["sm_util"]), memUtil=0, encUtil=0, decUtil=0)
        for pid, proc in _active_processes(handle.spec) if proc.get("sm_util") is not None]
    samples = [s for s in samples if s.timeStamp > timeStamp]
    if not samples:
        raise NVMLError(NVML_ERROR_NOT_FOUND)
    return samples


def nvmlDeviceGetMigMode(device):
    _check("nvmlDeviceGetMigMode", device)
    if device.mig_index >= 0:
        raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
    if _mig(device):
        return [NVML_DEVICE_MIG_ENABLE, NVML_DEVICE_MIG_ENABLE]
    if device.spec.get("mig_capable") or device.spec.get("mig"):
        return [NVML_DEVICE_MIG_DISABLE, NVML_DEVICE_MIG_DISABLE]
    raise NVMLError(NVML_ERROR_NOT_SUPPORTED)


def nvmlDeviceGetMaxMigDeviceCount(device):
    _check("nvmlDeviceGetMaxMigDeviceCount", device)
    if device.mig_index >= 0 or not (device.spec.get("mig") or device.spec.get("mig_capable")):
        raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
    return max(7, len(_mig(device)))


def nvmlDeviceGetMigDeviceHandleByIndex(device, index):
    _check("nvmlDeviceGetMigDeviceHandleByIndex", device)
    instances = _mig(device)
    if not 0 <= index < len(instances) or instances[index] is None:
        raise NVMLError(NVML_ERROR_NOT_FOUND)
    return _Handle(device.index, index, instances[index])


def nvmlDeviceIsMigDeviceHandle(device):
    _check("nvmlDeviceIsMigDeviceHandle", device)
    return c_uint(1 if device.mig_index >= 0 else 0)


def nvmlDeviceGetGpuInstanceId(device):
    _check("nvmlDeviceGetGpuInstanceId", device)
    if device.mig_index < 0:
        raise NVMLError(NVML_ERROR_INVALID_ARGUMENT)
    return int(device.spec.get("gpu_instance_id", device.mig_index))
