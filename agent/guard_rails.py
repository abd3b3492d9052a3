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
_NAME = re.compile(r"^\s*[A-Za-z_][\w./-]*\s*$")
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

    def reason(self, final_metrics: dict[str, float]) -> str | None:
        """Why the outcome is inconclusive (the metric was never logged), else None."""
        if self.metric in final_metrics:
            return None
        logged = ", ".join(sorted(final_metrics)[:12]) or "none"
        return f"{self.metric} was never logged (logged metrics: {logged})"

    @classmethod
    def from_words(cls, first: str, rest: list[str]) -> tuple[Expectation, list[str]]:
        """``--expect`` given as one word (``val_acc>=0.9``, ``"val_acc >= 0.9"``) or as the
        help's three words (``--expect val_acc '>=' 0.9``, the last two taken from ``rest``,
        and a ``--`` after them). Returns the expectation and what is left of ``rest``."""
        if _NAME.match(first) and len(rest) >= 2 and rest[0].strip() in _OPS:
            expectation = cls.parse(f"{first}{rest[0].strip()}{rest[1]}")
            rest = rest[2:]
            return expectation, rest[1:] if rest[:1] == ["--"] else rest
        return cls.parse(first), rest


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
