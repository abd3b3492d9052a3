"""Profiling code that cannot be wrapped by ``xprof run``: a notebook, a service, a script.

    with xprof.profile(name="bert-tiny", objective="val_acc:max", params={"lr": 3e-4}):
        train()                       # xprof.log(step=i, loss=...) records into this run

    run = xprof.start(project="nlp")  # ... cells later ...
    run.finish()                      # or xprof.stop()

The run is recorded as ``xprof run`` records a command, by the same :class:`Recorder` (sampler
and writer daemon threads, store else spool, summary, estimate and advice), with this process
as the root of the measured tree: its threads and every process it starts. The profiler's own
threads are inside that tree (well under 1 % of a core at the default 1 Hz). Between start and
finish nothing runs on the caller's thread, so a notebook stays responsive.

How a run ends:

- the block ends, ``run.finish()`` or ``xprof.stop()``: ``finished`` (exit code 0);
- an exception leaves the block: ``failed`` (exit code 1); ``KeyboardInterrupt`` (a notebook's
  interrupt button, Ctrl-C): ``killed`` by signal 2 (exit code 130); ``SystemExit(n)``:
  ``finished`` for 0/None, else ``failed`` with exit code n;
- the interpreter exits with the run open (end of a script, kernel shutdown or restart): an
  atexit hook finishes it, ``failed``/``killed`` when an uncaught exception ends a script;
- the process is killed outright (SIGKILL, a default SIGTERM): its heartbeat stops and the run
  reads as ``crashed``: never ``running`` forever.

``xprof.log`` inside: ``XPROF_METRICS_FILE`` names the run's metrics file while the run is open
(child processes inherit it) and gets its previous value back at the end.

Under ``xprof run`` (``XPROF_RUN_ID`` and ``XPROF_METRICS_FILE`` set), or in a process forked
from one being profiled, the process is recorded already: ``profile``/``start`` start nothing
and return a handle on that run (params go to it; name, project, tags, objective are the outer
run's).
"""

from __future__ import annotations

import atexit
import datetime as dt
import logging
import os
import sys
import threading
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from xprof.agent import context
from xprof.agent.once import WARN
from xprof.agent.recorder import Recorder
from xprof.agent.run_end import finish_run
from xprof.agent.runner import RunOptions
from xprof.metrics_log import ENV_FILE, metrics_file_path, param_text, write_params_line
from xprof.metrics_log import log as _log_metrics
from xprof.names import generate_name
from xprof.settings import Settings
from xprof.storeurl import check_store

log = logging.getLogger("xprof.agent")

_lock = threading.RLock()
_active: InProcessRun | None = None
_atexit_registered = False
STATUS_CODES = {"finished": (0, 0), "failed": (1 << 8, 1), "killed": (2, 130)}  # status, code
BEFORE_FINISH: list[Callable[[], None]] = []  # called as a run ends (callbacks write what
# they hold back: agent/integrations/channel.py)


# -- the public interface -----------------------------------------------------------------------
def start(name: str | None = None, project: str | None = None,
          params: Mapping[str, Any] | None = None, tags: Mapping[str, Any] | None = None,
          objective: str | tuple[str, str] | None = None, *, store: str | None = None,
          interval: float | None = None, quiet: bool = False) -> InProcessRun | OuterRun:
    """Start recording this process (and its children) as a run; returns its handle.

    ``objective``: ``"val_acc:max"`` or ``("loss", "min")``; ``store``: a store URL (default:
    the ``store`` setting); ``interval``: seconds between samples; ``quiet``: no summary on
    stderr at the end. One run at a time per process (RuntimeError otherwise).
    Example: ``run = xprof.start(name="sweep-3", params={"lr": 3e-4}); ...; run.finish()``.
    """
    outer = _outer_run()
    if outer is not None:
        if params:
            outer.log_params(**params)
        return outer
    objective_pair = parse_objective(objective)
    settings = Settings(flags={"store": store, "interval": interval})
    check_store(settings.store_url)
    global _active, _atexit_registered
    with _lock:
        if _active is not None and _active.pid == os.getpid():
            raise RuntimeError(f"a run is already being recorded ({_active.name}, "
                               f"{_active.id[:8]}); finish it first (run.finish() or "
                               "xprof.stop())")
        run = InProcessRun(RunOptions(
            command=_command(), settings=settings, name=name, project=project,
            tags={str(k): str(v) for k, v in (tags or {}).items()},
            params={str(k): param_text(v) for k, v in (params or {}).items()},
            objective=objective_pair, quiet=quiet))
        run._start()
        _active = run
        if not _atexit_registered:
            atexit.register(_finish_at_exit)
            _atexit_registered = True
    return run


def profile(name: str | None = None, project: str | None = None,
            params: Mapping[str, Any] | None = None, tags: Mapping[str, Any] | None = None,
            objective: str | tuple[str, str] | None = None, *, store: str | None = None,
            interval: float | None = None, quiet: bool = False) -> InProcessRun | OuterRun:
    """Record the ``with`` block as a run: ``with xprof.profile(name="x") as run: train()``.

    The run ends with the block: finished, failed on an exception, killed on KeyboardInterrupt
    (the exception still propagates). Arguments as for :func:`start`.
    """
    return start(name, project, params, tags, objective, store=store, interval=interval,
                 quiet=quiet)


def stop(status: str | None = None) -> InProcessRun | None:
    """Finish the run this process is recording (``finished`` unless ``status`` says
    ``failed`` or ``killed``); returns it, or None when none is open."""
    with _lock:
        run = _active if _active is not None and _active.pid == os.getpid() else None
    if run is not None:
        run.finish(status)
    return run


def current_run() -> InProcessRun | None:
    """The open in-process run of this process, if any."""
    run = _active
    return run if run is not None and run.pid == os.getpid() and run.status is None else None


def parse_objective(value: str | tuple[str, str] | None) -> tuple[str, str] | None:
    """``"val_acc:max"`` or ``("val_acc", "max")`` -> ("val_acc", "max"); ValueError else."""
    if value is None:
        return None
    if isinstance(value, str):
        name, _, mode = value.rpartition(":")
    else:
        name, mode = value
    if not name or mode not in ("max", "min"):
        raise ValueError(f"objective {value!r}: expected 'NAME:max' or 'NAME:min'")
    return name, mode


def _command() -> list[str]:
    """This process's command line; a Jupyter kernel's without its connection arguments
    (they are not the experiment's params)."""
    if "ipykernel" in sys.modules:
        return [sys.executable, "-m", "ipykernel_launcher"]
    return [sys.executable, *sys.argv]


# -- handles ------------------------------------------------------------------------------------
class InProcessRun:
    """An open in-process run: ``id``, ``name``, ``project``; ``status`` once it has ended.

    A context manager: the run ends with the ``with`` block (see the module doc).
    """

    def __init__(self, opts: RunOptions) -> None:
        self.id = uuid.uuid4().hex
        self.pid = os.getpid()
        self.status: str | None = None
        self.stored: bool | None = None
        opts.name = opts.name or generate_name()
        opts.project = opts.project or context.default_project(Path.cwd())
        self.name: str = opts.name
        self.project: str = opts.project
        self._uncaught: BaseException | None = None
        self._started_at = dt.datetime.now(dt.UTC)
        self._metrics_path = metrics_file_path(self.id)
        self._agent = InProcessAgent(opts, self.id, self._started_at, self._metrics_path)
        self._previous_env: str | None = None
        self._finish_lock = threading.Lock()
        self._excepthook = None

    def _start(self) -> None:
        self._previous_env = os.environ.get(ENV_FILE)
        os.environ[ENV_FILE] = str(self._metrics_path)
        self._excepthook = sys.excepthook
        sys.excepthook = self._on_uncaught
        self._agent.start()

    def log(self, step: int | None = None, **metrics: float) -> None:
        """``xprof.log`` into this run: ``run.log(step=3, loss=0.2)``."""
        if self.status is not None:
            WARN.warn("log-after-end", f"run {self.id[:8]} has ended; metrics not recorded")
            return
        _log_metrics(step, **metrics)

    def log_params(self, **params: Any) -> None:
        """Record hyperparameters (values become text): ``run.log_params(lr=3e-4)``."""
        if self.status is not None:
            WARN.warn("params-after-end", f"run {self.id[:8]} has ended; params not recorded")
            return
        self._agent.add_params({str(k): param_text(v) for k, v in params.items()})

    def finish(self, status: str | None = None, *, exit_code: int | None = None) -> None:
        """End the run: ``finished`` (default), ``failed`` or ``killed``. Never raises;
        a second call does nothing."""
        state = status or "finished"
        if state not in STATUS_CODES:
            raise ValueError(f"status {status!r}: expected finished, failed or killed")
        with self._finish_lock:
            if self.status is not None:
                return
            self.status = state
            raw, code = STATUS_CODES[state]
            if exit_code is not None and state == "failed":
                raw, code = (exit_code & 0xFF) << 8, exit_code
            try:
                for hook in BEFORE_FINISH:
                    hook()
                self.stored = self._agent.end(raw, code)
            except Exception as exc:  # the user's program is never ours to fail
                log.error("could not finish recording run %s: %s", self.id[:8], exc,
                          exc_info=True)
                self.stored = False
            finally:
                self._restore()

    def _restore(self) -> None:
        global _active
        if self._previous_env is None:
            os.environ.pop(ENV_FILE, None)
        else:
            os.environ[ENV_FILE] = self._previous_env
        if sys.excepthook == self._on_uncaught and self._excepthook is not None:
            sys.excepthook = self._excepthook
        self._metrics_path.unlink(missing_ok=True)
        with _lock:
            if _active is self:
                _active = None

    def finish_for(self, exc: BaseException | None) -> None:
        """End the run as an exception (or none) that left its block says."""
        if exc is None:
            self.finish()
        elif isinstance(exc, KeyboardInterrupt):
            self.finish("killed")
        elif isinstance(exc, SystemExit):
            code = exc.code
            if code in (None, 0):
                self.finish()
            else:
                self.finish("failed", exit_code=code if isinstance(code, int) else 1)
        else:
            self.finish("failed")

    def _on_uncaught(self, kind, value, traceback) -> None:
        """sys.excepthook while the run is open: an uncaught exception ends a script."""
        if os.getpid() == self.pid:
            self._uncaught = value
        hook = self._excepthook or sys.__excepthook__
        hook(kind, value, traceback)

    def __enter__(self) -> InProcessRun:
        return self

    def __exit__(self, kind, value, traceback) -> bool:
        self.finish_for(value)
        return False

    def __repr__(self) -> str:
        return f"<xprof run {self.id[:8]} {self.name!r} {self.status or 'running'}>"


class OuterRun:
    """The run that already records this process (``xprof run``, or the parent of a forked
    process): metrics and params go to it; ``finish`` does nothing."""

    def __init__(self, run_id: str) -> None:
        self.id = run_id
        self.name = None
        self.project = None
        self.status: str | None = None

    def log(self, step: int | None = None, **metrics: float) -> None:
        _log_metrics(step, **metrics)

    def log_params(self, **params: Any) -> None:
        write_params_line({str(k): param_text(v) for k, v in params.items()})

    def finish(self, status: str | None = None, **_: Any) -> None:
        """Nothing to do: the outer run ends with its own process."""

    def finish_for(self, exc: BaseException | None) -> None:
        """Nothing to do: the outer run ends with its own process."""

    def __enter__(self) -> OuterRun:
        return self

    def __exit__(self, kind, value, traceback) -> bool:
        return False

    def __repr__(self) -> str:
        return f"<xprof run {self.id[:8]} (recorded by its outer agent)>"


def _outer_run() -> OuterRun | None:
    run = _active
    if run is not None and run.pid != os.getpid():  # forked from a profiled process
        return OuterRun(run.id)
    run_id = os.environ.get("XPROF_RUN_ID")
    if run_id and os.environ.get(ENV_FILE) and (run is None or run.status is not None):
        return OuterRun(run_id)
    return None


def _finish_at_exit() -> None:
    run = _active
    if run is None or run.pid != os.getpid() or run.status is not None:
        return
    run.finish_for(run._uncaught)


# -- the agent, rooted at this process ----------------------------------------------------------
class _SelfAsChild:
    """Stands in for the launched child: the measured tree's root is this process."""

    def __init__(self) -> None:
        self.pid = os.getpid()


class InProcessAgent:
    """A :class:`Recorder` with this process as the tree's root: nothing is launched, nothing
    reaped (this process's children are its own code's to wait for), no output captured."""

    def __init__(self, opts: RunOptions, run_id: str, started_at: dt.datetime,
                 metrics_path: Path) -> None:
        self.recorder = Recorder(opts, run_id, started_at, _SelfAsChild(), metrics_path,
                                 reaps_orphans=False, cpu_from_start=True)

    def start(self) -> None:
        self.recorder.start()

    def add_params(self, params: dict[str, str]) -> None:
        self.recorder.add_params(params)

    def end(self, status: int, code: int) -> bool:
        """Stop sampling, write the end of the run, print the summary; True if stored."""
        ended_at = dt.datetime.now(dt.UTC)
        rec = self.recorder
        rec.stop_sampling.set()  # both first: a second interrupt below leaves no heartbeat
        rec.stop_writing.set()   # going, so the run reads as crashed, never as running
        rec.stop_sampler(timeout=5)
        rec.stop_writer(timeout=10)
        return finish_run(rec, status, code, ended_at, None, backoff_s=0.2)
