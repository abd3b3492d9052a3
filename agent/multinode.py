"""One logical run across hosts: the shared run id and each agent's host key.

Agents on several hosts join one run when they share an id: ``--run-id`` / ``XPROF_RUN_ID``,
or one derived from the launcher's own job id (SLURM's ``SLURM_JOB_ID`` and step, torchrun's
``TORCHELASTIC_RUN_ID``), so ``srun xprof run -- python train.py`` needs no flag at all.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import socket
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import IO

_NAMESPACE = uuid.UUID("6d1f3c52-1e0a-4c36-9a58-0d3f1f3b2a77")
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")


def resolve_run_id(flag: str | None, environ: Mapping[str, str]) -> tuple[str, str]:
    """(run id, where it came from): flag, env, slurm, torchrun or new."""
    for value, source in ((flag, "flag"), (environ.get("XPROF_RUN_ID"), "env")):
        if value:
            return normalise_run_id(value), source
    job = environ.get("SLURM_JOB_ID")
    if job:
        cluster, step = environ.get("SLURM_CLUSTER_NAME", ""), environ.get("SLURM_STEP_ID", "")
        key = f"slurm:{cluster}:{job}:{step}"
        return uuid.uuid5(_NAMESPACE, key).hex, "slurm"
    elastic = environ.get("TORCHELASTIC_RUN_ID")
    if elastic and elastic.lower() != "none":
        return uuid.uuid5(_NAMESPACE, f"torchelastic:{elastic}").hex, "torchrun"
    return uuid.uuid4().hex, "new"


def normalise_run_id(value: str) -> str:
    """A 32-hex id as is; any other string is mapped to one (stable: same string, same id)."""
    text = value.strip().lower().replace("-", "")
    return text if _RUN_ID.match(text) else uuid.uuid5(_NAMESPACE, value).hex


def host_key(environ: Mapping[str, str], configured: str | None = None) -> str:
    """This agent's host name in the run; ``host/rank`` when SLURM puts several tasks on a node."""
    host = configured or socket.gethostname()
    procid = environ.get("SLURM_PROCID")
    ntasks, nnodes = environ.get("SLURM_NTASKS"), environ.get("SLURM_NNODES")
    if procid is not None and ntasks and nnodes and ntasks.isdigit() and nnodes.isdigit() \
            and int(ntasks) > int(nnodes):
        return f"{host}/{procid}"
    return host


def shared_run_id(flag: str | None, environ: Mapping[str, str]) -> bool:
    """Whether the run id is one other agents may share (given, or from a launcher)."""
    return resolve_run_id(flag, environ)[1] != "new"


def claim_host_key(host: str, run_id: str, lock_dir: Path) -> tuple[str, IO[bytes] | None]:
    """This agent's own key among the agents of ``run_id`` on this host, and the lock that
    holds it (keep it open for the agent's life; the kernel lets go when the agent dies).

    The first agent holds ``<lock_dir>/<run_id>@<host>.lock`` and keeps ``host``; another
    agent of the same run on the same host meanwhile (``--run-id X`` twice, no rank variables)
    gets ``host/<pid>``, so neither's rows replace the other's. Without a lock folder (disk
    full, read-only home) every agent keeps ``host``, as before.
    """
    name = re.sub(r"[^A-Za-z0-9._-]", "_", f"{run_id}@{host}")[:200]
    path = lock_dir / f"{name}.lock"
    for _ in range(5):
        try:
            lock_dir.mkdir(parents=True, exist_ok=True)
            handle = open(path, "ab")  # noqa: SIM115 (held for the run)
        except OSError:
            return host, None
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return f"{host}/{os.getpid()}", None
        if _is_current(handle, path):
            return host, handle
        handle.close()  # an agent that ended removed the file meanwhile: lock the new one
    return host, None


def _is_current(handle: IO[bytes], path: Path) -> bool:
    """Whether the locked file is still the one at ``path`` (not one an ending agent removed)."""
    try:
        return os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino
    except OSError:
        return False


def release_host_key(handle: IO[bytes] | None) -> None:
    """Remove the lock file of a claimed host key and let go of it (at the run's end), so
    that lock files do not pile up in the lock folder; a waiting agent that opened the
    removed file sees it is gone (``_is_current``) and locks a new one."""
    if handle is None or handle.closed:
        return
    with contextlib.suppress(OSError):
        os.unlink(handle.name)
    handle.close()
