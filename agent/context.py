"""What a run ran: command, params from argv, git state, environment, packages, host.

Gathered in the agent's writer thread after the child has started, so none of it delays the
training. Helper subprocesses (git, the child's Python for its package list) register their
pids in ``HELPER_PIDS`` so the process-tree sampler leaves them out.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from xprof.redact import Redactor, is_secret_name

HELPER_PIDS: set[int] = set()
# Held while a helper starts and until its pid is in HELPER_PIDS, and by the sampler while it
# looks for the run's processes: a helper is never taken for one of them.
HELPER_LOCK = threading.Lock()
DIFF_KEPT_BYTES = 64 * 1024  # of a dirty tree's diff, stored with the run (the hash covers all)
_CHUNK = 64 * 1024
RECORDED_ENV_PREFIXES = ("CUDA_", "NVIDIA_", "OMP_", "MKL_", "SLURM_", "TORCH", "NCCL_",
                         "XLA_", "TF_", "HF_", "PYTORCH_", "WORLD_SIZE", "RANK", "LOCAL_RANK",
                         "MASTER_", "VIRTUAL_ENV", "CONDA_DEFAULT_ENV")


def _start_helper(argv: Sequence[str], cwd: str | None) -> subprocess.Popen | None:
    """Start a helper with its stdout piped and its pid in HELPER_PIDS; None if it cannot."""
    with HELPER_LOCK:
        try:
            proc = subprocess.Popen(list(argv), cwd=cwd, stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        except OSError:
            return None
        HELPER_PIDS.add(proc.pid)
    return proc


def helper_output(argv: Sequence[str], cwd: str | None = None, timeout: float = 10) -> str | None:
    """stdout of a short helper command, or None if it failed; its pid is never sampled."""
    proc = _start_helper(argv, cwd)
    if proc is None:
        return None
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return None
    finally:
        HELPER_PIDS.discard(proc.pid)
    return out.decode("utf-8", "replace") if proc.returncode == 0 else None


def helper_digest(argv: Sequence[str], cwd: str | None = None, timeout: float = 30,
                  keep: int = DIFF_KEPT_BYTES) -> tuple[str, int, bytes] | None:
    """(sha256, size, first ``keep`` bytes) of a helper command's stdout, read in chunks:
    memory stays flat however large the output (a diff of a 1 GB file); None if it failed."""
    proc = _start_helper(argv, cwd)
    if proc is None:
        return None
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    digest, size, head = hashlib.sha256(), 0, bytearray()
    try:
        while chunk := proc.stdout.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
            if len(head) < keep:
                head += chunk[:keep - len(head)]
        code = proc.wait()
    finally:
        timer.cancel()
        proc.stdout.close()
        HELPER_PIDS.discard(proc.pid)
    return (digest.hexdigest(), size, bytes(head)) if code == 0 else None


def bounded_diff(head: bytes, size: int) -> str:
    """The diff's first bytes as text, with a note of what was left out."""
    text = head.decode("utf-8", "ignore") if size > len(head) else head.decode("utf-8",
                                                                             "replace")
    if size > len(head):
        text += (f"\n… [xprof: {size - len(head)} more bytes of {size} not stored; "
                 "diff_sha256 covers the whole diff]\n")
    return text


def repo_root(start: Path) -> Path | None:
    """The enclosing git work tree, found without running git."""
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


def default_project(cwd: Path) -> str:
    """The git repository's name, else the directory's."""
    root = repo_root(cwd)
    return (root or cwd).name or "default"


def git_state(cwd: Path) -> dict | None:
    """{repo, commit, branch, dirty, diff_sha256, diff_bytes, diff} of the enclosing repo
    (``diff``: its first 64 KiB), or None.

    One ``git status`` gives commit, branch and dirtiness; ``git diff HEAD`` runs only for a
    dirty tree (a clean one's diff is empty). ``--no-optional-locks``: the user's own git
    commands never meet our index lock.
    """
    root = repo_root(cwd)
    if root is None or shutil.which("git") is None:
        return None
    status = helper_output(["git", "--no-optional-locks", "status", "--porcelain=v2",
                            "--branch", "--untracked-files=no"], cwd=str(cwd))
    commit, branch, dirty = parse_status_v2(status) if status is not None else (None, None,
                                                                               False)
    diff: tuple[str, int, bytes] | None = None
    if commit is not None:
        diff = (helper_digest(["git", "diff", "HEAD", "--no-color", "--no-ext-diff"],
                              cwd=str(cwd)) if dirty else ("", 0, b""))
    return {
        "repo": root.name,
        "commit": commit,
        "branch": branch,
        "dirty": dirty,
        "diff_sha256": diff[0] if diff and diff[1] else None,
        "diff_bytes": diff[1] if diff else None,
        "diff": bounded_diff(diff[2], diff[1]) if diff and diff[1] else None,
    }


def parse_status_v2(text: str) -> tuple[str | None, str | None, bool]:
    """(commit, branch, dirty) from ``git status --porcelain=v2 --branch``: no commit yet is
    None, a detached HEAD is branch "HEAD" (as ``git rev-parse --abbrev-ref HEAD`` says)."""
    commit = branch = None
    dirty = False
    for line in text.splitlines():
        if line.startswith("# branch.oid "):
            oid = line[len("# branch.oid "):].strip()
            commit = None if oid == "(initial)" else oid
        elif line.startswith("# branch.head "):
            head = line[len("# branch.head "):].strip()
            branch = "HEAD" if head == "(detached)" else head
        elif line and not line.startswith("#"):
            dirty = True
    return commit, branch, dirty


def installed_packages(argv: Sequence[str]) -> dict[str, str] | None:
    """Packages of the Python that runs the command: the command's own interpreter when it
    is a Python (read in-process when that is the interpreter running xprof), else the one
    running xprof."""
    from xprof.agent import package_list

    exe = shutil.which(argv[0]) if argv else None
    python = exe if exe and Path(exe).name.startswith("python") else None
    if python is None or is_own_interpreter(python):
        return package_list.installed()
    out = helper_output([python, "-c", Path(package_list.__file__).read_text()])
    try:
        return dict(json.loads(out)) if out else None
    except ValueError:
        return None


def is_own_interpreter(python: str) -> bool:
    """Whether ``python`` is the interpreter running xprof, in the same environment: the
    same binary, called from the same folder (a venv's ``bin/python`` links to the system
    Python's binary, but its packages are the venv's)."""
    own = Path(sys.executable)
    theirs = Path(python)
    return (theirs.absolute().parent == own.absolute().parent
            and os.path.realpath(theirs) == os.path.realpath(own))


def params_from_argv(argv: Sequence[str]) -> dict[str, str]:
    """``--flag value`` and ``--flag=value`` pairs of the command (a bare ``--flag`` is true)."""
    params: dict[str, str] = {}
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.startswith("--") and len(arg) > 2:
            if "=" in arg:
                name, value = arg[2:].split("=", 1)
                params[name] = value
            elif i + 1 < len(argv) and (not _is_flag(argv[i + 1]) or (
                    is_secret_name(arg) and not argv[i + 1].startswith("--"))):
                params[arg[2:]] = argv[i + 1]
                i += 1
            else:
                params[arg[2:]] = "true"
        i += 1
    return params


def _is_flag(arg: str) -> bool:
    if not arg.startswith("-"):
        return False
    try:
        float(arg)
        return False  # a negative number is a value
    except ValueError:
        return True


def environment(environ: Mapping[str, str], redactor: Redactor) -> dict:
    """The environment variables that shape a training run, secrets masked."""
    chosen = {k: v for k, v in environ.items() if k.startswith(RECORDED_ENV_PREFIXES)}
    return {"cuda_visible_devices": environ.get("CUDA_VISIBLE_DEVICES"),
            "env": redactor.mapping(chosen)}


def host_identity() -> dict:
    """host, user, os and python of this machine."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return {
        "host": socket.gethostname(),
        "user": user,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }
