"""One logical run across hosts: the shared run id and each agent's host key.

Agents on several hosts join one run when they share an id: ``--run-id`` / ``XPROF_RUN_ID``,
or one derived from the launcher's own job id (SLURM's ``SLURM_JOB_ID`` and step, torchrun's
``TORCHELASTIC_RUN_ID``), so ``srun xprof run -- python train.py`` needs no flag at all.
"""

from __future__ import annotations

import re
import socket
import uuid
from collections.abc import Mapping

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
