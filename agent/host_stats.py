"""The host around the run: CPU busy and iowait since the last sample, memory; and what the
machine is (CPU model, cores, memory).

Linux: /proc/stat and /proc/meminfo, re-read through descriptors held open. Elsewhere: psutil.
A figure that cannot be read is None; ``sample()`` never raises.
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import subprocess
import sys

from xprof.records import HostSample

log = logging.getLogger("xprof.agent")

# ARM cores that /proc/cpuinfo names only by part number: (implementer, part) -> name.
_ARM_PARTS = {
    ("0x41", "0xd0c"): "ARM Neoverse-N1",
    ("0x41", "0xd40"): "ARM Neoverse-V1",
    ("0x41", "0xd49"): "ARM Neoverse-N2",
    ("0x41", "0xd4f"): "ARM Neoverse-V2",
    ("0x41", "0xd84"): "ARM Neoverse-V3",
    ("0x41", "0xd0b"): "ARM Cortex-A76",
    ("0x41", "0xd08"): "ARM Cortex-A72",
}


def _cpu_times(stat: bytes) -> tuple[int, int, int]:
    """(total, idle, iowait) jiffies from the first line of /proc/stat."""
    fields = [int(v) for v in stat[: stat.index(b"\n")].split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    # guest time is already inside user and nice
    return user + nice + system + idle + iowait + irq + softirq + steal, idle, iowait


def _meminfo(data: bytes) -> tuple[int, int]:
    """(total, available) bytes from /proc/meminfo."""
    total = available = None
    for line in data.splitlines():
        if line.startswith(b"MemTotal:"):
            total = int(line.split()[1]) * 1024
        elif line.startswith(b"MemAvailable:"):
            available = int(line.split()[1]) * 1024
            break
    if total is None or available is None:
        raise ValueError("no MemTotal/MemAvailable in /proc/meminfo")
    return total, available


class HostStats:
    """Host CPU and memory; the first ``sample()`` covers the time since construction.
    ``procfs=False`` reads through psutil even on Linux."""

    def __init__(self, *, procfs: bool = True) -> None:
        self._logged: set[str] = set()
        self._fds: dict[str, int] = {}
        if procfs and sys.platform.startswith("linux"):
            for name in ("stat", "meminfo"):
                with contextlib.suppress(OSError):
                    self._fds[name] = os.open(f"/proc/{name}", os.O_RDONLY | os.O_CLOEXEC)
        self._last_cpu: tuple[int, int, int] | None = None
        self._last_cpu = self._read_cpu()

    name = "host"  # the Sampler interface: what a failure warning names

    def sample(self, ts: float, pids: frozenset[int] = frozenset()) -> list[HostSample]:
        """The Sampler interface: ``[measure(ts)]``."""
        return [self.measure(ts)]

    @staticmethod
    def hardware() -> dict:
        """The Sampler interface: :func:`host_hardware`."""
        return host_hardware()

    def measure(self, ts: float) -> HostSample:
        """Host CPU since the last call, and memory now."""
        out: dict = {}
        try:
            now = self._read_cpu()
            last, self._last_cpu = self._last_cpu, now
            if now is not None and last is not None and now[0] > last[0]:
                dt = now[0] - last[0]
                idle = now[1] - last[1]
                iowait = now[2] - last[2]
                out["host_cpu_pct"] = min(100.0, max(0.0, 100.0 * (dt - idle - iowait) / dt))
                out["host_iowait_pct"] = min(100.0, max(0.0, 100.0 * iowait / dt))
        except Exception as exc:
            self._log_once("cpu", "cannot read host CPU: %r", exc)
        try:
            total, available = self._read_memory()
            out["host_mem_used_bytes"] = total - available
            out["host_mem_available_bytes"] = available
        except Exception as exc:
            self._log_once("memory", "cannot read host memory: %r", exc)
        return HostSample(ts=ts, **out)

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()

    def _read_cpu(self) -> tuple[int, int, int] | None:
        fd = self._fds.get("stat")
        if fd is not None:
            try:
                return _cpu_times(os.pread(fd, 4096, 0))
            except (OSError, ValueError) as exc:
                self._log_once("proc-stat", "cannot read /proc/stat: %r; using psutil", exc)
        try:
            import psutil  # fallback off Linux: kept off the start path

            t = psutil.cpu_times()
            idle = getattr(t, "idle", 0.0)
            iowait = getattr(t, "iowait", 0.0)
            # psutil's fields overlap (guest inside user); sum the disjoint ones, in 1/100 s
            parts = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
            total = sum(getattr(t, name, 0.0) for name in parts)
            return round(total * 100), round(idle * 100), round(iowait * 100)
        except Exception as exc:
            self._log_once("psutil-cpu", "cannot read host CPU times: %r", exc)
            return None

    def _read_memory(self) -> tuple[int, int]:
        fd = self._fds.get("meminfo")
        if fd is not None:
            try:
                return _meminfo(os.pread(fd, 8192, 0))
            except (OSError, ValueError) as exc:
                self._log_once("meminfo", "cannot read /proc/meminfo: %r; using psutil", exc)
        import psutil  # fallback off Linux: kept off the start path

        vm = psutil.virtual_memory()
        return vm.total, vm.available

    def _log_once(self, kind: str, message: str, *args: object) -> None:
        if kind not in self._logged:
            self._logged.add(kind)
            log.warning(message, *args)


def host_hardware() -> dict:
    """{"cpu_model", "cpu_count", "memory_bytes"} of this machine; None where unknown."""
    return {"cpu_model": cpu_model(), "cpu_count": os.cpu_count(), "memory_bytes": _memory_total()}


def cpu_model() -> str | None:
    """The CPU's marketing name, e.g. "AMD EPYC 7R13 Processor"."""
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
                text = fh.read()
        except OSError:
            text = ""
        info: dict[str, str] = {}
        for line in text.splitlines():
            key, sep, value = line.partition(":")
            key = key.strip()
            if sep and key not in info:
                info[key] = value.strip()
        for key in ("model name", "Model Name", "cpu model", "Hardware", "cpu"):
            if info.get(key):
                return info[key]
        arm = _ARM_PARTS.get((info.get("CPU implementer", ""), info.get("CPU part", "")))
        if arm:
            return arm
    elif sys.platform == "darwin":
        try:
            out = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True,
                                 text=True, timeout=2, check=False).stdout.strip()
            if out:
                return out
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or platform.machine() or None


def _memory_total() -> int | None:
    try:
        with open("/proc/meminfo", "rb") as fh:
            return _meminfo(fh.read())[0]
    except (OSError, ValueError):
        pass
    try:
        import psutil  # fallback off Linux: kept off the start path

        return psutil.virtual_memory().total
    except Exception:
        return None
