"""Conservation and fair shares, as a property: for random runs on random machines and random
line items (partial hours, usage in seconds, credits, items with no resource or on a bucket,
two currencies, three bases), every imported amount lands in exactly one bucket (a run, idle
machine time, or other spend) and each run's share equals the rule of the cost model
integrated second by second in exact fractions.

The oracle here is written from DESIGN.md's rule, not from the SQL: for every second of a
line item's period, the runs active in that second hold the machine (GPU runs by GPUs held,
scaled to the machine if they claim more; CPU-only runs share the rest by weight); a run's
part of the item is its held seconds over the machine's running time in the period (the
usage the bill states, else the period), or over the held total when that is larger."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from fractions import Fraction

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xprof.collector.allocate import allocate_tables

SECOND = 1_000_000
HOUR = 3600 * SECOND
DAY = 24 * HOUR
T0 = int(dt.datetime(2024, 9, 29, 21, tzinfo=dt.UTC).timestamp()) * SECOND  # crosses midnight
HOURS = 3
MACHINES = ("i-0aaa", "i-0bbb")
BUCKET = "arn:aws:s3:::training-data"
BASES = ("billed", "list", "effective")

usage = st.sampled_from([(1.0, "Hours"), (0.5, "Hours"), (0.25, "Hrs"), (None, None),
                         (600.0, "seconds"), (2400.0, "seconds"), (43200.0, "seconds"),
                         (3.2e14, "byte-seconds"), (5.0, "GB")])
line = st.fixed_dictionaries({
    "key": st.sampled_from([*MACHINES, *MACHINES, BUCKET, None]),
    "hour": st.integers(0, HOURS - 1),
    "billed": st.one_of(st.integers(1_000_000_000, 50_000_000_000),  # usage
                        st.integers(-5_000_000_000, 0)),  # credits, refunds
    "list": st.one_of(st.none(), st.integers(0, 60_000_000_000)),
    "effective": st.one_of(st.none(), st.integers(-1_000_000_000, 40_000_000_000)),
    "usage": usage,
    "currency": st.sampled_from(["USD", "USD", "EUR"]),
})
# starts and lengths on a 10-minute grid with a few seconds of jitter, so that runs overlap
# one another in every way (nested, staggered, back to back) within a few examples
run = st.fixed_dictionaries({
    "key": st.sampled_from([MACHINES[0], *MACHINES]),
    "start": st.builds(lambda k, j: k * 600 + j, st.integers(-3, HOURS * 6), st.integers(0, 59)),
    "seconds": st.builds(lambda k, j: k * 600 - j, st.integers(1, 12), st.integers(0, 59)),
    "gpus": st.integers(0, 8),  # 0: used no GPU
    "weight": st.sampled_from([None, 0.25, 0.5]),  # measured CPU/memory share, if any
})
machine_gpus = st.tuples(st.sampled_from([0, 8, 4]), st.sampled_from([0, 8, 1]))


def _tables(lines, runs, gpus_of):
    return _items(lines), _runs(runs, gpus_of)


def _items(lines):
    return pa.table({
        "source": ["focus:/bill.csv"] * len(lines),
        "resource_id": pa.array([ln["key"] for ln in lines], pa.string()),
        "period_start_us": pa.array([T0 + ln["hour"] * HOUR for ln in lines], pa.int64()),
        "period_end_us": pa.array([T0 + (ln["hour"] + 1) * HOUR for ln in lines], pa.int64()),
        "usage_quantity": pa.array([ln["usage"][0] for ln in lines], pa.float64()),
        "usage_unit": pa.array([ln["usage"][1] for ln in lines], pa.string()),
        "instance_type": pa.array([None if ln["key"] == BUCKET else "p4d.24xlarge"
                                   for ln in lines], pa.string()),
        "list_nanos": pa.array([ln["list"] for ln in lines], pa.int64()),
        "billed_nanos": pa.array([ln["billed"] for ln in lines], pa.int64()),
        "effective_nanos": pa.array([ln["effective"] for ln in lines], pa.int64()),
        "currency": [ln["currency"] for ln in lines],
    })


def _runs(runs, gpus_of):
    shares = [_gpu_share(r, gpus_of) for r in runs]
    return pa.table({
        "run_id": [f"run{i}" for i in range(len(runs))],
        "key": [r["key"] for r in runs],
        "start_us": pa.array([T0 + r["start"] * SECOND for r in runs], pa.int64()),
        "end_us": pa.array([T0 + (r["start"] + r["seconds"]) * SECOND for r in runs],
                           pa.int64()),
        "gpu_share": pa.array([None if s is None else float(s) for s in shares], pa.float64()),
        "weight": pa.array([r["weight"] or 1.0 for r in runs], pa.float64()),
        "ended": [True] * len(runs),
        "share_text": ["-"] * len(runs),
    })


def _gpu_share(r, gpus_of):
    machine = gpus_of[r["key"]]
    if not r["gpus"] or not machine:
        return None
    return Fraction(min(r["gpus"], machine), machine)


def _holding(active, runs, gpus_of):
    """What each active run holds of the machine in one second (the rule's definition)."""
    gpu = {i: _gpu_share(runs[i], gpus_of) for i in active}
    claimed = sum((s for s in gpu.values() if s is not None), Fraction(0))
    cpu = {i: Fraction(runs[i]["weight"] or 1) for i in active if gpu[i] is None}
    rest = 1 - min(Fraction(1), claimed)
    out = {i: s / max(Fraction(1), claimed) for i, s in gpu.items() if s is not None}
    out.update({i: rest * w / sum(cpu.values()) for i, w in cpu.items()})
    return out


def _running_seconds(lines, key, hour):
    """How long the machine ran in that hour: the hours the bill states (the largest), else
    the smallest single-unit seconds figure, else the whole hour."""
    hours = [Fraction(q) * 3600 for ln in lines if ln["key"] == key and ln["hour"] == hour
             for q, u in [ln["usage"]] if u in ("Hours", "Hrs") and q]
    if hours:
        return min(Fraction(3600), max(hours))
    secs = [Fraction(q) for ln in lines if ln["key"] == key and ln["hour"] == hour
            for q, u in [ln["usage"]] if u == "seconds" and q and q <= 3600]
    return min(secs) if secs else Fraction(3600)


def _oracle(lines, runs, gpus_of):
    """Each (run or None for idle, key, day, currency, basis) amount as an exact fraction,
    and the other spend (no resource id, or a resource that is no machine) per currency."""
    held_at: dict[tuple[str, int], dict[int, Fraction]] = {}  # (key, hour) -> run -> seconds
    for key in MACHINES:
        for hour in range(HOURS):
            held: dict[int, Fraction] = defaultdict(Fraction)
            for second in range(hour * 3600, (hour + 1) * 3600):
                active = tuple(i for i, r in enumerate(runs) if r["key"] == key
                               and r["start"] <= second < r["start"] + r["seconds"])
                for i, part in _holding(active, runs, gpus_of).items():
                    held[i] += part
            held_at[(key, hour)] = held
    out: dict[tuple, Fraction] = defaultdict(Fraction)
    other: dict[tuple, int] = defaultdict(int)
    for ln in lines:
        day = (T0 + ln["hour"] * HOUR) // DAY
        for basis in BASES:
            amount = ln[basis]
            if amount is None:
                continue
            if ln["key"] not in MACHINES:
                other[(ln["currency"], basis)] += amount
                continue
            held = held_at[(ln["key"], ln["hour"])]
            denominator = max(_running_seconds(lines, ln["key"], ln["hour"]),
                              sum(held.values(), Fraction(0)))
            group = (ln["key"], day, ln["currency"], basis)
            for i, seconds in held.items():
                out[(f"run{i}", *group)] += amount * seconds / denominator
            out[(None, *group)] += amount - sum(amount * s / denominator for s in held.values())
    return out, other


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(line, min_size=1, max_size=25), runs=st.lists(run, min_size=2, max_size=6),
       gpus=machine_gpus)
def test_every_amount_is_in_one_bucket_and_shares_follow_the_rule(lines, runs, gpus):
    """Σ runs + idle + other = Σ items exactly per currency and basis (runs + idle = the
    machine's items per machine, day, currency and basis), and each run's share is within one
    nano-unit of the per-second oracle."""
    gpus_of = dict(zip(MACHINES, gpus, strict=True))
    items, runs_t = _tables(lines, runs, gpus_of)
    rows = allocate_tables(items, runs_t).to_pylist()
    exact, other = _oracle(lines, runs, gpus_of)

    bill: dict[tuple, int] = defaultdict(int)
    buckets: dict[tuple, int] = defaultdict(int, other)
    for ln in lines:
        for basis in BASES:
            if ln[basis] is not None:
                bill[(ln["currency"], basis)] += ln[basis]
    for row in rows:
        assert row["key"] in MACHINES, row  # no other spend is allocated to runs or idle
        buckets[(row["currency"], row["basis"])] += row["amount_nanos"]
    assert {k: v for k, v in buckets.items() if v or k in bill} == bill

    got = {(r["run_id"], r["key"], r["day"], r["currency"], r["basis"]): r["amount_nanos"]
           for r in rows}
    for key, value in exact.items():
        if value == 0 and key not in got:
            continue  # no run overlapped that machine-day, or it held nothing
        assert abs(got.get(key, 0) - value) <= Fraction(1000001, 1000000), (key, value)


def test_amounts_are_whole_nano_units_and_currencies_stay_apart():
    """A bill in two currencies gives rows in each currency, never a sum across them."""
    lines = [{"key": "i-0aaa", "hour": 0, "billed": 1_000_000_001, "list": None,
              "effective": None, "usage": (1.0, "Hours"), "currency": "USD"},
             {"key": "i-0aaa", "hour": 0, "billed": 3_000_000_000, "list": None,
              "effective": None, "usage": (None, "GB"), "currency": "EUR"}]
    runs = [{"key": "i-0aaa", "start": 0, "seconds": 1800, "gpus": 0, "weight": None},
            {"key": "i-0aaa", "start": 1800, "seconds": 1800, "gpus": 0, "weight": None}]
    items, runs_t = _tables(lines, runs, {"i-0aaa": 0, "i-0bbb": 0})
    rows = allocate_tables(items, runs_t).to_pylist()
    usd = sorted(r["amount_nanos"] for r in rows if r["currency"] == "USD")
    eur = sorted(r["amount_nanos"] for r in rows if r["currency"] == "EUR")
    assert usd == [0, 500_000_000, 500_000_001]
    assert eur == [0, 1_500_000_000, 1_500_000_000]
