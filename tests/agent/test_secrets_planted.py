"""21 planted secrets, real ``xprof run``s: a scan of every byte xprof stored or printed finds
none of them; params that are not secret are stored as given."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

# Values in the environment of the run (names that look secret, or secrets inside URLs).
REDIS_PW = "redisPwQ7x2"
URL_PW = "p@ssW0rdZ9"  # a URL password holding "@"
AZURE_KEY = "Zm9vYmFyYmF6" * 7 + "QUJDREVGR0hJSktMTU5PUA=="  # 88 characters, like Azure's
DB_PASS = "dbPassV4lue1"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzQ8x3aT1kz"
GH_ENV = "ghp_" + "E" * 36
ENV = {
    "REDIS_URL": f"redis://:{REDIS_PW}@cache.local:6379/0",
    "DATABASE_URL": f"postgresql://trainer:{URL_PW}@db.local/exp",
    "AZURE_STORAGE_CONNECTION_STRING": "DefaultEndpointsProtocol=https;AccountName=acct;"
                                       f"AccountKey={AZURE_KEY};EndpointSuffix=core.windows.net",
    "DB_PASS": DB_PASS,
    "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
    "GITHUB_TOKEN": GH_ENV,
}
# Values on the command line.
PASS_ARG = "passArgV5555"
APITOKEN_ARG = "apiTokV6666"
DASH_PW = "-dashPw4444"
SHELL_KEY = "sk-shellKEY" + "s" * 24
EQ_PW = "eqPassV7777"
# Well-known token shapes the script prints.
AWS_ID = "AKIA" + "Q" * 16
GH_OUT = "ghp_" + "F" * 36
SLACK = "xoxb-123456789012-1234567890123-" + "g" * 24
OPENAI = "sk-proj-" + "H" * 40
HF = "hf_" + "J" * 34
PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKB"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0cmFpbmVyIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
BEARER = "bearerTokV8888zz"
CUT = "cutSecretV9999tailEND"  # cut by the tail boundary: its suffix must not be kept
CUT_SUFFIX = CUT[11:]

PLANTED = [REDIS_PW, URL_PW, AZURE_KEY, DB_PASS, AWS_SECRET, GH_ENV, PASS_ARG, APITOKEN_ARG,
           DASH_PW, SHELL_KEY, EQ_PW, AWS_ID, GH_OUT, SLACK, OPENAI, HF, PEM_BODY, JWT, BEARER,
           CUT, CUT_SUFFIX]

SCRIPT = f"""
import os, sys
print("args", sys.argv)
print("env", {{k: os.environ[k] for k in {sorted(ENV)!r}}})
print("aws", {AWS_ID!r}, "gh", {GH_OUT!r}, "slack", {SLACK!r})
print("openai", {OPENAI!r}, "hf", {HF!r}, "jwt", {JWT!r})
print("-----BEGIN PRIVATE KEY-----\\n{PEM_BODY}\\n-----END PRIVATE KEY-----")
print("Authorization: Bearer {BEARER}")
print("connecting with DB_PASS=" + os.environ["DB_PASS"] + " and " + os.environ["REDIS_URL"])
"""


def _stored_text(db: Path) -> str:
    """Every value of every table of the SQLite store, as text."""
    con = sqlite3.connect(db)
    try:
        return "\n".join(con.iterdump())
    finally:
        con.close()


def _scan(blobs: dict[str, bytes]) -> list[str]:
    return [f"{secret!r} in {where}" for where, data in blobs.items() for secret in PLANTED
            if secret.encode() in data]


def test_no_planted_secret_is_stored_or_shown(xprof, xprof_home: Path, tmp_path: Path):
    """Secrets in the environment, in argv (``--pass``, ``--apitoken``, ``--password -x``,
    ``--password=x``, inside ``sh -c "..."``), typed into ``--hypothesis``, printed as token
    shapes, and cut by the tail boundary: none in the store's bytes, ``show``, ``export``
    or ``config``; the run's own output still passes through untouched."""
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    env = dict(ENV, XPROF_STORE=f"postgresql://admin:{URL_PW}@pg.local/xprof")
    first = xprof("run", "--name", "planted", "--hypothesis", f"retry with {DB_PASS} set",
                  "--", sys.executable, str(script), "--pass", PASS_ARG, "--apitoken",
                  APITOKEN_ARG, "--password", DASH_PW, f"--db-password={EQ_PW}",
                  "--lr", "0.001", env=dict(ENV))
    assert first.returncode == 0, first.stderr
    assert PASS_ARG in first.stdout and OPENAI in first.stdout  # pass-through is untouched
    shell = xprof("run", "--", "sh", "-c", f"echo training --api-key {SHELL_KEY} done",
                  env=dict(ENV))
    assert shell.returncode == 0, shell.stderr
    # 1000 bytes kept of 1011: the boundary falls inside CUT, leaving its suffix first.
    filler = "x" * 98 + "\n"
    cut = xprof("run", "--", sys.executable, "-c",
                f"import os; print(os.environ['TRAIN_SECRET'] + {filler!r} * 10, end='')",
                env=dict(ENV, XPROF_TAIL_BYTES="1000", TRAIN_SECRET=CUT))
    assert cut.returncode == 0, cut.stderr
    blobs = {str(p): p.read_bytes() for p in xprof_home.rglob("*") if p.is_file()}
    db = xprof_home / "xprof.db"
    blobs["every table"] = _stored_text(db).encode()
    runs = json.loads(xprof("ls", "--json").stdout)
    assert len(runs) == 3
    for run in runs:
        shown = xprof("show", run["id"][:8], "--json")
        assert shown.returncode == 0, shown.stderr
        blobs[f"show {run['id'][:8]}"] = shown.stdout.encode()
    exported = xprof("export", "runs")
    assert exported.returncode == 0, exported.stderr
    blobs["export runs"] = exported.stdout.encode()
    config = xprof("config", env=env)
    assert config.returncode == 0, config.stderr
    blobs["config"] = config.stdout.encode()
    assert _scan(blobs) == []
    assert "postgresql://admin:***@pg.local/xprof" in config.stdout
    stored = _stored_text(db)
    assert "0.001" in stored and "pg.local" in config.stdout  # what is not secret stays


def test_params_that_are_not_secret_keep_their_values(xprof, store, tmp_path: Path):
    """``--key 1`` masks its own value only: 128 and 0.001 stay whole, and
    ``--use-auth-token true`` leaves every other "true" alone."""
    script = tmp_path / "train.py"
    script.write_text("print('flags: true true 128 lr=0.001 batch-size=128')\n")
    result = xprof("run", "--", sys.executable, str(script), "--key", "1", "--batch-size",
                   "128", "--lr", "0.001", "--use-auth-token", "true", "--fp16", "true")
    assert result.returncode == 0, result.stderr
    [run] = store.list_runs()
    details = store.run_details(run["id"])
    assert details["params"] == {"key": "***", "batch-size": "128", "lr": "0.001",
                                 "use-auth-token": "true", "fp16": "true"}
    assert run["command"][2:] == ["--key", "***", "--batch-size", "128", "--lr", "0.001",
                                  "--use-auth-token", "true", "--fp16", "true"]
    assert run["output_tail"] == "flags: true true 128 lr=0.001 batch-size=128\n"
