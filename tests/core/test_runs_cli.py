"""`xprof ls`, `xprof show` and `xprof rm` read and delete what runs recorded."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from xprof import schema


def _run(db, run_id: str, name: str, project: str, status: str, started: dt.datetime,
         tags: dict[str, str] | None = None, cost: str | None = None) -> None:
    db.create_run({"id": run_id, "name": name, "project": project, "status": status,
                   "started_at": started, "heartbeat_at": started, "interval_s": 1.0,
                   "flush_interval_s": 2.0, "command": ["python", "train.py", "--lr", "0.1"],
                   "host": "h", "duration_s": 90.0, "exit_code": 0 if status == "finished" else 1},
                  params={"lr": ("0.1", "argv")}, tags=tags)
    if cost:
        with db.write() as conn:
            conn.execute(schema.costs.insert().values(
                kind="run", run_id=run_id, source="estimate", basis="list",
                period_start=started, period_end=started, amount=Decimal(cost), currency="USD",
                computed_at=started))


def test_ls_filters_and_json(xprof, store):
    """--project, --tag, --status and --since narrow the list; --json gives ids and costs."""
    now = dt.datetime.now(dt.UTC)
    _run(store, "a" * 32, "old-vision", "vision", "finished", now - dt.timedelta(days=10),
         {"team": "cv"}, "1.50")
    _run(store, "b" * 32, "new-vision", "vision", "failed", now - dt.timedelta(hours=1),
         {"team": "cv"})
    _run(store, "c" * 32, "new-nlp", "nlp", "finished", now - dt.timedelta(hours=2),
         {"team": "nlp"}, "0.25")

    def names(*args: str) -> list[str]:
        result = xprof("ls", "--json", *args)
        assert result.returncode == 0, result.stderr
        return [r["name"] for r in json.loads(result.stdout)]

    assert names() == ["new-vision", "new-nlp", "old-vision"]
    assert names("--project", "vision") == ["new-vision", "old-vision"]
    assert names("--tag", "team=nlp") == ["new-nlp"]
    assert names("--status", "failed") == ["new-vision"]
    assert names("--since", "7d") == ["new-vision", "new-nlp"]
    rows = json.loads(xprof("ls", "--json", "--project", "nlp").stdout)
    assert rows[0]["cost"]["amount"] == "0.25" and rows[0]["cost"]["source"] == "estimate"
    table = xprof("ls").stdout
    assert "~$1.50" in table and "old-vision" in table
    bad = xprof("ls", "--since", "yesterday-ish")
    assert bad.returncode == 2 and "--since 'yesterday-ish'" in bad.stderr


def test_show_by_prefix_and_name(xprof, store):
    """RUN can be an id prefix or a name; --json has params, tags and the cost."""
    _run(store, "d" * 32, "calm-heron-20", "p", "finished", dt.datetime.now(dt.UTC),
         {"team": "ml"}, "2.00")
    by_name = json.loads(xprof("show", "calm-heron-20", "--json").stdout)
    assert by_name["id"] == "d" * 32
    assert by_name["params"] == {"lr": "0.1"} and by_name["tags"] == {"team": "ml"}
    assert by_name["cost"]["amount"] == "2"
    text = xprof("show", "dddd").stdout
    assert "calm-heron-20" in text and "lr=0.1" in text
    missing = xprof("show", "nope")
    assert missing.returncode == 2 and "no run matches 'nope'" in missing.stderr


def test_rm_deletes_a_run_and_its_rows(xprof, store):
    """`xprof rm RUN -y` removes the run, its params, tags and costs; others stay."""
    now = dt.datetime.now(dt.UTC)
    _run(store, "e" * 32, "gone", "p", "finished", now, {"a": "b"}, "1")
    _run(store, "f" * 32, "kept", "p", "finished", now)
    result = xprof("rm", "gone", "-y")
    assert result.returncode == 0 and "Deleted 1 run" in result.stderr
    assert [r["name"] for r in store.list_runs()] == ["kept"]
    with store.read() as conn:
        for table in (schema.run_params, schema.run_tags, schema.costs, schema.run_hosts):
            left = conn.execute(table.select().where(table.c.run_id == "e" * 32)).all()
            assert left == []
