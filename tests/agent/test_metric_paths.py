"""Metrics reach the store three ways (xprof.log, stdout lines, --metrics-file), and the
command's own --flag value pairs become params."""

from __future__ import annotations

import sys
from pathlib import Path

import sqlalchemy as sa

from xprof import schema


def _metrics(store, run_id):
    m = schema.metrics
    with store.read() as conn:
        return [tuple(r) for r in conn.execute(
            sa.select(m.c.key, m.c.value, m.c.step, m.c.source)
            .where(m.c.run_id == run_id).order_by(m.c.seq))]


def test_three_metric_paths_and_argv_params(xprof, store, tmp_path: Path):
    """xprof.log, `xprof: {...}` lines, a --metric-pattern and a --metrics-file all land,
    with steps; --lr/--epochs=/--flag become params next to --param."""
    out_file = tmp_path / "final.json"
    script = tmp_path / "train.py"
    script.write_text(
        "import json, sys, xprof\n"
        "for step in range(3):\n"
        "    xprof.log(step=step, loss=1.0 / (step + 1))\n"
        "print('xprof: ' + json.dumps({'val_acc': 0.9, 'step': 2}))\n"
        "print('epoch 3 | top5=0.97', flush=True)\n"
        f"open({str(out_file)!r}, 'w').write(json.dumps({{'test_acc': 0.88}}))\n")
    result = xprof("run", "--quiet", "--param", "seed=7", "--objective", "val_acc:max",
                   "--metric-pattern", r"epoch (?P<step>\d+) \| top5=(?P<top5>[0-9.]+)",
                   "--metrics-file", str(out_file),
                   "--", sys.executable, str(script), "--lr", "3e-4", "--epochs=5", "--amp",
                   "--warmup", "-1")
    assert result.returncode == 0, result.stderr
    [run] = store.list_runs()
    rows = _metrics(store, run["id"])
    assert [r for r in rows if r[3] == "log"] == [
        ("loss", 1.0, 0, "log"), ("loss", 0.5, 1, "log"), ("loss", 1 / 3, 2, "log")]
    assert ("val_acc", 0.9, 2, "stdout") in rows
    assert ("top5", 0.97, 3, "stdout") in rows
    assert ("test_acc", 0.88, None, "file") in rows
    details = store.run_details(run["id"])
    assert details["params"] == {"lr": "3e-4", "epochs": "5", "amp": "true", "warmup": "-1",
                                 "seed": "7"}
    assert details["metrics"]["val_acc"]["value"] == 0.9
    assert (run["objective_name"], run["objective_mode"]) == ("val_acc", "max")


def test_log_outside_xprof_is_a_noop(tmp_path: Path):
    """Outside `xprof run`, xprof.log warns once and does nothing."""
    import subprocess

    result = subprocess.run([sys.executable, "-W", "default", "-c",
                             "import xprof\nxprof.log(a=1)\nxprof.log(a=2)\nprint('ok')"],
                            capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin"})
    assert result.stdout.strip() == "ok"
    assert result.stderr.count("not running under `xprof run`") == 1


def test_output_passes_through_in_order(xprof):
    """stdout and stderr reach the caller unchanged and in order, and a tail is kept."""
    script = "import sys\nfor i in range(500):\n    print(i)\nsys.stderr.write('done\\n')\n"
    result = xprof("run", "--quiet", "--", sys.executable, "-c", script)
    assert result.stdout == "".join(f"{i}\n" for i in range(500))
    assert result.stderr == "done\n"


def test_output_tail_is_kept(xprof, store):
    """The last lines of output are stored with the run."""
    result = xprof("run", "--quiet", "--", sys.executable, "-c",
                   "print('\\n'.join(f'line {i}' for i in range(10)))")
    assert result.returncode == 0
    [run] = store.list_runs()
    assert run["output_tail"].endswith("line 8\nline 9\n")
    assert run["command"][:2] == [sys.executable, "-c"]
