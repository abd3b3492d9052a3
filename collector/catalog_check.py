"""Checks of the shipped price catalog (the rules of the team's ``check_catalog.py``).

:func:`check` reads ``aws.csv``, ``gcp.csv`` and ``azure.csv`` of a catalog folder with its
``SOURCES.md`` and returns what is wrong, each problem as ``file:line: what``, plus the
coverage per provider (rows, instance types, regions, rows with a spot price).
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

HEADER = ["provider", "instance_type", "region", "vcpus", "memory_gib", "gpu_count",
          "gpu_model", "gpu_memory_gib", "price_on_demand_usd_hour",
          "price_spot_usd_hour", "as_of", "source"]
PROVIDERS = ("aws", "gcp", "azure")
_SOURCE_ROW = re.compile(r"^\|\s*`([A-Za-z0-9._-]+)`\s*\|")


@dataclass
class Coverage:
    """What one provider's file covers."""

    rows: int = 0
    types: set[str] = field(default_factory=set)
    regions: set[str] = field(default_factory=set)
    spot_rows: int = 0


@dataclass
class Report:
    """Errors and warnings (``file:line: what``) and coverage per provider."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    coverage: dict[str, Coverage] = field(default_factory=dict)


def price_source_ids(sources_md: Path) -> set[str]:
    """Ids in the first column of the table under ``## Price sources``."""
    ids, inside = set(), False
    for line in sources_md.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            inside = line.strip().lower() == "## price sources"
        elif inside and (match := _SOURCE_ROW.match(line)):
            ids.add(match.group(1))
    return ids


def _number(value: str, what: str, where: str, errors: list[str], *, zero_ok: bool = False,
            integer: bool = False) -> float | None:
    try:
        number = float(value) if not integer or re.fullmatch(r"\d+", value) else None
    except ValueError:
        number = None
    if number is None or not math.isfinite(number):
        errors.append(f"{where}: {what} is not a {'whole ' if integer else ''}number: {value!r}")
        return None
    if number < 0 or (number == 0 and not zero_ok):
        errors.append(f"{where}: {what} must be {'>= 0' if zero_ok else '> 0'}: {value!r}")
    return number


def _check_row(row: dict[str, str], where: str, known: set[str], today: dt.date,
               report: Report) -> None:
    errors = report.errors
    for col in ("instance_type", "region", "as_of", "source"):
        if not row[col].strip() or row[col] != row[col].strip():
            errors.append(f"{where}: {col} empty or padded: {row[col]!r}")
    _number(row["vcpus"], "vcpus", where, errors, integer=True)
    _number(row["memory_gib"], "memory_gib", where, errors)
    gpus = _number(row["gpu_count"], "gpu_count", where, errors, zero_ok=True, integer=True)
    gpu_mem = _number(row["gpu_memory_gib"], "gpu_memory_gib", where, errors, zero_ok=True)
    if gpus is not None and (gpus == 0) != (row["gpu_model"] == ""):
        errors.append(f"{where}: gpu_count {row['gpu_count']} but gpu_model {row['gpu_model']!r}")
    if gpus is not None and gpu_mem is not None and (gpus == 0) != (gpu_mem == 0):
        errors.append(f"{where}: gpu_count {row['gpu_count']} but gpu_memory_gib "
                      f"{row['gpu_memory_gib']}")
    on_demand = _number(row["price_on_demand_usd_hour"], "price_on_demand_usd_hour", where,
                        errors)
    if row["price_spot_usd_hour"]:
        spot = _number(row["price_spot_usd_hour"], "price_spot_usd_hour", where, errors)
        if spot is not None and on_demand is not None and spot > on_demand:
            report.warnings.append(f"{where}: spot {spot} > on-demand {on_demand}")
    try:
        if dt.date.fromisoformat(row["as_of"]) > today:
            errors.append(f"{where}: as_of in the future: {row['as_of']}")
    except ValueError:
        errors.append(f"{where}: as_of is not a yyyy-mm-dd date: {row['as_of']!r}")
    if row["source"] not in known:
        errors.append(f"{where}: source {row['source']!r} is not in SOURCES.md")


def check(folder: Path, today: dt.date | None = None) -> Report:
    """Check the three CSVs of ``folder`` against its ``SOURCES.md``."""
    report, today = Report(), today or dt.date.today()
    sources = folder / "SOURCES.md"
    if not sources.is_file():
        report.errors.append(f"{sources}: missing")
        return report
    known, seen = price_source_ids(sources), {}
    for provider in PROVIDERS:
        name, cover = f"{provider}.csv", report.coverage.setdefault(provider, Coverage())
        if not (folder / name).is_file():
            report.errors.append(f"{name}: missing")
            continue
        with (folder / name).open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            if (header := next(reader, None)) != HEADER:
                report.errors.append(f"{name}:1: header is {header!r}, expected {HEADER!r}")
                continue
            for line, cells in enumerate(reader, start=2):
                where = f"{name}:{line}"
                if len(cells) != len(HEADER):
                    report.errors.append(f"{where}: {len(cells)} fields, expected {len(HEADER)}")
                    continue
                row = dict(zip(HEADER, cells, strict=True))
                if row["provider"] != provider:
                    report.errors.append(f"{where}: provider {row['provider']!r} in {name}")
                key = (provider, row["instance_type"], row["region"])
                if key in seen:
                    report.errors.append(f"{where}: duplicate {key[1]} {key[2]} "
                                         f"(first at {seen[key]})")
                seen.setdefault(key, where)
                _check_row(row, where, known, today, report)
                cover.rows += 1
                cover.types.add(row["instance_type"])
                cover.regions.add(row["region"])
                cover.spot_rows += bool(row["price_spot_usd_hour"])
    return report
