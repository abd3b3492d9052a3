"""`xprof show` reads in human units (cores with two decimals, CPU-seconds, MiB) and shows a
failed run's last output lines (its traceback), from real `xprof run` subprocesses."""

from __future__ import annotations

import re
import sys

PY = sys.executable
FAILS = ("import time\nt = time.time()\nwhile time.time() - t < 1.2: pass\n"
         "print('epoch 1 done')\n1 / 0\n")


def test_show_of_a_failed_run(xprof, store):
    result = xprof("run", "--name", "div-zero", "--", PY, "-c", FAILS)
    assert result.returncode == 1
    shown = xprof("show", "div-zero")
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert re.search(r"  cpu        p50 \d+\.\d\d · p95 \d+\.\d\d cores · \d+\.\d\d CPU-s\n",
                     text), text
    assert re.search(r"  memory     peak \d+\.\d MiB in one process \(exact\) · "
                     r"\d+\.\d MiB whole tree \(sampled\)\n", text), text
    # no raw floats in front of a person (sub-cent money keeps its two significant digits)
    assert not re.search(r"(?<![$\d.])\d+\.\d{5,}", text), text
    assert re.search(r"  output     last \d+ lines:\n", text), text
    tail = text.split("  output     ")[1]
    assert "    epoch 1 done" in tail and "    ZeroDivisionError: division by zero" in tail
    assert tail.rstrip().endswith("ZeroDivisionError: division by zero")


def test_show_of_a_finished_run_has_no_output_section(xprof, store):
    result = xprof("run", "--name", "ok", "--", PY, "-c", "print('fine')")
    assert result.returncode == 0, result.stderr
    shown = xprof("show", "ok").stdout
    assert "  output " not in shown
    assert "  status     finished  exit 0" in shown
