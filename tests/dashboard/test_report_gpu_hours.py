"""GPU-hours used and paid-but-idle, with their cost, follow the documented formula: per
machine, paid = GPUs × hours a run held it, used = GPUs the runs used × hours, idle = the
rest; runs of a sweep sharing one machine are not counted twice. Worked out by hand below."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from tests.dashboard.report_helpers import parse_html, run_report

# The seed's GPU runs in 2026-W47 (tests/dashboard/report_seed.py):
# - i-m1, 4 GPUs: sweep-a 10:00-12:00 on GPUs 0,1 and sweep-b 11:00-13:00 on GPUs 2,3, each
#   $5.672 for 2 GPUs × 2 h = $1.418 a GPU-hour. 10-11: 4 paid, 2 used; 11-12: 4 and 4;
#   12-13: 4 and 2 -> paid 12, used 8, idle 4: used $11.344, idle $5.672.
# - i-m2, 4 GPUs: lonely 2 h on 1 GPU, $6.12 -> $3.06 a GPU-hour; paid 8, used 2, idle 6:
#   used $6.12, idle $18.36.
# - an off-cloud box with 2 GPUs: cpu-on-gpu used none for 1 h, €2.00 for the whole machine
#   -> €1.00 a GPU-hour; paid 2, used 0, idle 2: idle €2.00.
# - multi-node: 2 hosts × 8 GPUs, all used, 1 h, $65.536 -> paid 16, used 16: used $65.536.
# - no-gpu-record: 2 GPUs, 1 h, never said which it used: left out, 2 GPU-hours noted.
PAID, USED, IDLE = 12 + 8 + 2 + 16, 8 + 2 + 0 + 16, 4 + 6 + 2
USED_USD = Decimal("11.344") + Decimal("6.12") + Decimal("65.536")
IDLE_USD = Decimal("5.672") + Decimal("18.36")


def test_gpu_hours_in_json(report_store, tmp_path) -> None:
    """JSON: paid 38, used 26, idle 12 GPU-hours; costs per currency as worked out above."""
    path = tmp_path / "r.json"
    assert run_report("--week", "2026-W47", "--format", "json", "--out", str(path),
                      "--store", report_store.url).exit_code == 0
    gpu = json.loads(path.read_text())["gpu"]
    assert (gpu["hours_paid"], gpu["hours_used"], gpu["hours_idle"]) == pytest.approx(
        (PAID, USED, IDLE))
    cost = {c["currency"]: (Decimal(c["used"]), Decimal(c["idle"])) for c in gpu["cost"]}
    assert cost == {"USD": (USED_USD, IDLE_USD), "EUR": (Decimal(0), Decimal("2"))}
    assert (gpu["runs"], gpu["machines"]) == (5, 5)
    assert (gpu["unrecorded_runs"], gpu["unrecorded_hours"]) == (1, pytest.approx(2.0))


def test_gpu_hours_table(report_store, tmp_path) -> None:
    """HTML: the GPU-hours table shows the same hours and costs, and names the left-out run."""
    path = tmp_path / "r.html"
    assert run_report("--week", "2026-W47", "--out", str(path), "--store",
                      report_store.url).exit_code == 0
    page = parse_html(path.read_text())
    rows = {r["What"].split(" (")[0]: r for r in page.tables["GPU-hours"]}
    assert rows["paid"]["GPU-hours"] == "38.0"
    assert (rows["used by runs"]["GPU-hours"], rows["used by runs"]["Cost"]) == (
        "26.0", "€0.00, $83.00")
    assert (rows["paid but idle"]["GPU-hours"], rows["paid but idle"]["Cost"]) == (
        "12.0", "€2.00, $24.03")
    assert any("did not record which GPUs" in p for p in page.paragraphs)


def test_gpu_hours_clip_to_the_period(report_store, tmp_path) -> None:
    """A period covering only part of a run counts only that part: 10:30-11:00 on the sweep."""
    from tests.dashboard.report_seed import W47, at
    from xprof.dashboard import report_gpu, report_queries
    from xprof.store import Store

    store = Store.open(report_store.url)
    start, end = at(W47, 34.5), at(W47, 35.5)  # 10:30-11:30 on Tuesday
    gpu = report_gpu.gpu_hours(*report_queries.gpu_runs(store, start, end), start, end)
    # 10:30-11:00 sweep-a alone (4 paid, 2 used); 11:00-11:30 both (4 and 4)
    assert (gpu["hours_paid"], gpu["hours_used"], gpu["hours_idle"]) == pytest.approx(
        (4.0, 3.0, 1.0))
