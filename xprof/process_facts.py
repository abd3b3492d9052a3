"""How a run's process-tree facts read, in the summary, ``xprof show`` and the dashboard: its
peak memory (the exact per-process high-water mark beside the tree's sampled peak) and the
processes of its tree that failed."""

from __future__ import annotations

from typing import Any

from xprof.units import human_bytes


def memory_text(summary: dict[str, Any]) -> str:
    """``peak 1.2 GiB in one process (exact) · 1.4 GiB whole tree (sampled)``."""
    exact = summary.get("rss_peak_process_bytes")
    tree = f"{human_bytes(summary.get('rss_peak_bytes'))} whole tree (sampled)"
    return f"peak {human_bytes(exact)} in one process (exact) · {tree}" if exact \
        else f"peak RSS {tree}"


def ended_text(failed: dict[str, Any]) -> str:
    """How a failed process ended: ``exit 1``, ``signal 9``."""
    return (f"signal {failed['signal']}" if failed.get("signal")
            else f"exit {failed.get('exit_code')}")


def failed_text(summary: dict[str, Any], shown: int = 3) -> str | None:
    """``2 processes of the run failed: pid 41 exit 1 (python -c …), …``; None when none."""
    count = summary.get("failed_processes") or 0
    if not count:
        return None
    parts = []
    for failed in (summary.get("failed_process_list") or [])[:shown]:
        how = ended_text(failed)
        command = " ".join(failed.get("command") or [])
        command = command if len(command) <= 60 else command[:59] + "…"
        parts.append(f"pid {failed.get('pid')} {how}" + (f" ({command})" if command else ""))
    more = f"; {count - len(parts)} more" if count > len(parts) else ""
    noun = "process" if count == 1 else "processes"
    return f"{count} {noun} of the run failed: " + "; ".join(parts) + more


def failed_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The recorded failed processes as table rows: pid, how it ended, command."""
    return [{"pid": f.get("pid"),
             "ended": ended_text(f),
             "command": " ".join(f.get("command") or [])}
            for f in summary.get("failed_process_list") or []]
