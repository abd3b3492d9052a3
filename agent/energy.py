"""Energy of a run in kWh: the GPUs it used and the host's CPU packages.

Where each figure comes from:

- GPU: NVML's energy counter (``gpu_samples.energy_j``, joules since the driver loaded) of each
  whole device the run used: the sum of its increases between its reads (a counter that goes
  back, e.g. after a driver reload, restarts the sum). The counter is read on a slow cadence
  (and at the run's first and last sample), so the time before its first read and after its
  latest one is covered by the power samples (``power_w``, every sample) integrated over time
  (trapezoids): a figure asked mid-run, or of a run whose agent was killed, is the counter up
  to its latest read plus power since. A device without a usable counter gets its power
  integrated over the whole run.
- CPU: RAPL package counters (``/sys/class/powercap/intel-rapl:N/energy_uj``, also used for AMD
  Zen), read at every sample with wrap-around handled; where they are missing or unreadable
  (no RAPL, not root, a VM) the CPU part is unknown (None), never guessed.

Scope: NVML and RAPL measure whole devices and packages, so a GPU shared with another run, or
the CPU package of a busy host, counts whole. ``energy_method`` is ``measured`` when every
known part came from a hardware energy counter, ``estimated`` when some GPU's energy was
integrated from power samples, None when nothing is known. The figures go into the run's
``summary`` JSON (keys :data:`SUMMARY_KEYS`), computed when the run ends.

Standard library only: this module is on the agent's import path.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("xprof.agent")

J_PER_KWH = 3.6e6
POWERCAP_DIR = "/sys/class/powercap"
SUMMARY_KEYS = ("energy_kwh", "energy_gpu_kwh", "energy_cpu_kwh", "energy_method")
MIN_COUNTER_COVERAGE = 0.9  # a counter read over less of the device's samples is not trusted


# -- GPU ---------------------------------------------------------------------------------------
@dataclass
class _Device:
    used: bool = False
    first_ts: float | None = None
    last_ts: float | None = None
    counter_j: float = 0.0  # sum of the counter's increases
    counter_first_ts: float | None = None
    counter_last_ts: float | None = None
    previous_j: float | None = None
    power_j: float = 0.0  # trapezoid integral of power_w
    power_seen: bool = False
    previous_power: tuple[float, float] | None = None  # (ts, watts)
    power_at_first_j: float = 0.0  # power_j at the counter's first read
    power_at_last_j: float = 0.0  # power_j at the counter's latest read


class GpuEnergy:
    """Energy of each whole GPU from its samples, fed one row at a time (in time order)."""

    def __init__(self) -> None:
        self._devices: dict[int, _Device] = {}

    def add(self, row: Mapping[str, Any]) -> None:
        """Take one ``gpu_samples`` row (MIG instance rows are ignored: the device row has
        the whole board's power and energy)."""
        if row.get("mig_index", -1) != -1:
            return
        ts = row.get("ts")
        if ts is None:
            return
        device = self._devices.setdefault(int(row["gpu_index"]), _Device())
        device.used = device.used or bool(row.get("used_by_run"))
        if device.first_ts is None:
            device.first_ts = ts
        device.last_ts = ts
        power = row.get("power_w")  # first: the power integral then runs up to ``ts``
        if power is not None:
            if device.previous_power is not None:
                last_ts, last_w = device.previous_power
                if ts > last_ts:
                    device.power_j += (ts - last_ts) * (power + last_w) / 2
            device.previous_power = (ts, power)
            device.power_seen = True
        else:
            device.previous_power = None  # a gap in power is not bridged
        energy = row.get("energy_j")
        if energy is not None:
            if device.previous_j is not None and energy >= device.previous_j:
                device.counter_j += energy - device.previous_j
            device.previous_j = energy
            if device.counter_first_ts is None:
                device.counter_first_ts = ts
                device.power_at_first_j = device.power_j
            device.counter_last_ts = ts
            device.power_at_last_j = device.power_j

    def joules(self, gpus: Iterable[int] | None = None) -> tuple[float | None, bool]:
        """(joules of the GPUs used by the run, or of ``gpus``; whether any was estimated from
        power). None when a counted GPU has neither a counter nor power samples; 0.0 when the
        run used none of the GPUs sampled."""
        chosen = set(gpus) if gpus is not None else {
            index for index, device in self._devices.items() if device.used}
        total, estimated = 0.0, False
        for index in sorted(chosen):
            device = self._devices.get(index)
            if device is None:
                return None, False
            value, from_power = _device_joules(device)
            if value is None:
                return None, False
            total += value
            estimated = estimated or from_power
        return total, estimated

    @property
    def sampled(self) -> bool:
        return bool(self._devices)


def _device_joules(device: _Device) -> tuple[float | None, bool]:
    """(joules, estimated): the counter's increases plus power integrated before its first
    read and after its latest; estimated when the counter covers under
    MIN_COUNTER_COVERAGE of the device's samples."""
    span = (device.last_ts or 0.0) - (device.first_ts or 0.0)
    if device.counter_first_ts is not None and device.counter_last_ts is not None:
        covered = device.counter_last_ts - device.counter_first_ts
        outside = device.power_at_first_j + device.power_j - device.power_at_last_j
        if span <= 0 or covered >= MIN_COUNTER_COVERAGE * span:
            return device.counter_j + outside, False
        if device.power_seen:
            return device.counter_j + outside, True
        return None, False
    if device.power_seen:
        return device.power_j, True
    return None, False


# -- CPU ---------------------------------------------------------------------------------------
@dataclass
class _Domain:
    path: str
    fd: int
    max_uj: int
    previous_uj: int


class RaplCounter:
    """The CPU packages' RAPL energy, accumulated across counter wrap-arounds.

    ``sample()`` reads each package counter (about 5 µs each) and must run more often than the
    counter wraps (minutes at full power); the agent calls it at every sample.
    """

    def __init__(self, domains: list[_Domain]) -> None:
        self._domains = domains
        self._uj = 0
        self._failed = False

    @classmethod
    def open(cls, root: str = POWERCAP_DIR) -> RaplCounter | None:
        """The package domains under ``root`` (``intel-rapl:N``, not their sub-zones); None
        when there are none or they cannot be read."""
        try:
            names = sorted(os.listdir(root))
        except OSError:
            return None
        domains: list[_Domain] = []
        for name in names:
            if not name.startswith("intel-rapl:") or name.count(":") != 1:
                continue
            path = os.path.join(root, name)
            try:
                max_uj = int(_read_text(os.path.join(path, "max_energy_range_uj")))
                fd = os.open(os.path.join(path, "energy_uj"), os.O_RDONLY | os.O_CLOEXEC)
            except (OSError, ValueError) as exc:
                log.debug("RAPL %s unreadable: %r", path, exc)
                continue
            try:
                first = int(os.pread(fd, 64, 0))
            except (OSError, ValueError) as exc:
                log.debug("RAPL %s unreadable: %r", path, exc)
                os.close(fd)
                continue
            domains.append(_Domain(path, fd, max_uj, first))
        return cls(domains) if domains else None

    def sample(self) -> None:
        """Add what each package used since the last read; never raises."""
        if self._failed:
            return
        for domain in self._domains:
            try:
                now = int(os.pread(domain.fd, 64, 0))
            except (OSError, ValueError) as exc:
                log.warning("cannot read CPU energy (%s): %r; CPU energy is left out",
                            domain.path, exc)
                self._failed = True
                return
            delta = now - domain.previous_uj
            if delta < 0:  # wrapped past max_energy_range_uj
                delta += domain.max_uj + 1
            self._uj += delta
            domain.previous_uj = now

    def joules(self) -> float | None:
        """Joules since ``open()``; None if a read failed on the way."""
        return None if self._failed else self._uj / 1e6

    def close(self) -> None:
        for domain in self._domains:
            os.close(domain.fd)
        self._domains = []


def _read_text(path: str) -> str:
    with open(path, encoding="ascii") as fh:
        return fh.read().strip()


# -- the run's figures ---------------------------------------------------------------------------
def energy_fields(gpu_j: float | None, gpu_estimated: bool,
                  cpu_j: float | None) -> dict[str, Any]:
    """The summary's energy keys from joules (None: unknown)."""
    gpu_kwh = None if gpu_j is None else gpu_j / J_PER_KWH
    cpu_kwh = None if cpu_j is None else cpu_j / J_PER_KWH
    known = [v for v in (gpu_kwh, cpu_kwh) if v is not None]
    method = None
    if known:
        method = "estimated" if gpu_estimated and gpu_kwh is not None else "measured"
    return {"energy_kwh": sum(known) if known else None, "energy_gpu_kwh": gpu_kwh,
            "energy_cpu_kwh": cpu_kwh, "energy_method": method}


class EnergyMeter:
    """What a running agent feeds: every sample (for RAPL) and every GPU row."""

    def __init__(self, powercap_dir: str = POWERCAP_DIR) -> None:
        self.gpu = GpuEnergy()
        self.rapl = RaplCounter.open(powercap_dir)

    def add_sample(self, _row: Mapping[str, Any] | None = None) -> None:
        if self.rapl is not None:
            self.rapl.sample()

    def add_gpu(self, row: Mapping[str, Any]) -> None:
        self.gpu.add(row)

    def summary(self, gpus_used: Iterable[int] | None = None) -> dict[str, Any]:
        """The :data:`SUMMARY_KEYS`; GPUs are those the run used (or ``gpus_used``)."""
        gpu_j, estimated = self.gpu.joules(gpus_used) if self.gpu.sampled else (None, False)
        cpu_j = self.rapl.joules() if self.rapl is not None else None
        return energy_fields(gpu_j, estimated, cpu_j)

    def close(self) -> None:
        if self.rapl is not None:
            self.rapl.close()


def gpu_energy_from_rows(rows: Iterable[Mapping[str, Any]],
                         gpus: Iterable[int] | None = None) -> dict[str, Any]:
    """The summary's energy keys from stored GPU rows alone (CPU unknown): for runs recorded
    before energy was computed, imported runs, or a check of the stored figure."""
    energy = GpuEnergy()
    for row in sorted(rows, key=lambda r: (r["ts"], r["gpu_index"], r.get("mig_index", -1))):
        energy.add(row)
    if not energy.sampled:
        return energy_fields(None, False, None)
    gpu_j, estimated = energy.joules(gpus)
    return energy_fields(gpu_j, estimated, None)


def energy_from_store(store: Any, run_id: str) -> dict[str, Any]:
    """The run's energy: its summary's figures where the agent computed them, else the GPU
    part from its stored GPU samples (for the dashboard, the report and exports)."""
    run = store.find_run(run_id)
    summary = run.get("summary") or {}
    if summary.get("energy_method") is not None or "energy_kwh" in summary:
        return {key: summary.get(key) for key in SUMMARY_KEYS}
    import sqlalchemy as sa  # heavy: only when a stored run lacks its energy

    from xprof import schema

    g = schema.gpu_samples
    columns = (g.c.ts, g.c.gpu_index, g.c.mig_index, g.c.energy_j, g.c.power_w, g.c.used_by_run)
    with store.read() as conn:
        rows = [dict(r) for r in conn.execute(
            sa.select(*columns).where(g.c.run_id == run["id"], g.c.mig_index == -1)
            .order_by(g.c.ts)).mappings()]
    return gpu_energy_from_rows(rows, (run.get("hardware") or {}).get("gpus_used"))


def format_kwh(kwh: float) -> str:
    """``0.0123 kWh``, ``1.25 kWh``: three significant digits."""
    return f"{kwh:.3g} kWh"


def energy_line(summary: Mapping[str, Any] | None) -> str | None:
    """The summary's energy row text, e.g. ``0.0123 kWh measured (GPU 0.0101 · CPU 0.00221)``;
    None when the run's energy is unknown."""
    summary = summary or {}
    total = summary.get("energy_kwh")
    if total is None:
        return None
    parts = [f"{label} {value:.3g}" for label, value in (
        ("GPU", summary.get("energy_gpu_kwh")), ("CPU", summary.get("energy_cpu_kwh")))
        if value is not None]
    method = summary.get("energy_method") or "measured"
    text = f"{format_kwh(total)} {method}"
    if parts:
        text += f" ({' · '.join(parts)})"
    return text
