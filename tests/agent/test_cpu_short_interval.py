"""A CPU rate over a very short interval (the last sample, a few ms after the one before) does
not enter the run's CPU percentiles, and no reading exceeds the machine's cores."""

from __future__ import annotations

import os
import time

import pytest

from xprof.agent.proc_tree import ProcessTree
from xprof.agent.run_stats import RunStats


def series(rates: list[tuple[float, float]]) -> list[dict]:
    """Sample rows as the process tree writes them: (seconds since the previous, cores)."""
    ts, total = 1000.0, 50.0
    out = [{"ts": ts, "cpu_cores": None, "cpu_seconds_total": total}]
    for span, cores in rates:
        ts += span
        total += span * cores
        out.append({"ts": ts, "cpu_cores": cores, "cpu_seconds_total": total})
    return out


def test_short_last_interval_is_folded():
    """30 one-second samples at 1.0 core on 2 cores, then a last one 7 ms later reading 3.18
    cores: p95 and max stay ~1.0, the sample count is unchanged."""
    stats = RunStats(interval=1.0)
    rows = series([(1.0, 1.0)] * 30 + [(0.007, 3.18)])
    for row in rows:
        stats.add_sample(row)
    summary = stats.summary()
    assert summary["cpu_cores_p95"] == pytest.approx(1.0, abs=0.02)
    assert summary["cpu_cores_max"] <= 2.0
    assert summary["cpu_cores_max"] == pytest.approx(1.0, abs=0.02)
    assert summary["samples"] == len(rows)


def test_short_first_interval_joins_the_next():
    """A short first interval is folded into the next one: the CPU seconds are all counted."""
    stats = RunStats(interval=1.0)
    for row in series([(0.01, 3.0), (1.0, 1.0), (1.0, 0.5)]):
        stats.add_sample(row)
    assert list(stats.cpu_cores) == pytest.approx([(0.03 + 1.0) / 1.01, 0.5])


def test_tree_rate_over_a_few_ms_spans_the_interval_before():
    """The process tree's own reading for a sample a few ms after the previous covers the
    interval before it too (never a rate over 7 ms of 10 ms kernel ticks)."""
    tree = ProcessTree(os.getpid())
    first = tree.measure(time.time())
    start = time.process_time()
    while time.process_time() - start < 0.3:
        pass
    second = tree.measure(time.time())
    third = tree.measure(second.ts + 0.007)
    assert first.cpu_cores is None and second.cpu_cores is not None
    spanned = (third.cpu_seconds_total - first.cpu_seconds_total) / (third.ts - first.ts)
    assert third.cpu_cores == pytest.approx(spanned)
    tree.close()
