"""The command's output reaches xprof's stdout and stderr as it would without xprof: one file
for both keeps their order, and a closed pipe ends the command with SIGPIPE."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import XPROF

PY = sys.executable
ENV = dict(os.environ, XPROF_FLUSH_INTERVAL="0.5")


def test_stdout_and_stderr_into_one_file_keep_their_order(tmp_path: Path):
    """`xprof run -- train >log 2>&1`: 200 lines alternating between stdout and stderr come
    out in the order the command wrote them."""
    script = ("import sys\n"
              "for i in range(200):\n"
              "    stream = sys.stdout if i % 2 == 0 else sys.stderr\n"
              "    print(i, file=stream, flush=True)\n")
    log = tmp_path / "log"
    with open(log, "wb") as out:
        code = subprocess.call([*XPROF, "run", "--quiet", "--", PY, "-c", script],
                               stdout=out, stderr=subprocess.STDOUT, env=ENV, timeout=120)
    assert code == 0
    assert log.read_text().split() == [str(i) for i in range(200)]


def test_stdout_and_stderr_to_two_files_stay_apart(tmp_path: Path):
    """With stdout and stderr in different files, each gets only its own stream."""
    script = "import sys\nprint('to-out')\nprint('to-err', file=sys.stderr)\n"
    out, err = tmp_path / "out", tmp_path / "err"
    with open(out, "wb") as o, open(err, "wb") as e:
        code = subprocess.call([*XPROF, "run", "--quiet", "--", PY, "-c", script],
                               stdout=o, stderr=e, env=ENV, timeout=120)
    assert code == 0
    assert out.read_text() == "to-out\n"
    assert err.read_text() == "to-err\n"


def test_a_closed_pipe_ends_the_command_with_sigpipe():
    """`xprof run -- yes | head -1` ends: when the reader is gone, the command gets SIGPIPE
    (xprof exits 141, as `yes` does without xprof)."""
    result = subprocess.run(
        ["bash", "-c", f"{' '.join(XPROF)} run --quiet -- yes | head -1; "
                       "echo codes ${PIPESTATUS[@]}"],
        capture_output=True, text=True, env=ENV, timeout=60)
    assert result.stdout.splitlines() == ["y", "codes 141 0"], result
