"""The one module that talks to NVML (``pynvml``, from NVIDIA's ``nvidia-ml-py``).

Every NVML call goes through :meth:`Nvml.query`, which never raises:

- an unsupported call (``NotSupported``, ``FunctionNotFound``, ``NoPermission``,
  ``InvalidArgument``) returns ``None`` and is not made again for that device;
- any other NVML error (``Unknown``, ``Timeout``, ``GpuIsLost``...) returns ``None`` for this
  sample only and is retried on the next;
- each (function, error) pair is logged once.

A missing library (``ImportError``, ``LibraryNotFound``, ``DriverNotLoaded``) means "no GPU":
:meth:`Nvml.open` returns ``None`` after one DEBUG line. NVML is initialised once per agent and
which devices and MIG instances exist is decided then (:func:`discover_devices`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

# NVML return codes (pynvml's NVML_ERROR_* values) that mean "this device cannot do this".
_NOT_SUPPORTED = 3
_NO_PERMISSION = 4
_INVALID_ARGUMENT = 2
_FUNCTION_NOT_FOUND = 13
PERMANENT_ERRORS = frozenset({_NOT_SUPPORTED, _NO_PERMISSION, _INVALID_ARGUMENT,
                              _FUNCTION_NOT_FOUND})
_NOT_FOUND = 6
_SUCCESS = 0

# Board metrics of whole devices: (GpuSample field, NVML function, extra args, scale to unit,
# cadence group). Utilisation and memory come as structs and are read at every sample (see
# Nvml.read_device); which groups a sample reads is the sampler's choice (gpu_cadence).
DEVICE_METRICS: tuple[tuple[str, str, tuple[str, ...], float, str], ...] = (
    ("energy_j", "nvmlDeviceGetTotalEnergyConsumption", (), 1e-3, "energy"),  # mJ -> J
    ("power_w", "nvmlDeviceGetPowerUsage", (), 1e-3, "power"),                 # mW -> W
    ("power_limit_w", "nvmlDeviceGetEnforcedPowerLimit", (), 1e-3, "static"),  # mW -> W
    ("temperature_c", "nvmlDeviceGetTemperature", ("NVML_TEMPERATURE_GPU",), 1.0,
     "thermal"),                                                               # °C
    ("sm_clock_mhz", "nvmlDeviceGetClockInfo", ("NVML_CLOCK_SM",), 1.0, "thermal"),  # MHz
)
BOARD_GROUPS = frozenset(group for *_, group in DEVICE_METRICS)

Key = tuple[int, int]  # (gpu_index, mig_index); mig_index -1 is the whole device


@dataclass
class Device:
    """A physical GPU (``mig_index == -1``) or one of its MIG instances, as found at start."""

    index: int
    mig_index: int
    handle: Any
    uuid: str | None
    name: str | None
    memory_bytes: int | None
    mig_mode: bool = False
    gpu_instance_id: int | None = None
    instances: list[Device] = field(default_factory=list)

    @property
    def key(self) -> Key:
        return (self.index, self.mig_index)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


class Nvml:
    """An initialised NVML library whose calls return ``None`` instead of raising."""

    def __init__(self, lib: Any) -> None:
        self._lib = lib
        self._dropped: set[tuple[Key | None, str]] = set()
        self._logged: set[tuple[str, str]] = set()
        self._last_seen_us: dict[Key, int] = {}
        self._constants = {name: getattr(lib, name, 0)
                           for _, _, args, _, _ in DEVICE_METRICS for name in args}

    @classmethod
    def open(cls) -> Nvml | None:
        """Import pynvml and initialise NVML once; ``None`` (one DEBUG line) when absent."""
        try:
            import pynvml
        except ImportError as exc:
            log.debug("no GPU sampling: pynvml is not importable (%s)", exc)
            return None
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as exc:
            log.debug("no GPU sampling: nvmlInit failed (%s)", _error_name(exc))
            return None
        except Exception as exc:  # a broken driver install: still "no GPU", never fatal
            log.debug("no GPU sampling: nvmlInit raised %r", exc)
            return None
        return cls(pynvml)

    def close(self) -> None:
        """Shut NVML down; errors are ignored."""
        try:
            self._lib.nvmlShutdown()
        except Exception as exc:
            log.debug("nvmlShutdown failed: %r", exc)

    # -- contained calls -------------------------------------------------------------------
    def query(self, key: Key | None, name: str, *args: Any, no_data: Any = None) -> Any:
        """``pynvml.<name>(*args)``, or ``None`` when it fails (see the module docstring).

        ``no_data``: returned instead when NVML answers NotFound ("no samples"), which
        nvmlDeviceGetProcessUtilization does when nothing ran since the given time.
        """
        if (key, name) in self._dropped or (None, name) in self._dropped:
            return None
        try:
            return getattr(self._lib, name)(*args)
        except AttributeError:  # this pynvml has no such function: never ask again
            self._dropped.add((None, name))
            self._log_once(name, "missing from pynvml", logging.DEBUG)
        except self._lib.NVMLError as exc:
            value = getattr(exc, "value", None)
            if no_data is not None and value in (_NOT_FOUND, _SUCCESS):
                return no_data
            if value in PERMANENT_ERRORS:
                self._dropped.add((None, name) if value == _FUNCTION_NOT_FOUND else (key, name))
                self._log_once(name, _error_name(exc), logging.DEBUG)
            else:
                self._log_once(name, _error_name(exc), logging.WARNING)
        except Exception as exc:  # ctypes or binding bug: contain it like a transient error
            self._log_once(name, repr(exc), logging.WARNING)
        return None

    def _log_once(self, name: str, error: str, level: int) -> None:
        if (name, error) in self._logged:
            return
        self._logged.add((name, error))
        log.log(level, "NVML %s failed: %s (logged once; %s)", name, error,
                "dropped for that device" if level == logging.DEBUG else "retried next sample")

    # -- what exists ------------------------------------------------------------------------
    def driver_version(self) -> str | None:
        return _text(self.query(None, "nvmlSystemGetDriverVersion"))

    def discover_devices(self) -> list[Device]:
        """Every GPU and MIG instance NVML lists now (their layout is fixed for the run)."""
        count = self.query(None, "nvmlDeviceGetCount") or 0
        devices = []
        for index in range(count):
            handle = self.query(None, "nvmlDeviceGetHandleByIndex", index)
            if handle is not None:
                devices.append(self.describe_device(index, handle))
        return devices

    def describe_device(self, index: int, handle: Any) -> Device:
        """A whole GPU as NVML describes it now: UUID, name, memory, MIG mode and instances."""
        device = self._describe(index, -1, handle)
        if self.mig_mode(device):
            device.mig_mode = True
            device.instances = list(self._mig_instances(device))
        return device

    def mig_mode(self, device: Device) -> bool | None:
        """Whether the device is in MIG mode now (its current mode, not a pending one);
        None when NVML cannot say. A device that cannot do MIG is not in MIG mode."""
        mode = self.query(device.key, "nvmlDeviceGetMigMode", device.handle)
        if mode is None:
            return None if self.supports(device.key, "nvmlDeviceGetMigMode") else False
        return bool(mode) and mode[0] == getattr(self._lib, "NVML_DEVICE_MIG_ENABLE", 1)

    def forget_drops(self, index: int) -> None:
        """Ask again what was dropped as unsupported on GPU ``index`` and its instances (its
        MIG mode changed: utilisation and per-process figures may work now)."""
        self._dropped = {(key, name) for key, name in self._dropped
                         if key is None or key[0] != index}

    def _describe(self, index: int, mig_index: int, handle: Any) -> Device:
        key = (index, mig_index)
        memory = self.query(key, "nvmlDeviceGetMemoryInfo", handle)
        return Device(
            index=index, mig_index=mig_index, handle=handle,
            uuid=_text(self.query(key, "nvmlDeviceGetUUID", handle)),
            name=_text(self.query(key, "nvmlDeviceGetName", handle)),
            memory_bytes=int(memory.total) if memory is not None else None,
        )

    def _mig_instances(self, parent: Device) -> Iterable[Device]:
        slots = self.query(parent.key, "nvmlDeviceGetMaxMigDeviceCount", parent.handle) or 0
        for slot in range(slots):
            try:  # an empty slot raises NotFound: expected, not worth a log line
                handle = self._lib.nvmlDeviceGetMigDeviceHandleByIndex(parent.handle, slot)
            except Exception:
                continue
            instance = self._describe(parent.index, slot, handle)
            instance.gpu_instance_id = self.query(instance.key, "nvmlDeviceGetGpuInstanceId",
                                                  handle)
            yield instance

    # -- per sample ---------------------------------------------------------------------------
    def read_device(self, device: Device, *, utilisation: bool, memory: bool = True,
                    groups: frozenset[str] = frozenset()) -> dict[str, Any]:
        """Metrics of one device or MIG instance as GpuSample fields (``None`` where unread).

        ``utilisation``: read GPU/memory utilisation (NVML gives none under MIG); ``memory``:
        read memory used and total; ``groups``: the board metrics' cadence groups to read
        this time (:data:`BOARD_GROUPS`; whole devices only). Fields left unread are absent.
        """
        key, handle = device.key, device.handle
        values: dict[str, Any] = {}
        for name, function, args, scale, group in DEVICE_METRICS:  # first: energy and power,
            if group in groups:                                       # read nearest the row's ts
                raw = self.query(key, function, handle, *(self._constants[a] for a in args))
                values[name] = raw * scale if raw is not None else None
        if utilisation:
            rates = self.query(key, "nvmlDeviceGetUtilizationRates", handle)
            values["util_gpu_pct"] = float(rates.gpu) if rates is not None else None
            values["util_mem_pct"] = float(rates.memory) if rates is not None else None
        if memory:
            info = self.query(key, "nvmlDeviceGetMemoryInfo", handle)
            values["mem_used_bytes"] = int(info.used) if info is not None else None
            values["mem_total_bytes"] = int(info.total) if info is not None else None
        return values

    def supports(self, key: Key, function: str) -> bool:
        """False once ``function`` was dropped for that device (or everywhere)."""
        return (key, function) not in self._dropped and (None, function) not in self._dropped

    def processes(self, device: Device, *, graphics: bool = True
                  ) -> tuple[dict[int, int | None] | None, bool]:
        """(pid -> GPU memory in bytes, ``None`` if hidden; whether a graphics process was
        listed) of the compute (and, with ``graphics``, graphics) processes.

        The mapping is ``None`` when no list could be read.
        """
        found: dict[int, int | None] = {}
        readable, graphics_seen = False, False
        functions = ["nvmlDeviceGetComputeRunningProcesses"]
        if graphics:
            functions.append("nvmlDeviceGetGraphicsRunningProcesses")
        for function in functions:
            listed = self.query(device.key, function, device.handle)
            if listed is None:
                continue
            readable = True
            graphics_seen = graphics_seen or (bool(listed) and "Graphics" in function)
            for process in listed:  # a process in both lists: keep the larger known figure
                memory = getattr(process, "usedGpuMemory", None)
                known = found.get(process.pid)
                if process.pid not in found or (memory is not None and
                                                (known is None or memory > known)):
                    found[process.pid] = int(memory) if memory is not None else None
        return (found if readable else None), graphics_seen

    def process_sm_util(self, device: Device, pids: frozenset[int] | None) -> float | None:
        """SM utilisation (percent of the device) of ``pids`` since the last call.

        ``pids=None`` counts every process. Uses nvmlDeviceGetProcessUtilization's
        lastSeenTimeStamp so each call sees only new samples; no new samples means 0.
        """
        key = device.key
        last_seen = self._last_seen_us.get(key)
        if last_seen is None:
            last_seen = int(time.time() * 1e6) - 1_000_000
        samples = self.query(key, "nvmlDeviceGetProcessUtilization", device.handle, last_seen,
                             no_data=())
        if samples is None:
            return None
        per_pid: dict[int, list[int]] = {}
        newest = last_seen
        for entry in samples:
            newest = max(newest, int(entry.timeStamp))
            if pids is None or entry.pid in pids:
                per_pid.setdefault(entry.pid, []).append(int(entry.smUtil))
        self._last_seen_us[key] = newest
        total = sum(sum(v) / len(v) for v in per_pid.values())
        return float(min(total, 100.0))


def _error_name(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
