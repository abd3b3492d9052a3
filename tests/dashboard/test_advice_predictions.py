"""The Recommendations and run pages show, for advice that suggests another machine, the
predicted time and cost per run of each candidate of the time/cost frontier."""

from __future__ import annotations

from pathlib import Path

from tests.collector.advise_seed import GIB, L40S, gpu_row, seed_run
from tests.collector.test_advise_frontier import CURRENT, offer
from tests.dashboard.helpers import frame_with, plain
from xprof.collector import catalog
from xprof.collector.advise import advise_run
from xprof.store import Store


def advised_store(tmp_path: Path) -> tuple[str, str]:
    """A memory-bound 1-hour L40S run, advised against a T4 ($0.40/h, 2.615× as long) and a
    V100 ($1.50/h, 0.962×)."""
    url = f"sqlite:///{tmp_path / 'xprof.db'}"
    store = Store.open(url)
    catalog.write_prices(store, [CURRENT, offer("t4.small", 4, 16, "T4", 16, "0.40"),
                                 offer("v100.small", 8, 61, "V100", 16, "1.50")])

    def row(k: int, i: int, t: float) -> dict:
        return {**gpu_row(95.0, 4 * GIB, L40S[1], 4 * GIB, True), "util_mem_pct": 90.0}
    run = seed_run(store, gpu=L40S, gpu_count=1, instance_type="g6e.xlarge", region="test-1",
                   cpu_count=4, memory_gib=32, duration_s=3600, gpu_fn=row,
                   host_fn=lambda k, t: {"cpu_cores": 1.0, "rss_bytes": 3 * GIB})
    assert any(r.suggested_instance == "t4.small" for r in advise_run(store, run))
    return url, run


def check_candidates(at) -> None:
    table = frame_with(at, "role", "instance", "predicted time", "predicted cost per run")
    rows = [list(r) for r in zip(table["role"], table["predicted time"],
                                 table["predicted cost per run"], table["trade-off"],
                                 strict=True)]
    assert rows[:2] == [
        ["cheapest", "2h36m", "$1.05", "≈ 2.6× longer, 44 % cheaper per run"],
        ["fastest", "57m", "$1.44", "≈ same time, 22 % cheaper per run"]]
    assert table["instance"].tolist()[0].startswith("t4.small (4 vCPU, 16 GiB, 1× T4 16 GB)")


def test_recommendations_page_shows_predicted_time_and_cost(tmp_path, open_page) -> None:
    url, _ = advised_store(tmp_path)
    at = open_page("views/recommendations.py", url)
    check_candidates(at)
    assert any("predicted on the suggested machine: 2h36m, $1.05 a run" in plain(c.value)
               for c in at.caption)


def test_run_page_shows_predicted_time_and_cost(tmp_path, open_page) -> None:
    url, run = advised_store(tmp_path)
    at = open_page("views/run.py", url, run=run)
    check_candidates(at)
    assert any("this run took 1h" in plain(c.value) for c in at.caption)
