"""The price catalog: the shipped CSVs, the store's ``prices`` table, and lookups on it.

The CSVs in ``data/`` (sources and licences in ``data/SOURCES.md``) seed the ``prices`` table
of a store the first time the collector looks a price up there (:func:`ensure_seeded`; the
store itself knows nothing of prices); ``xprof prices update`` rewrites rows there
(:func:`write_prices`). Every lookup reads the table, so a refreshed price wins over the
shipped one.

Light on purpose (csv, SQLAlchemy Core): the agent prices a run through here when it ends.
"""

from __future__ import annotations

import csv
import datetime as dt
import weakref
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from xprof import schema
from xprof.collector.gpu_names import GpuModel, covers, is_neuron
from xprof.collector.hardware import memory_label
from xprof.collector.writes import insert_prices_if_empty, replace_prices
from xprof.store import Store

DATA_DIR = Path(__file__).resolve().parent / "data"
PROVIDERS = ("aws", "gcp", "azure")
CURRENCY = "USD"


@dataclass(frozen=True)
class Price:
    """One catalog row: an instance type in a region, its hardware and hourly list prices."""

    provider: str
    instance_type: str
    region: str
    vcpus: int
    memory_gib: float
    gpu_count: int
    gpu_model: str | None
    gpu_memory_gib: float | None
    on_demand: Decimal | None
    spot: Decimal | None
    currency: str
    as_of: dt.date
    source: str

    @property
    def gpus(self) -> int:
        """GPUs on the instance (Neuron devices are not GPUs)."""
        return 0 if is_neuron(self.gpu_model) else self.gpu_count

    def hardware_label(self) -> str:
        """``8 vCPU, 61 GiB, 1× V100 16 GB`` (GPU memory as its datasheet class)."""
        text = f"{self.vcpus} vCPU, {self.memory_gib:g} GiB"
        if self.gpu_count and self.gpu_model:
            memory = f" {memory_label(self.gpu_model, self.gpu_memory_gib)}" \
                if self.gpu_memory_gib else ""
            text += f", {self.gpu_count}× {self.gpu_model}{memory}"
        return text

    def to_row(self) -> dict[str, Any]:
        """The ``prices`` table row."""
        return {"provider": self.provider, "instance_type": self.instance_type,
                "region": self.region, "vcpus": self.vcpus, "memory_gib": self.memory_gib,
                "gpu_count": self.gpu_count, "gpu_model": self.gpu_model,
                "gpu_memory_gib": self.gpu_memory_gib, "price_on_demand": self.on_demand,
                "price_spot": self.spot, "currency": self.currency, "as_of": self.as_of,
                "source": self.source}

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe copy (prices as decimal strings, the date as ISO)."""
        data = asdict(self)
        data["on_demand"] = None if self.on_demand is None else str(self.on_demand)
        data["spot"] = None if self.spot is None else str(self.spot)
        data["as_of"] = self.as_of.isoformat()
        return data

    @classmethod
    def from_row(cls, row: Any) -> Price:
        return cls(provider=row["provider"], instance_type=row["instance_type"],
                   region=row["region"], vcpus=row["vcpus"], memory_gib=row["memory_gib"],
                   gpu_count=row["gpu_count"], gpu_model=row["gpu_model"],
                   gpu_memory_gib=row["gpu_memory_gib"], on_demand=row["price_on_demand"],
                   spot=row["price_spot"], currency=row["currency"], as_of=row["as_of"],
                   source=row["source"])


def _decimal_or_none(text: str) -> Decimal | None:
    text = text.strip()
    return Decimal(text) if text and Decimal(text) > 0 else None


def read_shipped(data_dir: Path = DATA_DIR) -> list[Price]:
    """Every row of the shipped CSVs (aws.csv, gcp.csv, azure.csv)."""
    prices = []
    for provider in PROVIDERS:
        with open(data_dir / f"{provider}.csv", newline="", encoding="utf-8") as fh:
            for rec in csv.DictReader(fh):
                gpu_count = int(rec["gpu_count"])
                prices.append(Price(
                    provider=rec["provider"], instance_type=rec["instance_type"],
                    region=rec["region"], vcpus=int(rec["vcpus"]),
                    memory_gib=float(rec["memory_gib"]), gpu_count=gpu_count,
                    gpu_model=rec["gpu_model"] or None,
                    gpu_memory_gib=float(rec["gpu_memory_gib"]) if gpu_count else None,
                    on_demand=_decimal_or_none(rec["price_on_demand_usd_hour"]),
                    spot=_decimal_or_none(rec["price_spot_usd_hour"]), currency=CURRENCY,
                    as_of=dt.date.fromisoformat(rec["as_of"]), source=rec["source"]))
    return prices


def _is_empty(store: Store) -> bool:
    with store.read() as conn:
        return conn.execute(sa.select(schema.prices.c.provider).limit(1)).first() is None


def seed_prices(store: Store) -> int:
    """Fill an empty ``prices`` table from the shipped CSVs; return the rows written.

    Safe to call often and from racing processes: a table with rows is left alone, and rows
    another process wrote meanwhile are skipped.
    """
    if not _is_empty(store):
        return 0
    return insert_prices_if_empty(store, [p.to_row() for p in read_shipped()])


_SEEDED: weakref.WeakSet[Store] = weakref.WeakSet()
"""Stores whose ``prices`` table this process has seen filled: later lookups skip the check."""


def ensure_seeded(store: Store) -> None:
    """Seed the store's catalog from the shipped CSVs unless it holds rows; cheap to repeat
    (one query per store object, then nothing)."""
    if store in _SEEDED:
        return
    seed_prices(store)
    _SEEDED.add(store)


def write_prices(store: Store, prices: Iterable[Price]) -> int:
    """Replace the rows of these (provider, instance type, region) keys, all in one transaction."""
    ensure_seeded(store)  # seeding skips a table with rows: seed before the first write
    rows = [p.to_row() for p in prices]
    return replace_prices(store, rows) if rows else 0


def price_of(store: Store, provider: str, instance_type: str, region: str) -> Price | None:
    """The catalog row of an instance type in a region (names compared case-insensitively
    when no exact match), or None."""
    ensure_seeded(store)
    t = schema.prices
    base = sa.select(t).where(t.c.provider == provider, t.c.region == region)
    with store.read() as conn:
        row = conn.execute(base.where(t.c.instance_type == instance_type)).mappings().first()
        if row is None:
            row = conn.execute(base.where(sa.func.lower(t.c.instance_type)
                                          == instance_type.lower())).mappings().first()
    return Price.from_row(row) if row else None


def regions_of(store: Store, provider: str, instance_type: str) -> list[str]:
    """Regions where the catalog prices this instance type."""
    ensure_seeded(store)
    t = schema.prices
    with store.read() as conn:
        return sorted(conn.execute(sa.select(t.c.region).where(
            t.c.provider == provider,
            sa.func.lower(t.c.instance_type) == instance_type.lower())).scalars())


def cheapest_equivalent(store: Store, provider: str, region: str, *, gpu: GpuModel | None,
                        gpu_count: int, vcpus: int | None, memory_gib: float | None
                        ) -> Price | None:
    """The cheapest on-demand instance of a region covering the GPUs (model, memory, count),
    the vCPUs and the memory asked for; None if none does.

    Without GPUs, only instances without accelerators qualify; a GPU is never stood in for
    by another model or by a Neuron device (Trainium, Inferentia).
    """
    ensure_seeded(store)
    t = schema.prices
    query = (sa.select(t).where(t.c.provider == provider, t.c.region == region,
                                t.c.price_on_demand.is_not(None))
             .order_by(t.c.price_on_demand, t.c.instance_type))
    if gpu_count > 0:
        if gpu is None or not gpu.known or is_neuron(gpu.model):
            return None
        query = query.where(t.c.gpu_model == gpu.model, t.c.gpu_count >= gpu_count)
    else:
        query = query.where(t.c.gpu_count == 0)
    if vcpus:
        query = query.where(t.c.vcpus >= vcpus)
    if memory_gib:
        query = query.where(t.c.memory_gib >= memory_gib)
    with store.read() as conn:
        for row in conn.execute(query).mappings():
            if gpu_count == 0 or covers(row["gpu_model"], row["gpu_memory_gib"], gpu):
                return Price.from_row(row)
    return None


def list_prices(store: Store, *, provider: str | None = None, region: str | None = None,
                gpu: GpuModel | None = None, instance_type: str | None = None) -> list[Price]:
    """Catalog rows, filtered, ordered by provider, region, GPU model and on-demand price."""
    ensure_seeded(store)
    t = schema.prices
    query = sa.select(t).order_by(t.c.provider, t.c.region, t.c.gpu_model,
                                  t.c.price_on_demand, t.c.instance_type)
    if provider:
        query = query.where(t.c.provider == provider)
    if region:
        query = query.where(t.c.region == region)
    if instance_type:
        query = query.where(sa.func.lower(t.c.instance_type) == instance_type.lower())
    if gpu is not None:
        query = query.where(t.c.gpu_model == gpu.model)
    with store.read() as conn:
        prices = [Price.from_row(row) for row in conn.execute(query).mappings()]
    if gpu is not None and gpu.known:
        prices = [p for p in prices if covers(p.gpu_model, p.gpu_memory_gib, gpu)]
    return prices


def hardware_by_type(store: Store, provider: str) -> dict[str, Price]:
    """One catalog row per instance type of a provider: the hardware refreshes reuse."""
    ensure_seeded(store)
    t = schema.prices
    with store.read() as conn:
        rows = conn.execute(sa.select(t).where(t.c.provider == provider)
                            .order_by(t.c.instance_type, t.c.region)).mappings()
        found: dict[str, Price] = {}
        for row in rows:
            found.setdefault(row["instance_type"], Price.from_row(row))
    return found


def offers_in(store: Store, provider: str, region: str) -> tuple[Price, ...]:
    """Every catalog row of a provider's region."""
    ensure_seeded(store)
    t = schema.prices
    with store.read() as conn:
        rows = conn.execute(sa.select(t).where(t.c.provider == provider, t.c.region == region)
                            ).mappings().all()
    return tuple(Price.from_row(row) for row in rows)


def providers_of(store: Store, instance_type: str) -> list[str]:
    """The providers whose catalog lists this instance type (exact name)."""
    ensure_seeded(store)
    t = schema.prices
    with store.read() as conn:
        return sorted(conn.execute(sa.select(t.c.provider).distinct().where(
            t.c.instance_type == instance_type)).scalars())


def regions_in_catalog(store: Store, provider: str) -> list[str]:
    """Regions the catalog has rows for, for one provider."""
    ensure_seeded(store)
    t = schema.prices
    with store.read() as conn:
        return sorted(conn.execute(sa.select(t.c.region).where(t.c.provider == provider)
                                   .distinct()).scalars())


class RefreshError(RuntimeError):
    """A price refresh failed; nothing was written. The message names the provider and cause."""


@dataclass(frozen=True)
class RefreshResult:
    """What one ``xprof prices update`` wrote."""

    provider: str
    regions: tuple[str, ...]
    written: int
    with_spot: int
    skipped: tuple[str, ...] = ()  # catalog types the API gave no usable price for

    def summary_line(self) -> str:
        regions = ", ".join(self.regions[:6]) + (", …" if len(self.regions) > 6 else "")
        line = (f"{self.provider}: {self.written} prices written ({self.with_spot} with a spot "
                f"price) in {len(self.regions)} region(s): {regions}")
        if self.skipped:
            line += f"; {len(self.skipped)} catalog row(s) kept as they were (no price found)"
        return line


def keys_in(store: Store, provider: str, regions: Iterable[str]) -> set[tuple[str, str]]:
    """(region, instance type) of every catalog row of a provider in these regions."""
    ensure_seeded(store)
    t = schema.prices
    with store.read() as conn:
        return {(row.region, row.instance_type) for row in conn.execute(
            sa.select(t.c.region, t.c.instance_type).where(
                t.c.provider == provider, t.c.region.in_(list(regions))))}
