"""A run's running figures for its summary: kept compactly while it runs (arrays of floats,
peaks), percentiles and energy computed once at the end."""

from __future__ import annotations

import logging
from array import array
from typing import Any

from xprof.agent.energy import EnergyMeter
from xprof.sample_counts import SampleCounts
from xprof.stats import percentile

log = logging.getLogger("xprof.agent")
GPU_BUSY_PCT = 5.0  # a GPU at or under this utilisation is idle (alerts and advice agree)
SHORT_INTERVAL_S = 0.25  # a CPU rate over less time than this is folded into another


class RunStats:
    """Running figures for the summary: kept compactly, percentiles at the end.

    CPU rates over a very short interval are noise (the kernel counts CPU in 10 ms ticks: the
    last sample, taken a few ms after the one before as a run ends, can read 3 cores on a
    2-core machine). An interval under ``min_interval_s`` (half the sampling interval, at
    most :data:`SHORT_INTERVAL_S`) is folded into the previous one, its rate the mean over
    both (into the next one when it is the first), so every rate in the percentiles covers a
    sampling interval or more.
    """

    def __init__(self, interval: float = 1.0) -> None:
        self.min_interval_s = min(interval / 2, SHORT_INTERVAL_S)
        self.cpu_cores = array("d")
        self._cpu_spans = array("d")  # seconds each rate of cpu_cores covers
        self._cpu_ts: float | None = None  # time of the last process-tree reading
        self._short: tuple[float, float] | None = None  # (CPU-s, s) waiting for a next rate
        self._samples = 0
        self.rss_peak: int | None = None
        self.cpu_seconds: float | None = None
        self.gpu_util: dict[int, array] = {}
        self.gpu_run_mem_peak: dict[int, int] = {}
        self.gpu_mem_peak: dict[int, int] = {}
        self.gpu_mem_total: dict[int, int] = {}
        self.gpu_used: set[int] = set()
        self.devices: dict[int, DeviceDigest] = {}  # what advice reads of each GPU
        self.counts = SampleCounts()  # what advice reads of the host and GPU-busy series
        self._tick: dict[str, Any] | None = None  # this tick's host sample, until it is counted
        self._tick_gpus: list[dict[str, Any]] = []  # ... and its whole-device GPU rows
        self._touched: set[int] = set()  # GPUs the run has used so far
        self.energy = EnergyMeter()
        self.gpu_busy_ts: float | None = None  # last time a GPU the run uses was busy
        self.gpu_first_ts: float | None = None
        self.metrics: dict[str, tuple[float, int | None]] = {}

    @property
    def sample_count(self) -> int:
        return self._samples

    def add_sample(self, row: dict[str, Any]) -> None:
        self.energy.add_sample(row)
        self._samples += 1
        self._count_tick()
        self._tick, self._tick_gpus = row, []
        ts = row.get("ts")
        if row.get("cpu_cores") is not None and ts is not None and self._cpu_ts is not None:
            self._add_rate(row["cpu_cores"], ts - self._cpu_ts)
        if row.get("cpu_seconds_total") is not None and ts is not None:
            self._cpu_ts = ts  # the process tree's rates run from its last reading
        if row.get("rss_bytes") is not None:
            self.rss_peak = max(self.rss_peak or 0, row["rss_bytes"])
        if row.get("cpu_seconds_total") is not None:
            self.cpu_seconds = row["cpu_seconds_total"]

    def _add_rate(self, cores: float, span: float) -> None:
        """One CPU rate over ``span`` seconds; a short span folded (see the class doc)."""
        work = cores * span
        if self._short is not None:
            work, span = work + self._short[0], span + self._short[1]
            self._short = None
        if span >= self.min_interval_s:
            self.cpu_cores.append(work / span)
            self._cpu_spans.append(span)
        elif self.cpu_cores:
            total = self._cpu_spans[-1] + span
            self.cpu_cores[-1] = (self.cpu_cores[-1] * self._cpu_spans[-1] + work) / total
            self._cpu_spans[-1] = total
        else:
            self._short = (work, span)

    def add_gpu(self, row: dict[str, Any]) -> None:
        self.energy.add_gpu(row)
        device = self.devices.get(row["gpu_index"])
        if device is None:
            device = self.devices[row["gpu_index"]] = DeviceDigest()
        device.add(row)
        if row.get("mig_index", -1) != -1:
            return
        if self._tick is not None and row.get("ts") == self._tick.get("ts"):
            self._tick_gpus.append(row)
        index = row["gpu_index"]
        if row.get("used_by_run"):
            self.gpu_used.add(index)
            self.gpu_first_ts = self.gpu_first_ts or row["ts"]
            if (row.get("util_gpu_pct") or 0) > GPU_BUSY_PCT:
                self.gpu_busy_ts = row["ts"]
        if row.get("util_gpu_pct") is not None:
            self.gpu_util.setdefault(index, array("d")).append(row["util_gpu_pct"])
        for key, peaks in (("run_mem_used_bytes", self.gpu_run_mem_peak),
                           ("mem_used_bytes", self.gpu_mem_peak)):
            if row.get(key) is not None:
                peaks[index] = max(peaks.get(index, 0), row[key])
        if row.get("mem_total_bytes"):
            self.gpu_mem_total[index] = row["mem_total_bytes"]

    def _count_tick(self) -> None:
        """Count the last tick's host sample with its GPU-busy value (see
        :mod:`xprof.sample_counts`: GPUs touched so far, GPU-idle before the first touch)."""
        row, gpus = self._tick, self._tick_gpus
        if row is None:
            return
        self._tick, self._tick_gpus = None, []
        gpus = [g for g in gpus if not self.devices[g["gpu_index"]].mig]
        self._touched.update(g["gpu_index"] for g in gpus if g.get("used_by_run"))
        touched = [g for g in gpus if g["gpu_index"] in self._touched]
        sm = mem = None
        if touched:
            sm = max((g["util_gpu_pct"] for g in touched if g.get("util_gpu_pct") is not None),
                     default=None)
            mem = max((g["util_mem_pct"] for g in touched if g.get("util_mem_pct") is not None),
                      default=None)
        elif any(g.get("util_gpu_pct") is not None for g in gpus):
            sm = 0.0  # before the run touches a GPU: the GPUs it pays for wait
        self.counts.add(row["ts"], row.get("cpu_cores"), row.get("rss_bytes"),
                        row.get("host_iowait_pct"), row.get("host_mem_available_bytes"), sm, mem)

    def gpu_idle_s(self, now: float) -> float | None:
        """Seconds since a GPU the run uses was last above GPU_BUSY_PCT; None without GPUs."""
        if self.gpu_first_ts is None:
            return None
        return now - (self.gpu_busy_ts or self.gpu_first_ts)

    def last_metrics(self) -> dict[str, float]:
        """The last value of each metric."""
        return {k: v for k, (v, _) in self.metrics.items()}

    def add_metric(self, key: str, value: float, step: int | None) -> None:
        self.metrics[key] = (value, step)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "cpu_cores_p50": percentile(self.cpu_cores, 50),
            "cpu_cores_p95": percentile(self.cpu_cores, 95),
            "cpu_cores_p99_5": percentile(self.cpu_cores, 99.5),
            "cpu_cores_max": max(self.cpu_cores) if self.cpu_cores else None,
            "rss_peak_bytes": self.rss_peak,
            "samples": self.sample_count,
        }
        if self.gpu_util or self.gpu_mem_peak:
            used = sorted(self.gpu_used)
            out["gpus_used"] = used
            out["gpu"] = {
                str(i): {
                    "util_p50": percentile(self.gpu_util.get(i, []), 50),
                    "util_p95": percentile(self.gpu_util.get(i, []), 95),
                    "run_mem_peak_bytes": self.gpu_run_mem_peak.get(i),
                    "mem_peak_bytes": self.gpu_mem_peak.get(i),
                    "mem_total_bytes": self.gpu_mem_total.get(i),
                }
                for i in sorted(set(self.gpu_util) | set(self.gpu_mem_peak))
            }
            util_used = [v for i in used for v in self.gpu_util.get(i, [])]
            out["gpu_util_p50"] = percentile(util_used, 50)
            out["gpu_util_p95"] = percentile(util_used, 95)
        out["gpu_devices"] = {str(i): d.as_json() for i, d in sorted(self.devices.items())}
        self._count_tick()
        out["advice_counts"] = self.counts.as_json()
        try:
            out.update(self.energy.summary())
        except Exception as exc:
            log.warning("could not compute the run's energy: %s", exc)
        return out


class DeviceDigest:
    """One GPU over the run as advice reads it (:class:`GpuDevice` of the rightsizing rules),
    kept as it samples so the run's end need not read its GPU rows back: whole-device
    samples, a histogram of utilisation (NVML gives whole percents, so it is exact), peaks,
    and whether the run used it or it was in MIG mode."""

    __slots__ = ("mem_total", "mem_used_max", "mig", "run_mem_max", "samples", "used",
                 "util_counts")

    def __init__(self) -> None:
        self.samples = 0
        self.util_counts: dict[float, int] = {}
        self.mem_used_max: int | None = None
        self.mem_total: int | None = None
        self.run_mem_max: int | None = None
        self.used = False
        self.mig = False

    def add(self, row: dict[str, Any]) -> None:
        self.used = self.used or bool(row.get("used_by_run"))
        if row.get("mig_index", -1) != -1:
            self.mig = True
            return
        self.samples += 1
        util = row.get("util_gpu_pct")
        if util is not None:
            self.util_counts[util] = self.util_counts.get(util, 0) + 1
        self.mem_used_max = _peak(self.mem_used_max, row.get("mem_used_bytes"))
        self.mem_total = _peak(self.mem_total, row.get("mem_total_bytes"))
        if row.get("used_by_run"):
            self.run_mem_max = _peak(self.run_mem_max, row.get("run_mem_used_bytes"))

    def as_json(self) -> dict[str, Any]:
        return {"samples": self.samples, "util_counts": sorted(self.util_counts.items()),
                "mem_used_max_bytes": self.mem_used_max, "mem_total_bytes": self.mem_total,
                "run_mem_max_bytes": self.run_mem_max, "used_by_run": self.used,
                "mig": self.mig}


def _peak(peak: int | None, value: int | None) -> int | None:
    return peak if value is None else value if peak is None else max(peak, value)
