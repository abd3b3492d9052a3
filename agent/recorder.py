"""The threads that record one run, and the pieces they share.

The sampler thread calls the samplers (process tree, host, GPUs; :mod:`xprof.agent.sampler`)
every ``interval``; the writer thread flushes pending records every ``flush_interval`` (store,
else spool; :mod:`xprof.agent.store_writer`), then checks budget and alerts. The pieces: the
run's record and params (:mod:`run_record`), logged metrics (:mod:`metrics_intake`), live
checks (:mod:`live_checks`), running figures (:mod:`run_stats`). The end of a run is
:mod:`run_end`. Used by ``xprof run`` (:mod:`runner`) and in-process runs (:mod:`inprocess`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from xprof.agent import launch
from xprof.agent.context import HELPER_LOCK, HELPER_PIDS, host_identity
from xprof.agent.gpu_cadence import GpuCadence
from xprof.agent.gpu_sampler import GpuSampler
from xprof.agent.host_stats import HostStats
from xprof.agent.live_checks import LiveChecks
from xprof.agent.metrics_intake import MetricsIntake
from xprof.agent.multinode import claim_host_key, host_key, release_host_key, shared_run_id
from xprof.agent.once import WARN
from xprof.agent.proc_tree import ProcessTree
from xprof.agent.run_record import RunRecord
from xprof.agent.run_stats import RunStats
from xprof.agent.sampler import Sampler, run_every, sample_all
from xprof.agent.store_writer import Batch, NewRun, RunWriter
from xprof.records import GpuSample, HostSample, Record, Sample, TreeSample, as_row

HOST_FIELDS = frozenset({
    "status", "exit_code", "signal", "ended_at", "heartbeat_at", "hardware", "cloud_provider",
    "cloud_account", "cloud_region", "cloud_zone", "instance_id", "instance_type", "lifecycle",
    "cloud", "cpu_seconds", "peak_rss_bytes", "summary"})  # run_hosts columns an agent updates
RUN_ONLY_FIELDS = frozenset({"output_tail", "git", "environment", "outcome", "stopped_by"})
IDENTITY_FIELDS = frozenset({"cloud_provider", "cloud_account", "cloud_region", "cloud_zone",
                             "instance_id", "instance_type", "lifecycle", "cloud"})
MAX_PENDING_ROWS = 200_000  # per series: ~2 days of 1 Hz samples kept while no store answers
END_MODULES = ("xprof.store", "xprof.agent.summary", "xprof.collector.estimate",
               "xprof.collector.advise")


class Recorder:
    """Samples and writes one run whose tree is rooted at ``child.pid``.

    ``reaps_orphans``: the agent reaps its tree's orphans (``xprof run``, a subreaper); False
    in-process, where this process's children are its own code's to wait for.
    ``cpu_from_start``: the tree's CPU before :meth:`start` is not the run's (in-process: the
    root ran before the run began).
    """

    def __init__(self, opts: Any, run_id: str, started_at: dt.datetime, child: Any,
                 metrics_path: Path, *, reaps_orphans: bool = True,
                 cpu_from_start: bool = False) -> None:
        self.opts = opts
        self.settings = opts.settings
        self.run_id = run_id
        self.started_at = started_at
        self.child = child
        self.reaps_orphans = reaps_orphans
        self.interval = float(self.settings["interval"])
        self.flush_interval = float(self.settings["flush_interval"])
        self.stats = RunStats(self.interval)
        self.run_update: dict[str, Any] = {}
        self.record = RunRecord(opts, run_id, started_at, "", {}, self.interval,
                                self.flush_interval)
        self.intake = MetricsIntake(metrics_path, self.stats, self.record.add_params)
        self.checks = LiveChecks(opts, self.settings, self.stats, child, self.run_update)
        self.samples: deque[Sample] = deque(maxlen=MAX_PENDING_ROWS)
        self.gpu_samples: deque[GpuSample] = deque(maxlen=MAX_PENDING_ROWS)
        self.tree: ProcessTree | None = None
        self.gpu: GpuSampler | None = None  # when NVML finds a device
        self.samplers: list[Sampler] = []
        self._cpu_samplers: list[Sampler] = []  # the tree and host: one ts, with the helper lock
        self.writer: RunWriter | None = None
        self.stop_sampling = threading.Event()
        self.stop_writing = threading.Event()
        self._sampler = threading.Thread(target=self._sample_loop, name="xprof-sampler",
                                         daemon=True)
        self._writer = threading.Thread(target=self._write_loop, name="xprof-writer", daemon=True)
        self._tree_ready = threading.Event()
        self._pending_reaped: list[tuple[float, int, int]] = []
        self.exit_wait = float(self.settings.get("exit_wait", 5.0))
        self._exit_deadline: float | None = None
        self._drop_lock = threading.Lock()  # written rows leave the queues one flush at a time
        self._context = threading.Thread(target=self._gather_context, name="xprof-context",
                                         daemon=True)
        self._context_lock = threading.Lock()
        self._context_done = threading.Event()
        self.cpu_from_start = cpu_from_start
        self._host_lock: IO[bytes] | None = None  # held while this agent owns its host key

    @property
    def name(self) -> str | None:
        return self.record.name

    # -- start ------------------------------------------------------------------------------
    def start(self) -> None:
        if self.cpu_from_start:  # the baseline now, on the caller's thread: exact
            self.tree = self._new_tree()
            self.tree.set_baseline()
        host_info = host_identity()
        host = host_key(os.environ, self.settings["host"])
        if shared_run_id(getattr(self.opts, "run_id", None), os.environ):
            host, self._host_lock = claim_host_key(host, self.run_id,
                                                   self.settings.home / "agents")
        host_info["host"] = host
        self.record.host, self.record.host_info = host, host_info
        self.writer = RunWriter(self.settings.store_url, self.settings.spool_url, self.run_id,
                                host, WARN.warn, lite=self.settings["light_writes"])
        self.checks.start_identity()
        self._sampler.start()
        self._writer.start()
        self._start_context()  # beside the store's opening: a short run's exit waits for both

    # -- called from other threads -----------------------------------------------------------
    def on_reaped(self, pid: int, cpu_seconds: float, maxrss_bytes: int = 0) -> None:
        if self.tree is not None:
            self.tree.add_reaped(cpu_seconds, pid, maxrss_bytes)
        else:
            self._pending_reaped.append((cpu_seconds, pid, maxrss_bytes))

    def add_params(self, params: dict[str, str]) -> None:
        """Params logged during the run (framework callbacks, ``run.log_params``)."""
        self.record.add_params(params)

    def tree_pids(self) -> list[int]:
        """The agent's own children that are not its helpers."""
        with HELPER_LOCK:
            helpers = set(HELPER_PIDS)
            return [p for p in launch.own_children() if p not in helpers]

    # -- sampler thread ---------------------------------------------------------------------
    def _sample_loop(self) -> None:
        self.tree = self.tree or self._new_tree()
        for reaped in self._pending_reaped:
            self.tree.add_reaped(*reaped)
        self.gpu = _create_gpu_sampler(self.settings, self.stop_sampling.is_set)
        self._cpu_samplers = [self.tree, HostStats()]
        self.samplers = [*self._cpu_samplers, *([self.gpu] if self.gpu is not None else [])]
        self._tree_ready.set()
        run_every(self.interval, self.stop_sampling, self._sample_once)

    def _new_tree(self) -> ProcessTree:
        return ProcessTree(self.child.pid, self_pid=os.getpid(),
                           ignore_pids=lambda: set(HELPER_PIDS))

    def _sample_once(self) -> None:
        ts = time.time()
        with HELPER_LOCK:  # a helper starting now is not taken for one of the run's processes
            records = sample_all(self._cpu_samplers, ts, self.tree.pids)
        if self.gpu is not None:  # stamped when read: the tree's scan can take tens of ms
            records += sample_all([self.gpu], time.time(), self.tree.pids)
        self._take(ts, records)
        if not self.reaps_orphans:
            return
        try:
            orphans = [p for p in self.tree_pids() if p != self.child.pid]
            launch.reap_orphans(orphans, self.on_reaped)
        except Exception as exc:
            WARN.warn("reap", f"reaping orphans failed: {exc}")

    def _take(self, ts: float, records: list[Record]) -> None:
        """Queue one sample's records for the writer; add them to the running figures."""
        tree = host = None
        gpus: list[GpuSample] = []
        for record in records:
            if isinstance(record, GpuSample):
                gpus.append(record)
            elif isinstance(record, TreeSample):
                tree = record
            elif isinstance(record, HostSample):
                host = record
        sample = Sample.join(ts, tree, host)
        self.samples.append(sample)
        self.stats.add_sample(as_row(sample))
        for gpu in gpus:
            self.gpu_samples.append(gpu)
            self.stats.add_gpu(as_row(gpu))

    def samplers_hardware(self) -> dict:
        """What the samplers know of the machine (GPUs), merged."""
        hardware: dict = {}
        for sampler in self.samplers:
            try:
                hardware.update(sampler.hardware())
            except Exception as exc:
                WARN.warn(f"{sampler.name}-hw", f"could not read {sampler.name} hardware: {exc}")
        return hardware

    def gpus_used(self) -> list[int]:
        return sorted(self.gpu.used_gpus()) if self.gpu is not None else []

    def release_host(self) -> None:
        """Let go of this agent's host key (its lock file goes): the run's rows are written."""
        release_host_key(self._host_lock)
        self._host_lock = None

    def close_samplers(self) -> None:
        """Close the samplers, identity detection and the energy meter."""
        identity = self.checks.identity
        for closer in (identity and identity.stop, *(s.close for s in self.samplers),
                       self.stats.energy.close):
            if closer:
                try:
                    closer()
                except Exception as exc:
                    WARN.warn("close", f"could not close a sampler: {exc}")

    # -- writer thread ----------------------------------------------------------------------
    def _write_loop(self) -> None:
        self.writer.prepare()
        if not self.stop_writing.is_set():  # a child already gone: its end is the first write
            self.flush()
        self.checks.start_alerts(self._alerts_store())
        while not self.stop_writing.wait(self.flush_interval):
            self.checks.identity_update()
            if self.flush() == "store":
                self.record.label_resumed_run(self.writer)
            self.checks.after_flush(lambda: self.new_run().run, self._live_store,
                                    self.gpus_used)

    def _alerts_store(self):
        """Where alerts claim their sends (SQLAlchemy, only when alerts are configured): the
        store written to, else the store if it opens; else None (claims in this process
        only)."""
        if not self.settings.get("alerts"):
            return None
        with contextlib.suppress(Exception):
            return self.writer.store(self.writer.last_target or "store")
        return None

    def _live_store(self):
        return self.writer.store(self.writer.last_target or "store")

    def _start_context(self) -> None:
        with self._context_lock:
            if self._context.ident is None:
                self._context.start()

    def _gather_context(self) -> None:
        """git state and packages, in their own thread from the start (beside the store's
        opening)."""
        try:
            self.run_update.update(self.record.gather_context(self.settings["packages"]))
        finally:
            self._context_done.set()
        if not self.writer.lite:  # SQLAlchemy is loaded anyway: the end's imports now, so
            self._warm_end()      # the exit after the command stays fast

    def _warm_end(self) -> None:
        """The imports the end of the run needs (SQLAlchemy, pricing, advice): while the
        child runs by default (a fast exit); with ``light_writes`` once it has ended, beside
        the waits for its leftovers, output and threads, so their CPU is not taken from the
        training."""
        for module in END_MODULES:
            with contextlib.suppress(ImportError):
                importlib.import_module(module)

    def new_run(self) -> NewRun:
        """The run's first record (called by the writer the first time it reaches a store)."""
        if not self.record.built:
            self._tree_ready.wait(5)  # the samplers' hardware (GPUs) goes in the first record
        return self.record.new_run(self.writer, self.samplers_hardware)

    def flush(self, final_update: dict[str, Any] | None = None,
              targets: tuple[str, ...] = ("store", "spool")) -> str | None:
        """Write what is pending (to the store, else the spool); keep it for the next try."""
        self.intake.collect_safely()
        samples = list(self.samples)
        gpu_samples = list(self.gpu_samples)
        metrics = list(self.intake.pending)
        now = dt.datetime.now(dt.UTC)
        pending = dict(self.run_update)  # other threads may add to run_update meanwhile
        update = {**pending, **(final_update or {})}
        host_update = {k: v for k, v in {**update, "heartbeat_at": now}.items()
                       if k in HOST_FIELDS}
        run_update = {k: v for k, v in update.items()
                      if k in RUN_ONLY_FIELDS or (k in IDENTITY_FIELDS and final_update is None)}
        run_update["heartbeat_at"] = now
        batch = Batch(samples=samples, gpu_samples=gpu_samples, metrics=metrics,
                      run_update=run_update, host_update=host_update,
                      finished=final_update is not None)
        target = self.writer.write(self.new_run, batch, targets)
        if target is None:
            return None
        self.record.write_params(self.writer, target)
        with self._drop_lock:  # the writer and the end of the run may both have written them
            _drop_written(self.samples, samples)
            _drop_written(self.gpu_samples, gpu_samples)
            _drop_written_list(self.intake.pending, metrics)
            for key, value in pending.items():
                if self.run_update.get(key) is value:
                    del self.run_update[key]
        return target

    def flush_final(self, final: dict[str, Any], backoff_s: float) -> str | None:
        """Write the run's end: three tries, ``backoff_s`` × try number apart, until the exit
        deadline; a store still busy then (locked, slow) gets nothing more: the end goes to
        the spool, for ``xprof sync``."""
        self.writer.end_lite()  # the end goes through the store's SQLAlchemy path
        if self._writer.is_alive():  # the writer is stuck in the store: do not queue behind it
            return self._spool_final(final)
        result: list[str | None] = []

        def tries() -> None:
            self.writer.retry_now()  # the end is worth a try of the store, whatever its backoff
            for attempt in range(3):
                target = self.flush(final)
                if target or self.left_s() <= 0:
                    result.append(target)
                    return
                time.sleep(min(backoff_s * (attempt + 1), self.left_s()))
            result.append(None)

        thread = threading.Thread(target=tries, name="xprof-final", daemon=True)
        thread.start()
        thread.join(timeout=self.left_s())
        if result:
            return result[0]
        return self._spool_final(final)

    def _spool_final(self, final: dict[str, Any]) -> str | None:
        self.writer.warn("store-slow", f"the store did not answer within {self.exit_wait:g} s "
                         "(setting exit_wait); spooling the rest of the run: upload it with "
                         "`xprof sync`")
        return self.flush(final, targets=("spool",))

    # -- stopping ---------------------------------------------------------------------------
    def left_s(self) -> float:
        """Seconds left before the run's exit deadline (``exit_wait`` after the child ended;
        the clock starts at the first call)."""
        if self._exit_deadline is None:
            self._exit_deadline = time.monotonic() + self.exit_wait
        return max(0.0, self._exit_deadline - time.monotonic())

    def stop_sampler(self, timeout: float) -> None:
        self.left_s()  # the child has ended: the exit clock starts
        if self.writer.lite:  # light writes: the end's imports only once the child has ended
            threading.Thread(target=self._warm_end, name="xprof-warm-end", daemon=True).start()
        self.stop_sampling.set()
        self._sampler.join(timeout=timeout)

    def stop_writer(self, timeout: float) -> None:
        """Stop the writer thread; wait for its flush at most ``timeout`` and the exit
        deadline (a store locked for minutes must not hold the exit)."""
        self.stop_writing.set()
        self._writer.join(timeout=min(timeout, self.left_s()))

    def await_context(self) -> None:
        """git and environment before the run's end is written, even for a run shorter than
        the first flush (bounded by the exit deadline)."""
        self._start_context()
        self._context_done.wait(self.left_s())


def _drop_written(queue: deque, written: list) -> None:
    """Take the rows just written off the left of ``queue`` (rows another flush already
    took, or that ``maxlen`` pushed out, are skipped: never an empty pop)."""
    for item in written:
        if queue and queue[0] is item:
            queue.popleft()


def _drop_written_list(pending: list, written: list) -> None:
    count = 0
    for item in written:
        if count < len(pending) and pending[count] is item:
            count += 1
    del pending[:count]


def _create_gpu_sampler(settings: Any, final: Callable[[], bool]) -> GpuSampler | None:
    """A GPU sampler on the settings' cadences (``final()``: the run's last sample), or None
    without NVML or a device."""
    try:
        return GpuSampler.create(os.environ.get("CUDA_VISIBLE_DEVICES"),
                                 GpuCadence.from_settings(settings), final)
    except Exception as exc:
        WARN.warn("gpu-init", f"GPU sampling is off: {exc}")
        return None
