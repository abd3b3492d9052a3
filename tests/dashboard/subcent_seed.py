"""A 3-run project with sub-cent costs, started a few minutes ago (this week so far) or a
week ago: the first day of a new user, for the default-period tests and the screenshots."""

from __future__ import annotations

import datetime as dt
import uuid

from tests.dashboard.report_seed import _cost, _row, hardware
from xprof.rollups import refresh_runs
from xprof.store import Store

# name, lr, val_acc, cost (USD)
RUNS = [("small-lr", 0.001, 0.912, "0.0031"), ("mid-lr", 0.01, 0.947, "0.0055"),
        ("big-lr", 0.1, 0.903, "0.0024")]


def seed_subcent(store: Store, started: dt.datetime | None = None) -> dict[str, str]:
    """Three finished runs of project ``mnist`` (objective val_acc, max), 2 minutes apart,
    costing $0.0031 + $0.0055 + $0.0024 = $0.011; the first starts at ``started`` (default:
    10 minutes ago, but never before this ISO week's Monday)."""
    now = dt.datetime.now(dt.UTC)
    monday = dt.datetime.combine(now.date() - dt.timedelta(days=now.weekday()), dt.time(),
                                 dt.UTC)
    start = started or max(now - dt.timedelta(minutes=10), monday)
    ids: dict[str, str] = {}
    for i, (name, lr, acc, cost) in enumerate(RUNS):
        run_id = ids[name] = uuid.uuid4().hex
        begin = start + dt.timedelta(seconds=2 * i)
        row = _row(run_id, name, "mnist", "ada", "finished", "t3.medium", "aws", f"i-{name}",
                   begin, 1 / 3600, hardware(0, None), ("val_acc", "max"))
        store.create_run(row, params={"lr": (str(lr), "cli"), "seed": ("1", "cli")})
        store.write_batch(run_id, row["host"], metrics=[
            {"seq": 1, "key": "val_acc", "value": acc, "step": 1,
             "ts": begin.timestamp() + 1, "source": "log"}])
        with store.write() as conn:
            _cost(conn, run_id, begin, 1 / 3600, "estimate", "list", cost, "USD", 0,
                  resource=f"i-{name}")
    refresh_runs(store)  # the cost rows above bypass the collector; recompute as it does
    return ids
