"""The end of a recorded run: its final fields, the last flush, the estimate and top advice
(from the catalog only), end-of-run alerts and the summary on stderr."""

from __future__ import annotations

import datetime as dt
import os
import sys
from typing import Any

from xprof.agent.once import WARN
from xprof.agent.recorder import Recorder
from xprof.agent.summary import render_summary
from xprof.terminal import printable


def finish_run(rec: Recorder, status: int, code: int, ended_at: dt.datetime,
               tail: str | None, backoff_s: float) -> bool:
    """Write the end of a run whose threads have stopped; True if it was stored.
    ``status``: a wait status; ``tail``: the output tail (None in-process)."""
    rec.intake.collect_safely()  # the last lines and xprof.log calls, before judging them
    rec.await_context()  # git and environment, even for a run shorter than the first flush
    final = final_fields(rec, status, code, ended_at, tail, rec.checks.final_identity())
    target = rec.flush_final(final, backoff_s)
    written = target is not None
    rec.close_samplers()
    extra: list[str] = []
    if written:
        extra = price_and_advise(rec, rec.writer.store(target))
    else:
        WARN.warn("final", lost_line(rec))
    alerts = rec.checks.alerts
    if alerts is not None:
        estimate = rec.checks.final_estimate
        alerts.on_end(rec.new_run().run, {
            **final, "cost": estimate.amount if estimate else None,
            "currency": estimate.currency if estimate else "USD",
            "metrics": rec.stats.last_metrics()})
    rec.release_host()
    if not rec.opts.quiet:
        print(printable(render_summary(rec, final, extra, stored=written,
                                       spooled=rec.writer.spooled), lines=True),
              file=sys.stderr)
    return written


def lost_line(rec: Recorder) -> str:
    """What of the run is lost when neither the store nor the spool took its end."""
    writer = rec.writer
    reasons = "; ".join(f"{target}: {error}" for target, error in writer.errors.items())
    rows = (f"{len(rec.samples)} samples, {len(rec.gpu_samples)} GPU samples, "
            f"{len(rec.intake.pending)} metrics")
    if writer.created:
        where = " and ".join(sorted(writer.created))
        return (f"run {rec.run_id[:8]} lost its end and its last {rows}: neither the store nor "
                f"the spool could be written ({reasons}); its record in the {where} will show "
                "as crashed")
    return (f"run {rec.run_id[:8]} was not recorded anywhere: neither the store nor the spool "
            f"could be written ({reasons}); lost: the run's record, {rows}")


def final_fields(rec: Recorder, status: int, code: int, ended_at: dt.datetime,
                 tail: str | None, identity: dict[str, Any]) -> dict[str, Any]:
    """The run's and host's fields at the end: status, exit, duration, summary, identity."""
    if os.WIFSIGNALED(status):
        state, signum = "killed", os.WTERMSIG(status)
    elif rec.checks.budget_stopped and code != 0:  # caught the budget's SIGTERM, then exited
        state, signum = "killed", None
    else:
        state, signum = ("finished" if code == 0 else "failed"), None
    hardware = dict(rec.record.hardware or {})
    if rec.gpu is not None:
        try:
            hardware["gpus_used"] = rec.gpus_used()
        except Exception as exc:
            WARN.warn("gpu-used", f"could not read GPUs used: {exc}")
    outcome = reason = None
    summary = rec.stats.summary()
    if rec.opts.expectation is not None:
        outcome = rec.opts.expectation.outcome(rec.stats.last_metrics())
        reason = rec.opts.expectation.reason(rec.stats.last_metrics())
    elif rec.opts.hypothesis:
        outcome, reason = "inconclusive", "no --expect to judge it by"
    if reason:
        summary["outcome_reason"] = reason
    summary.update(_tree_exits(rec))
    return {
        "outcome": outcome,
        "stopped_by": "budget" if rec.checks.budget_stopped else None,
        "status": state,
        "exit_code": code,
        "signal": signum,
        "ended_at": ended_at,
        "duration_s": (ended_at - rec.started_at).total_seconds(),
        "cpu_seconds": rec.stats.cpu_seconds,
        "peak_rss_bytes": rec.stats.rss_peak,
        "summary": summary,
        "hardware": hardware,
        "output_tail": _stored_tail(rec, tail),
        **identity,
    }


def _tree_exits(rec: Recorder) -> dict[str, Any]:
    """The tree's exact per-process peak memory and failed processes (commands redacted)."""
    if rec.tree is None:
        return {}
    try:
        facts = rec.tree.exits_summary()
    except Exception as exc:
        WARN.warn("tree-exits", f"could not read the run's process exits: {exc}")
        return {}
    for failed in facts.get("failed_process_list", []):
        failed["command"] = rec.record.redactor.argv(failed["command"])
    return facts


def _stored_tail(rec: Recorder, tail: str | None) -> str | None:
    """The output tail, secrets scrubbed; a tail cut by the size limit loses its partial
    first line (it may hold the end of a secret)."""
    if tail is None:
        return None
    cut = len(tail.encode("utf-8", "replace")) >= int(rec.settings["tail_bytes"]) - 3
    return rec.record.redactor.tail(tail, cut)


def price_and_advise(rec: Recorder, store: Any) -> list[str]:
    """The run's estimate and top recommendation, from the catalog only."""
    lines: list[str] = []
    try:  # pricing and advice: warmed up while the run goes on, never on the start path
        from xprof.collector.advise import advise_run
        from xprof.collector.estimate import estimate_run
    except ImportError:
        return lines
    try:
        rec.checks.final_estimate = estimate_run(store, rec.run_id, rec.settings)
        lines.append(rec.checks.final_estimate.summary_line())
    except Exception as exc:
        WARN.warn("estimate", f"could not estimate the run's cost: {exc}")
    # advice reads the counts the agent kept (summary.advice_counts, gpu_devices), not the
    # samples: its cost does not grow with the run's length, so it is never skipped
    try:
        recs = advise_run(store, rec.run_id, rec.settings)
        if recs:
            lines.append(f"advice: {recs[0].title}")
    except Exception as exc:
        WARN.warn("advise", f"could not compute recommendations: {exc}")
    return lines
