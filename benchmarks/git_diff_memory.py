"""Peak memory of recording a run's git state: a clean tree against one with a 56 MB dirty
file (goal: the diff adds under 60 MB; it is hashed in chunks and 64 KiB of it are kept).

    python benchmarks/git_diff_memory.py

Each measurement is a fresh process calling ``git_state`` (the agent's own code); its peak
RSS comes from the kernel (ru_maxrss). Clean and dirty runs alternate; medians are shown.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

PROBE = ("import sys; from pathlib import Path; from xprof.agent.context import git_state; "
         "g = git_state(Path(sys.argv[1])); assert g and g['commit']")
ROUNDS = 3
DIRTY_MB = 56


def _repo(path: Path, dirty: bool) -> Path:
    path.mkdir()
    env = dict(os.environ, GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@x", GIT_COMMITTER_NAME="b",
               GIT_COMMITTER_EMAIL="b@x")
    (path / "data.txt").write_text("start\n")
    for argv in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "one"]):
        subprocess.run(["git", *argv], cwd=path, check=True, env=env)
    if dirty:
        line = "x" * 99 + "\n"
        (path / "data.txt").write_text(line * (DIRTY_MB * 1024 * 1024 // len(line)))
    return path


def _peak_mib(repo: Path) -> float:
    """ru_maxrss (KiB on Linux) of one probe process, waited for alone."""
    proc = subprocess.Popen([sys.executable, "-c", PROBE, str(repo)])
    _, status, usage = os.wait4(proc.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return usage.ru_maxrss / 1024


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        repos = {"clean": _repo(Path(tmp) / "clean", False),
                 f"{DIRTY_MB} MB dirty": _repo(Path(tmp) / "dirty", True)}
        peaks: dict[str, list[float]] = {name: [] for name in repos}
        for _ in range(ROUNDS):
            for name, repo in repos.items():
                peaks[name].append(_peak_mib(repo))
    base = statistics.median(peaks["clean"])
    print("| tree | peak RSS (median of 3) | added by the diff |")
    print("| --- | --- | --- |")
    for name, values in peaks.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.1f} MiB | {median - base:+.1f} MiB |")


if __name__ == "__main__":
    main()
