"""How the store's column types hold a value on SQLite, standard library only.

One place for the conversions that :mod:`xprof.schema`'s types (SQLAlchemy) and the agent's
light SQLite writer (:mod:`xprof.agent.sqlite_writer`, no SQLAlchemy) both make: money as
integer nano-units, UTC datetimes as naive text, JSON as text.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

NANO = Decimal("1e-9")
INT64 = 2**63  # SQLite integers are 64-bit: ±9.2e18 nano-units, ±9.2e9 units of a currency


def nanos_of(value: Any) -> int:
    """The nano-units a store returned for a Money value: an integer (SQLite, in range), a
    Decimal (PostgreSQL NUMERIC), decimal digits as a BLOB (SQLite, beyond ±9.2e9 units) or
    as text (a :class:`money_sum` beyond the 64-bit range)."""
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return round(value)
    if isinstance(value, bytes):
        value = value.decode()
    return int(Decimal(value))


def fits_int64(nanos: int) -> bool:
    """Whether SQLite can hold ``nanos`` as an integer."""
    return -INT64 <= nanos < INT64


def to_nanos(value: Any) -> int:
    """An amount of money (Decimal, int, str) as integer nano-units, half to even."""
    return int((Decimal(value) / NANO).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def sqlite_money(value: Any) -> int | bytes | None:
    """A Money value as SQLite keeps it: nano-units, or their digits as a BLOB past 64 bits."""
    if value is None:
        return None
    nanos = to_nanos(value)
    return nanos if fits_int64(nanos) else str(nanos).encode()


def sqlite_datetime(value: dt.datetime | None) -> str | None:
    """A UTC-aware datetime as SQLite keeps it (SQLAlchemy's format: naive UTC, microseconds)."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: xprof stores UTC-aware times only")
    v = value.astimezone(dt.UTC)
    return (f"{v.year:04d}-{v.month:02d}-{v.day:02d} {v.hour:02d}:{v.minute:02d}:"
            f"{v.second:02d}.{v.microsecond:06d}")


def datetime_of_sqlite(text: str | None) -> dt.datetime | None:
    """A datetime SQLite kept (:func:`sqlite_datetime`), UTC-aware again."""
    return None if text is None else dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def sqlite_json(value: Any) -> str:
    """A JSON column's text (None is JSON ``null``, as SQLAlchemy's JSON type writes it)."""
    return json.dumps(value)


def json_of_sqlite(text: str | None) -> Any:
    return None if text is None else json.loads(text)
