"""GPU-hours used, and GPU-hours paid but idle, with their cost. Pure functions.

The formula (what the report prints under "GPU-hours"):

- A *span* is one run on one machine: the run row, or each of its ``run_hosts`` rows when it
  ran on several hosts. The machine is the span's ``instance_id``, else its host name. Its
  time is [started_at, ended_at or last heartbeat), clipped to the report's period.
- ``N`` = GPUs on the machine (``hardware.gpu_count``, else the length of ``hardware.gpus``);
  ``k`` = GPUs the run used (``hardware.gpus_used``, else ``summary.gpus_used``; at most N).
  A span whose ``k`` was never recorded is left out and counted as "GPU use not recorded".
- Per machine, over every stretch of time where at least one span is on it:
  paid = N × hours; used = min(N, Σ k of the spans on it) × hours; idle = paid − used.
  Concurrent runs on one machine (a sweep, one GPU each) therefore share it: nothing is
  counted twice. Time when no run is on the machine is not here: billing reports it as idle
  cost (its own line in the report).
- Price of a GPU-hour of a run = the run's whole cost ÷ the GPU-hours it was charged for
  (k × hours, or N × hours when it used no GPU: the cost model's share rule). Used cost =
  Σ k × hours × the run's price; idle cost = idle hours × the mean price of the priced spans
  on the machine at that time. Hours on runs without a known cost are counted as unpriced.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pandas as pd

_NANO = Decimal("1e-9")


@dataclass(frozen=True, slots=True)
class Span:
    """One run on one machine, clipped to the period."""

    run_id: str
    machine: str
    start: dt.datetime
    end: dt.datetime
    gpus: int  # N
    used: int | None  # k; None: never recorded
    charged_hours: float  # GPU-hours the run's cost covers over its whole span


def _gpu_count(hardware: Mapping[str, Any] | None) -> int:
    hardware = hardware or {}
    count = hardware.get("gpu_count")
    if count is None:
        count = len(hardware.get("gpus") or [])
    try:
        return max(int(count), 0)
    except (TypeError, ValueError):
        return 0


def _used(hardware: Mapping[str, Any] | None, summary: Mapping[str, Any] | None,
          gpus: int) -> int | None:
    for source in (hardware or {}, summary or {}):
        used = source.get("gpus_used")
        if isinstance(used, list):
            return min(len(set(map(str, used))), gpus)
    return None


def _dict(value: Any) -> Mapping[str, Any] | None:
    return value if isinstance(value, Mapping) else None


def _hours(start: dt.datetime, end: dt.datetime) -> float:
    return max((end - start).total_seconds(), 0.0) / 3600


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows as dicts of the frame's own values (``to_dict`` boxes every value: slow)."""
    names = list(frame.columns)
    return [dict(zip(names, values, strict=True))
            for values in zip(*(frame[n].tolist() for n in names), strict=True)]


def spans(runs: pd.DataFrame, hosts: pd.DataFrame) -> list[Span]:
    """The runs' spans on GPU machines (unclipped), see the module doc."""
    by_run: dict[str, list[dict]] = defaultdict(list)
    for row in _records(hosts):
        by_run[row["run_id"]].append(row)
    out: list[Span] = []
    for run in _records(runs):
        host_rows = by_run.get(run["run_id"], [])
        if len(host_rows) >= 2:
            rows = host_rows
        elif host_rows and not _gpu_count(_dict(run["hardware"])):
            rows = [{**run, "hardware": host_rows[0]["hardware"],
                     "summary": run["summary"] or host_rows[0]["summary"]}]
        else:
            rows = [run]
        for row in rows:
            hardware, summary = _dict(row["hardware"]), _dict(row["summary"])
            gpus = _gpu_count(hardware)
            if not gpus or row["started_at"] is None or row["ended_at"] is None:
                continue
            used = _used(hardware, summary, gpus)
            charged = (used or gpus) * _hours(row["started_at"], row["ended_at"])
            machine = row["instance_id"] or str(row["host"]).split("/")[0]
            out.append(Span(run["run_id"], machine, row["started_at"], row["ended_at"], gpus,
                            used, charged))
    return out


def run_prices(run_spans: list[Span], costs: pd.DataFrame) -> dict[str, tuple[Decimal, str]]:
    """Price of one GPU-hour per run (run_id -> (price, currency)) where the run has one
    known cost in one currency and was charged for some GPU-hours."""
    charged: dict[str, float] = defaultdict(float)
    for span in run_spans:
        charged[span.run_id] += span.charged_hours
    rows: dict[str, list[dict]] = defaultdict(list)
    for row in _records(costs):
        rows[row["run_id"]].append(row)
    prices: dict[str, tuple[Decimal, str]] = {}
    for run_id, cost_rows in rows.items():
        if len(cost_rows) != 1 or charged.get(run_id, 0) <= 0:
            continue
        row = cost_rows[0]
        if row["amount"] is None or row["known"] != row["rows"]:
            continue
        prices[run_id] = (Decimal(row["amount"]) / Decimal(repr(charged[run_id])),
                          row["currency"])
    return prices


@dataclass
class _Tally:
    """GPU-hours paid, used and idle, and their cost per currency, summed machine by machine."""

    paid: float = 0.0
    used: float = 0.0
    idle: float = 0.0
    unpriced_used: float = 0.0
    unpriced_idle: float = 0.0
    used_cost: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    idle_cost: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))

    def add_machine(self, machine_spans: list[Span], start: dt.datetime, end: dt.datetime,
                    prices: dict[str, tuple[Decimal, str]]) -> None:
        """One machine's spans within [start, end), interval by interval between their
        starts and ends."""
        gpus = max(s.gpus for s in machine_spans)
        events = sorted([(max(s.start, start), 1, i) for i, s in enumerate(machine_spans)]
                        + [(min(s.end, end), 0, i) for i, s in enumerate(machine_spans)])
        active: dict[int, Span] = {}
        last: dt.datetime | None = None
        for when, opens, index in events:
            if active and last is not None and when > last:
                self.add_interval(list(active.values()), gpus, _hours(last, when), prices)
            last = when
            if opens:
                active[index] = machine_spans[index]
            else:
                active.pop(index, None)

    def add_interval(self, active: list[Span], gpus: int, hours: float,
                     prices: dict[str, tuple[Decimal, str]]) -> None:
        """An interval in which the same spans run: GPUs in use (at most the machine's),
        their cost at each run's price; idle GPUs at the mean price of the interval's most
        common currency."""
        wanted = sum(s.used or 0 for s in active)
        in_use = min(gpus, wanted)
        self.paid += gpus * hours
        self.used += in_use * hours
        self.idle += (gpus - in_use) * hours
        scale = in_use / wanted if wanted else 0.0
        priced: dict[str, list[Decimal]] = defaultdict(list)
        for s in active:
            gpu_hours_used = (s.used or 0) * hours * scale
            found = prices.get(s.run_id)
            if found is not None:
                price, currency = found
                self.used_cost[currency] += price * Decimal(repr(gpu_hours_used))
                priced[currency].append(price)
            else:
                self.unpriced_used += gpu_hours_used
        idle_hours = (gpus - in_use) * hours
        if priced:
            currency = max(sorted(priced), key=lambda c: len(priced[c]))
            mean = sum(priced[currency], Decimal(0)) / len(priced[currency])
            self.idle_cost[currency] += mean * Decimal(repr(idle_hours))
        else:
            self.unpriced_idle += idle_hours


def gpu_hours(runs: pd.DataFrame, hosts: pd.DataFrame, costs: pd.DataFrame,
              start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    """GPU-hours paid, used and idle in [start, end), and their cost per currency.

    Returns {runs, machines, hours_paid, hours_used, hours_idle, cost: [{currency, used,
    idle}], unpriced_hours_used, unpriced_hours_idle, unrecorded_runs, unrecorded_hours}.
    """
    # in one order whatever order the store returned the rows in: float sums then agree
    all_spans = sorted(spans(runs, hosts), key=lambda s: (s.run_id, s.machine, s.start, s.end,
                                                          s.gpus, -1 if s.used is None
                                                          else s.used))
    prices = run_prices(all_spans, costs)
    clipped = [s for s in all_spans if min(s.end, end) > max(s.start, start)]
    unrecorded = [s for s in clipped if s.used is None]
    unrecorded_hours = sum(s.gpus * _hours(max(s.start, start), min(s.end, end))
                           for s in unrecorded)
    machines: dict[str, list[Span]] = defaultdict(list)
    for span in clipped:
        if span.used is not None:
            machines[span.machine].append(span)
    tally = _Tally()
    for machine_spans in machines.values():
        tally.add_machine(machine_spans, start, end, prices)
    used_cost, idle_cost = tally.used_cost, tally.idle_cost
    currencies = sorted(set(used_cost) | set(idle_cost))
    return {
        "runs": len({s.run_id for s in clipped if s.used is not None}),
        "machines": len(machines),
        "hours_paid": tally.paid, "hours_used": tally.used, "hours_idle": tally.idle,
        "cost": [{"currency": c,
                  "used": used_cost.get(c, Decimal(0)).quantize(_NANO).normalize(),
                  "idle": idle_cost.get(c, Decimal(0)).quantize(_NANO).normalize()}
                 for c in currencies],
        "unpriced_hours_used": tally.unpriced_used, "unpriced_hours_idle": tally.unpriced_idle,
        "unrecorded_runs": len({s.run_id for s in unrecorded}),
        "unrecorded_hours": unrecorded_hours,
    }
