"""The run's own record: its first row (name, project, command, hardware, experiment),
params, and the context gathered while it runs (git state, environment)."""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from xprof import __version__
from xprof.agent import context
from xprof.agent.host_stats import host_hardware
from xprof.agent.once import WARN
from xprof.agent.store_writer import NewRun, RunWriter
from xprof.names import generate_name
from xprof.redact import Redactor, secret_argv_values, secret_env_values


class RunRecord:
    """Builds the run's first record once; keeps params logged during the run until stored."""

    def __init__(self, opts: Any, run_id: str, started_at: dt.datetime, host: str,
                 host_info: dict[str, Any], interval: float, flush_interval: float) -> None:
        self.opts = opts
        self.run_id = run_id
        self.started_at = started_at
        self.host = host
        self.host_info = host_info
        self.interval = interval
        self.flush_interval = flush_interval
        self.redactor = Redactor(secret_env_values(os.environ) |
                                 secret_argv_values(opts.command))
        self.name: str | None = opts.name
        self.project: str | None = opts.project
        self.hardware: dict[str, Any] | None = None
        self._spec: NewRun | None = None
        self._params_lock = threading.Lock()
        self._pending_params: dict[str, str] = {}
        self._resumed_labelled = False

    @property
    def built(self) -> bool:
        """Whether the first record has been built."""
        return self._spec is not None

    def new_run(self, writer: RunWriter, samplers_hardware: Callable[[], dict]) -> NewRun:
        """The run's first record (built the first time a store is reached)."""
        if self._spec is not None:
            return self._spec
        opts = self.opts
        argv_params = context.params_from_argv(opts.command[1:])
        params = {k: (v, "argv") for k, v in self.redactor.mapping(argv_params).items()}
        params.update({k: (v, "flag") for k, v in self.redactor.mapping(opts.params).items()})
        now = dt.datetime.now(dt.UTC)
        if self.hardware is None:
            self.hardware = {**host_hardware(), **samplers_hardware()}
            self.name = self.name or generate_name()
            self.project = self.project or context.default_project(Path.cwd())
        row = {
            "id": self.run_id, "name": self.name, "project": self.project,
            "status": "running", "started_at": self.started_at, "heartbeat_at": now,
            "interval_s": self.interval, "flush_interval_s": self.flush_interval,
            "command": self.redactor.argv(opts.command), "cwd": str(Path.cwd()),
            **self.host_info,
            "hardware": self.hardware,
            "objective_name": opts.objective[0] if opts.objective else None,
            "objective_mode": opts.objective[1] if opts.objective else None,
            "agent_version": __version__,
            "hypothesis": self.redactor.text(opts.hypothesis) if opts.hypothesis else None,
            "expectation": str(opts.expectation) if opts.expectation else None,
            "budget": opts.budget,
            **self._experiment_fields(writer),
        }
        host = {"host": self.host, "status": "running", "started_at": self.started_at,
                "heartbeat_at": now, "hardware": self.hardware}
        self._spec = NewRun(run=row, host=host, params=params,
                            tags=self.redactor.mapping(opts.tags))
        return self._spec

    def add_params(self, params: dict[str, str]) -> None:
        """Params logged during the run (framework callbacks, ``run.log_params``)."""
        with self._params_lock:
            self._pending_params.update(params)

    def write_params(self, writer: RunWriter, target: str) -> None:
        """Store the params logged since the last flush (last value of a key wins)."""
        if not self._pending_params:
            return
        with self._params_lock:
            params = self.redactor.mapping(dict(self._pending_params))
        try:
            writer.sink(target).replace_params(self.run_id, params)
        except Exception as exc:
            WARN.warn("params", f"could not record params: {exc}")
            return
        with self._params_lock:
            for key, value in params.items():
                if self._pending_params.get(key) == value:
                    del self._pending_params[key]

    def _experiment_fields(self, writer: RunWriter) -> dict[str, Any]:
        """experiment, attempt and resumed_from of this run."""
        resumed = self.opts.resumed
        if resumed:
            return {"experiment": resumed["experiment"], "attempt": resumed["attempt"] + 1,
                    "resumed_from": resumed["id"]}
        if not self.opts.experiment:
            return {}
        attempt = 1
        try:
            attempt += writer.sink().count_attempts(self.opts.experiment)
        except Exception as exc:
            WARN.warn("attempt", f"could not count earlier attempts: {exc}")
        return {"experiment": self.opts.experiment, "attempt": attempt}

    def label_resumed_run(self, writer: RunWriter) -> None:
        """The run resumed becomes attempt 1 of the experiment if it had none."""
        resumed = self.opts.resumed
        if not resumed or self._resumed_labelled:
            return
        self._resumed_labelled = True
        try:
            writer.sink().label_first_attempt(resumed["id"], resumed["experiment"])
        except Exception as exc:
            WARN.warn("resume-label", f"could not label the resumed run: {exc}")

    def gather_context(self, packages: bool) -> dict[str, Any]:
        """git state and environment (with packages if asked): the run's ``git`` and
        ``environment`` fields, or {} if they cannot be read."""
        try:
            git = context.git_state(Path.cwd())
            if git and git.get("diff"):
                git["diff"] = self.redactor.text(git["diff"])
            env = context.environment(os.environ, self.redactor)
            env["packages"] = (context.installed_packages(self.opts.command)
                               if packages else None)
            return {"git": git, "environment": env}
        except Exception as exc:
            WARN.warn("context", f"could not record git/environment: {exc}")
            return {}
