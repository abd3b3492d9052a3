"""Choosing other machines by predicted cost per run, not price per hour.

Every covering catalog offer (same CPU architecture unless ``advise.allow_arch_change``) gets
a predicted duration (:mod:`.predict`) and a predicted cost per run: its hourly price for
that duration, times the run's share of it when the machine was shared (the GPUs it would
hold of the candidate's; a CPU-only run keeps its share). Only offers predicted to cost less
per run than the run was charged stay. Of those on the time/cost frontier (no other is both
cheaper and faster) up to three are kept: the cheapest per run (the suggestion), the fastest,
and a balanced one (of the others, the smallest cost × time).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from xprof.collector.catalog import Price
from xprof.collector.hardware import cpu_arch
from xprof.collector.rightsizing.evidence import Limits, Need, Recommendation, RunEvidence
from xprof.collector.rightsizing.predict import Prediction, TimeSplit, predict, split_time
from xprof.collector.rightsizing.savings import (
    cost_for,
    covers,
    label,
    nano,
    rate_of,
    recommend,
)
from xprof.money import format_money


@dataclass(frozen=True)
class Option:
    """One candidate machine with its predicted duration and cost per run."""

    price: Price
    prediction: Prediction
    cost: Decimal  # predicted cost per run
    saving: Decimal  # what the run was charged - cost
    role: str = "cheapest"  # cheapest | fastest | balanced

    def as_evidence(self, ev: RunEvidence) -> dict[str, Any]:
        p = self.prediction
        return {"instance_type": self.price.instance_type, "label": label(self.price),
                "role": self.role, "predicted_duration_s": round(p.duration_s, 3),
                "predicted_cost": str(self.cost), "saving_per_run": str(self.saving),
                "confidence": p.confidence, "basis": p.basis, "ratios": p.ratios,
                "calibration": p.calibration, "tradeoff": tradeoff(ev, self)}


@dataclass(frozen=True)
class Choice:
    """The suggestion (cheapest per run) and the frontier it was picked from."""

    best: Option
    frontier: tuple[Option, ...]
    split: TimeSplit

    @property
    def price(self) -> Price:
        return self.best.price

    @property
    def saving(self) -> Decimal:
        return self.best.saving


def same_arch(ev: RunEvidence, p: Price) -> bool:
    """Whether ``p`` runs the run's CPU architecture (or the setting allows a change)."""
    if ev.allow_arch_change:
        return True
    mine = ev.cpu_arch or (cpu_arch(ev.current.provider, ev.current.instance_type)
                           if ev.current else None)
    return mine is None or cpu_arch(p.provider, p.instance_type) in (mine, None)


def _share(ev: RunEvidence, p: Price) -> Decimal:
    """The run's share of a candidate, as it would be charged (the share rule)."""
    if not ev.shared or ev.baseline is None:
        return Decimal(1)
    if ev.used_gpus and p.gpus:
        return Decimal(min(len(ev.used_gpus), p.gpus)) / Decimal(p.gpus)
    return Decimal(repr(ev.baseline.share))


_LAST_SPLIT: tuple[weakref.ref[RunEvidence], TimeSplit] | None = None


def _split_of(ev: RunEvidence) -> TimeSplit:
    """:func:`split_time`, computed once for the rules that judge the same evidence."""
    global _LAST_SPLIT
    if _LAST_SPLIT is not None and _LAST_SPLIT[0]() is ev:
        return _LAST_SPLIT[1]
    split = split_time(ev)
    _LAST_SPLIT = (weakref.ref(ev), split)
    return split


def options(ev: RunEvidence, need: Need, limits: Limits, *, any_gpu_model: bool = False,
            accept: Callable[[Price], bool] = lambda p: True) -> tuple[list[Option], TimeSplit]:
    """Every covering offer predicted to cost less per run than the run was charged."""
    split = _split_of(ev)
    base = ev.baseline
    if base is None:
        return [], split
    found = []
    for p in ev.offers:
        if not accept(p) or not covers(ev, p, need, any_gpu_model) or not same_arch(ev, p) \
                or (ev.current is not None and p.instance_type == ev.current.instance_type):
            continue
        option = priced_option(ev, p, split, limits)
        if option is not None and option.cost < base.amount:
            found.append(option)
    return found, split


def priced_option(ev: RunEvidence, p: Price, split: TimeSplit, limits: Limits
                  ) -> Option | None:
    """``p`` with the run's predicted duration and cost there (None: cannot be predicted or
    priced like the run); ``saving`` is negative where it costs more per run."""
    base = ev.baseline
    rate = rate_of(p, base.lifecycle) if base is not None else None
    if base is None or rate is None or p.currency != base.currency:
        return None
    prediction = predict(ev, split, p, limits)
    if prediction is None:
        return None
    cost = nano(cost_for(rate, prediction.duration_s) * _share(ev, p))
    return Option(p, prediction, cost, nano(base.amount - cost))


def predicted_extra(ev: RunEvidence, p: Price, limits: Limits) -> dict[str, Any] | None:
    """What a machine the advice names without suggesting it (it costs more per run) would
    take and cost, for the evidence."""
    option = priced_option(ev, p, _split_of(ev), limits)
    if option is None:
        return None
    return {**option.as_evidence(ev), "role": "costs more per run",
            "extra_cost_per_run": str(-option.saving)}


def frontier(found: Sequence[Option]) -> tuple[Option, ...]:
    """Up to three options of the time/cost frontier: cheapest, fastest, balanced."""
    if not found:
        return ()

    def key(o: Option) -> tuple[Any, ...]:
        return (o.cost, o.prediction.duration_s, o.price.instance_type)

    pareto = [o for o in found if not any(
        (q.cost <= o.cost and q.prediction.duration_s <= o.prediction.duration_s)
        and (q.cost < o.cost or q.prediction.duration_s < o.prediction.duration_s)
        for q in found)]
    cheapest = min(pareto, key=key)
    fastest = min(pareto, key=lambda o: (o.prediction.duration_s, o.cost,
                                         o.price.instance_type))
    between = [o for o in pareto if o is not cheapest and o is not fastest]
    balanced = min(between, key=lambda o: (o.cost * Decimal(repr(o.prediction.duration_s)),
                                           o.price.instance_type), default=None)
    picked = [("cheapest", cheapest)]
    if fastest is not cheapest:
        picked.append(("fastest", fastest))
    if balanced is not None:
        picked.append(("balanced", balanced))
    return tuple(replace(option, role=role) for role, option in picked)


def choose(ev: RunEvidence, need: Need, limits: Limits, **kwargs: Any) -> Choice | None:
    """The machine predicted to cost least per run, with the frontier; None when no covering
    machine is predicted to cost less per run than this one did."""
    found, split = options(ev, need, limits, **kwargs)
    picked = frontier(found)
    return Choice(picked[0], picked, split) if picked else None


def tradeoff(ev: RunEvidence, option: Option) -> str:
    """``≈ 3.1× longer, 42 % cheaper per run``."""
    ratio = option.prediction.duration_s / ev.duration_s if ev.duration_s else 1.0
    if abs(ratio - 1) < 0.05:
        time = "≈ same time"
    elif ratio > 1:
        time = f"≈ {ratio:.1f}× longer"
    else:
        time = f"≈ {1 / ratio:.1f}× faster"
    base = ev.baseline.amount if ev.baseline else Decimal(0)
    money = ""
    if base > 0:
        change = (1 - option.cost / base) * 100
        money = f"{change:.0f} % cheaper per run" if change >= 0 else \
            f"{-change:.0f} % dearer per run"
    return ", ".join(t for t in (time, money) if t)


def choice_text(ev: RunEvidence, choice: Choice) -> str:
    """``g5.xlarge (…): ≈ 3.1× longer, 42 % cheaper per run ($1.20 instead of $2.07, confidence
    medium)``."""
    best = choice.best
    currency = ev.baseline.currency if ev.baseline else "USD"
    charged = format_money(ev.baseline.amount, currency) if ev.baseline else "?"
    return (f"{label(best.price)}: {tradeoff(ev, best)} "
            f"({format_money(best.cost, currency)} instead of {charged}, "
            f"confidence {best.prediction.confidence})")


def choice_evidence(ev: RunEvidence, choice: Choice) -> dict[str, Any]:
    """What the recommendation stores about the prediction."""
    best = choice.best
    return {"predicted_duration_s": round(best.prediction.duration_s, 3),
            "predicted_cost": str(best.cost), "confidence": best.prediction.confidence,
            "time_split": choice.split.as_evidence(),
            "candidates": [o.as_evidence(ev) for o in choice.frontier]}


def recommend_choice(ev: RunEvidence, rule: str, title: str, evidence: dict[str, Any],
                     choice: Choice | None, severity: str | None = None) -> Recommendation:
    """A recommendation that suggests ``choice`` (its saving per run is predicted)."""
    if choice is None:
        return recommend(ev, rule, title, evidence, severity=severity)
    return recommend(ev, rule, title, {**evidence, **choice_evidence(ev, choice)},
                     choice.price, choice.saving, severity)
