"""Conservation, as a property: for random runs and random bills, on every resource, day,
currency and basis, Σ run shares + idle equals the bill exactly, and every share is within one
nano-unit of its exact value (computed here with fractions, independently of the SQL)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from fractions import Fraction

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xprof.collector.allocate import allocate_tables

HOUR = 3_600_000_000
DAY = 24 * HOUR
T0 = int(dt.datetime(2024, 9, 29, tzinfo=dt.UTC).timestamp()) * 1_000_000
KEYS = ("i-0aaa", "i-0bbb")

line = st.fixed_dictionaries({
    "billed": st.integers(-5_000_000_000, 50_000_000_000),
    "list": st.one_of(st.none(), st.integers(0, 60_000_000_000)),
    "effective": st.one_of(st.none(), st.integers(-1_000_000_000, 40_000_000_000)),
    "quantity": st.one_of(st.none(), st.sampled_from([1.0, 0.5, 0.296111, 0.01, 2.0])),
    "unit": st.sampled_from(["Hours", "GB", "Hrs"]),
    "currency": st.sampled_from(["USD", "USD", "EUR"]),
})
bill = st.lists(st.tuples(st.sampled_from(KEYS), st.integers(0, 71), line), min_size=1,
                max_size=40)
run = st.tuples(st.sampled_from(KEYS), st.integers(-2 * HOUR, 72 * HOUR),
                st.integers(60_000_000, 40 * HOUR),
                st.sampled_from([(None, None), (4, 8), (2, 8), (6, 8), (1, 1), (8, 8)]))
runs = st.lists(run, max_size=6)


def _tables(lines, run_list):
    items = pa.table({
        "source": ["focus:/bill.csv"] * len(lines),
        "resource_id": [k for k, _, _ in lines],
        "period_start_us": pa.array([T0 + h * HOUR for _, h, _ in lines], pa.int64()),
        "period_end_us": pa.array([T0 + (h + 1) * HOUR for _, h, _ in lines], pa.int64()),
        "usage_quantity": pa.array([ln["quantity"] for _, _, ln in lines], pa.float64()),
        "usage_unit": [ln["unit"] for _, _, ln in lines],
        "instance_type": ["p4d.24xlarge"] * len(lines),
        "list_nanos": pa.array([ln["list"] for _, _, ln in lines], pa.int64()),
        "billed_nanos": pa.array([ln["billed"] for _, _, ln in lines], pa.int64()),
        "effective_nanos": pa.array([ln["effective"] for _, _, ln in lines], pa.int64()),
        "currency": [ln["currency"] for _, _, ln in lines],
    })
    shares = [Fraction(u, t) if u else Fraction(1) for _, _, _, (u, t) in run_list]
    runs_t = pa.table({
        "run_id": [f"run{i}" for i in range(len(run_list))],
        "key": [k for k, _, _, _ in run_list],
        "start_us": pa.array([T0 + s for _, s, _, _ in run_list], pa.int64()),
        "end_us": pa.array([T0 + s + d for _, s, d, _ in run_list], pa.int64()),
        "share": pa.array([float(f) for f in shares], pa.float64()),
        "ended": [True] * len(run_list),
    })
    return items, runs_t, shares


def _exact(lines, run_list, shares):
    """Each (participant, key, day, currency, basis) share as an exact fraction."""
    ran: dict[tuple, Fraction] = {}  # (key, hour) -> hours the instance says it ran
    for key, h, ln in lines:
        if ln["unit"] in ("Hours", "Hrs") and ln["quantity"]:
            ran[(key, h)] = max(ran.get((key, h), Fraction(0)), Fraction(ln["quantity"]) * HOUR)
    out: dict[tuple, Fraction] = defaultdict(Fraction)
    for key, h, ln in lines:
        ps, pe = h * HOUR, (h + 1) * HOUR
        cap = min(Fraction(HOUR), ran.get((key, h), Fraction(HOUR)))
        weights = {}
        for i, (rkey, start, dur, _) in enumerate(run_list):
            overlap = min(pe, start + dur) - max(ps, start)
            if rkey == key and overlap > 0:
                weights[f"run{i}"] = overlap * shares[i]
        denominator = max(cap, sum(weights.values(), Fraction(0)))
        day = (T0 + ps) // DAY
        for basis in ("billed", "list", "effective"):
            amount = ln[basis]
            if amount is None:
                continue
            group = (key, day, ln["currency"], basis)
            used = Fraction(0)
            for rid, w in weights.items():
                part = amount * w / denominator
                out[(rid, *group)] += part
                used += part
            out[(None, *group)] += amount - used
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=bill, run_list=runs)
def test_shares_plus_idle_equal_the_bill(lines, run_list):
    """Σ run shares + idle = the bill exactly per resource, day, currency and basis, and each
    share is within one nano-unit of the exact fraction of the bill."""
    items, runs_t, shares = _tables(lines, run_list)
    alloc = allocate_tables(items, runs_t).to_pylist()
    totals: dict[tuple, int] = defaultdict(int)
    for key, h, ln in lines:
        for basis in ("billed", "list", "effective"):
            if ln[basis] is not None:
                totals[(key, (T0 + h * HOUR) // DAY, ln["currency"], basis)] += ln[basis]
    allocated: dict[tuple, int] = defaultdict(int)
    for row in alloc:
        allocated[(row["key"], row["day"], row["currency"], row["basis"])] += row["amount_nanos"]
    assert allocated == totals
    exact = _exact(lines, run_list, shares)
    got = {(r["run_id"], r["key"], r["day"], r["currency"], r["basis"]): r["amount_nanos"]
           for r in alloc}
    for key, value in exact.items():
        if key[0] is not None and value == 0 and key not in got:
            continue  # a run with zero overlap weight has no row
        assert abs(got.get(key, 0) - value) <= Fraction(1000001, 1000000), (key, value)


def test_amounts_are_whole_nano_units_and_currencies_stay_apart():
    """A bill in two currencies gives rows in each currency, never a sum across them."""
    lines = [("i-0aaa", 0, {"billed": 1_000_000_001, "list": None, "effective": None,
                            "quantity": 1.0, "unit": "Hours", "currency": "USD"}),
             ("i-0aaa", 0, {"billed": 3_000_000_000, "list": None, "effective": None,
                            "quantity": None, "unit": "GB", "currency": "EUR"})]
    run_list = [("i-0aaa", 0, HOUR // 2, (None, None)), ("i-0aaa", HOUR // 2, HOUR // 2,
                                                         (None, None))]
    items, runs_t, _ = _tables(lines, run_list)
    rows = allocate_tables(items, runs_t).to_pylist()
    usd = sorted(r["amount_nanos"] for r in rows if r["currency"] == "USD")
    eur = sorted(r["amount_nanos"] for r in rows if r["currency"] == "EUR")
    assert usd == [0, 500_000_000, 500_000_001]
    assert eur == [0, 1_500_000_000, 1_500_000_000]
