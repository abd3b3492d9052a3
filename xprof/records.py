"""Records that cross module borders, each declared once.

Samplers return these (:class:`TreeSample`, :class:`HostSample`, :class:`GpuSample`); the
agent joins a tree and a host record of one time into a :class:`Sample` (one row of the
``samples`` table); the writer turns records into rows (:func:`as_row`) in one place. The
schema's time-series tables are derived from the field tables below (``SAMPLE_FIELDS``,
``GPU_FIELDS``), so a new metric is one line here (and one field in its record).
Units are in the names. A value that could not be read is ``None`` (NULL), never 0.

Standard library only: this module is on the agent's import path.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import NamedTuple


class Field(NamedTuple):
    """A metric column: name (with unit), SQL kind ("float" | "int" | "bool" | "str"), doc."""

    name: str
    kind: str
    doc: str


# Process tree and host, one row per (run, host, ts).
SAMPLE_FIELDS: tuple[Field, ...] = (
    Field("cpu_cores", "float", "CPU used by the process tree since the last sample, in cores"),
    Field("cpu_seconds_total", "float", "CPU seconds of the tree since start, exited included"),
    Field("rss_bytes", "int", "resident memory of the tree, summed over processes"),
    Field("threads", "int", "threads in the tree"),
    Field("processes", "int", "processes in the tree"),
    Field("read_bytes_total", "int", "bytes the tree's live processes read from storage"),
    Field("write_bytes_total", "int", "bytes the tree's live processes wrote to storage"),
    Field("host_cpu_pct", "float", "host CPU busy, percent of all cores"),
    Field("host_iowait_pct", "float", "host CPU in iowait, percent of all cores"),
    Field("host_mem_used_bytes", "int", "host memory in use (total - available)"),
    Field("host_mem_available_bytes", "int", "host memory available"),
)

# One row per (run, host, ts, gpu_index, mig_index); mig_index -1 is the whole device.
GPU_FIELDS: tuple[Field, ...] = (
    Field("uuid", "str", "NVML UUID of the device or MIG instance"),
    Field("util_gpu_pct", "float", "GPU (SM) utilisation, percent; NULL under MIG"),
    Field("util_mem_pct", "float", "memory-controller utilisation, percent; NULL under MIG"),
    Field("mem_used_bytes", "int", "device memory used by all processes"),
    Field("mem_total_bytes", "int", "device memory total"),
    Field("power_w", "float", "power draw, watts"),
    Field("power_limit_w", "float", "enforced power limit, watts"),
    Field("temperature_c", "float", "GPU temperature, Celsius"),
    Field("sm_clock_mhz", "float", "SM clock, MHz"),
    Field("energy_j", "float", "total energy counter since driver load, joules"),
    Field("run_mem_used_bytes", "int", "device memory used by the run's own processes"),
    Field("run_sm_util_pct", "float", "SM utilisation of the run's own processes, percent"),
    Field("used_by_run", "bool", "the run's processes use this device"),
    Field("attribution", "str", "how use was attributed: pid, visible-devices or none"),
)


@dataclass(frozen=True, slots=True)
class TreeSample:
    """The run's process tree at one time: what the process-tree sampler returns."""

    ts: float
    cpu_cores: float | None = None
    cpu_seconds_total: float | None = None
    rss_bytes: int | None = None
    threads: int | None = None
    processes: int | None = None
    read_bytes_total: int | None = None
    write_bytes_total: int | None = None


@dataclass(frozen=True, slots=True)
class HostSample:
    """The host around the run at one time: what the host sampler returns."""

    ts: float
    host_cpu_pct: float | None = None
    host_iowait_pct: float | None = None
    host_mem_used_bytes: int | None = None
    host_mem_available_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class Sample:
    """One process-tree + host sample: one row of the ``samples`` table."""

    ts: float
    cpu_cores: float | None = None
    cpu_seconds_total: float | None = None
    rss_bytes: int | None = None
    threads: int | None = None
    processes: int | None = None
    read_bytes_total: int | None = None
    write_bytes_total: int | None = None
    host_cpu_pct: float | None = None
    host_iowait_pct: float | None = None
    host_mem_used_bytes: int | None = None
    host_mem_available_bytes: int | None = None

    @classmethod
    def join(cls, ts: float, tree: TreeSample | None, host: HostSample | None) -> Sample:
        """The row of ``ts`` from the tree and host records (a missing one: NULLs)."""
        values: list = [ts]
        for kind, part in ((TreeSample, tree), (HostSample, host)):
            names = field_names(kind)[1:]
            values += [getattr(part, n) for n in names] if part is not None else [None] * len(names)
        return cls(*values)


@dataclass(frozen=True, slots=True)
class GpuSample:
    """One device (or MIG instance) at one time."""

    ts: float
    gpu_index: int
    mig_index: int = -1
    uuid: str | None = None
    util_gpu_pct: float | None = None
    util_mem_pct: float | None = None
    mem_used_bytes: int | None = None
    mem_total_bytes: int | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    temperature_c: float | None = None
    sm_clock_mhz: float | None = None
    energy_j: float | None = None
    run_mem_used_bytes: int | None = None
    run_sm_util_pct: float | None = None
    used_by_run: bool | None = None
    attribution: str | None = None


@dataclass(frozen=True, slots=True)
class Metric:
    """A value the training script logged."""

    seq: int
    key: str
    value: float
    ts: float
    step: int | None = None
    source: str = "log"  # log | stdout | file


Record = TreeSample | HostSample | Sample | GpuSample | Metric


_NAMES: dict[type, tuple[str, ...]] = {}  # field names per record type (fields() is slow)


def field_names(kind: type) -> tuple[str, ...]:
    """The field names of a record type, in order."""
    names = _NAMES.get(kind)
    if names is None:
        names = _NAMES[kind] = tuple(f.name for f in fields(kind))
    return names


def as_row(record: Record) -> dict:
    """The record as a dict of column values."""
    return {name: getattr(record, name) for name in field_names(type(record))}


assert [f.name for f in SAMPLE_FIELDS] == [f.name for f in fields(Sample)][1:]
assert [f.name for f in fields(Sample)] == [
    f.name for f in fields(TreeSample) + fields(HostSample)[1:]]
assert [f.name for f in GPU_FIELDS] == [f.name for f in fields(GpuSample)][3:]
