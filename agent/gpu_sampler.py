"""GPU sampler: one :class:`GpuSample` per device and MIG instance, with the run's own use.

Which GPUs and MIG instances exist, and which ones ``CUDA_VISIBLE_DEVICES`` names, is decided
once in :meth:`GpuSampler.create`. Each :meth:`GpuSampler.sample` then reads the metrics
through :mod:`xprof.agent.nvml` (a failing call drops that metric, never the sample) and
attributes use to the run:

- ``pid``: a process of the run's tree is in a device's compute or graphics process list.
  Once that has happened, the run is attributed by pid for the rest of its life;
- ``visible-devices``: no run pid ever matched (containers see host pids; some VMs list no
  processes) but ``CUDA_VISIBLE_DEVICES`` is set and the devices it names are in use
  (processes listed, or memory used beyond what was in use at start);
- ``none``: neither; the run's memory on each device is 0 where the lists were readable.

What is read at each sample, and what only now and then, is :mod:`gpu_cadence`'s table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from xprof.agent.gpu_cadence import PROCESS_UTIL_MIN_S, PROCESS_UTIL_MOVE_PCT, GpuCadence, Schedule
from xprof.agent.gpu_processes import IN_USE_BYTES, Listed, ProcessLists
from xprof.agent.nvml import DEVICE_METRICS, Device, Key, Nvml
from xprof.records import GpuSample

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Reading:
    """One device or MIG instance at one sample, before attribution."""

    device: Device
    values: dict[str, Any]
    listed: Listed | None

    @property
    def processes(self) -> dict[int, int | None] | None:
        return self.listed.processes if self.listed is not None else None


class GpuSampler:
    """Samples every GPU NVML lists; attributes the run's own use (see module docstring)."""

    name = "GPU"  # the Sampler interface: what a failure warning names

    def __init__(self, nvml: Nvml, devices: list[Device], visible: frozenset[Key] | None,
                 driver: str | None, cadence: GpuCadence | None = None,
                 final: Callable[[], bool] | None = None,
                 visible_spec: str | None = None) -> None:
        self._nvml = nvml
        self._cadence = cadence or GpuCadence()
        self._final = final or (lambda: False)
        self._schedule = Schedule()
        self._lists = ProcessLists(nvml, self._cadence, self._schedule)
        self._last_pids: frozenset[int] | None = None
        self._static: dict[Key, dict[str, Any]] = {}
        self._totals: dict[Key, int] = {}  # each device's memory total at its last read
        self._instance_memory: dict[Key, tuple[int, dict[str, Any]]] = {}
        self._util_read: dict[Key, tuple[float | None, frozenset[int]]] = {}
        self._devices = devices  # replaced whole (a device re-discovered): any thread reads it
        self._visible = visible
        self._visible_spec = visible_spec
        self._driver = driver
        self._pid_matched = False
        self._used: frozenset[int] = frozenset()  # replaced whole: readable from any thread
        self._baseline: dict[Key, int] = {}
        for device in devices:
            self._read_baseline(device)

    def _read_baseline(self, device: Device) -> None:
        """Memory in use on each target of ``device`` before the run (visible-devices)."""
        for target in device.instances or [device]:
            memory = self._nvml.query(target.key, "nvmlDeviceGetMemoryInfo", target.handle)
            if memory is not None:
                self._baseline[target.key] = int(memory.used)

    @classmethod
    def create(cls, visible_devices: str | None, cadence: GpuCadence | None = None,
               final: Callable[[], bool] | None = None) -> GpuSampler | None:
        """Initialise NVML once; ``None`` (silently, one DEBUG log) when NVML/driver is absent
        or no device. ``visible_devices`` is the run's CUDA_VISIBLE_DEVICES (or None);
        ``cadence``: how often each figure is read (default: the settings' defaults);
        ``final()``: True at the run's last sample (the energy counter is read then)."""
        nvml = Nvml.open()
        if nvml is None:
            return None
        try:
            devices = nvml.discover_devices()
            if not devices:
                log.debug("no GPU sampling: NVML lists no device")
                nvml.close()
                return None
            visible = parse_visible_devices(visible_devices, devices)
            return cls(nvml, devices, visible, nvml.driver_version(), cadence, final,
                       visible_devices)
        except Exception as exc:  # never let GPU discovery fail the run
            log.debug("no GPU sampling: device discovery failed (%r)", exc)
            nvml.close()
            return None

    def hardware(self) -> dict:
        """GPU model, count and memory per GPU, every device and MIG instance, driver."""
        first = self._devices[0]
        return {
            "gpu_count": len(self._devices),
            "gpu_model": first.name,
            "gpu_memory_bytes": first.memory_bytes,
            "gpus": [{
                "index": d.index, "uuid": d.uuid, "name": d.name, "memory_bytes": d.memory_bytes,
                "mig_mode": d.mig_mode,
                "mig_instances": [{"mig_index": m.mig_index, "uuid": m.uuid,
                                   "memory_bytes": m.memory_bytes} for m in d.instances],
            } for d in self._devices],
            "driver": self._driver,
        }

    def sample(self, ts: float, pids: frozenset[int]) -> list[GpuSample]:
        """One GpuSample per device (and per MIG instance, mig_index >= 0). Never raises."""
        try:
            return self._sample(ts, pids)
        except Exception as exc:  # a bug here must not cost the training run anything
            log.warning("GPU sample failed: %r (GPU sampling goes on)", exc, exc_info=True)
            return []

    def used_gpus(self) -> list[int]:
        """Physical indices of the GPUs the run has used so far."""
        return sorted(self._used)

    def close(self) -> None:
        """Shut NVML down."""
        self._nvml.close()

    # -- one sample ------------------------------------------------------------------------------
    def _sample(self, ts: float, pids: frozenset[int]) -> list[GpuSample]:
        readings = self._read_all(ts, pids)
        method, used, run_procs = self._attribute(readings, pids)
        rows: dict[Key, GpuSample] = {}
        for reading in readings:
            key = reading.device.key
            if key[1] >= 0 or not reading.device.mig_mode:
                rows[key] = self._row(ts, reading, key in used, method, run_procs[key], pids)
        for reading in readings:  # a MIG device's row sums its instances' run figures
            device = reading.device
            if device.mig_mode:
                parts = [rows[i.key] for i in device.instances]
                rows[device.key] = GpuSample(
                    ts=ts, gpu_index=device.index, uuid=device.uuid, **reading.values,
                    run_mem_used_bytes=_sum_known(p.run_mem_used_bytes for p in parts),
                    used_by_run=any(p.used_by_run for p in parts), attribution=method)
        used_now = {key[0] for key, row in rows.items() if row.used_by_run}
        if not used_now <= self._used:
            self._used = self._used | used_now
        return [rows[r.device.key] for r in readings]

    def _read_all(self, ts: float, pids: frozenset[int]) -> list[_Reading]:
        """Every device, then its MIG instances: each figure read when its cadence says."""
        tree_changed = pids != self._last_pids
        self._last_pids = pids
        final = self._final()
        readings: list[_Reading] = []
        for position, device in enumerate(self._devices):
            groups = self._board_groups(device, ts, final)
            values = self._nvml.read_device(device, utilisation=not device.mig_mode,
                                            groups=groups)
            self._retry_failed(device.key, groups, values)
            if self._static_changed(device, ts, groups, values):
                changed = self._rediscover(position, device)
                if changed is not None:  # board figures stand; utilisation is per mode
                    device = changed
                    values.pop("util_gpu_pct", None)
                    values.pop("util_mem_pct", None)
                    if not device.mig_mode:
                        values.update(self._nvml.read_device(device, utilisation=True,
                                                             memory=False))
            self._carry_static(device.key, values)
            device_used = values.get("mem_used_bytes")
            listed = None if device.mig_mode else self._lists.get(
                device, ts, device_used, pids, tree_changed)
            readings.append(_Reading(device, values, listed))
            for instance in device.instances:
                values = self._instance_values(instance, device_used, ts, tree_changed)
                readings.append(_Reading(instance, values, self._lists.get(
                    instance, ts, values.get("mem_used_bytes"), pids, tree_changed)))
        return readings

    def _instance_values(self, instance: Device, device_used: int | None, ts: float,
                         tree_changed: bool) -> dict[str, Any]:
        """A MIG instance's memory: read with its process list, or when the whole device's
        memory used is not what it was at the instance's last read; else carried."""
        key = instance.key
        last = self._instance_memory.get(key)
        if last is not None and device_used == last[0] and not tree_changed \
                and not self._schedule.due(key, "processes", ts, self._cadence.process_s):
            return dict(last[1])
        values = self._nvml.read_device(instance, utilisation=False)
        if device_used is not None and values.get("mem_used_bytes") is not None:
            self._instance_memory[key] = (device_used, values)
        else:  # unknown: read again at the next sample
            self._instance_memory.pop(key, None)
        return dict(values)

    def _static_changed(self, device: Device, ts: float, groups: frozenset[str],
                        values: dict[str, Any]) -> bool:
        """Whether the device's MIG mode needs a re-check now: its slow cadence came round
        (discovery read it first), or its memory total moved (then the power limit is read
        at once into ``values``)."""
        key = device.key
        total = values.get("mem_total_bytes")
        known = self._totals.get(key)
        if total is not None:
            self._totals[key] = total
        moved = known is not None and total is not None and total != known
        if moved and "static" not in groups:
            values.update(self._nvml.read_device(device, utilisation=False, memory=False,
                                                 groups=frozenset({"static"})))
            self._schedule.mark(key, "static", ts)
        since = self._schedule.since(key, "mig", ts)
        again = since is not None and self._cadence.static_s is not None \
            and since >= self._cadence.static_s
        if since is None or again or moved:
            self._schedule.mark(key, "mig", ts)
        return self._cadence.mig_check and (moved or again)

    def _rediscover(self, position: int, device: Device) -> Device | None:
        """The device described afresh when its MIG mode is not what it was (its instances
        appear or go); None when the mode is unchanged or unknown."""
        mode = self._nvml.mig_mode(device)
        if mode is None or mode == device.mig_mode:
            return None
        self._nvml.forget_drops(device.index)
        fresh = self._nvml.describe_device(device.index, device.handle)
        log.info("GPU %d: MIG mode is now %s (%d instances); sampled as such from here",
                 device.index, "on" if fresh.mig_mode else "off", len(fresh.instances))
        devices = list(self._devices)
        devices[position] = fresh
        self._devices = devices
        self._read_baseline(fresh)
        if self._visible is not None:
            self._visible = parse_visible_devices(self._visible_spec, devices)
        return fresh

    def _board_groups(self, device: Device, ts: float, final: bool) -> frozenset[str]:
        """The board metrics due at ``ts``: power always; energy at the first and last
        sample and on its cadence; temperature and clock on theirs; static facts once."""
        cadence, key, take = self._cadence, device.key, self._schedule.take
        groups = {"power"}
        if take(key, "energy", ts, cadence.energy_s) or final:
            groups.add("energy")
        if take(key, "thermal", ts, cadence.thermal_s):
            groups.add("thermal")
        if take(key, "static", ts, cadence.static_s):
            groups.add("static")
        return frozenset(groups)

    def _retry_failed(self, key: Key, groups: frozenset[str], values: dict[str, Any]) -> None:
        """A cadenced figure that failed for now (not dropped for good) is due again."""
        for name, function, _, _, group in DEVICE_METRICS:
            if group in groups and values.get(name) is None \
                    and self._nvml.supports(key, function):
                self._schedule.forget(key, group)

    def _carry_static(self, key: Key, values: dict[str, Any]) -> None:
        """Static facts read once are carried on every row of the device."""
        if "power_limit_w" in values:
            self._static[key] = {"power_limit_w": values["power_limit_w"]}
        else:
            values.update(self._static.get(key, {}))

    def _attribute(self, readings: list[_Reading], pids: frozenset[int]
                   ) -> tuple[str, set[Key], dict[Key, dict[int, int | None]]]:
        """(method, targets the run uses, the run's processes per target): see the module
        docstring."""
        run_procs = {r.device.key: {pid: mem for pid, mem in (r.processes or {}).items()
                                    if pid in pids} for r in readings}
        if any(run_procs.values()):
            self._pid_matched = True
        if self._pid_matched:
            return "pid", {key for key, found in run_procs.items() if found}, run_procs
        used = {r.device.key for r in readings if self._visible_in_use(r)}
        if not used:
            return "none", used, run_procs
        # every process on a visible device in use is presumed the run's
        return "visible-devices", used, {r.device.key: dict(r.processes or {})
                                         for r in readings}

    def _visible_in_use(self, reading: _Reading) -> bool:
        if self._visible is None or reading.device.key not in self._visible:
            return False
        if reading.processes:
            return True
        used = reading.values.get("mem_used_bytes")
        baseline = self._baseline.get(reading.device.key, 0)
        return used is not None and used - baseline >= IN_USE_BYTES

    def _row(self, ts: float, reading: _Reading, used: bool, method: str,
             run_procs: dict[int, int | None], pids: frozenset[int]) -> GpuSample:
        device = reading.device
        run_mem: int | None
        run_sm: float | None = None
        if not used:
            run_mem = 0 if reading.processes is not None else None
        else:
            run_mem = self._run_memory(reading, method, run_procs)
            # NVML has no per-process utilisation under MIG; with no process listed (some
            # VMs) it has no samples either, and 0 % would be a false figure
            if not device.mig_mode and device.mig_index < 0 and reading.processes:
                run_sm = self._run_sm_util(reading, method, run_procs, pids, ts)
        return GpuSample(ts=ts, gpu_index=device.index, mig_index=device.mig_index,
                         uuid=device.uuid, **reading.values, run_mem_used_bytes=run_mem,
                         run_sm_util_pct=run_sm, used_by_run=used, attribution=method)

    def _run_memory(self, reading: _Reading, method: str,
                    run_procs: dict[int, int | None]) -> int | None:
        """The run's memory on a target it uses: its listed processes' memory, plus what the
        device gained since a list that showed the run's processes alone."""
        run_mem = _sum_known(run_procs.values())
        device_used = reading.values.get("mem_used_bytes")
        if run_mem is None and method == "visible-devices":
            if device_used is not None:
                return max(0, device_used - self._baseline.get(reading.device.key, 0))
            return None
        listed = reading.listed
        if (run_mem is not None and listed is not None and not listed.fresh
                and listed.mem_used is not None and device_used is not None
                and len(run_procs) == len(listed.processes or {})):
            run_mem = min(device_used, max(0, run_mem + device_used - listed.mem_used))
        return run_mem

    def _run_sm_util(self, reading: _Reading, method: str, run_procs: dict[int, int | None],
                     pids: frozenset[int], ts: float) -> float | None:
        """The run's SM utilisation: the device's where the run's one process is alone on
        it; else per-process utilisation when due (None between reads)."""
        device = reading.device
        alone = len(run_procs) == 1 and len(reading.processes or {}) == 1
        if alone and not self._cadence.every_process_util:
            return reading.values.get("util_gpu_pct")
        if not self._process_util_due(reading, ts):
            return None
        value = self._nvml.process_sm_util(device, pids if method == "pid" else None)
        if value is not None:  # a failed read is asked again at the next sample
            self._schedule.mark(device.key, "process_util", ts)
            self._util_read[device.key] = (reading.values.get("util_gpu_pct"),
                                           frozenset(reading.processes or {}))
        return value

    def _process_util_due(self, reading: _Reading, ts: float) -> bool:
        """Never read; its cadence came round; or, at most every PROCESS_UTIL_MIN_S, the
        device's processes changed or its utilisation moved PROCESS_UTIL_MOVE_PCT points."""
        key = reading.device.key
        since = self._schedule.since(key, "process_util", ts)
        if since is None or since >= self._cadence.process_util_s:
            return True
        if since < PROCESS_UTIL_MIN_S:
            return False
        util, processes = self._util_read.get(key, (None, frozenset()))
        now = reading.values.get("util_gpu_pct")
        moved = util is not None and now is not None and abs(now - util) >= PROCESS_UTIL_MOVE_PCT
        return moved or frozenset(reading.processes or {}) != processes


def _sum_known(values: Any) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def parse_visible_devices(value: str | None, devices: list[Device]) -> frozenset[Key] | None:
    """The (gpu_index, mig_index) targets CUDA_VISIBLE_DEVICES names; None when unset.

    Entries are NVML indices, GPU or MIG UUIDs (unique prefixes too, as CUDA accepts) or
    legacy ``MIG-GPU-<uuid>/<gi>/<ci>``. Like CUDA, parsing stops at the first entry that
    names nothing. A whole GPU in MIG mode stands for all its instances.
    """
    if value is None:
        return None
    targets: set[Key] = set()
    for entry in (part.strip() for part in value.split(",")):
        found = _resolve(entry, devices)
        if found is None:
            break
        targets |= found
    return frozenset(targets)


def _resolve(entry: str, devices: list[Device]) -> set[Key] | None:
    def whole(device: Device) -> set[Key]:
        return {i.key for i in device.instances} if device.mig_mode else {device.key}

    if entry.isdigit():
        by_index = {d.index: d for d in devices}
        return whole(by_index[int(entry)]) if int(entry) in by_index else None
    if entry.startswith("MIG-GPU-"):  # legacy: MIG-GPU-<gpu uuid>/<gpu instance>/<compute>
        uuid, _, rest = entry[len("MIG-"):].partition("/")
        instance_id = rest.split("/")[0]
        for device in devices:
            if device.uuid == uuid:
                return {i.key for i in device.instances
                        if str(i.gpu_instance_id) == instance_id} or None
        return None
    matches = [d for d in devices if d.uuid and d.uuid.startswith(entry)]
    matches += [i for d in devices for i in d.instances if i.uuid and i.uuid.startswith(entry)]
    if len(matches) != 1:  # unknown, or an ambiguous prefix
        return None
    return whole(matches[0]) if matches[0].mig_index < 0 else {matches[0].key}
