"""Checks on a running run after each flush: its cost so far against ``--budget``, and the
configured alert rules; the cloud identity recorded as soon as it is known."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any

from xprof.agent import launch
from xprof.agent.guard_rails import BudgetCheck
from xprof.agent.once import WARN
from xprof.agent.run_stats import RunStats
from xprof.money import format_given, format_money

log = logging.getLogger("xprof.agent")


class LiveChecks:
    """Budget, alerts and early identity of one run (called from the writer thread)."""

    def __init__(self, opts: Any, settings: Any, stats: RunStats, child: Any,
                 run_update: dict[str, Any]) -> None:
        self.opts = opts
        self.settings = settings
        self.stats = stats
        self.child = child
        self.run_update = run_update
        self.identity = None  # cloud_identity.IdentityResolver, if detection runs
        self.identity_fields: dict[str, Any] = {}
        self.alerts = None
        self.budget_stopped = False
        self.currency = "USD"  # of the live estimate the budget is checked against
        self.final_estimate = None  # collector.estimate's Estimate, once the run is priced
        self._identity_written = False

    def start_identity(self) -> None:
        """Cloud identity detection, in its own thread (HTTP clients: imported only here)."""
        try:
            from xprof.agent.cloud_identity import IdentityResolver
        except ImportError:
            return
        try:
            self.identity = IdentityResolver.start(self.settings)
        except Exception as exc:
            WARN.warn("identity", f"cloud identity detection failed: {exc}")

    def start_alerts(self, store: Any) -> None:
        """Alert rules of the config, if any (their delivery is imported only then)."""
        if not self.settings.get("alerts"):
            return
        try:
            from xprof.agent.run_alerts import RunAlerts

            self.alerts = RunAlerts.from_settings(self.settings, store)
        except Exception as exc:
            WARN.warn("alerts", f"alerts are off for this run: {exc}")

    def identity_update(self) -> None:
        """Record the cloud identity as soon as it is known (live cost and budgets need it)."""
        if self.identity is None or self._identity_written or not self.identity.ready():
            return
        self._identity_written = True
        try:
            self.identity_fields = self.identity.result(0).run_fields()
            self.run_update.update(self.identity_fields)
        except Exception as exc:
            WARN.warn("identity-early", f"cloud identity unavailable: {exc}")

    def final_identity(self) -> dict[str, Any]:
        """The identity fields for the run's end (waiting up to ``identity_timeout``)."""
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

    def live_cost(self, run: dict[str, Any], store: Any, gpus_used: list[int]):
        """The run's estimate so far (None while the price depends on an unknown identity)."""
        if self.identity is not None and not self.identity.ready():
            return None
        from xprof.collector.estimate import compute_estimate  # pricing: not on the start path

        now = dt.datetime.now(dt.UTC)
        started_at = run["started_at"]
        priced = {**run, **self.identity_fields, "ended_at": now,
                  "duration_s": (now - started_at).total_seconds(),
                  "hardware": {**(run.get("hardware") or {}), "gpus_used": gpus_used}}
        return compute_estimate(store, priced, self.settings)

    def after_flush(self, run: Callable[[], dict[str, Any]], store: Callable[[], Any],
                    gpus_used: Callable[[], list[int]]) -> None:
        """Budget and alert rules on the live figures."""
        if self.opts.budget is None and self.alerts is None:
            return
        try:
            estimate = self.live_cost(run(), store(), gpus_used())
        except Exception as exc:
            WARN.warn("live-cost", f"cannot price the run so far: {exc}")
            estimate = None
        if self.opts.budget is not None and estimate is not None:
            self.check_budget(estimate)
        if self.alerts is not None:
            self.alerts.on_flush(run(), {
                "cost_so_far": estimate.amount if estimate else None,
                "currency": estimate.currency if estimate else "USD",
                "gpu_idle_s": self.stats.gpu_idle_s(time.time()),
                "metrics": self.stats.last_metrics()})

    def check_budget(self, estimate) -> None:
        """Warn at the configured fraction of --budget; at the budget, warn or stop."""
        budget = self.opts.budget
        if self.budget_stopped:
            return
        if estimate.amount is None:
            WARN.warn("budget-unknown", f"--budget is not enforced: {estimate.reason}")
            return
        self.currency = estimate.currency or self.currency
        check = BudgetCheck(estimate.amount, budget, self.settings["budget_warn_fraction"])
        limit, spent = self.budget_text(), format_money(check.spent, self.currency)
        if check.exceeded:
            if self.opts.on_budget == "stop":
                self.budget_stopped = True
                log.warning("budget %s reached (est. %s): stopping the command (SIGTERM, "
                            "SIGKILL in %.0f s)", limit, spent, self.settings["budget_grace_s"])
                self.run_update["stopped_by"] = "budget"
                launch.stop_group(self.child, self.settings["budget_grace_s"])
            else:
                WARN.warn("budget-reached", f"budget {limit} reached (est. {spent}); "
                          "the command goes on (--on-budget warn)")
        elif check.warn:
            WARN.warn("budget-warn", f"{check.fraction:.0%} of the budget {limit} spent "
                      f"(est. {spent})")

    def budget_text(self) -> str:
        """``--budget`` in the estimate's currency: ``$0.0007``, ``€25.00``."""
        return format_given(self.opts.budget, self.currency)
