"""The git state and package list a run records are complete and right, however cheaply
they are read (one `git status`, `git diff` only for a dirty tree; packages read in-process
when the command's Python is xprof's own): each fact is checked against git itself and
against the interpreter's own ``importlib.metadata``, in real repositories and a real venv.
A run whose child exits at once is still recorded whole."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import XPROF
from xprof import schema
from xprof.agent.context import git_state, installed_packages, is_own_interpreter
from xprof.store import Store

PY = sys.executable
GIT_ENV = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@x", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@x")
# the thorough (slow) listing: the email parser over every METADATA, first on the path wins
REFERENCE = ("import importlib.metadata as m, json\nfound = {}\n"
             "for d in m.distributions():\n"
             "    found.setdefault(d.metadata['Name'] or '?', d.version)\n"
             "print(json.dumps(found))")


def git(repo: Path, *argv: str) -> str:
    return subprocess.run(["git", *argv], cwd=repo, env=GIT_ENV, check=True,
                          capture_output=True, text=True).stdout


def new_repo(path: Path, commit: bool = True) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    (path / "train.py").write_text("print('hi')\n")
    (path / "data.txt").write_text("a\n")
    if commit:
        git(path, "add", ".")
        git(path, "commit", "-q", "-m", "one")
    return path


def reference_packages(python: str, cwd: Path) -> dict[str, str]:
    out = subprocess.run([python, "-c", REFERENCE], cwd=cwd, capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out)


# -- git ----------------------------------------------------------------------------------
def test_clean_tree(tmp_path: Path):
    repo = new_repo(tmp_path / "proj")
    (repo / "untracked.txt").write_text("not part of the state\n")
    state = git_state(repo)
    assert state == {"repo": "proj", "commit": git(repo, "rev-parse", "HEAD").strip(),
                     "branch": "main", "dirty": False, "diff_sha256": None, "diff_bytes": 0,
                     "diff": None}


def test_dirty_tree_staged_and_unstaged(tmp_path: Path):
    repo = new_repo(tmp_path / "proj")
    (repo / "train.py").write_text("print('changed')\n")
    (repo / "new.py").write_text("x = 1\n")
    git(repo, "add", "new.py")
    (repo / "sub").mkdir()
    state = git_state(repo / "sub")  # from a folder inside the tree
    diff = subprocess.run(["git", "diff", "HEAD", "--no-color", "--no-ext-diff"], cwd=repo,
                          capture_output=True, check=True).stdout
    assert state["commit"] == git(repo, "rev-parse", "HEAD").strip()
    assert state["branch"] == "main" and state["dirty"] is True
    assert state["diff_sha256"] == hashlib.sha256(diff).hexdigest()
    assert state["diff_bytes"] == len(diff) > 0
    assert state["diff"] == diff.decode()
    assert "+print('changed')" in state["diff"] and "+x = 1" in state["diff"]


def test_only_staged_change_is_dirty(tmp_path: Path):
    repo = new_repo(tmp_path / "proj")
    git(repo, "rm", "-q", "--cached", "data.txt")  # staged deletion, file still on disk
    state = git_state(repo)
    assert state["dirty"] is True and state["diff_bytes"] > 0
    assert "deleted file mode" in state["diff"]


def test_detached_head_and_other_branch(tmp_path: Path):
    repo = new_repo(tmp_path / "proj")
    first = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "-b", "feature/lr-sweep")
    assert git_state(repo)["branch"] == "feature/lr-sweep"
    git(repo, "checkout", "-q", "--detach", first)
    state = git_state(repo)
    assert state["branch"] == "HEAD"  # what `git rev-parse --abbrev-ref HEAD` says
    assert state["commit"] == first and state["dirty"] is False


def test_repository_without_commits(tmp_path: Path):
    repo = new_repo(tmp_path / "proj", commit=False)
    assert git_state(repo) == {"repo": "proj", "commit": None, "branch": "main",
                               "dirty": False, "diff_sha256": None, "diff_bytes": None,
                               "diff": None}
    git(repo, "add", "train.py")
    state = git_state(repo)
    assert state["commit"] is None and state["dirty"] is True and state["diff_bytes"] is None


def test_outside_any_repository(tmp_path: Path):
    folder = tmp_path / "plain"
    folder.mkdir()
    assert git_state(folder) is None


# -- packages -----------------------------------------------------------------------------
def test_own_interpreter_packages_read_in_process(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch):
    """xprof's own Python: read in-process, and equal to the thorough listing."""
    monkeypatch.chdir(tmp_path)  # the command's folder is on its path (`python -c`): ours too
    assert is_own_interpreter(PY)
    listed = installed_packages([PY, "train.py"])
    assert listed == reference_packages(PY, tmp_path)
    assert listed["SQLAlchemy"] == reference_packages(PY, tmp_path)["SQLAlchemy"]


def test_command_that_is_not_python_lists_xprofs_packages(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    assert installed_packages(["true"]) == reference_packages(PY, tmp_path)


@pytest.fixture(scope="module")
def other_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real venv of the same Python with one package of its own, not xprof's."""
    root = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([PY, "-m", "venv", "--without-pip", str(root)], check=True)
    site = next((root / "lib").glob("python3*/site-packages"))
    dist = site / "tiny_pkg-1.2.3.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: Tiny-Pkg\nVersion: 1.2.3\n"
                                   "Summary: a test package\n\nName: not a header\n")
    return root / "bin" / "python"


def test_other_python_lists_its_own_packages(other_venv: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch):
    """A venv's python links to the same binary but is another environment: its packages
    are listed by running it (in the command's folder), and they are its own."""
    monkeypatch.chdir(tmp_path)
    assert not is_own_interpreter(str(other_venv))
    listed = installed_packages([str(other_venv), "train.py"])
    assert listed == reference_packages(str(other_venv), tmp_path) == {"Tiny-Pkg": "1.2.3"}


def test_every_layout_of_installed_metadata(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """dist-info, egg-info folders and files, headers past the first 2 KB, a zip on the
    path and a name installed twice: the same {name: version} as importlib.metadata's
    thorough listing."""
    root = tmp_path / "env"
    subprocess.run([PY, "-m", "venv", "--without-pip", str(root)], check=True)
    site = next((root / "lib").glob("python3*/site-packages"))
    (site / "a_pkg-1.0.dist-info").mkdir()
    (site / "a_pkg-1.0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: A-Pkg\nVersion: 1.0\n\n" + "x" * 5000)
    late = "".join(f"Classifier: Topic :: {i}\n" for i in range(200))  # 5 KB of headers
    (site / "late-2.0.dist-info").mkdir()
    (site / "late-2.0.dist-info" / "METADATA").write_text(
        f"Metadata-Version: 2.1\n{late}Name: Late\nVersion: 2.0\n\nbody\n")
    (site / "eggy.egg-info").mkdir()
    (site / "eggy.egg-info" / "PKG-INFO").write_text("Metadata-Version: 1.0\nName: eggy\n"
                                                     "Version: 0.3\n")
    (site / "flat-0.1-py3.11.egg-info").write_text("Metadata-Version: 1.0\nName: flat\n"
                                                   "Version: 0.1\n")
    first = tmp_path / "first"  # on the path before site-packages: its A-Pkg wins
    (first / "a_pkg-9.dist-info").mkdir(parents=True)
    (first / "a_pkg-9.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: A-Pkg\nVersion: 9\n")
    zipped = tmp_path / "z.zip"
    with zipfile.ZipFile(zipped, "w") as z:
        z.writestr("zed-4.dist-info/METADATA", "Metadata-Version: 2.1\nName: zed\nVersion: 4\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", f"{first}{os.pathsep}{zipped}")
    python = str(root / "bin" / "python")
    listed = installed_packages([python, "train.py"])
    assert listed == reference_packages(python, tmp_path)
    assert listed == {"A-Pkg": "9", "zed": "4", "Late": "2.0", "eggy": "0.3", "flat": "0.1"}


# -- a child that exits at once is recorded whole -------------------------------------------
def test_child_that_exits_at_once_is_recorded_whole(tmp_path: Path, xprof_home: Path):
    repo = new_repo(tmp_path / "proj")
    (repo / "train.py").write_text("print('dirty')\n")
    done = subprocess.run([*XPROF, "run", "--name", "blink", "--tag", "k=v", "--",
                           PY, "-c", "raise SystemExit(3)", "--lr", "0.1"],
                          cwd=repo, capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stderr
    assert "Traceback" not in done.stderr
    db = Store.open(f"sqlite:///{xprof_home / 'xprof.db'}")
    [run] = db.list_runs()
    full = db.find_run(run["id"])
    assert (full["name"], full["status"], full["exit_code"]) == ("blink", "failed", 3)
    assert full["ended_at"] is not None and full["duration_s"] > 0
    assert full["git"]["commit"] == git(repo, "rev-parse", "HEAD").strip()
    assert full["git"]["branch"] == "main" and full["git"]["dirty"] is True
    assert "+print('dirty')" in full["git"]["diff"]
    assert full["environment"]["packages"] == reference_packages(PY, repo)
    with db.read() as conn:
        p, t = schema.run_params, schema.run_tags
        params = dict(conn.execute(sa.select(p.c.key, p.c.value)
                                   .where(p.c.run_id == run["id"])).all())
        tags = dict(conn.execute(sa.select(t.c.key, t.c.value)
                                 .where(t.c.run_id == run["id"])).all())
        samples = conn.execute(sa.select(sa.func.count()).select_from(schema.samples)
                               .where(schema.samples.c.run_id == run["id"])).scalar()
        estimates = conn.execute(sa.select(sa.func.count()).select_from(schema.costs).where(
            schema.costs.c.run_id == run["id"], schema.costs.c.source == "estimate")).scalar()
    assert params == {"lr": "0.1"} and tags == {"k": "v"}
    assert samples == full["summary"]["samples"] >= 1
    assert estimates == 1
