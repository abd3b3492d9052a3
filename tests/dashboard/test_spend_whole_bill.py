"""The Spend page shows the whole bill (issue 15 #1): after importing the real FOCUS sample,
the billed total is the file's Σ BilledCost, split into runs + idle + other spend, with the
bill by provider and service as the file has it (computed here from the CSV)."""

from __future__ import annotations

import csv
from collections import defaultdict
from decimal import ROUND_HALF_EVEN, Decimal

from tests.collector.billing_helpers import FOCUS_SAMPLE, run_on
from tests.collector.helpers import utc
from tests.dashboard.helpers import frame_with
from xprof.collector.allocate import allocate_store
from xprof.collector.billing.focus import import_focus
from xprof.dashboard.formatting import money
from xprof.store import Store

PAGE = "views/spend.py"


def _file_sums() -> tuple[Decimal, dict[str, Decimal]]:
    total, by_service = Decimal(0), defaultdict(Decimal)
    with open(FOCUS_SAMPLE, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            cost = Decimal(row["BilledCost"]).quantize(Decimal("1e-9"), ROUND_HALF_EVEN)
            total += cost
            service = row["ServiceName"] if row["ServiceName"] not in ("", "NULL") else "(none)"
            by_service[service] += cost
    return total, by_service


def test_spend_page_shows_the_whole_bill(tmp_path, open_page):
    url = f"sqlite:///{tmp_path / 'xprof.db'}"
    store = Store.open(url)
    run_on(store, "i-081360af1l266l589", utc(2024, 9, 26, 0, 15), 1800,
           instance_type="c5.2xlarge")
    import_focus(store, str(FOCUS_SAMPLE))
    allocate_store(store)
    total, by_service = _file_sums()

    at = open_page(PAGE, url)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Billed total (USD)"] == money(total, "USD") == "$20.52"
    assert metrics["Bill: runs (USD)"] == "$0.17"
    parts = [Decimal(metrics[f"Bill: {k} (USD)"].lstrip("$")) for k in ("runs", "idle",
                                                                         "other spend")]
    assert abs(sum(parts) - total) <= Decimal("0.015")  # three amounts rounded to the cent
    service = frame_with(at, "service", "amount")
    assert dict(zip(service["service"], service["amount"], strict=True)) == {
        k: money(v, "USD") for k, v in by_service.items()}
    provider = frame_with(at, "provider", "amount")
    assert set(provider["provider"]) == {"aws", "azure", "oracle"}
