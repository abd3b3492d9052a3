"""``xprof run``: launch the command, sample it, record it, summarise it.

Order matters: the child starts first (nothing heavy imported yet), then the sampler thread
(process tree, host, GPUs) and the writer thread (store, heartbeat) start; the main thread
only waits for the child and forwards signals. Nothing here may change the child's exit
code or slow it: every failure after the launch is logged once and the run goes on.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xprof.agent import launch
from xprof.agent.output import MetricLineParser, OutputPump
from xprof.agent.run_stats import RunStats
from xprof.settings import Settings

log = logging.getLogger("xprof.agent")
HOST_FIELDS = frozenset({
    "status", "exit_code", "signal", "ended_at", "heartbeat_at", "hardware", "cloud_provider",
    "cloud_account", "cloud_region", "cloud_zone", "instance_id", "instance_type", "lifecycle",
    "cloud", "cpu_seconds", "peak_rss_bytes", "summary"})  # run_hosts columns an agent updates
RUN_ONLY_FIELDS = frozenset({"output_tail", "git", "environment", "outcome", "stopped_by"})
IDENTITY_FIELDS = frozenset({"cloud_provider", "cloud_account", "cloud_region", "cloud_zone",
                             "instance_id", "instance_type", "lifecycle", "cloud"})
MAX_PENDING_ROWS = 200_000  # per series: ~2 days of 1 Hz samples kept while no store answers


@dataclass
class RunOptions:
    """Everything ``xprof run`` was asked to do, already validated."""

    command: list[str]
    settings: Settings
    name: str | None = None
    project: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    objective: tuple[str, str] | None = None
    metric_pattern: str | None = None
    metrics_file: Path | None = None
    quiet: bool = False
    run_id: str | None = None
    hypothesis: str | None = None
    expectation: Any = None  # guard_rails.Expectation
    experiment: str | None = None
    resumed: dict[str, Any] | None = None  # {id, experiment, attempt} of the run resumed
    budget: Any = None  # Decimal
    on_budget: str = "warn"


class OnceLogger:
    """Logs each distinct problem once per run."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def warn(self, key: str, message: str) -> None:
        if key not in self._seen:
            self._seen.add(key)
            log.warning(message)


WARN = OnceLogger()


def run(opts: RunOptions) -> int:
    """Run the command under the agent; return the child's exit code (128+N, 127, 126)."""
    from xprof.agent.multinode import resolve_run_id

    run_id, _source = resolve_run_id(opts.run_id, os.environ)
    started_at = dt.datetime.now(dt.UTC)
    metrics_path = Path(tempfile.gettempdir()) / f"xprof-{run_id}.metrics.jsonl"
    env = dict(os.environ, XPROF_RUN_ID=run_id, XPROF_METRICS_FILE=str(metrics_path))
    from xprof.agent.proc_tree import become_subreaper

    become_subreaper()
    try:
        child = launch.spawn(opts.command, env)
    except launch.LaunchError as exc:
        log.error(str(exc))
        return exc.code
    restore_signals = launch.forward_signals(child)
    agent = Agent(opts, run_id, started_at, child, metrics_path)
    pump = OutputPump(child.output_fds, opts.settings["tail_bytes"], agent.on_stdout_metrics,
                      MetricLineParser(opts.metric_pattern)).start()
    agent.start()
    status = launch.wait_for_exit(child, agent.on_reaped)
    ended_at = dt.datetime.now(dt.UTC)
    code = launch.exit_code(status)
    try:
        agent.finish(status, code, ended_at, pump)
    except Exception as exc:  # the run's exit code is never ours to change
        log.error("could not finish recording run %s: %s", run_id[:8], exc, exc_info=True)
    finally:
        restore_signals()
        metrics_path.unlink(missing_ok=True)
    return code


class Agent:
    """The sampler and writer threads of one run, and the run's record."""

    reaps_orphans = True  # False in-process: a notebook's children are its own to wait for

    def __init__(self, opts: RunOptions, run_id: str, started_at: dt.datetime,
                 child: launch.Child, metrics_path: Path) -> None:
        self.opts = opts
        self.settings = opts.settings
        self.run_id = run_id
        self.started_at = started_at
        self.child = child
        self.metrics_path = metrics_path
        self.interval = float(self.settings["interval"])
        self.flush_interval = float(self.settings["flush_interval"])
        self.stop_sampling = threading.Event()
        self.stop_writing = threading.Event()
        self.samples: deque[dict] = deque(maxlen=MAX_PENDING_ROWS)
        self.gpu_samples: deque[dict] = deque(maxlen=MAX_PENDING_ROWS)
        self.stdout_metrics: deque[tuple[float, int | None, dict[str, float]]] = deque()
        self.metrics_pending: list[dict] = []
        self.metric_seq = 0
        self.metrics_offset = 0
        self.run_update: dict[str, Any] = {}
        self.stats = RunStats()
        self.tree = None
        self.gpu = None
        self.identity = None
        self.alerts = None
        self.host = ""
        self._sampler = threading.Thread(target=self._sample_loop, name="xprof-sampler",
                                         daemon=True)
        self._writer = threading.Thread(target=self._write_loop, name="xprof-writer", daemon=True)
        self._tree_ready = threading.Event()
        self._pending_reaped: list[float] = []
        self._params_lock = threading.Lock()
        self._pending_params: dict[str, str] = {}

    # -- start ------------------------------------------------------------------------------
    def start(self) -> None:
        from xprof.agent.context import host_identity
        from xprof.agent.multinode import host_key
        from xprof.agent.store_writer import RunWriter

        self.host_info = host_identity()
        self.host = host_key(os.environ, self.settings["host"])
        self.host_info["host"] = self.host
        self.writer = RunWriter(self.settings.store_url, self.settings.spool_url, self.run_id,
                                self.host, WARN.warn)
        self._start_identity()
        self._sampler.start()
        self._writer.start()

    def _start_identity(self) -> None:
        try:
            from xprof.agent.cloud_identity import IdentityResolver
        except ImportError:
            return
        try:
            self.identity = IdentityResolver.start(self.settings)
        except Exception as exc:
            WARN.warn("identity", f"cloud identity detection failed: {exc}")

    # -- called from the main and output threads -------------------------------------------
    def on_reaped(self, pid: int, cpu_seconds: float) -> None:
        if self.tree is not None:
            self.tree.add_reaped(cpu_seconds)
        else:
            self._pending_reaped.append(cpu_seconds)

    def on_stdout_metrics(self, ts: float, step: int | None, values: dict[str, float]) -> None:
        self.stdout_metrics.append((ts, step, values))

    # -- sampler thread ---------------------------------------------------------------------
    def _sample_loop(self) -> None:
        from xprof.agent.context import HELPER_PIDS
        from xprof.agent.host_stats import HostStats
        from xprof.agent.proc_tree import ProcessTree

        self.tree = ProcessTree(self.child.pid, self_pid=os.getpid(),
                                ignore_pids=lambda: set(HELPER_PIDS))
        for cpu in self._pending_reaped:
            self.tree.add_reaped(cpu)
        self.host_stats = HostStats()
        self.gpu = self._create_gpu_sampler()
        self._tree_ready.set()
        deadline = time.monotonic()
        while True:
            self._sample_once()
            deadline += self.interval
            delay = deadline - time.monotonic()
            if delay < 0:  # fell behind (suspended machine): skip, don't burst
                deadline = time.monotonic()
                delay = 0.0
            if self.stop_sampling.wait(delay):
                break
        self._sample_once()  # the final state, exited processes accounted

    def _create_gpu_sampler(self):
        try:
            from xprof.agent.gpu_sampler import GpuSampler
        except ImportError:
            return None
        try:
            return GpuSampler.create(os.environ.get("CUDA_VISIBLE_DEVICES"))
        except Exception as exc:
            WARN.warn("gpu-init", f"GPU sampling is off: {exc}")
            return None

    def _sample_once(self) -> None:
        ts = time.time()
        row: dict[str, Any] = {"ts": ts}
        try:
            row.update(self.tree.sample(ts))
        except Exception as exc:
            WARN.warn("tree", f"process sampling failed: {exc}")
        try:
            row.update(self.host_stats.sample())
        except Exception as exc:
            WARN.warn("host", f"host sampling failed: {exc}")
        self.samples.append(row)
        self.stats.add_sample(row)
        if self.gpu is not None:
            try:
                from xprof.records import as_row

                for gpu_sample in self.gpu.sample(ts, self.tree.pids()):
                    gpu_row = as_row(gpu_sample)
                    self.gpu_samples.append(gpu_row)
                    self.stats.add_gpu(gpu_row)
            except Exception as exc:
                WARN.warn("gpu", f"GPU sampling failed: {exc}")
        if not self.reaps_orphans:
            return
        try:
            orphans = [p for p in launch.own_children()
                       if p != self.child.pid and p not in self._helper_pids()]
            launch.reap_orphans(orphans, self.on_reaped)
        except Exception as exc:
            WARN.warn("reap", f"reaping orphans failed: {exc}")

    @staticmethod
    def _helper_pids() -> set[int]:
        from xprof.agent.context import HELPER_PIDS

        return set(HELPER_PIDS)

    # -- writer thread ----------------------------------------------------------------------
    def _write_loop(self) -> None:
        from xprof.redact import Redactor, secret_argv_values, secret_env_values

        self.redactor = Redactor(secret_env_values(os.environ) |
                                 secret_argv_values(self.opts.command))
        self._flush()
        self._start_alerts()
        threading.Thread(target=self._gather_context, name="xprof-context", daemon=True).start()
        while not self.stop_writing.wait(self.flush_interval):
            self._identity_update()
            if self._flush() == "store":
                self._label_resumed_run()
            self._check_live()

    def _gather_context(self) -> None:
        """git state and packages: slow-ish helpers, in their own thread after the first
        flush; then the imports the end of the run needs."""
        from xprof.agent import context

        cwd = Path.cwd()
        try:
            git = context.git_state(cwd)
            packages = (context.installed_packages(self.opts.command)
                        if self.settings["packages"] else None)
            env = context.environment(os.environ, self.redactor)
            env["packages"] = packages
            self.run_update.update({"git": git, "environment": env})
        except Exception as exc:
            WARN.warn("context", f"could not record git/environment: {exc}")
        _warm_imports()

    def _new_run(self):
        """The run's first record (called by the writer the first time it reaches a store)."""
        from xprof.agent import context
        from xprof.agent.host_stats import host_hardware
        from xprof.agent.store_writer import NewRun

        if getattr(self, "_spec", None) is not None:
            return self._spec
        opts = self.opts
        self._tree_ready.wait(5)
        argv_params = context.params_from_argv(opts.command[1:])
        params = {k: (v, "argv") for k, v in self.redactor.mapping(argv_params).items()}
        params.update({k: (v, "flag") for k, v in self.redactor.mapping(opts.params).items()})
        now = dt.datetime.now(dt.UTC)
        if not hasattr(self, "hardware"):
            self.hardware = host_hardware()
            if self.gpu is not None:
                try:
                    self.hardware.update(self.gpu.hardware())
                except Exception as exc:
                    WARN.warn("gpu-hw", f"could not read GPU hardware: {exc}")
            self.name = opts.name or generate_name()
            self.project = opts.project or context.default_project(Path.cwd())
        row = {
            "id": self.run_id,
            "name": self.name,
            "project": self.project,
            "status": "running",
            "started_at": self.started_at,
            "heartbeat_at": now,
            "interval_s": self.interval,
            "flush_interval_s": self.flush_interval,
            "command": self.redactor.argv(opts.command),
            "cwd": str(Path.cwd()),
            **self.host_info,
            "hardware": self.hardware,
            "objective_name": opts.objective[0] if opts.objective else None,
            "objective_mode": opts.objective[1] if opts.objective else None,
            "agent_version": _version(),
            "hypothesis": opts.hypothesis,
            "expectation": str(opts.expectation) if opts.expectation else None,
            "budget": opts.budget,
            **self._experiment_fields(),
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

    def _write_params(self, target: str) -> None:
        from xprof import schema

        with self._params_lock:
            params = dict(self._pending_params)
        redactor = getattr(self, "redactor", None)
        if redactor is not None:
            params = redactor.mapping(params)
        try:
            p = schema.run_params
            with self.writer.store(target).write() as conn:
                conn.execute(p.delete().where(p.c.run_id == self.run_id,
                                              p.c.key.in_(list(params))))
                conn.execute(p.insert(), [{"run_id": self.run_id, "key": k[:200], "value": v,
                                           "source": "log"} for k, v in params.items()])
        except Exception as exc:
            WARN.warn("params", f"could not record params: {exc}")
            return
        with self._params_lock:
            for key, value in params.items():
                if self._pending_params.get(key) == value:
                    del self._pending_params[key]

    def _experiment_fields(self) -> dict[str, Any]:
        """experiment, attempt and resumed_from of this run."""
        resumed = self.opts.resumed
        if resumed:
            return {"experiment": resumed["experiment"], "attempt": resumed["attempt"] + 1,
                    "resumed_from": resumed["id"]}
        if not self.opts.experiment:
            return {}
        attempt = 1
        try:
            import sqlalchemy as sa

            from xprof import schema

            with self.writer.store().read() as conn:
                attempt += conn.execute(sa.select(sa.func.count()).select_from(schema.runs)
                                        .where(schema.runs.c.experiment ==
                                               self.opts.experiment)).scalar()
        except Exception as exc:
            WARN.warn("attempt", f"could not count earlier attempts: {exc}")
        return {"experiment": self.opts.experiment, "attempt": attempt}

    def _label_resumed_run(self) -> None:
        """The run resumed becomes attempt 1 of the experiment if it had none."""
        resumed = self.opts.resumed
        if not resumed or getattr(self, "_resumed_labelled", False):
            return
        self._resumed_labelled = True
        try:

            from xprof import schema

            r = schema.runs
            with self.writer.store().write() as conn:
                conn.execute(r.update().where(r.c.id == resumed["id"], r.c.experiment.is_(None))
                             .values(experiment=resumed["experiment"], attempt=1))
        except Exception as exc:
            WARN.warn("resume-label", f"could not label the resumed run: {exc}")

    def _identity_update(self) -> None:
        """Record the cloud identity as soon as it is known (live cost and budgets need it)."""
        if self.identity is None or getattr(self, "_identity_written", False):
            return
        if not self.identity.ready():
            return
        self._identity_written = True
        try:
            self.identity_fields = self.identity.result(0).run_fields()
            self.run_update.update(self.identity_fields)
        except Exception as exc:
            WARN.warn("identity-early", f"cloud identity unavailable: {exc}")

    def _live_cost(self):
        """The run's estimate so far (None while the price depends on an unknown identity)."""
        if self.identity is not None and not self.identity.ready():
            return None
        from xprof.collector.estimate import compute_estimate

        now = dt.datetime.now(dt.UTC)
        spec = self._new_run()
        run = {**spec.run, **getattr(self, "identity_fields", {}), "ended_at": now,
               "duration_s": (now - self.started_at).total_seconds(),
               "hardware": {**(spec.run.get("hardware") or {}),
                            "gpus_used": sorted(self.gpu.used_gpus()) if self.gpu else []}}
        return compute_estimate(self.writer.store(self.writer.last_target or "store"), run,
                                self.settings)

    def _check_live(self) -> None:
        """Budget and alert rules on the live figures (after each flush)."""
        if self.opts.budget is None and self.alerts is None:
            return
        try:
            estimate = self._live_cost()
        except Exception as exc:
            WARN.warn("live-cost", f"cannot price the run so far: {exc}")
            estimate = None
        if self.opts.budget is not None and estimate is not None:
            self._check_budget(estimate)
        if self.alerts is not None:
            self.alerts.on_flush(self._new_run().run, {
                "cost_so_far": estimate.amount if estimate else None,
                "currency": estimate.currency if estimate else "USD",
                "gpu_idle_s": self.stats.gpu_idle_s(time.time()),
                "metrics": {k: v for k, (v, _) in self.stats.metrics.items()}})

    def _check_budget(self, estimate) -> None:
        """Warn at the configured fraction of --budget; at the budget, warn or stop."""
        budget = self.opts.budget
        if getattr(self, "_budget_stopped", False):
            return
        from xprof.agent.guard_rails import BudgetCheck

        if estimate.amount is None:
            WARN.warn("budget-unknown", f"--budget is not enforced: {estimate.reason}")
            return
        check = BudgetCheck(estimate.amount, budget, self.settings["budget_warn_fraction"])
        if check.exceeded:
            if self.opts.on_budget == "stop":
                self._budget_stopped = True
                log.warning("budget %s reached (est. %.2f): stopping the command (SIGTERM, "
                            "SIGKILL in %.0f s)", budget, check.spent,
                            self.settings["budget_grace_s"])
                self.run_update["stopped_by"] = "budget"
                launch.stop_group(self.child, self.settings["budget_grace_s"])
            else:
                WARN.warn("budget-reached", f"budget {budget} reached (est. {check.spent:.2f}); "
                          "the command goes on (--on-budget warn)")
        elif check.warn:
            WARN.warn("budget-warn", f"{check.fraction:.0%} of the budget {budget} spent "
                      f"(est. {check.spent:.2f})")

    def _start_alerts(self) -> None:
        """Alert rules of the config, if any (imported only then)."""
        if not self.settings.get("alerts"):
            return
        try:
            from xprof.agent.run_alerts import RunAlerts

            store = self.writer.stores.get(self.writer.last_target or "store")
            self.alerts = RunAlerts.from_settings(self.settings, store)
        except Exception as exc:
            WARN.warn("alerts", f"alerts are off for this run: {exc}")

    def _collect_metrics(self) -> None:
        """Metrics from stdout lines and from xprof.log's file, in arrival order."""
        while self.stdout_metrics:
            ts, step, values = self.stdout_metrics.popleft()
            self._add_metrics(ts, step, values, "stdout")
        try:
            with open(self.metrics_path, "rb") as fh:
                fh.seek(self.metrics_offset)
                data = fh.read()
        except FileNotFoundError:
            return
        except OSError as exc:
            WARN.warn("metrics-file", f"cannot read logged metrics: {exc}")
            return
        end = data.rfind(b"\n") + 1
        self.metrics_offset += end
        for line in data[:end].splitlines():
            try:
                record = json.loads(line)
                self._add_metrics(float(record["ts"]), record.get("step"),
                                  record["metrics"], "log")
                if record.get("params"):
                    self.add_params({str(k): str(v) for k, v in record["params"].items()})
            except (ValueError, KeyError, TypeError):
                WARN.warn("metrics-line", "skipped a malformed xprof.log line")

    def _add_metrics(self, ts: float, step: int | None, values: dict, source: str) -> None:
        for key, value in values.items():
            self.metric_seq += 1
            self.metrics_pending.append({"seq": self.metric_seq, "key": str(key)[:200],
                                         "value": float(value), "step": step, "ts": ts,
                                         "source": source})
            self.stats.add_metric(str(key), float(value), step)

    def _flush(self, final_update: dict[str, Any] | None = None) -> str | None:
        """Write what is pending (to the store, else the spool); keep it for the next try."""
        from xprof.agent.store_writer import Batch

        try:
            self._collect_metrics()
        except Exception as exc:
            WARN.warn("metrics", f"could not read metrics: {exc}")
        samples = list(self.samples)
        gpu_samples = list(self.gpu_samples)
        metrics = list(self.metrics_pending)
        now = dt.datetime.now(dt.UTC)
        pending = dict(self.run_update)  # other threads may add to run_update meanwhile
        host_update = {**pending, **(final_update or {}), "heartbeat_at": now}
        host_update = {k: v for k, v in host_update.items() if k in HOST_FIELDS}
        run_update = {k: v for k, v in {**pending, **(final_update or {})}.items()
                      if k in RUN_ONLY_FIELDS or (k in IDENTITY_FIELDS and final_update is None)}
        run_update["heartbeat_at"] = now
        batch = Batch(samples=samples, gpu_samples=gpu_samples, metrics=metrics,
                      run_update=run_update, host_update=host_update,
                      finished=final_update is not None)
        target = self.writer.write(self._new_run, batch)
        if target is None:
            return None
        if self._pending_params:
            self._write_params(target)
        for _ in samples:
            self.samples.popleft()
        for _ in gpu_samples:
            self.gpu_samples.popleft()
        del self.metrics_pending[:len(metrics)]
        for key, value in pending.items():
            if self.run_update.get(key) is value:
                del self.run_update[key]
        return target

    # -- the end ----------------------------------------------------------------------------
    def finish(self, status: int, code: int, ended_at: dt.datetime, pump: OutputPump) -> None:
        tree_pids: Callable[[], list[int]] = lambda: [  # noqa: E731
            p for p in launch.own_children() if p not in self._helper_pids()]
        launch.wait_for_leftovers(tree_pids, self.on_reaped)
        self.stop_sampling.set()
        self._sampler.join(timeout=10)
        pump.join(timeout=2)
        self.stop_writing.set()
        self._writer.join(timeout=30)
        if self.opts.metrics_file is not None:
            self._read_metrics_file(self.opts.metrics_file)
        try:
            self._collect_metrics()  # the last lines and xprof.log calls, before judging them
        except Exception as exc:
            WARN.warn("metrics", f"could not read metrics: {exc}")
        identity = self._identity_fields()
        final = self._final_fields(status, code, ended_at, pump, identity)
        target = None
        for attempt in range(3):
            target = self._flush(final)
            if target:
                break
            time.sleep(0.5 * (attempt + 1))
        written = target is not None
        if self.identity is not None:
            self.identity.stop()
        if self.gpu is not None:
            self.gpu.close()
        try:
            self.stats.energy.close()
        except Exception as exc:
            WARN.warn("energy-close", f"could not close the energy meter: {exc}")
        extra: list[str] = []
        if written:
            extra = self._price_and_advise(self.writer.store(target))
        else:
            WARN.warn("final", "the run's end could not be stored; it will show as crashed")
        if self.alerts is not None:
            estimate = getattr(self, "final_estimate", None)
            self.alerts.on_end(self._new_run().run, {
                **final, "cost": estimate.amount if estimate else None,
                "currency": estimate.currency if estimate else "USD",
                "metrics": {k: v for k, (v, _) in self.stats.metrics.items()}})
        if not self.opts.quiet:
            from xprof.agent.summary import render_summary

            print(render_summary(self, final, extra, stored=written,
                                 spooled=self.writer.spooled), file=sys.stderr)

    def _identity_fields(self) -> dict[str, Any]:
        if self.identity is None:
            return {}
        try:
            identity = self.identity.result(self.settings["identity_timeout"])
            fields = identity.run_fields()
            interruption = self.identity.interruption()
            if interruption:
                fields["cloud"] = {**(fields.get("cloud") or {}), "interruption": interruption}
            return fields
        except Exception as exc:
            WARN.warn("identity-result", f"cloud identity unavailable: {exc}")
            return {}

    def _read_metrics_file(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            WARN.warn("metrics-file-missing", f"--metrics-file {path} was not written")
            return
        except (OSError, ValueError) as exc:
            WARN.warn("metrics-file-bad", f"--metrics-file {path}: not JSON ({exc})")
            return
        records = data if isinstance(data, list) else [data]
        now = time.time()
        for record in records:
            if isinstance(record, dict):
                step = record.pop("step", None)
                values = {k: v for k, v in record.items()
                          if isinstance(v, int | float) and not isinstance(v, bool)}
                self._add_metrics(now, step, values, "file")

    def _final_fields(self, status: int, code: int, ended_at: dt.datetime, pump: OutputPump,
                      identity: dict[str, Any]) -> dict[str, Any]:
        if os.WIFSIGNALED(status):
            state, signum = "killed", os.WTERMSIG(status)
        else:
            state, signum = ("finished" if code == 0 else "failed"), None
        hardware = dict(getattr(self, "hardware", {}) or {})
        if self.gpu is not None:
            try:
                hardware["gpus_used"] = sorted(self.gpu.used_gpus())
            except Exception as exc:
                WARN.warn("gpu-used", f"could not read GPUs used: {exc}")
        redactor = getattr(self, "redactor", None)
        tail = pump.tail()
        outcome = None
        if self.opts.expectation is not None:
            outcome = self.opts.expectation.outcome(
                {k: v for k, (v, _) in self.stats.metrics.items()})
        elif self.opts.hypothesis:
            outcome = "inconclusive"
        return {
            "outcome": outcome,
            "stopped_by": "budget" if getattr(self, "_budget_stopped", False) else None,
            "status": state,
            "exit_code": code,
            "signal": signum,
            "ended_at": ended_at,
            "duration_s": (ended_at - self.started_at).total_seconds(),
            "cpu_seconds": self.stats.cpu_seconds,
            "peak_rss_bytes": self.stats.rss_peak,
            "summary": self.stats.summary(),
            "hardware": hardware,
            "output_tail": redactor.text(tail) if redactor else tail,
            **identity,
        }

    def _price_and_advise(self, store) -> list[str]:
        """The run's estimate and top recommendation, from the catalog only."""
        lines: list[str] = []
        try:
            from xprof.collector.estimate import estimate_run
        except ImportError:
            return lines
        try:
            self.final_estimate = estimate_run(store, self.run_id, self.settings)
            lines.append(self.final_estimate.summary_line())
        except Exception as exc:
            WARN.warn("estimate", f"could not estimate the run's cost: {exc}")
        # advice reads every sample: 1 h × 4 GPUs at 1 Hz (18 k rows) takes 40 ms, 8 h 300 ms
        rows = self.stats.sample_count * (1 + len(self.stats.gpu_mem_peak))
        if rows > self.settings["advise.exit_max_rows"]:
            lines.append("advice: this run is long; `xprof collect` (or `xprof advise "
                         f"{self.run_id[:8]}`) computes its advice")
            return lines
        try:
            from xprof.collector.advise import advise_run
        except ImportError:
            return lines
        try:
            recs = advise_run(store, self.run_id, self.settings)
            if recs:
                lines.append(f"advice: {recs[0].title}")
        except Exception as exc:
            WARN.warn("advise", f"could not compute recommendations: {exc}")
        return lines


def _warm_imports() -> None:
    """Import what the end of the run needs while the run is still going, so the exit is fast."""
    import importlib

    for module in ("xprof.agent.summary", "xprof.collector.estimate", "xprof.collector.advise"):
        with contextlib.suppress(ImportError):
            importlib.import_module(module)


def generate_name() -> str:
    """A memorable run name such as ``brisk-otter-17``."""
    from xprof.names import generate_name as generate

    return generate()


def _version() -> str:
    from xprof import __version__

    return __version__
