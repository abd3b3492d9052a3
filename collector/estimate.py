"""Where a run's estimated cost comes from: catalog price × duration × the run's share.

``estimate_run`` is called by the agent the moment a run ends and by ``xprof collect`` for
runs that lack an estimate. It reads the run row and the catalog only (no pandas, no cloud
SDK) and stores one ``costs`` row (source ``estimate``, basis ``list``) with a copy of the
price it used.

Rules, in order:

- **Duration** is ``duration_s`` (else ``ended_at - started_at``; a crashed run is priced up
  to its last heartbeat). It is multiplied by the hourly rate as one span, so a run across
  midnight costs exactly duration × rate.
- **On a cloud** (provider aws, gcp or azure): the catalog price of (provider, instance
  type, region). GCP N1 machines with GPUs are looked up under ``n1-…+<accelerator>:<n>``.
  Spot (or preemptible) runs use the spot price; without one they use on-demand and the
  amount is marked an upper bound. An instance type the catalog lacks gives no amount, with
  the reason — never $0.
- **Off any cloud** (provider none, unknown or not recorded): the configured hourly rate
  ``offcloud_rate`` if set, else the host's own hardware priced from the on-demand catalog
  of ``offcloud_provider`` / ``offcloud_region`` (default aws / us-east-1), shown as an
  equivalent (:mod:`host_equivalent`): the instance with at least the host's GPUs (model via
  :mod:`gpu_names`), vCPUs and memory, scaled to the host (``p5en.48xlarge $63.30/h × 1/8
  GPUs`` for a one-H200 host); a CPU-only host likewise for its vCPUs and memory. When no
  scaled instance covers the vCPUs and memory too, the GPUs alone decide and it says so.
- **Share** of the machine: on a GPU machine, the GPUs the run used over the GPUs on the
  machine (the instance's GPUs on a cloud, else those NVML saw). A run that used no GPU on a
  GPU machine, a CPU-only machine, or a run whose GPU use is unknown pays for the whole
  machine when it is alone on it: nobody else could be billed for it.
- **Runs overlapping on one machine** (other runs recorded with the same instance id whose
  times overlap; off any cloud, where there is no instance id, other off-cloud runs of the
  same host name) share it by the billing rule (:mod:`~xprof.collector.machine_share`):
  interval by interval, GPU runs by GPUs held, CPU-only runs the rest by time. The run pays
  its held time × the rate, so the estimates of overlapping runs never add up to more than
  the machine. Estimating a run re-estimates the ended runs it overlaps.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction
from typing import Any

import sqlalchemy as sa

from xprof import schema
from xprof.collector import catalog
from xprof.collector.gpu_names import gcp_n1_key, normalise_gpu
from xprof.collector.host_equivalent import NOTE_GPUS_ONLY, HostEquivalent, host_equivalent
from xprof.collector.machine_share import Holder, gpu_share, held_seconds, measured_weight
from xprof.collector.writes import replace_estimates
from xprof.money import format_money, format_rate
from xprof.settings import Settings
from xprof.store import Store, effective_status, utcnow
from xprof.units import duration_text as format_duration

ON_CLOUD = frozenset(catalog.PROVIDERS)
SPOT_LIFECYCLES = frozenset({"spot", "preemptible", "low-priority", "low priority"})
NOTE_NO_GPUS = "without the GPUs"  # the GPUs have no cloud equivalent and the run used none
_NANO = Decimal("1e-9")
STALE_AFTER = dt.timedelta(days=183)  # a catalog price older than this (six months) is stale
_SECONDS_PER_HOUR = Decimal(3600)


@dataclass(frozen=True)
class Estimate:
    """The estimated cost of one run. ``amount`` None means unknown; ``reason`` says why."""

    amount: Decimal | None
    currency: str
    reason: str | None
    run_id: str = ""
    method: str | None = None  # catalog | equivalent | configured-rate
    price: catalog.Price | None = None  # the catalog row used (a copy)
    rate: Decimal | None = None  # hourly rate applied, before the share
    lifecycle: str = "on-demand"
    upper_bound: bool = False
    used_gpus: int | None = None  # share = used_gpus / machine_gpus; None: whole machine
    machine_gpus: int | None = None
    duration_s: float | None = None
    period_start: dt.datetime | None = None
    period_end: dt.datetime | None = None
    basis: str = "list"
    until_heartbeat: bool = False  # a crashed run, priced up to its last heartbeat
    note: str | None = None  # how an equivalent differs: NOTE_GPUS_ONLY | NOTE_NO_GPUS
    equivalent: HostEquivalent | None = None  # off-cloud: the instance scaled to the host
    overlapping: int = 0  # other runs on the same machine during this one
    held_s: float | None = None  # machine-seconds held, when shared with overlapping runs

    @property
    def share(self) -> Fraction:
        """The run's share of the machine (1 for the whole machine)."""
        if self.used_gpus is None or not self.machine_gpus:
            return Fraction(1)
        return Fraction(self.used_gpus, self.machine_gpus)

    @property
    def stale(self) -> bool:
        """The catalog price is older than :data:`STALE_AFTER` at the run's end (or today)."""
        if self.price is None:
            return False
        when = self.period_end.date() if self.period_end else dt.date.today()
        return when - self.price.as_of > STALE_AFTER

    def _as_of(self) -> str:
        """``, price as of 2024-04-04, stale`` for a stale catalog price, else nothing."""
        if not self.stale:
            return ""
        return (f", price as of {self.price.as_of.isoformat()}, stale: "
                f"`xprof prices update --provider {self.price.provider}`")

    def summary_line(self) -> str:
        """One line for the run summary, e.g. ``est. $4.12 (p3.2xlarge on-demand, us-east-1,
        $3.06/h, 1h21m)``; a catalog price older than six months says so and how to refresh
        it."""
        if self.amount is None:
            return f"cost unknown: {self.reason}"
        amount = ("≤ " if self.upper_bound else "") + format_money(self.amount, self.currency)
        rate = format_rate(self.rate, self.currency) if self.rate is not None else "?"
        share = f" × {self.used_gpus}/{self.machine_gpus} GPUs" if self.share < 1 else ""
        duration = format_duration(self.duration_s or 0)
        if self.until_heartbeat:
            duration += " until last heartbeat"
        if self.overlapping:
            duration += f", time-sliced with {self.overlapping} overlapping run" + \
                ("s" if self.overlapping > 1 else "")
        if self.method == "configured-rate":
            return f"est. {amount} (off-cloud rate {rate}{share}, {duration})"
        p = self.price
        assert p is not None
        if self.method == "equivalent":
            extra = {NOTE_GPUS_ONLY: " for the GPUs only",
                     NOTE_NO_GPUS: " without the GPUs"}.get(self.note or "", "")
            if self.equivalent is not None and self.equivalent.scaled:
                return (f"est. {amount} (≈ {self.equivalent.arithmetic()}, on-demand "
                        f"equivalent{extra}, {p.provider} {p.region}, {rate}{share}, "
                        f"{duration})")
            return (f"est. {amount} (≈ {p.instance_type} on-demand equivalent{extra}, "
                    f"{p.provider} {p.region}, {rate}{share}, {duration}{self._as_of()})")
        kind = "spot priced at on-demand" if self.upper_bound else self.lifecycle
        return (f"est. {amount} ({p.instance_type} {kind}, {p.region}, {rate}{share}, "
                f"{duration}{self._as_of()})")

    def detail(self) -> dict[str, Any]:
        """The ``costs.detail`` JSON: price copy, its date and source, share, method."""
        share = self.share
        return {
            "method": self.method,
            "reason": self.reason,
            "note": self.note,
            "until_last_heartbeat": self.until_heartbeat,
            "price": self.price.to_json() if self.price else None,
            "price_as_of": self.price.as_of.isoformat() if self.price else None,
            "price_stale": self.stale,
            "price_source": self.price.source if self.price else
            ("offcloud_rate setting" if self.method == "configured-rate" else None),
            "rate_per_hour": None if self.rate is None else str(self.rate),
            "lifecycle": self.lifecycle,
            "share": {"used_gpus": self.used_gpus, "machine_gpus": self.machine_gpus,
                      "fraction": float(share), "text": f"{share.numerator}/{share.denominator}",
                      "overlapping_runs": self.overlapping, "held_s": self.held_s},
            "duration_s": self.duration_s,
            "equivalent": self.equivalent.to_json() if self.equivalent else None,
            "summary": self.summary_line(),
        }


# -- the estimate ------------------------------------------------------------------------------
def _period(run: dict[str, Any]) -> tuple[float | None, dt.datetime | None, bool]:
    """(duration seconds, period end, until last heartbeat) of a run; duration None while it
    still runs."""
    start = run["started_at"]
    if run.get("duration_s") is not None:
        duration = float(run["duration_s"])
        return duration, run.get("ended_at") or start + dt.timedelta(seconds=duration), False
    if run.get("ended_at") is not None:
        return (run["ended_at"] - start).total_seconds(), run["ended_at"], False
    if run.get("status") == "crashed" and run.get("heartbeat_at") is not None:
        end = run["heartbeat_at"]
        return max(0.0, (end - start).total_seconds()), end, True
    return None, None, False


def _region(run: dict[str, Any], provider: str) -> str | None:
    if run.get("cloud_region"):
        return run["cloud_region"]
    zone = run.get("cloud_zone")
    if not zone:
        return None
    if provider == "aws":  # us-east-1a -> us-east-1
        return zone.rstrip("abcdefghijklmnopqrstuvwxyz") or None
    if provider == "gcp":  # us-central1-a -> us-central1
        return zone.rsplit("-", 1)[0]
    return None


def _used_gpus(hardware: dict[str, Any]) -> int | None:
    """GPUs the run used, or None when it used none or nobody knows (whole machine)."""
    used = hardware.get("gpus_used")
    if not used:
        return None
    return len(set(used))


def _amount(rate: Decimal, duration_s: float, used: int | None, total: int | None) -> Decimal:
    value = rate * Decimal(repr(duration_s)) / _SECONDS_PER_HOUR
    if used is not None and total:
        value = value * min(used, total) / total
    return value.quantize(_NANO, rounding=ROUND_HALF_EVEN).normalize()


def _unknown(run: dict[str, Any], reason: str, **fields: Any) -> Estimate:
    return Estimate(amount=None, currency=catalog.CURRENCY, reason=reason, run_id=run["id"],
                    **fields)


def compute_estimate(store: Store, run: dict[str, Any], settings: Settings) -> Estimate:
    """The estimate of a run row (nothing stored); see the module's rules."""
    duration, end, until_heartbeat = _period(run)
    base = {"period_start": run["started_at"], "period_end": end, "duration_s": duration,
            "until_heartbeat": until_heartbeat}
    if duration is None:
        return _unknown(run, "the run has not ended", **base)
    hardware = run.get("hardware") or {}
    provider = (run.get("cloud_provider") or "none").lower()
    if provider in ON_CLOUD:
        estimate = _on_cloud(store, run, provider, hardware, duration, base)
    else:
        estimate = _off_cloud(store, run, hardware, duration, base, settings)
    return _shared(estimate, run, overlapping_runs(store, run, end))


# -- runs overlapping on one machine -----------------------------------------------------------
def overlapping_runs(store: Store, run: dict[str, Any],
                     end: dt.datetime | None) -> list[dict[str, Any]]:
    """Other runs on the run's machine whose times overlap its own: the same instance id, or
    off any cloud (no instance id) another off-cloud run of the same host name."""
    r = schema.runs
    if run.get("instance_id"):
        same_machine = r.c.instance_id == run["instance_id"]
    elif run.get("host") and (run.get("cloud_provider") or "none").lower() not in ON_CLOUD:
        off_cloud = sa.or_(r.c.cloud_provider.is_(None),
                           sa.func.lower(r.c.cloud_provider).not_in(sorted(ON_CLOUD)))
        same_machine = sa.and_(r.c.host == run["host"], r.c.instance_id.is_(None), off_cloud)
    else:
        return []
    if end is None:
        return []
    query = sa.select(r.c.id, r.c.started_at, r.c.ended_at, r.c.heartbeat_at, r.c.hardware,
                      r.c.summary).where(same_machine, r.c.id != run["id"],
                                         r.c.started_at < end)
    with store.read() as conn:
        rows = [dict(m) for m in conn.execute(query).mappings()]
    return [row for row in rows if (row["ended_at"] or row["heartbeat_at"]) > run["started_at"]]


def _shared(estimate: Estimate, run: dict[str, Any],
            others: list[dict[str, Any]]) -> Estimate:
    """The estimate priced for the time the run held the machine among ``others``."""
    if not others or estimate.amount is None or estimate.rate is None \
            or estimate.duration_s is None:
        return estimate
    start = run["started_at"]

    def seconds(t: dt.datetime) -> Fraction:
        return Fraction(repr((t - start).total_seconds()))

    own = Holder(run["id"], Fraction(0), Fraction(repr(estimate.duration_s)),
                 None if estimate.share == 1 and estimate.used_gpus is None else estimate.share,
                 measured_weight(run.get("hardware"), run.get("summary")))
    holders = [own]
    for other in others:
        used, total = gpu_share(other["hardware"], estimate.machine_gpus)
        holders.append(Holder(other["id"], seconds(other["started_at"]),
                              seconds(other["ended_at"] or other["heartbeat_at"]),
                              None if used is None else Fraction(used, total),
                              measured_weight(other["hardware"], other["summary"])))
    held = held_seconds(holders, own.start, own.end)[run["id"]]
    amount = (estimate.rate * Decimal(held.numerator) / Decimal(held.denominator)
              / _SECONDS_PER_HOUR).quantize(_NANO, rounding=ROUND_HALF_EVEN).normalize()
    return replace(estimate, amount=amount, overlapping=len(others), held_s=float(held))


def _on_cloud(store: Store, run: dict[str, Any], provider: str, hardware: dict[str, Any],
              duration: float, base: dict[str, Any]) -> Estimate:
    instance_type = run.get("instance_type")
    region = _region(run, provider)
    if not instance_type:
        return _unknown(run, f"the {provider} instance type was not recorded (no metadata "
                             "service answered; run with --instance-type and --region)", **base)
    if not region:
        return _unknown(run, f"the {provider} region of {instance_type} was not recorded "
                             "(run with --region)", **base)
    gpu_count = int(hardware.get("gpu_count") or 0)
    key = _catalog_key(provider, instance_type, hardware, gpu_count)
    price = catalog.price_of(store, provider, key, region)
    if price is None:
        return _unknown(run, _no_price_reason(store, provider, key, region), **base)
    lifecycle, rate, upper_bound = _rate(price, run)
    if rate is None:
        return _unknown(run, f"the catalog has no {lifecycle} price for {key} in {region}; "
                             f"try `xprof prices update --provider {provider} --region {region}`",
                        price=price, lifecycle=lifecycle, **base)
    used = _used_gpus(hardware)
    total = price.gpus or gpu_count or None
    if not total:
        used = None
    return Estimate(amount=_amount(rate, duration, used, total), currency=price.currency,
                    reason=None, run_id=run["id"], method="catalog", price=price, rate=rate,
                    lifecycle=lifecycle, upper_bound=upper_bound, used_gpus=used,
                    machine_gpus=total if used is not None else None, **base)


def _catalog_key(provider: str, instance_type: str, hardware: dict[str, Any],
                 gpu_count: int) -> str:
    """The catalog's name of the instance (a GCP N1 with GPUs is named with its GPUs)."""
    if provider == "gcp" and "+" not in instance_type and instance_type.startswith("n1-") \
            and gpu_count:
        gpu = normalise_gpu(hardware.get("gpu_model"), hardware.get("gpu_memory_bytes"))
        return (gcp_n1_key(instance_type, gpu, gpu_count) if gpu else None) or instance_type
    return instance_type


def _no_price_reason(store: Store, provider: str, key: str, region: str) -> str:
    elsewhere = catalog.regions_of(store, provider, key)
    if not elsewhere:
        return (f"instance type {key} ({region}) not in the {provider} catalog; try "
                f"`xprof prices update --provider {provider} --region {region}`")
    shown = ", ".join(elsewhere[:5]) + (", …" if len(elsewhere) > 5 else "")
    return (f"{key} has no {provider} price for {region} in the catalog (priced in "
            f"{shown}); try `xprof prices update --provider {provider} --region {region}`")


def _rate(price: catalog.Price, run: dict[str, Any]) -> tuple[str, Decimal | None, bool]:
    """(lifecycle, hourly rate, upper bound): a spot run without a spot price is priced
    on-demand, as an upper bound."""
    if (run.get("lifecycle") or "on-demand").lower() not in SPOT_LIFECYCLES:
        return "on-demand", price.on_demand, False
    if price.spot is None:
        return "spot", price.on_demand, price.on_demand is not None
    return "spot", price.spot, False


def _off_cloud(store: Store, run: dict[str, Any], hardware: dict[str, Any], duration: float,
               base: dict[str, Any], settings: Settings) -> Estimate:
    gpu_count = int(hardware.get("gpu_count") or 0)
    used = _used_gpus(hardware) if gpu_count else None
    machine = gpu_count if used is not None else None
    configured = settings.get("offcloud_rate")
    if configured:
        rate = Decimal(repr(float(configured)))
        return Estimate(amount=_amount(rate, duration, used, machine), currency=catalog.CURRENCY,
                        reason=None, run_id=run["id"], method="configured-rate", rate=rate,
                        used_gpus=used, machine_gpus=machine, **base)
    vcpus = hardware.get("cpu_count")
    memory = hardware.get("memory_bytes")
    if not vcpus and not memory and not gpu_count:
        return _unknown(run, "the machine's hardware was not recorded; set offcloud_rate "
                             "(XPROF_OFFCLOUD_RATE) to price this machine", **base)
    return _equivalent_estimate(store, run, hardware, duration, base, settings, used)


def _equivalent_estimate(store: Store, run: dict[str, Any], hardware: dict[str, Any],
                         duration: float, base: dict[str, Any], settings: Settings,
                         used: int | None) -> Estimate:
    """An off-cloud machine priced as the cheapest equivalent catalog instance."""
    provider = settings.get("offcloud_provider") or "aws"
    region = settings.get("offcloud_region") or "us-east-1"
    gpu_count = int(hardware.get("gpu_count") or 0)
    vcpus = hardware.get("cpu_count")
    memory = hardware.get("memory_bytes")
    memory_gib = memory / 2**30 if memory else None
    gpu = normalise_gpu(hardware.get("gpu_model"), hardware.get("gpu_memory_bytes"))
    # a GPU the catalog cannot name and the run did not use (a laptop's GeForce) is left out
    unnamed_unused = bool(gpu_count) and (gpu is None or not gpu.known) and used is None
    search_gpus, note = (0, NOTE_NO_GPUS) if unnamed_unused else (gpu_count, None)
    equivalent = host_equivalent(store, provider, region, gpu=gpu, gpu_count=search_gpus,
                                 vcpus=vcpus, memory_gib=memory_gib)
    if equivalent is None:
        what = f"{gpu_count}× {gpu.label() if gpu else 'unnamed'} GPU" if search_gpus \
            else f"{vcpus} vCPUs and {memory_gib or 0:.1f} GiB without GPUs"
        return _unknown(run, f"no {provider} {region} instance in the catalog covers this "
                             f"machine ({what}); set offcloud_rate (XPROF_OFFCLOUD_RATE) to "
                             "price it", **base)
    machine = gpu_count if used is not None else None
    price = equivalent.price
    return Estimate(amount=_amount(equivalent.rate, duration, used, machine),
                    currency=price.currency, reason=None, run_id=run["id"], method="equivalent",
                    price=price, rate=equivalent.rate,
                    used_gpus=used if search_gpus else None,
                    machine_gpus=machine if search_gpus else None,
                    note=equivalent.note or note, equivalent=equivalent, **base)


# -- storing -----------------------------------------------------------------------------------
HOST_FIELDS = ("hardware", "cloud_provider", "cloud_account", "cloud_region", "cloud_zone",
               "instance_id", "instance_type", "lifecycle", "started_at", "ended_at",
               "heartbeat_at", "status")


def host_runs(run: dict[str, Any], hosts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One run-shaped row per host of a multi-node run (each host has its own machine and
    times); a single-host run is itself."""
    if len(hosts) <= 1:
        return [run]
    rows = []
    for host in hosts:
        row = {**run, **{k: host[k] for k in HOST_FIELDS if host.get(k) is not None},
               "host": host["host"]}
        row["duration_s"] = ((row["ended_at"] - row["started_at"]).total_seconds()
                             if host.get("ended_at") else None)
        rows.append(row)
    return rows


def write_estimates(store: Store, run: dict[str, Any], estimates: list[Estimate],
                    hosts: list[dict[str, Any]]) -> None:
    """Store the estimates as the run's only ``estimate`` cost rows (one per host)."""
    rows = []
    for estimate, host in zip(estimates, hosts, strict=True):
        detail = estimate.detail()
        if "host" in host:
            detail["host"] = host["host"]
        rows.append({"kind": "run", "run_id": run["id"], "resource_id": host.get("instance_id"),
                     "source": "estimate", "basis": estimate.basis,
                     "period_start": estimate.period_start, "period_end": estimate.period_end,
                     "amount": estimate.amount, "currency": estimate.currency,
                     "upper_bound": estimate.upper_bound, "detail": detail})
    replace_estimates(store, run["id"], rows)


def estimate_run(store: Store, run_id: str, settings: Settings | None = None) -> Estimate:
    """Compute and store the estimate of one ended run; replaces previous estimate rows.

    A multi-node run gets one row per host, each on its own machine; the returned estimate
    then carries the hosts' total. A run still running gets an unknown estimate (``reason``
    says so) and nothing is stored. The ended runs it overlaps on its machine are
    re-estimated: they now share the machine with it.
    """
    settings = settings if settings is not None else Settings()
    estimate = store_estimate(store, run_id, settings)
    run = store.find_run(run_id)
    for other in overlapping_runs(store, run, estimate.period_end):
        if other["ended_at"] is not None:
            store_estimate(store, other["id"], settings)
    return estimate


def store_estimate(store: Store, run_id: str, settings: Settings) -> Estimate:
    """Compute and store the estimate of one run (:func:`estimate_run` without neighbours)."""
    run = store.find_run(run_id)
    rows = host_runs(run, store.run_hosts(run_id))
    estimates = [compute_estimate(store, row, settings) for row in rows]
    if all(e.period_end is not None for e in estimates):
        write_estimates(store, run, estimates, rows)
    if len(estimates) == 1:
        return estimates[0]
    known = [e.amount for e in estimates]
    total = None if None in known else sum(known, Decimal(0))
    first = estimates[0]
    return replace(first, amount=total, reason=first.reason or next(
        (e.reason for e in estimates if e.reason), None),
        duration_s=max(e.duration_s or 0 for e in estimates), note=f"{len(rows)} hosts")


def live_estimate(store: Store, run: dict[str, Any], settings: Settings | None = None,
                  now: dt.datetime | None = None) -> Estimate:
    """A running run's cost so far: the catalog price × the time since it started (nothing
    stored; it grows with every read, the heartbeat keeps it honest)."""
    now = now or utcnow()
    so_far = {**run, "ended_at": now, "duration_s": (now - run["started_at"]).total_seconds(),
              "status": "finished"}
    return compute_estimate(store, so_far, settings if settings is not None else Settings())


def runs_needing_estimate(store: Store, *, everything: bool = False) -> list[str]:
    """Ids of ended runs with no estimate, or only an unknown one (all ended runs if
    ``everything``), oldest first."""
    r, c = schema.runs, schema.costs
    query = sa.select(r.c.id, r.c.status, r.c.heartbeat_at, r.c.flush_interval_s,
                      r.c.ended_at).order_by(r.c.started_at)
    if not everything:
        known = sa.exists().where(c.c.run_id == r.c.id, c.c.source == "estimate",
                                  c.c.amount.is_not(None))
        query = query.where(~known)
    with store.read() as conn:
        rows = conn.execute(query).all()
    now = utcnow()
    return [row.id for row in rows
            if row.ended_at is not None
            or effective_status(row.status, row.heartbeat_at, row.flush_interval_s, now)
            == "crashed"]

