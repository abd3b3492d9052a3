"""Rightsizing advice: load a run's evidence, run the rules, store the recommendations.

``advise_run`` is what the agent calls when a run ends and what ``xprof advise`` and
``xprof collect`` call for each run; ``advise_abandoned`` looks at billed idle cost instead of
runs. Catalog and store only: no pandas, no cloud SDK. The rules themselves, their thresholds
and the saving formulas are in :mod:`xprof.collector.rightsizing`.

Stored recommendations are unique per (run, rule). Computing again updates the row in place
and keeps a ``dismissed`` or ``done`` status; an ``open`` one whose rule no longer fires is
deleted. Abandoned-spend advice has no run: it is unique per (resource, rule).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from xprof import schema
from xprof.collector import catalog
from xprof.collector.billing.normalise import resource_key
from xprof.collector.estimate import compute_estimate
from xprof.collector.gc import SERIES
from xprof.collector.gpu_names import normalise_gpu
from xprof.collector.hardware import cpu_arch, cpu_arch_of_model
from xprof.collector.peers import comparable_runs
from xprof.collector.rightsizing.evidence import (
    Baseline,
    GpuDevice,
    IdleSpend,
    Limits,
    Recommendation,
    RunEvidence,
)
from xprof.collector.rightsizing.gpu_rules import device_idle
from xprof.collector.rightsizing.rules import (
    RUN_RULES,
    abandoned_spend,
    evaluate,
    sort_recommendations,
)
from xprof.collector.rightsizing.savings import cost_for
from xprof.collector.sample_counts_sql import sample_counts_sql
from xprof.collector.writes import upsert_resource_recommendations, upsert_run_recommendations
from xprof.money import format_money
from xprof.sample_counts import SampleCounts
from xprof.settings import Settings
from xprof.store import Store, effective_status, utcnow

__all__ = ["RUN_RULES", "AdviceResult", "Recommendation", "advise_abandoned", "advise_run",
           "advise_runs", "limits_from", "load_evidence", "runs_to_advise"]

ADVICE_WINDOW = dt.timedelta(days=30)
"""Without a run or project named, advice covers the runs started in the last 30 days."""

CADENCE_WINDOW = dt.timedelta(days=30)
"""Runs per month = the project's runs started in this window up to its latest run."""


def limits_from(settings: Settings) -> Limits:
    """The ``advise.*`` settings as rule limits."""
    return Limits(min_duration_s=float(settings["advise.min_duration_s"]),
                  preliminary_s=float(settings["advise.preliminary_s"]),
                  min_samples=int(settings["advise.min_samples"]),
                  idle_tail_s=float(settings["advise.idle_tail_s"]))


# -- entry points ------------------------------------------------------------------------------
def advise_run(store: Store, run_id: str, settings: Settings | None = None
               ) -> list[Recommendation]:
    """Compute, store (upsert by (run_id, rule), keeping a dismissed/done status), and return
    the run's recommendations, highest saving first. A run still running gets none and
    nothing is stored."""
    settings = settings if settings is not None else Settings()
    limits = limits_from(settings)
    run = store.find_run(run_id)
    duration = _duration(run)
    if duration is None:
        return []
    if duration < min(limits.preliminary_s, limits.min_duration_s):  # no reads, no writes
        return save_run_recommendations(store, run, [])
    if (kept := kept_advice(store, run_id)) is not None:  # `xprof gc` folded its samples
        return kept
    evidence = load_evidence(store, run, settings)
    if evidence is None:
        return []
    return save_run_recommendations(store, run, evaluate(evidence, limits))


@dataclass
class AdviceResult:
    """What one ``advise_runs`` call did."""

    advised: dict[str, list[Recommendation]] = field(default_factory=dict)
    abandoned: list[Recommendation] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def recommendations(self) -> list[Recommendation]:
        return [rec for recs in self.advised.values() for rec in recs] + self.abandoned

    def saving_per_month(self) -> dict[str, Decimal]:
        """Open advice's monthly savings by currency (they overlap within a run: this sums
        each run's largest one only, plus abandoned spend)."""
        total: dict[str, Decimal] = {}
        for recs in [*self.advised.values(), *([r] for r in self.abandoned)]:
            best = max((r for r in recs if r.status == "open" and r.saving_per_month
                        and r.currency), key=lambda r: r.saving_per_month or 0, default=None)
            if best is not None and best.currency and best.saving_per_month:
                total[best.currency] = total.get(best.currency, Decimal(0)) \
                    + best.saving_per_month
        return total

    def summary_line(self) -> str:
        count = len(self.recommendations)
        money = " + ".join(format_money(v, c) for c, v in sorted(self.saving_per_month().items()))
        line = f"advice: {count} recommendation(s) for {len(self.advised)} run(s)"
        if self.abandoned:
            line += f" and {len(self.abandoned)} abandoned resource(s)"
        if money:
            line += f", up to {money} a month to save"
        if self.errors:
            line += f", {len(self.errors)} failed"
        return line


def advise_runs(store: Store, run_ids: Iterable[str], settings: Settings | None = None, *,
                abandoned: bool = True) -> AdviceResult:
    """Advise each run (one failing run is named in ``errors``, the others go on), and, with
    ``abandoned``, billed idle resources no run used."""
    settings = settings if settings is not None else Settings()
    result = AdviceResult()
    for run_id in run_ids:
        try:
            result.advised[run_id] = advise_run(store, run_id, settings)
        except Exception as exc:  # one bad run must not stop the others
            result.errors.append(f"run {run_id[:8]}: {type(exc).__name__}: {exc}")
    if abandoned:
        try:
            result.abandoned = advise_abandoned(store)
        except Exception as exc:
            result.errors.append(f"abandoned spend: {type(exc).__name__}: {exc}")
    return result


def runs_to_advise(store: Store, *, project: str | None = None,
                   since: dt.datetime | None = None) -> list[str]:
    """Ids of ended runs (crashed included), oldest first, of a project and/or since a time."""
    r = schema.runs
    query = sa.select(r.c.id, r.c.status, r.c.heartbeat_at, r.c.flush_interval_s,
                      r.c.ended_at).order_by(r.c.started_at)
    if project:
        query = query.where(r.c.project == project)
    if since:
        query = query.where(r.c.started_at >= since)
    with store.read() as conn:
        rows = conn.execute(query).all()
    now = utcnow()
    return [row.id for row in rows if row.ended_at is not None or effective_status(
        row.status, row.heartbeat_at, row.flush_interval_s, now) == "crashed"]


# -- evidence ----------------------------------------------------------------------------------
def _duration(run: dict[str, Any]) -> float | None:
    if run.get("duration_s") is not None:
        return float(run["duration_s"])
    if run.get("ended_at") is not None:
        return (run["ended_at"] - run["started_at"]).total_seconds()
    if run.get("status") == "crashed" and run.get("heartbeat_at") is not None:
        return max(0.0, (run["heartbeat_at"] - run["started_at"]).total_seconds())
    return None


def _host_summary(store: Store, run: dict[str, Any]) -> dict[str, Any]:
    """The run's host summary as its agent left it at the run's end ({} before then)."""
    h = schema.run_hosts
    with store.read() as conn:
        summary = conn.execute(sa.select(h.c.summary).where(
            h.c.run_id == run["id"], h.c.host == run["host"])).scalar()
    return summary if isinstance(summary, dict) else {}


def _sample_counts(store: Store, run: dict[str, Any], summary: dict[str, Any]) -> SampleCounts:
    """The host samples counted as advice reads them: as the agent kept them while sampling
    (``summary.advice_counts``), else grouped in SQL from the rows (same buckets). The peak
    RSS is at least the exact peak of the run's largest process (``rss_peak_process_bytes``,
    the kernel's high-water mark), which a peak between two samples leaves above the
    sampled tree's."""
    kept = SampleCounts.from_json(summary.get("advice_counts"))
    counts = kept if kept is not None else sample_counts_sql(store, run)
    exact = summary.get("rss_peak_process_bytes")
    if isinstance(exact, int) and exact > (counts.rss_max or 0):
        counts.rss_max = exact
    return counts


def _gpu_devices(store: Store, run: dict[str, Any], summary: dict[str, Any]
                 ) -> dict[int, GpuDevice]:
    """Each sampled GPU: as the agent summarised it while sampling (the host's
    ``summary.gpu_devices``, so the run's end reads no GPU row back), else in SQL."""
    kept = _kept_gpu_devices(summary)
    return kept if kept is not None else _gpu_devices_sql(store, run)


def _kept_gpu_devices(summary: dict[str, Any]) -> dict[int, GpuDevice] | None:
    """The devices the agent kept in the run's host summary (None: an agent that kept none,
    or a run that never wrote its end there)."""
    kept = summary.get("gpu_devices")
    if not isinstance(kept, dict):
        return None
    return {int(index): GpuDevice(
        index=int(index), samples=d["samples"],
        util_counts={float(v): int(n) for v, n in d["util_counts"]},
        util_max=max((float(v) for v, _ in d["util_counts"]), default=None),
        mem_used_max=d["mem_used_max_bytes"], mem_total=d["mem_total_bytes"],
        run_mem_max=d["run_mem_max_bytes"], used_by_run=bool(d["used_by_run"]),
        mig=bool(d["mig"])) for index, d in kept.items()}


def _gpu_devices_sql(store: Store, run: dict[str, Any]) -> dict[int, GpuDevice]:
    """Each sampled GPU summarised in SQL (a long run has millions of GPU rows)."""
    g = schema.gpu_samples
    whole = g.c.mig_index == -1
    mine = sa.and_(g.c.run_id == run["id"], g.c.host == run["host"])

    def of_whole(column: Any) -> Any:
        return sa.case((whole, column))

    summary = (sa.select(
        g.c.gpu_index, sa.func.count(of_whole(g.c.ts)), sa.func.max(of_whole(g.c.util_gpu_pct)),
        sa.func.max(of_whole(g.c.mem_used_bytes)), sa.func.max(of_whole(g.c.mem_total_bytes)),
        sa.func.max(sa.case((sa.and_(whole, g.c.used_by_run), g.c.run_mem_used_bytes))),
        sa.func.max(sa.case((g.c.used_by_run, 1), else_=0)),
        sa.func.max(sa.case((g.c.mig_index >= 0, 1), else_=0)))
        .where(mine).group_by(g.c.gpu_index))
    histogram = (sa.select(g.c.gpu_index, g.c.util_gpu_pct, sa.func.count())
                 .where(mine, whole, g.c.util_gpu_pct.is_not(None))
                 .group_by(g.c.gpu_index, g.c.util_gpu_pct))
    with store.read() as conn:
        rows = conn.execute(summary).all()
        counts: dict[int, dict[float, int]] = {}
        for index, util, count in conn.execute(histogram).all():
            counts.setdefault(index, {})[util] = count
    return {index: GpuDevice(index=index, samples=samples or 0,
                             util_counts=counts.get(index, {}), util_max=util_max,
                             mem_used_max=mem_max, mem_total=total, run_mem_max=own_max,
                             used_by_run=bool(used), mig=bool(mig))
            for index, samples, util_max, mem_max, total, own_max, used, mig in rows}


def _runs_per_month(store: Store, project: str) -> int:
    r = schema.runs
    with store.read() as conn:
        latest = conn.execute(sa.select(sa.func.max(r.c.started_at))
                              .where(r.c.project == project)).scalar()
        if latest is None:
            return 1
        count = conn.execute(sa.select(sa.func.count()).select_from(r).where(
            r.c.project == project, r.c.started_at > latest - CADENCE_WINDOW)).scalar()
    return max(1, int(count or 0))


def _overlapping_runs(store: Store, run: dict[str, Any], start: dt.datetime,
                      end: dt.datetime) -> int:
    """Other runs on the same machine (instance id, else host) whose time overlaps."""
    r = schema.runs
    same = (r.c.instance_id == run["instance_id"]) if run.get("instance_id") \
        else (r.c.host == run["host"])
    query = sa.select(sa.func.count()).select_from(r).where(
        r.c.id != run["id"], same, r.c.started_at < end,
        sa.func.coalesce(r.c.ended_at, r.c.heartbeat_at) > start)
    with store.read() as conn:
        return int(conn.execute(query).scalar() or 0)


def _foreign_gpu_use(gpus: dict[int, GpuDevice], used: set[int]) -> bool:
    """Whether a GPU the run never used was busy with something else."""
    return any(not device_idle(device) for index, device in gpus.items() if index not in used)


def load_evidence(store: Store, run: dict[str, Any], settings: Settings) -> RunEvidence | None:
    """Everything the rules read about a run (None while it has not ended)."""
    duration = _duration(run)
    if duration is None:
        return None
    start = run["started_at"]
    end = start + dt.timedelta(seconds=duration)
    hardware = run.get("hardware") or {}
    summary = _host_summary(store, run)
    gpus = _gpu_devices(store, run, summary)
    used = {i for i, d in gpus.items() if d.used_by_run} | set(hardware.get("gpus_used") or [])

    estimate = compute_estimate(store, run, settings)
    current = estimate.price
    shared = _overlapping_runs(store, run, start, end) > 0 or _foreign_gpu_use(gpus, used)
    return RunEvidence(
        run_id=run["id"], instance_type=run.get("instance_type"), duration_s=duration,
        end_ts=end.timestamp(), interval_s=float(run.get("interval_s") or 1.0),
        **_machine(current, hardware, off_cloud=not run.get("instance_type")),
        current_name=_current_name(run, estimate), gpus=gpus,
        counts=_sample_counts(store, run, summary), used_gpus=frozenset(used), current=current,
        offers=_offers(store, run, estimate, settings),
        baseline=_baseline(store, run, estimate, duration, shared),
        shared=shared, runs_per_month=_runs_per_month(store, run["project"]),
        cpu_arch=_cpu_arch(run, hardware),
        allow_arch_change=bool(settings["advise.allow_arch_change"]),
        peers=comparable_runs(store, run) if used else ())


def _cpu_arch(run: dict[str, Any], hardware: dict[str, Any]) -> str | None:
    """The run's CPU architecture: its cloud instance type's, else its CPU model's."""
    return cpu_arch(run.get("cloud_provider"), run.get("instance_type")) \
        or cpu_arch_of_model(hardware.get("cpu_model"))


def _offers(store: Store, run: dict[str, Any], estimate: Any, settings: Settings
            ) -> tuple[catalog.Price, ...]:
    """The catalog rows of the region the run was priced in (where it could have run)."""
    current = estimate.price
    if current is not None:
        provider, region = current.provider, current.region
    elif estimate.method == "configured-rate":
        provider, region = settings["offcloud_provider"], settings["offcloud_region"]
    else:
        provider, region = run.get("cloud_provider"), run.get("cloud_region")
    return catalog.offers_in(store, provider, region) if provider and region else ()


def _machine(current: catalog.Price | None, hardware: dict[str, Any], off_cloud: bool
             ) -> dict[str, Any]:
    """vCPUs, memory and GPU of the run's machine: the catalog row's, else the sampled ones
    (off-cloud, the sampled ones first: the catalog row is only its priced equivalent)."""
    gpu = normalise_gpu(hardware.get("gpu_model"), hardware.get("gpu_memory_bytes"))
    memory_bytes = hardware.get("memory_bytes")
    sampled = {"vcpus": hardware.get("cpu_count"),
               "memory_gib": memory_bytes / 2**30 if memory_bytes else None,
               "gpu_model": gpu.model if gpu is not None and gpu.known else None,
               "gpu_memory_gib": gpu.memory_gib if gpu is not None else None}
    catalog_row = {"vcpus": current.vcpus, "memory_gib": current.memory_gib,
                   "gpu_model": current.gpu_model if current.gpus else None,
                   "gpu_memory_gib": current.gpu_memory_gib if current.gpus else None} \
        if current is not None else {}
    first, then = (sampled, catalog_row) if off_cloud else (catalog_row, sampled)
    gpu_source = first if first.get("gpu_model") else then
    return {"vcpus": first.get("vcpus") or then.get("vcpus"),
            "memory_gib": first.get("memory_gib") or then.get("memory_gib"),
            "gpu_model": gpu_source.get("gpu_model"),
            "gpu_memory_gib": gpu_source.get("gpu_memory_gib")}


def _current_name(run: dict[str, Any], estimate: Any) -> str | None:
    """The run's instance type; off-cloud, the instance it is priced as (and its share)."""
    if run.get("instance_type"):
        return run["instance_type"]
    equivalent = getattr(estimate, "equivalent", None)
    if equivalent is not None and equivalent.scaled:
        return f"{equivalent.price.instance_type} × {equivalent.fraction}"
    return estimate.price.instance_type if estimate.price is not None else None


def _baseline(store: Store, run: dict[str, Any], estimate: Any, duration: float,
              shared: bool) -> Baseline | None:
    """What the run was charged: billed if billing arrived, else the estimate; the whole
    machine's price when it was alone on it (share undone), else its share."""
    share = float(estimate.share)
    cost = store.run_costs([run["id"]]).get(run["id"])
    if cost and cost["source"] == "billed" and cost["amount"] is not None:
        amount = cost["amount"] if shared or share >= 1 else \
            (cost["amount"] / estimate.share.numerator * estimate.share.denominator)
        return Baseline(amount=Decimal(amount).quantize(Decimal("1e-9")).normalize(),
                        currency=cost["currency"], source="billed",
                        lifecycle=estimate.lifecycle, share=share if shared else 1.0)
    if estimate.amount is None or estimate.rate is None:
        return None
    if shared:
        return Baseline(amount=estimate.amount, currency=estimate.currency, source="estimate",
                        lifecycle=estimate.lifecycle, share=share)
    return Baseline(amount=cost_for(estimate.rate, duration), currency=estimate.currency,
                    source="estimate", lifecycle=estimate.lifecycle, share=1.0)


def _run_resource_keys(store: Store) -> set[str]:
    """Every resource a run ever used, keyed as billing allocation matches them (an EC2 ARN
    as its instance id, Azure ids lowercased), from ``instance_id`` and ``cloud.resource_id``."""
    r = schema.runs
    keys: set[str] = set()
    with store.read() as conn:
        for instance_id, cloud in conn.execute(sa.select(r.c.instance_id, r.c.cloud).where(
                sa.or_(r.c.instance_id.is_not(None), r.c.cloud.is_not(None)))):
            resource = cloud.get("resource_id") if isinstance(cloud, dict) else None
            keys.update(k for k in (resource_key(instance_id), resource_key(resource)) if k)
    return keys


def load_idle_spend(store: Store) -> list[IdleSpend]:
    """Billed idle cost (``costs`` kind idle, basis billed) of resources no run ever used."""
    c = schema.costs
    query = (sa.select(c.c.resource_id, c.c.currency, c.c.amount, c.c.period_start,
                       c.c.period_end)
             .where(c.c.kind == "idle", c.c.basis == "billed", c.c.resource_id.is_not(None),
                    c.c.amount.is_not(None))
             .order_by(c.c.resource_id, c.c.period_start))
    used = _run_resource_keys(store)
    by_key: dict[tuple[str, str], list[Any]] = {}
    with store.read() as conn:
        for row in conn.execute(query):
            if row.resource_id not in used:
                by_key.setdefault((row.resource_id, row.currency), []).append(row)
    out = []
    for (resource, currency), rows in by_key.items():
        out.append(IdleSpend(
            resource_id=resource, currency=currency,
            amount=sum((row.amount for row in rows), Decimal(0)),
            hours=sum((row.period_end - row.period_start).total_seconds() for row in rows) / 3600,
            first_start_ts=min(row.period_start for row in rows).timestamp(),
            last_end_ts=max(row.period_end for row in rows).timestamp()))
    return out


# -- storing -----------------------------------------------------------------------------------
def _values(rec: Recommendation) -> dict[str, Any]:
    return {"severity": rec.severity, "title": rec.title, "evidence": rec.evidence,
            "current_instance": rec.current_instance,
            "suggested_instance": rec.suggested_instance,
            "saving_per_run": rec.saving_per_run, "saving_per_month": rec.saving_per_month,
            "currency": rec.currency}


def save_run_recommendations(store: Store, run: dict[str, Any],
                             recs: Sequence[Recommendation]) -> list[Recommendation]:
    """Upsert the run's recommendations by rule, keep stored statuses, drop open ones whose
    rule no longer fires; return them with their stored status, highest saving first."""
    t = schema.recommendations
    if not recs:
        with store.read() as conn:
            if conn.execute(sa.select(t.c.id).where(t.c.run_id == run["id"], t.c.status == "open")
                            .limit(1)).first() is None:
                return []
    stored = upsert_run_recommendations(store, run, {rec.rule: _values(rec) for rec in recs})
    return sort_recommendations([replace(rec, status=stored.get(rec.rule, "open"))
                                 for rec in recs])


def advise_abandoned(store: Store) -> list[Recommendation]:
    """Compute and store abandoned-spend advice (one per resource), highest saving first."""
    recs = [rec for idle in load_idle_spend(store) if (rec := abandoned_spend(idle))]
    stored = upsert_resource_recommendations(
        store, "abandoned_spend", {rec.resource_id: _values(rec) for rec in recs})
    return sorted((replace(rec, status=stored.get(rec.resource_id, "open")) for rec in recs),
                  key=lambda r: -(r.saving_per_month or 0))


def stored_recommendations(store: Store, run_ids: Sequence[str] | None = None, *,
                           status: str | None = None) -> list[dict[str, Any]]:
    """Stored recommendation rows (of these runs, or all), highest monthly saving first."""
    t = schema.recommendations
    query = sa.select(t)
    if run_ids is not None:
        query = query.where(t.c.run_id.in_(list(run_ids)))
    if status:
        query = query.where(t.c.status == status)
    with store.read() as conn:
        rows = [dict(row) for row in conn.execute(query).mappings()]
    return sorted(rows, key=lambda r: (r["saving_per_month"] is None,
                                       -(r["saving_per_month"] or 0), r["id"]))


def kept_advice(store: Store, run_id: str) -> list[Recommendation] | None:
    """A folded run's stored recommendations (its advice cannot be recomputed from minutes,
    so it stays as given); None when gc has not folded any of the run's samples."""
    with store.read() as conn:
        folded = any(conn.execute(sa.select(s.rollup.c.run_id).where(
            s.rollup.c.run_id == run_id).limit(1)).first() for s in SERIES)
    if not folded:
        return None
    names = [f.name for f in fields(Recommendation)]
    return sort_recommendations([Recommendation(**{k: row[k] for k in names})
                                 for row in stored_recommendations(store, [run_id])])
