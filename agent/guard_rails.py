"""A run's guard rails: its hypothesis and expectation, and its budget.

Pure functions: the runner decides when to call them and what to do with the answer.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from decimal import Decimal

_OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt,
        "==": operator.eq}
_EXPECT = re.compile(r"^\s*([A-Za-z_][\w./-]*)\s*(>=|<=|==|>|<)\s*(-?[0-9.]+(?:e-?\d+)?)\s*$")


@dataclass(frozen=True)
class Expectation:
    """``val_acc>=0.92``: a metric, a comparison and a threshold."""

    metric: str
    op: str
    threshold: float

    @classmethod
    def parse(cls, text: str) -> Expectation:
        match = _EXPECT.match(text)
        if not match:
            raise ValueError(f"{text!r}: expected METRIC OP NUMBER, e.g. val_acc>=0.92 "
                             "(OP is one of >= <= > < ==)")
        return cls(match.group(1), match.group(2), float(match.group(3)))

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.threshold:g}"

    def outcome(self, final_metrics: dict[str, float]) -> str:
        """confirmed / refuted from the metric's final value; inconclusive when it is missing."""
        if self.metric not in final_metrics:
            return "inconclusive"
        held = _OPS[self.op](final_metrics[self.metric], self.threshold)
        return "confirmed" if held else "refuted"


@dataclass(frozen=True)
class BudgetCheck:
    """Where a run stands against its budget."""

    spent: Decimal
    budget: Decimal
    warn_fraction: float

    @property
    def fraction(self) -> float:
        return float(self.spent / self.budget) if self.budget else 0.0

    @property
    def exceeded(self) -> bool:
        return self.spent >= self.budget

    @property
    def warn(self) -> bool:
        return self.fraction >= self.warn_fraction


def parse_budget(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except ArithmeticError as exc:
        raise ValueError(f"{text!r}: expected an amount such as 25 or 12.50") from exc
    if not value.is_finite() or value <= 0:
        raise ValueError(f"{text!r}: expected a positive amount")
    return value
