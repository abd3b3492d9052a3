"""``xprof run``: launch the command, sample it, record it, summarise it.

Order matters: the recorder's modules load before the child starts (~35 ms of CPU that would
otherwise be taken from a training filling every core; nothing heavier: the store's and the
run end's load later), then the sampler thread (process tree, host, GPUs) and the writer
thread (store, heartbeat) start; the main thread
only waits for the child and forwards signals. Nothing here may change the child's exit
code or slow it: every failure after the launch is logged once and the run goes on.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xprof.agent import launch
from xprof.agent.context import HELPER_PIDS
from xprof.agent.multinode import resolve_run_id
from xprof.agent.output import MetricLineParser, OutputPump
from xprof.agent.proc_tree import become_subreaper
from xprof.agent.recorder import Recorder
from xprof.metrics_log import metrics_file_path
from xprof.settings import Settings

log = logging.getLogger("xprof.agent")


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


def run(opts: RunOptions) -> int:
    """Run the command under the agent; return the child's exit code (128+N, 127, 126)."""
    run_id, _source = resolve_run_id(opts.run_id, os.environ)
    started_at = dt.datetime.now(dt.UTC)
    metrics_path = metrics_file_path(run_id)
    metrics_path.unlink(missing_ok=True)  # a dead agent's, whose pid this one got
    env = dict(os.environ, XPROF_RUN_ID=run_id, XPROF_METRICS_FILE=str(metrics_path))
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
    """``xprof run``'s agent: a :class:`Recorder` of the launched command's tree, ended by
    :func:`finish_run` once the command exits."""

    def __init__(self, opts: RunOptions, run_id: str, started_at: dt.datetime,
                 child: launch.Child, metrics_path: Path) -> None:
        if child.relay_pid is not None:
            HELPER_PIDS.add(child.relay_pid)  # the output relay is not part of the run
        self.recorder: Recorder = Recorder(opts, run_id, started_at, child, metrics_path)

    def start(self) -> None:
        self.recorder.start()

    def on_reaped(self, pid: int, cpu_seconds: float, maxrss_bytes: int = 0) -> None:
        self.recorder.on_reaped(pid, cpu_seconds, maxrss_bytes)

    def on_stdout_metrics(self, ts: float, step: int | None, values: dict[str, float]) -> None:
        self.recorder.intake.on_stdout(ts, step, values)

    def finish(self, status: int, code: int, ended_at: dt.datetime, pump: OutputPump) -> None:
        """Wait for the tree's leftovers, stop the threads, write and print the run's end."""
        from xprof.agent.run_end import finish_run  # loaded after the child started, as above

        rec = self.recorder
        launch.end_leftovers(rec.child, rec.tree_pids, rec.on_reaped,
                             rec.settings["leftover_grace_s"])
        rec.stop_sampler(timeout=10)
        pump.join(timeout=2)
        rec.stop_writer(timeout=30)
        if rec.opts.metrics_file is not None:
            rec.intake.read_file(rec.opts.metrics_file)
        finish_run(rec, status, code, ended_at, pump.tail(), backoff_s=0.5)
