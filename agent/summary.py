"""The few lines ``xprof run`` prints on stderr when the command ends."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from xprof.agent.energy import energy_line
from xprof.process_facts import failed_text, memory_text
from xprof.units import human_bytes, human_duration

if TYPE_CHECKING:
    from xprof.agent.recorder import Recorder


def _num(value: float | None, fmt: str = ".2f") -> str:
    return "n/a" if value is None else format(value, fmt)


def gpu_lines(summary: dict[str, Any], hardware: dict[str, Any]) -> list[str]:
    """Util p50/p95 and memory peak per used GPU, and GPUs the run never used."""
    gpus = summary.get("gpu") or {}
    if not gpus:
        return []
    used = set(summary.get("gpus_used") or [])
    lines = []
    for index, figures in gpus.items():
        if int(index) not in used:
            continue
        mem = figures.get("run_mem_peak_bytes") or figures.get("mem_peak_bytes")
        total = figures.get("mem_total_bytes")
        util = (f"util p50 {_num(figures.get('util_p50'), '.0f')}% · "
                f"p95 {_num(figures.get('util_p95'), '.0f')}%"
                if figures.get("util_p50") is not None else "util n/a")
        lines.append(f"GPU {index}: {util} · mem peak {human_bytes(mem)}"
                     + (f" of {human_bytes(total)}" if total else ""))
    unused = sorted(int(i) for i in gpus if int(i) not in used)
    if unused:
        lines.append("never used: " + ", ".join(f"GPU {i}" for i in unused)
                     + f" of {hardware.get('gpu_count', len(gpus))} on this machine")
    return lines


def render_summary(agent: Recorder, final: dict[str, Any], extra: list[str], stored: bool,
                   spooled: bool = False) -> str:
    """name, id, status, duration, CPU and memory, GPUs, metrics, cost, advice."""
    summary = final.get("summary") or {}
    status = final["status"]
    exit_part = (f"signal {final['signal']}" if final.get("signal")
                 else f"exit {final['exit_code']}")
    rows = [f"xprof: {getattr(agent, 'name', '?')} ({agent.run_id[:8]}) {status} ({exit_part}) "
            f"in {human_duration(final.get('duration_s'))}"]

    def row(label: str, text: str) -> None:
        rows.append(f"  {label:<8} {text}")

    row("cpu", f"{_num(summary.get('cpu_cores_p50'))} cores p50 · "
               f"{_num(summary.get('cpu_cores_p95'))} p95 · "
               f"{_num(summary.get('cpu_cores_max'))} max")
    row("memory", memory_text(summary))
    failed = failed_text(summary)
    if failed:
        row("warning", failed)
    for line in gpu_lines(summary, final.get("hardware") or {}):
        row("gpu", line)
    energy = energy_line(summary)
    if energy:
        row("energy", energy)
    metrics = agent.stats.metrics
    if metrics:
        objective = agent.opts.objective
        parts = []
        if objective and objective[0] in metrics:
            parts.append(f"{objective[0]} {metrics[objective[0]][0]:g} (objective, {objective[1]})")
        parts += [f"{k} {v:g}" for k, (v, _) in list(metrics.items())[:8]
                  if not objective or k != objective[0]]
        row("metrics", " · ".join(parts))
    if final.get("outcome"):
        expectation = agent.opts.expectation
        row("outcome", f"{final['outcome']}" + (f" ({expectation})" if expectation else "")
            + (f": {agent.opts.hypothesis}" if agent.opts.hypothesis else ""))
        if summary.get("outcome_reason"):
            row("", f"inconclusive: {summary['outcome_reason']}")
    if agent.checks.budget_stopped:
        row("budget", f"stopped: the run reached its budget of {agent.checks.budget_text()}")
    for line in extra:
        label, _, text = line.partition(": ") if line.startswith("advice: ") else ("cost", "", line)
        row(label, text)
    if spooled:
        row("spooled", "part of this run waits in the local spool: upload it with `xprof sync`")
    if stored:
        row("details", f"xprof show {agent.run_id[:8]}")
    else:
        row("store", "not recorded: the store could not be written (see warnings above)")
    return "\n".join(rows)
