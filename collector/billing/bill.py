"""The whole bill: every imported amount in exactly one bucket, per currency.

A FinOps user reconciles xprof against the invoice first, so every billing item of a period
lands in exactly one of three buckets (per currency; currencies are never mixed):

- **runs**: what allocation gave to runs (cost rows ``kind='run'``, billed or billed in part);
- **idle**: machine time no run occupied (cost rows ``kind='idle'``);
- **other**: every item on no allocated resource: storage, network, managed services,
  support, tax, credits, adjustments, purchases (see :func:`other_category`).

``runs + idle + other = total``, and the total equals the sum of the source's items (when
several sources bill one machine, allocation counts only the best one, and so does this).
Breakdowns by provider, service, region and account are sums over the same counted items.

The spend no run accounts for is also split by project: an item's project is the value of
the first of ``billing.project_tag_keys`` among its tags (``untagged`` if none). Other spend
goes by its own item's tags, idle by its machine's (of the machine's items that carry a
project tag, the value on the most money). Each split sums to its bucket.

Azure actual and amortized cost exports bill the same days twice. Where an actual export
(``azure-export-actual:``) covers a day of an account and currency, the billed and list bases
count the actual rows (as invoiced) and skip that day's amortized rows (:attr:`skipped` says
how many and how much); the effective basis counts the amortized rows (an actual export has
no effective cost). Allocation picks the actual rows of a machine the same way.

An item belongs to a period by its charge period start; a cost row by its ``period_start``
(allocation dates each row by the items it came from).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from xprof import schema
from xprof.collector.billing.normalise import resource_key
from xprof.settings import Settings
from xprof.store import Store

NANO = schema.NANO
BASIS_COLUMNS = {"billed": "billed_cost", "list": "list_cost", "effective": "effective_cost"}
BILLED_COST_SOURCES = ("billed", "billed-partial")
DIMENSIONS = ("provider", "service", "region", "account")
UNTAGGED = "untagged"
OTHER_CATEGORIES = ("compute (no run)", "storage", "network", "managed services", "support",
                    "purchases", "tax", "credits", "adjustments")
_BY_CHARGE = {"tax": "tax", "credit": "credits", "adjustment": "adjustments",
              "purchase": "purchases"}
# service-name words -> category, first match wins (compared lowercase)
_BY_SERVICE = (
    ("support", ("support",)),
    ("network", ("data transfer", "network", "bandwidth", "cloudfront", "load balanc", "elb",
                 "nat gateway", "vpc", "cdn", "dns", "route 53", "vpn", "interconnect",
                 "front door", "egress", "private link", "privatelink", "ip address")),
    ("storage", ("storage", "s3", "ebs", "disk", "blob", "snapshot", "backup", "glacier",
                 "file", "archive", "efs", "fsx", "filestore")),
    ("compute (no run)", ("ec2", "elastic compute", "compute engine", "virtual machine",
                          "compute")),
)
_STORAGE_UNITS = ("gb-mo", "gb-month", "gib-mo", "gib month", "gibibyte month", "gb month",
                  "byte-seconds", "gibibyte second")
# When several sources bill one resource, the one allocation counts (lower is better).
_SOURCE_RANK = (("aws-cur:", 0), ("focus:", 1), ("azure-export-amortized:", 2), ("azure", 1),
                ("gcp-", 1), ("aws-ce:", 2))
ACTUAL, AMORTIZED = "azure-export-actual:", "azure-export-amortized:"


@functools.lru_cache(maxsize=4096)
def other_category(charge_category: str | None, service: str | None,
                   unit: str | None = None) -> str:
    """The bucket of an item on no allocated resource: by its charge category, else storage
    by a per-month capacity unit (EBS volumes bill under EC2), else by its service (storage,
    network, support, compute that ran no run), else managed services."""
    by_charge = _BY_CHARGE.get((charge_category or "").lower())
    if by_charge:
        return by_charge
    if any(word in (unit or "").lower() for word in _STORAGE_UNITS):
        return "storage"
    name = (service or "").lower()
    for category, words in _BY_SERVICE:
        if any(word in name for word in words):
            return category
    return "managed services"


def source_rank(source: str) -> tuple[int, str]:
    """Which source allocation counts when several bill one resource (lower first)."""
    rank = next((r for prefix, r in _SOURCE_RANK if source.startswith(prefix)), 3)
    return rank, source


@dataclass
class CurrencyBill:
    """The bill of one currency: the three buckets and the breakdowns (Decimal money)."""

    currency: str
    runs: Decimal = Decimal(0)
    idle: Decimal = Decimal(0)
    other: Decimal = Decimal(0)
    items_total: Decimal = Decimal(0)  # the counted items' sum (the source's sum)
    items: int = 0
    other_by_category: dict[str, Decimal] = field(default_factory=dict)
    other_by_project: dict[str, Decimal] = field(default_factory=dict)
    idle_by_project: dict[str, Decimal] = field(default_factory=dict)
    by: dict[str, dict[str, Decimal]] = field(default_factory=dict)
    skipped: dict[str, Any] = field(default_factory=dict)  # amortized rows an actual export covers

    @property
    def total(self) -> Decimal:
        return self.runs + self.idle + self.other

    def as_dict(self) -> dict[str, Any]:
        """Plain values: money as Decimal, breakdowns as lists sorted by amount."""
        def rows(amounts: dict[str, Decimal]) -> list[dict[str, Any]]:
            return [{"key": k, "amount": v} for k, v in
                    sorted(amounts.items(), key=lambda kv: (-kv[1], kv[0]))]
        return {"currency": self.currency, "total": self.total, "runs": self.runs,
                "idle": self.idle, "other": self.other, "items_total": self.items_total,
                "items": self.items, "skipped": self.skipped,
                "other_by_category": rows(self.other_by_category),
                "other_by_project": rows(self.other_by_project),
                "idle_by_project": rows(self.idle_by_project),
                **{f"by_{name}": rows(self.by.get(name, {})) for name in DIMENSIONS}}


_key = functools.lru_cache(maxsize=65_536)(resource_key)


def _money(nanos: int) -> Decimal:
    return (Decimal(nanos) * NANO).normalize() if nanos else Decimal(0)


def _add(target: dict[str, int], key: str | None, nanos: int) -> None:
    name = key if key not in (None, "") else "(none)"
    target[name] = target.get(name, 0) + nanos


@dataclass
class _Sums:
    """One currency's sums in integer nano-units while the bill is added up."""

    runs: int = 0
    idle: int = 0
    other: int = 0
    items_total: int = 0
    items: int = 0
    categories: dict[str, int] = field(default_factory=dict)
    other_projects: dict[str, int] = field(default_factory=dict)
    idle_projects: dict[str, int] = field(default_factory=dict)
    by: dict[str, dict[str, int]] = field(default_factory=lambda: {d: {} for d in DIMENSIONS})
    skipped: dict[str, Any] = field(default_factory=dict)

    def bill(self, currency: str) -> CurrencyBill:
        return CurrencyBill(
            currency, runs=_money(self.runs), idle=_money(self.idle), other=_money(self.other),
            items_total=_money(self.items_total), items=self.items,
            other_by_category={k: _money(v) for k, v in self.categories.items()},
            other_by_project={k: _money(v) for k, v in self.other_projects.items()},
            idle_by_project={k: _money(v) for k, v in self.idle_projects.items()},
            by={d: {k: _money(v) for k, v in values.items()} for d, values in self.by.items()},
            skipped=self.skipped)


def _nano_sum(column: Any) -> Any:
    """Exact sum of a money column in raw nano-units on both engines (an int, or the digits of
    one beyond 64 bits), for any currency: never a plain ``sum()``, which overflows on SQLite."""
    return sa.type_coerce(schema.money_sum(column), sa.types.NullType())


def _cost_sums(store: Store, basis: str, start: dt.datetime | None,
               end: dt.datetime | None) -> list[tuple[str, str, str, int]]:
    """(kind, resource key, currency, nano-units) of the billed cost rows in the period."""
    c = schema.costs
    query = (sa.select(c.c.kind, c.c.resource_id, c.c.currency, _nano_sum(c.c.amount))
             .where(c.c.source.in_(BILLED_COST_SOURCES), c.c.basis == basis)
             .group_by(c.c.kind, c.c.resource_id, c.c.currency))
    if start is not None:
        query = query.where(c.c.period_start >= start)
    if end is not None:
        query = query.where(c.c.period_start < end)
    with store.read() as conn:
        return [(k, rid, cur, int(v or 0)) for k, rid, cur, v in conn.execute(query)]


def _period(query: Any, column: Any, start: dt.datetime | None,
            end: dt.datetime | None) -> Any:
    if start is not None:
        query = query.where(column >= start)
    if end is not None:
        query = query.where(column < end)
    return query


def _amortized_twice(b: Any) -> Any:
    """True for an amortized Azure row of a day, account and currency an actual export
    covers."""
    a = b.alias("actual")
    return sa.and_(b.c.source.startswith(AMORTIZED, autoescape=True), sa.exists().where(
        a.c.source.startswith(ACTUAL, autoescape=True),
        a.c.charge_period_start == b.c.charge_period_start,
        a.c.account_id.is_not_distinct_from(b.c.account_id), a.c.currency == b.c.currency))


def _item_groups(store: Store, basis: str, start: dt.datetime | None,
                 end: dt.datetime | None) -> tuple[list[Any], list[Any]]:
    """The period's items summed per resource, source, dimensions, category and currency
    (rows with those names as attributes, and ``nanos``, ``n``), and the amortized rows
    skipped (rows of currency, ``nanos``, ``n``)."""
    b = schema.billing_items
    amount = b.c[BASIS_COLUMNS[basis]]
    keys = (b.c.resource_id, b.c.source, b.c.provider, b.c.service, b.c.region,
            b.c.account_id, b.c.charge_category, b.c.usage_unit, b.c.currency, b.c.tags)
    query = (sa.select(*keys, _nano_sum(amount).label("nanos"),
                       sa.func.count(amount).label("n"))
             .where(amount.is_not(None)).group_by(*keys))
    query = _period(query, b.c.charge_period_start, start, end)
    twice = _amortized_twice(b)
    with store.read() as conn:
        if basis == "effective" or not conn.execute(sa.select(b.c.id).where(
                b.c.source.startswith(ACTUAL, autoescape=True)).limit(1)).first():
            return conn.execute(query).all(), []
        skipped = conn.execute(_period(
            sa.select(b.c.currency, _nano_sum(amount).label("nanos"),
                      sa.func.count(amount).label("n"))
            .where(amount.is_not(None), twice).group_by(b.c.currency),
            b.c.charge_period_start, start, end)).all()
        return conn.execute(query.where(sa.not_(twice))).all(), skipped


def _best_sources(groups: Iterable[Any], machines: set[str]) -> dict[str, str]:
    """For each allocated machine key, the source allocation counts."""
    best: dict[str, str] = {}
    for g in groups:
        key = _key(g.resource_id)
        if key in machines and (key not in best or
                                source_rank(g.source) < source_rank(best[key])):
            best[key] = g.source
    return best


@functools.lru_cache(maxsize=16_384)
def project_of(tags: str | None, keys: tuple[str, ...]) -> str:
    """The value of the first of ``keys`` in a JSON object of tags, else ``untagged``."""
    try:
        values = json.loads(tags) if tags else {}
    except ValueError:
        values = {}
    if isinstance(values, dict):
        for key in keys:
            value = values.get(key)
            if value not in (None, "") and str(value).strip():
                return str(value).strip()
    return UNTAGGED


def project_tag_keys() -> tuple[str, ...]:
    """The ``billing.project_tag_keys`` setting."""
    return tuple(Settings().get("billing.project_tag_keys") or ())


def whole_bill(store: Store, *, start: dt.datetime | None = None,
               end: dt.datetime | None = None, basis: str = "billed",
               tag_keys: Sequence[str] | None = None) -> list[CurrencyBill]:
    """The bill of [start, end) per currency (see the module docstring), by currency.
    ``tag_keys``: the project tag keys (default: the ``billing.project_tag_keys`` setting)."""
    if basis not in BASIS_COLUMNS:
        raise ValueError(f"cost basis must be one of {', '.join(BASIS_COLUMNS)}, got {basis!r}")
    keys = project_tag_keys() if tag_keys is None else tuple(tag_keys)
    sums: dict[str, _Sums] = {}
    machines: set[str] = set()
    idle_of: dict[tuple[str, str], int] = {}  # (machine, currency) -> idle nano-units
    for kind, key, currency, nanos in _cost_sums(store, basis, start, end):
        machines.add(key)
        entry = sums.setdefault(currency, _Sums())
        if kind == "idle":
            entry.idle += nanos
            idle_of[key, currency] = idle_of.get((key, currency), 0) + nanos
        else:
            entry.runs += nanos
    groups, skipped = _item_groups(store, basis, start, end)
    for row in skipped:
        sums.setdefault(row.currency, _Sums()).skipped = {
            "items": int(row.n), "amount": _money(int(row.nanos or 0)),
            "why": "Azure amortized rows of days an actual cost export also covers: the bill "
                   "counts the actual cost (as invoiced)"}
    best = _best_sources(groups, machines)
    machine_projects: dict[str, dict[str, int]] = {}  # machine -> project -> |nano-units|
    for g in groups:
        key = _key(g.resource_id)
        if key in machines and best.get(key) != g.source:
            continue  # a second source of an allocated machine: counted once, as allocation
        entry, nanos = sums.setdefault(g.currency, _Sums()), int(g.nanos or 0)
        entry.items_total += nanos
        entry.items += int(g.n)
        for name, value in zip(DIMENSIONS, (g.provider, g.service, g.region, g.account_id),
                               strict=True):
            _add(entry.by[name], value, nanos)
        project = project_of(g.tags, keys)
        if key not in machines:
            entry.other += nanos
            _add(entry.categories,
                 other_category(g.charge_category, g.service, g.usage_unit), nanos)
            _add(entry.other_projects, project, nanos)
        else:
            _add(machine_projects.setdefault(key, {}), project, abs(nanos))
    for (key, currency), nanos in idle_of.items():
        shares = machine_projects.get(key, {})
        project = min(shares, key=lambda p: (p == UNTAGGED, -shares[p], p)) if shares \
            else UNTAGGED
        _add(sums[currency].idle_projects, project, nanos)
    return [sums[c].bill(c) for c in sorted(sums)]


def _month(value: dt.datetime) -> dt.datetime:
    return value.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def imported_months(store: Store, since: dt.datetime
                    ) -> tuple[dt.datetime, dt.datetime] | None:
    """The whole UTC months holding the charge periods of the items imported at or after
    ``since`` ([first month's start, the start of the month after the last)), or None."""
    b = schema.billing_items
    with store.read() as conn:
        first, last = conn.execute(sa.select(
            sa.func.min(b.c.charge_period_start), sa.func.max(b.c.charge_period_start))
            .where(b.c.imported_at >= since)).one()
    if first is None:
        return None
    end = _month(last) + dt.timedelta(days=32)
    return _month(first), _month(end)


def months_label(start: dt.datetime, end: dt.datetime) -> str:
    """``2024-09`` or ``2024-08..2024-09`` for [start, end) of whole months."""
    last = _month(end - dt.timedelta(days=1))
    return f"{start:%Y-%m}" if last == start else f"{start:%Y-%m}..{last:%Y-%m}"


def bill_line(bill: CurrencyBill, money: Any) -> str:
    """``billed $20.52 = runs $1.00 + idle $17.34 + other $2.18`` (``money(amount, cur)``)."""
    c = bill.currency
    return (f"billed {money(bill.total, c)} = runs {money(bill.runs, c)} + "
            f"idle {money(bill.idle, c)} + other {money(bill.other, c)}")


def project_line(bill: CurrencyBill, money: Any, most: int = 5) -> str:
    """``other by project Foo $0.50, untagged $1.68`` (the largest ``most``, then the rest)."""
    rows = bill.as_dict()["other_by_project"]
    shown = [f"{r['key']} {money(r['amount'], bill.currency)}" for r in rows[:most]]
    if len(rows) > most:
        rest = sum((r["amount"] for r in rows[most:]), start=Decimal(0))
        shown.append(f"{len(rows) - most} more {money(rest, bill.currency)}")
    return "other by project " + ", ".join(shown)
