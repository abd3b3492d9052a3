"""Where a running agent's data goes: the store, else a local spool, else bounded memory.

The training never waits on the network: a store that cannot be reached or fails mid-run
sends the flush to a local SQLite spool (``$XPROF_HOME/spool.db``; a warning, once), the
store is retried every few seconds in the writer thread, and ``xprof sync`` uploads the
spool later. If even the spool fails, the rows wait in memory for the next flush.

Whichever side gets the run first or later gets all of it: the run's first record, and every
field written so far (git, environment, packages, identity) go with the first batch a store
or spool sees, so either side can make the whole run again (``xprof sync``).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from xprof.records import GpuSample, Metric, Sample, as_row
from xprof.storeurl import redact_url

log = logging.getLogger("xprof.agent")
RETRY_STORE_S = 5.0


@dataclass
class Batch:
    """One flush of one run's rows and field updates."""

    samples: list[Sample] = field(default_factory=list)
    gpu_samples: list[GpuSample] = field(default_factory=list)
    metrics: list[Metric] = field(default_factory=list)
    run_update: dict[str, Any] = field(default_factory=dict)
    host_update: dict[str, Any] = field(default_factory=dict)
    finished: bool = False


@dataclass
class NewRun:
    """What creating the run needs: rows for runs and run_hosts, params, tags."""

    run: dict[str, Any]
    host: dict[str, Any]
    params: dict[str, tuple[str, str]]
    tags: dict[str, str]


class RunWriter:
    """Writes batches of one run to the store, or to the spool while the store is away."""

    def __init__(self, store_url: str, spool_url: str, run_id: str, host: str,
                 warn: Callable[[str, str], None], lite: bool = False) -> None:
        self.urls = {"store": store_url, "spool": spool_url}
        self.run_id = run_id
        self.host = host
        self.warn = warn
        self.stores: dict[str, Any] = {}
        self.created: set[str] = set()
        self.spooled = False
        self.last_target: str | None = None
        self.sent_run: dict[str, Any] = {}  # every run field written somewhere so far
        self.sent_host: dict[str, Any] = {}
        self.errors: dict[str, str] = {}  # the last failure of each target
        self._retry_at = 0.0
        self.lite = lite  # while the child runs: the light SQLite writer where it can
        self.lites: dict[str, Any] = {}  # target -> sqlite_writer.SqliteWriter
        self.lite_off: set[str] = set()  # targets it cannot write (new, other revision, failed)

    def store(self, target: str = "store"):
        """The opened store for ``target`` ("store" or "spool"), opening it on first use."""
        if target not in self.stores:
            from xprof.store import Store  # SQLAlchemy: loaded once the child runs

            self.stores[target] = Store.open(self.urls[target])
        return self.stores[target]

    def sink(self, target: str = "store"):
        """What writes this run's rows to ``target`` while the child runs: the light SQLite
        writer (no SQLAlchemy) on an up-to-date SQLite store, else :meth:`store`."""
        return self._lite_writer(target) or self.store(target)

    def _lite_writer(self, target: str):
        """The light writer of ``target``, opened on first use; None where it cannot write."""
        if not self.lite or target in self.lite_off:
            return None
        if target not in self.lites:
            from xprof.agent.sqlite_writer import SqliteWriter

            writer = SqliteWriter.open(self.urls[target])
            if writer is None:
                self.lite_off.add(target)
                return None
            self.lites[target] = writer
        return self.lites[target]

    def prepare(self) -> None:
        """Open the light writer on the store, else load the store's modules (SQLAlchemy and
        the schema): most of a first write. Errors are the first write's to report."""
        with contextlib.suppress(Exception):
            if self._lite_writer("store") is None:
                from xprof import store  # noqa: F401  SQLAlchemy: loaded once the child runs

    def end_lite(self) -> None:
        """The child has ended: every later write (the run's end, which keeps the run's
        rollups) goes through the SQLAlchemy store; the light connections close."""
        self.lite = False
        for writer in list(self.lites.values()):
            writer.close(wait=False)  # one still writing (a locked store) is left to exit

    def retry_now(self) -> None:
        """Try the store at the next write even if it failed moments ago (the run's end)."""
        self._retry_at = 0.0

    def write(self, new_run: Callable[[], NewRun], batch: Batch,
              targets: tuple[str, ...] = ("store", "spool")) -> str | None:
        """Write ``batch``; returns "store", "spool" or None (kept for the next try)."""
        if "store" in targets and time.monotonic() >= self._retry_at:
            try:
                self._write("store", new_run, batch)
                self.last_target = "store"
                return "store"
            except Exception as exc:
                self._retry_at = time.monotonic() + RETRY_STORE_S
                self.stores.pop("store", None)
                self.errors["store"] = _first_line(exc)
                self.warn("store-down", f"store {redact_url(self.urls['store'])} unavailable "
                          f"({_first_line(exc)}); spooling to {redact_url(self.urls['spool'])}"
                          "; upload it later with `xprof sync`")
        try:
            self._write("spool", new_run, batch)
        except Exception as exc:
            self.stores.pop("spool", None)
            self.errors["spool"] = _first_line(exc)
            self.warn("spool-down", f"spool unavailable too ({_first_line(exc)}); keeping "
                      "samples in memory")
            return None
        self.spooled = True
        self.last_target = "spool"
        return "spool"

    def _write(self, target: str, new_run: Callable[[], NewRun], batch: Batch) -> None:
        store = self.store(target) if batch.finished else self.sink(target)
        if store is self.lites.get(target):
            try:
                self._write_to(store, target, new_run, batch)
            except Exception:
                self.lite_off.add(target)  # the next try goes through SQLAlchemy
                self.lites.pop(target, store).close(wait=False)
                raise
            return
        self._write_to(store, target, new_run, batch)

    def _write_to(self, store: Any, target: str, new_run: Callable[[], NewRun],
                  batch: Batch) -> None:
        run_update, host_update = batch.run_update, batch.host_update
        first = target not in self.created
        if first:
            spec = new_run()
            store.create_run(spec.run, params=spec.params, tags=spec.tags, host=spec.host)
            run_update = {**self.sent_run, **run_update}
            host_update = {**self.sent_host, **host_update}  # all the other side has
        # records become rows here, and only here
        store.write_batch(self.run_id, self.host, samples=[as_row(s) for s in batch.samples],
                          gpu_samples=[as_row(g) for g in batch.gpu_samples],
                          metrics=[as_row(m) for m in batch.metrics],
                          run_update=run_update, host_update=host_update,
                          finished=batch.finished)
        self.created.add(target)
        self.sent_run.update(batch.run_update)
        self.sent_host.update(batch.host_update)
        if batch.finished:
            self._refresh_rollup(store, target)

    def _refresh_rollup(self, store: Any, target: str) -> None:
        """The run's ``run_rollups`` row from what it recorded (its last flush). A failure is
        a warning: the rows are written, and `xprof collect`/`gc`/`sync` recompute it."""
        try:
            from xprof.rollups import refresh_runs  # SQLAlchemy Core only

            refresh_runs(store, [self.run_id])
        except Exception as exc:
            self.warn("rollup", f"run summary for the leaderboard not updated in the "
                      f"{target} ({_first_line(exc)}); `xprof collect` recomputes it")


def _first_line(exc: Exception) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
