"""What the run had is never lost and never holds the exit: a locked store (SQLite, or a
PostgreSQL table locked from psql), a store that flips mid-run, a full disk, a run shorter than
the first flush. Each test records a real run, then checks what a user would: the exit code,
when xprof came back, and the run made whole by `xprof sync`."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import XPROF
from xprof import schema
from xprof.store import Store

PY = sys.executable


def _count(db: Store, table: sa.Table, run_id: str) -> int:
    with db.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)
                            .where(table.c.run_id == run_id)).scalar()


def _estimates(db: Store, run_id: str) -> int:
    c = schema.costs
    with db.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(c).where(
            c.c.run_id == run_id, c.c.source == "estimate")).scalar()


def git_repo(path: Path) -> Path:
    """A real git work tree with one commit."""
    path.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@x", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@x")
    (path / "train.py").write_text("print('hi')\n")
    for argv in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "one"]):
        subprocess.run(["git", *argv], cwd=path, check=True, env=env, capture_output=True)
    return path


def _start(args: list[str], env: dict[str, str], cwd: Path, script: str,
           marker: Path) -> subprocess.Popen:
    """`xprof run` of a Python child that touches ``marker`` and then does ``script``."""
    code = f"import pathlib, time\npathlib.Path({str(marker)!r}).touch()\n{script}"
    agent = subprocess.Popen([*XPROF, "run", *args, "--", PY, "-c", code], env=env, cwd=cwd,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), "the child never started"
    return agent


def _sync(env: dict[str, str]) -> subprocess.CompletedProcess:
    synced = subprocess.run([*XPROF, "sync"], env=env, capture_output=True, text=True,
                            timeout=120)
    assert synced.returncode == 0, synced.stderr
    return synced


def _assert_whole(db: Store, status: str = "finished") -> dict:
    """One run, ended, with every sample it took, its git, environment, packages and
    estimate."""
    [run] = db.list_runs()
    assert run["status"] == status
    assert _count(db, schema.samples, run["id"]) == run["summary"]["samples"] > 0
    full = db.find_run(run["id"])
    assert full["git"] and full["git"]["commit"], full["git"]
    assert full["environment"] and full["environment"]["packages"], "environment lost"
    assert _estimates(db, run["id"]) == 1, "the estimate was dropped"
    return full


def _env(**extra: str) -> dict[str, str]:
    return dict(os.environ, XPROF_INTERVAL="0.2", XPROF_FLUSH_INTERVAL="0.5", **extra)


# -- item 2: a locked store does not hold the exit --------------------------------------------
def test_locked_sqlite_store_does_not_hold_the_exit(tmp_path: Path, xprof_home: Path):
    """The store is locked by another connection when the child ends: xprof exits with the
    child's code while the lock is still held, spooling what is left; sync makes it whole."""
    repo = git_repo(tmp_path / "repo")
    db_path = xprof_home / "xprof.db"
    Store.open(f"sqlite:///{db_path}")
    env = _env(XPROF_EXIT_WAIT="2")
    agent = _start(["--name", "locked"], env, repo, "time.sleep(2.5)\nraise SystemExit(7)",
                   tmp_path / "started")
    time.sleep(1.5)  # the run is in the store; now a second connection takes the lock
    locker = subprocess.Popen([PY, "-c", (
        "import sqlite3, sys, time\n"
        f"c = sqlite3.connect({str(db_path)!r}, isolation_level=None)\n"
        "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(120)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert locker.stdout.readline().strip() == "locked"
        _out, err = agent.communicate(timeout=100)
        assert locker.poll() is None, "xprof waited for the lock to go"
    finally:
        locker.kill()
        locker.wait()
    assert agent.returncode == 7, err
    assert "Traceback" not in err
    assert "exit_wait" in err and "xprof sync" in err
    _sync(env)
    _assert_whole(Store.open(f"sqlite:///{db_path}"), status="failed")


def test_postgresql_samples_locked_from_psql(tmp_path: Path, pg_server):
    """`LOCK TABLE samples IN ACCESS EXCLUSIVE MODE` from psql mid-run: xprof exits with the
    child's code while psql holds the lock, without a traceback; git is kept; sync makes the
    run whole."""
    url = pg_server.create_database()
    Store.open(url)
    repo = git_repo(tmp_path / "repo")
    env = _env(XPROF_STORE=url, XPROF_EXIT_WAIT="2")
    agent = _start(["--name", "pg-locked"], env, repo, "time.sleep(3)", tmp_path / "started")
    time.sleep(1.5)
    database = url.rsplit("/", 1)[1]
    psql = subprocess.Popen(
        [str(pg_server.bindir / "psql"), "-h", "127.0.0.1", "-p", str(pg_server.port), "-U",
         "xprof", "-d", database, "-v", "ON_ERROR_STOP=1"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        psql.stdin.write("BEGIN;\nLOCK TABLE samples IN ACCESS EXCLUSIVE MODE;\n"
                         "SELECT 'held';\nSELECT pg_sleep(120);\n")
        psql.stdin.flush()
        while "held" not in (line := psql.stdout.readline()):
            assert line, "psql ended before taking the lock"
        _out, err = agent.communicate(timeout=100)
        assert psql.poll() is None, "xprof waited for the lock to go"
    finally:
        psql.kill()
        psql.wait()
    assert agent.returncode == 0, err
    assert "Traceback" not in err and "IndexError" not in err
    _sync(env)
    _assert_whole(Store.open(url))


# -- item 6: the store flips mid-run; the spool carries the whole run -------------------------
@pytest.mark.parametrize("outage", ["down-at-start", "down-until-end"])
def test_store_flip_keeps_the_whole_run(tmp_path: Path, xprof_home: Path, outage: str):
    """PostgreSQL is down when the run starts and comes back, or goes down mid-run until after
    the end: after `xprof sync` the run has its git, environment, packages and estimate."""
    from tests.pg_server import PostgresServer, pg_bin

    if pg_bin() is None:
        pytest.skip("PostgreSQL server binaries not installed")
    server = PostgresServer()
    try:
        url = server.create_database()
        Store.open(url)
        repo = git_repo(tmp_path / "repo")
        env = _env(XPROF_STORE=url)
        if outage == "down-at-start":
            server.stop()
        agent = _start(["--name", outage], env, repo, "time.sleep(9)", tmp_path / "started")
        time.sleep(3)
        if outage == "down-at-start":
            server.start()
        else:
            server.stop()
        _out, err = agent.communicate(timeout=120)
        assert agent.returncode == 0, err
        if outage == "down-until-end":
            server.start()
        _sync(env)
        _assert_whole(Store.open(url))
    finally:
        server.close()


def _mount_tmpfs(path: Path, size: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a tmpfs (a real full disk)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")


def _fill(folder: Path) -> Path:
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    return filler


@pytest.fixture
def tmpfs(tmp_path: Path):
    mount = tmp_path / "tmpfs"
    _mount_tmpfs(mount, "16m")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_store_read_only_mid_run(tmp_path: Path, tmpfs: Path, monkeypatch):
    """The store's file system turns read-only mid-run (remount ro): the spool gets the rest
    of the run and `xprof sync` makes it whole, git, environment and estimate included."""
    monkeypatch.setenv("XPROF_SPOOL", str(tmp_path / "spool.db"))
    db_url = f"sqlite:///{tmpfs / 'xprof.db'}"
    Store.open(db_url)
    repo = git_repo(tmp_path / "repo")
    env = _env(XPROF_STORE=db_url)
    agent = _start(["--name", "ro"], env, repo, "time.sleep(6)", tmp_path / "started")
    time.sleep(2.5)
    # the folder turns read-only under the agent: a read-only view mounted over it (a remount
    # of the tmpfs itself is refused while the agent's writer holds the store open; the
    # agent's open connection writes on, every store opened from now on cannot write)
    subprocess.run(["mount", "--bind", str(tmpfs), str(tmpfs)], check=True)
    subprocess.run(["mount", "-o", "remount,bind,ro", str(tmpfs)], check=True)
    _out, err = agent.communicate(timeout=120)
    assert agent.returncode == 0, err
    assert "spooling to" in err  # the run's end could not be written to the store
    subprocess.run(["umount", str(tmpfs)], check=True)  # the view goes: writable again
    _sync(env)
    _assert_whole(Store.open(db_url))


# -- item 7: a full disk --------------------------------------------------------------------
def test_disk_full_from_the_start_says_what_was_lost(tmp_path: Path, tmpfs: Path,
                                                     monkeypatch):
    """Store and spool on a full disk: the child runs as usual and xprof says in one line that
    the run was recorded nowhere, and what that loses."""
    monkeypatch.setenv("XPROF_HOME", str(tmpfs))
    _fill(tmpfs)
    env = _env()
    done = subprocess.run([*XPROF, "run", "--", PY, "-c",
                           "import time; time.sleep(1.5); print('child ok'); raise SystemExit(3)"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stderr
    assert done.stdout.strip() == "child ok"
    assert "Traceback" not in done.stderr
    [line] = [x for x in done.stderr.splitlines() if "not recorded anywhere" in x]
    assert "the run's record" in line and "samples" in line


def test_disk_full_then_space_returns(tmp_path: Path, tmpfs: Path, monkeypatch):
    """The disk is full when the run starts; space comes back mid-run: the run's header, kept
    in memory, is written then, with every sample."""
    monkeypatch.setenv("XPROF_HOME", str(tmpfs))
    filler = _fill(tmpfs)
    env = _env()
    agent = _start(["--name", "full"], env, tmp_path, "time.sleep(6)", tmp_path / "started")
    time.sleep(2)
    filler.unlink()
    _out, err = agent.communicate(timeout=120)
    assert agent.returncode == 0, err
    db = Store.open(f"sqlite:///{tmpfs / 'xprof.db'}")
    if (tmpfs / "spool.db").exists():
        _sync(env)
    [run] = db.list_runs()
    assert run["name"] == "full" and run["status"] == "finished"
    assert _count(db, schema.samples, run["id"]) == run["summary"]["samples"] > 0


# -- item 8: a run shorter than a second ----------------------------------------------------
def test_short_run_has_git_and_environment(tmp_path: Path, xprof_home: Path):
    """`xprof run -- true` (well under a second) records git and environment."""
    repo = git_repo(tmp_path / "repo")
    done = subprocess.run([*XPROF, "run", "--", "true"], env=_env(), cwd=repo,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    db = Store.open(f"sqlite:///{xprof_home / 'xprof.db'}")
    [run] = db.list_runs()
    full = db.find_run(run["id"])
    assert full["git"] and full["git"]["commit"] and full["git"]["dirty"] is False
    assert full["environment"] and "env" in full["environment"]


# -- item 11: a large diff is hashed streaming and stored bounded ---------------------------
def test_large_diff_is_hashed_whole_and_stored_bounded(tmp_path: Path, xprof_home: Path):
    """A dirty tree with a multi-megabyte change: the stored hash is the whole diff's, the
    stored diff its first 64 KiB with a note."""
    repo = git_repo(tmp_path / "repo")
    (repo / "train.py").write_text("".join(f"print({i})\n" for i in range(600_000)))
    diff = subprocess.run(["git", "diff", "HEAD", "--no-color", "--no-ext-diff"], cwd=repo,
                          capture_output=True, check=True).stdout
    assert len(diff) > 4_000_000
    done = subprocess.run([*XPROF, "run", "--", PY, "-c", "import time; time.sleep(1)"],
                          env=_env(), cwd=repo, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    db = Store.open(f"sqlite:///{xprof_home / 'xprof.db'}")
    [run] = db.list_runs()
    git = db.find_run(run["id"])["git"]
    assert git["dirty"] is True
    assert git["diff_sha256"] == hashlib.sha256(diff).hexdigest()
    assert git["diff_bytes"] == len(diff)
    assert git["diff"].startswith(diff[:1000].decode())
    assert len(git["diff"].encode()) < 64 * 1024 + 200
    assert f"of {len(diff)} not stored" in git["diff"]
