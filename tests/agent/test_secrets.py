"""Secrets in argv and in the environment never reach the store."""

from __future__ import annotations

import sys
from pathlib import Path


def test_secret_values_never_stored(xprof, xprof_home: Path, tmp_path: Path):
    """--api-key S3CR3T and AWS_SECRET_ACCESS_KEY=S3CR3T2 appear nowhere in the store files,
    even when the script prints them."""
    script = tmp_path / "x.py"
    script.write_text("import os, sys\nprint('args', sys.argv)\n"
                      "print('env', os.environ['AWS_SECRET_ACCESS_KEY'])\n"
                      "import xprof; xprof.log(loss=1.0)\n")
    result = xprof("run", "--tag", "team=ml", "--", sys.executable, str(script),
                   "--api-key", "S3CR3T", "--lr", "0.1",
                   env={"AWS_SECRET_ACCESS_KEY": "S3CR3T2", "HF_TOKEN": "hf_abcdefgh"})
    assert result.returncode == 0, result.stderr
    assert "S3CR3T" in result.stdout  # the user's own output passes through untouched
    files = [p for p in xprof_home.rglob("*") if p.is_file()]
    assert any(p.name == "xprof.db" for p in files)
    for path in files:
        data = path.read_bytes()
        for secret in (b"S3CR3T", b"hf_abcdefgh"):
            assert secret not in data, f"{secret!r} found in {path}"
    assert "S3CR3T" not in result.stderr


def test_redacted_params_are_still_listed(xprof, store):
    """The param is recorded with a masked value; ordinary params keep theirs."""
    result = xprof("run", "--quiet", "--", sys.executable, "-c", "pass",
                   "--api-key", "S3CR3T", "--lr", "0.1")
    assert result.returncode == 0, result.stderr
    [run] = store.list_runs()
    details = store.run_details(run["id"])
    assert details["params"] == {"api-key": "***", "lr": "0.1"}
    assert run["command"][-4:] == ["--api-key", "***", "--lr", "0.1"]


def test_working_directory_is_not_a_secret(xprof, store, tmp_path: Path):
    """PWD ends in "pwd" but is the shell's folder: paths under it stay readable."""
    script = tmp_path / "train.py"
    script.write_text("print('ok')\n")
    result = xprof("run", "--quiet", "--", sys.executable, str(script), "--db-pwd", "hunter2",
                   env={"PWD": str(tmp_path), "DB_PWD": "letmein42"}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    [run] = store.list_runs()
    assert run["command"] == [sys.executable, str(script), "--db-pwd", "***"]
    assert run["cwd"] == str(tmp_path)
