"""Runs, samples, metrics and costs as pandas DataFrames, and as CSV or Parquet files.

    import xprof
    df = xprof.runs(project="nlp")          # one row a run
    s = xprof.samples(df.id[0])             # process-tree samples; gpu=True for GPU samples

Every frame has a fixed set of typed columns (:data:`DTYPES`): text is ``string``, counts are
nullable ``Int64``, measures ``float64``, times ``datetime64[ns, UTC]``, money is ``Decimal``
(``object`` column, never float) with its currency beside it. ``runs`` adds one
``param.<key>`` column per parameter (``boolean`` when every value is true/false, ``Int64`` or
``float64`` when every value is a number, else ``string``) and one ``metric.<key>`` column
per logged metric (its last value).

A run's cost follows :meth:`Store.run_costs`: billed when billing has arrived, else the
estimate. ``efficiency`` is the dashboard's "metric per money" score
(:func:`xprof.efficiency.efficiency`) among runs with the same objective and currency.

:func:`write_frame` and :func:`read_frame` round-trip every frame through CSV and Parquet with
its types: ``read_frame(path)`` gives back what ``write_frame`` was given.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
import warnings
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from xprof import schema
from xprof.efficiency import efficiency
from xprof.records import GPU_FIELDS, SAMPLE_FIELDS
from xprof.settings import Settings
from xprof.store import Store, effective_status

KINDS = ("runs", "samples", "gpu_samples", "metrics", "costs")
FORMATS = ("csv", "parquet")
TIME = "datetime64[ns, UTC]"
_FIELD_DTYPES = {"float": "float64", "int": "Int64", "bool": "boolean", "str": "string"}

RUN_COLUMNS: dict[str, str] = {
    "id": "string", "name": "string", "project": "string", "status": "string",
    "started_at": TIME, "ended_at": TIME, "duration_s": "float64", "exit_code": "Int64",
    "host": "string", "user": "string", "cloud_provider": "string", "cloud_region": "string",
    "instance_type": "string", "lifecycle": "string", "gpu_model": "string",
    "gpu_count": "Int64", "gpus_used": "Int64", "cpu_seconds": "float64",
    "peak_rss_bytes": "Int64", "cpu_cores_p50": "float64", "cpu_cores_p95": "float64",
    "gpu_util_p50": "float64", "gpu_util_p95": "float64", "energy_kwh": "float64",
    "energy_method": "string", "objective_name": "string", "objective_mode": "string",
    "objective": "float64", "cost": "decimal", "currency": "string", "cost_source": "string",
    "efficiency": "float64",
}
SERIES_KEYS: dict[str, str] = {"run_id": "string", "host": "string", "ts": "float64",
                               "time": TIME}
DTYPES: dict[str, dict[str, str]] = {
    "runs": RUN_COLUMNS,
    "samples": {**SERIES_KEYS, **{f.name: _FIELD_DTYPES[f.kind] for f in SAMPLE_FIELDS}},
    "gpu_samples": {**SERIES_KEYS, "gpu_index": "Int64", "mig_index": "Int64",
                    **{f.name: _FIELD_DTYPES[f.kind] for f in GPU_FIELDS}},
    "metrics": {**SERIES_KEYS, "seq": "Int64", "key": "string", "value": "float64",
                "step": "Int64", "source": "string"},
    "costs": {"id": "Int64", "kind": "string", "run_id": "string", "resource_id": "string",
              "source": "string", "basis": "string", "period_start": TIME, "period_end": TIME,
              "amount": "decimal", "currency": "string", "upper_bound": "boolean",
              "detail": "string", "computed_at": TIME},
}
PARQUET_KIND_KEY = b"xprof.kind"


# -- opening ------------------------------------------------------------------------------------
def open_store(store: Store | str | None = None) -> Store:
    """A Store object as is, a URL opened, or the configured store."""
    if isinstance(store, Store):
        return store
    if store is None:
        store = Settings().store_url
    return Store.open(store)


def _run_ids(store: Store, runs: str | dict | Iterable[str]) -> list[str]:
    if isinstance(runs, str):
        runs = [runs]
    elif isinstance(runs, dict | pd.Series):
        runs = [runs["id"]]
    return [store.find_run(ref)["id"] for ref in runs]


# -- runs ---------------------------------------------------------------------------------------
def runs(project: str | None = None, *, status: str | None = None,
         since: dt.datetime | None = None, tags: dict[str, str] | None = None,
         limit: int | None = None, store: Store | str | None = None) -> pd.DataFrame:
    """One row a run, newest first: identity, machine, usage summary, energy, objective, cost,
    efficiency, then ``param.*`` and ``metric.*`` columns (see the module doc).

    Example: ``xprof.runs(project="nlp", status="finished", tags={"team": "vision"})``.
    """
    db = open_store(store)
    rows = db.list_runs(project=project, status=status, since=since, tags=tags, limit=limit)
    ids = [row["id"] for row in rows]
    params, finals = _params_and_metrics(db, ids)
    costs = db.run_costs(ids)
    records = [_run_record(row, costs.get(row["id"]) or {},
                           finals.get(row["id"], {}).get(row.get("objective_name") or ""))
               for row in rows]
    frame = pd.DataFrame(records, columns=[c for c in RUN_COLUMNS if c != "efficiency"])
    frame["efficiency"] = _efficiency(frame)
    return _with_params_and_metrics(frame, params, finals)


RUN_FIELDS = ("id", "name", "project", "status", "started_at", "ended_at", "duration_s",
              "exit_code", "host", "user", "cloud_provider", "cloud_region", "instance_type",
              "lifecycle", "cpu_seconds", "objective_name", "objective_mode")
SUMMARY_FIELDS = ("cpu_cores_p50", "cpu_cores_p95", "gpu_util_p50", "gpu_util_p95",
                  "energy_kwh", "energy_method")


def _run_record(row: dict[str, Any], cost: dict[str, Any], objective: Any) -> dict[str, Any]:
    """One run's row of the runs frame, before its params and metrics."""
    summary = row.get("summary") or {}
    hardware = row.get("hardware") or {}
    known = cost.get("amount") is not None and not cost.get("mixed_currency")
    return {
        **{k: row.get(k) for k in RUN_FIELDS},
        "gpu_model": hardware.get("gpu_model"), "gpu_count": hardware.get("gpu_count"),
        "gpus_used": _count(hardware.get("gpus_used", summary.get("gpus_used"))),
        "peak_rss_bytes": row.get("peak_rss_bytes") or summary.get("rss_peak_bytes"),
        **{k: summary.get(k) for k in SUMMARY_FIELDS},
        "objective": objective,
        "cost": cost.get("amount") if known else None,
        "currency": cost.get("currency") if known else None,
        "cost_source": cost.get("source"),
    }


def _with_params_and_metrics(frame: pd.DataFrame, params: dict[str, dict[str, str]],
                             finals: dict[str, dict[str, float]]) -> pd.DataFrame:
    """The runs frame with one ``param.<key>`` and one ``metric.<key>`` column per key."""
    extra = {f"param.{k}": {rid: p.get(k) for rid, p in params.items()}
             for k in sorted({k for p in params.values() for k in p})}
    extra.update({f"metric.{k}": {rid: m.get(k) for rid, m in finals.items()}
                  for k in sorted({k for m in finals.values() for k in m})})
    if extra:
        more = pd.DataFrame({name: frame["id"].map(values) for name, values in extra.items()})
        frame = pd.concat([frame, more], axis=1)
    return apply_dtypes(frame, "runs")


def _count(value: Any) -> int | None:
    return len(value) if isinstance(value, list | tuple) else None


def _params_and_metrics(store: Store, ids: Sequence[str]
                        ) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, float]]]:
    params: dict[str, dict[str, str]] = {}
    finals: dict[str, dict[str, float]] = {}
    if not ids:
        return params, finals
    p, m = schema.run_params, schema.metrics
    with store.read() as conn:
        for chunk in _chunks(ids, 500):
            for row in conn.execute(sa.select(p.c.run_id, p.c.key, p.c.value)
                                    .where(p.c.run_id.in_(chunk))):
                params.setdefault(row.run_id, {})[row.key] = row.value
            last = (sa.select(m.c.run_id, m.c.key, sa.func.max(m.c.seq).label("seq"))
                    .where(m.c.run_id.in_(chunk)).group_by(m.c.run_id, m.c.key).subquery())
            for row in conn.execute(sa.select(m.c.run_id, m.c.key, m.c.value).join(
                    last, sa.and_(m.c.run_id == last.c.run_id, m.c.key == last.c.key,
                                  m.c.seq == last.c.seq))):
                finals.setdefault(row.run_id, {})[row.key] = row.value
    return params, finals


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _efficiency(frame: pd.DataFrame) -> pd.Series:
    out = pd.Series(float("nan"), index=frame.index, dtype="float64")
    ok = (frame["objective_mode"].isin(["max", "min"]) & frame["objective_name"].notna()
          & frame["currency"].notna())
    for (_name, mode, _currency), part in frame[ok].groupby(
            ["objective_name", "objective_mode", "currency"]):
        out[part.index] = efficiency(part["objective"].astype("float64"), part["cost"], mode)
    return out


# -- series and costs ---------------------------------------------------------------------------
def samples(run: str | dict | Iterable[str], *, gpu: bool = False,
            store: Store | str | None = None) -> pd.DataFrame:
    """Every process-tree sample of the run(s) (``gpu=True``: every GPU sample), in time
    order, with ``time`` as a UTC datetime beside ``ts``. Example: ``xprof.samples("a1b2")``."""
    db = open_store(store)
    ids = _run_ids(db, run)
    table = schema.gpu_samples if gpu else schema.samples
    order = [table.c.run_id, table.c.ts]
    if gpu:
        order += [table.c.gpu_index, table.c.mig_index]
    return _series(db, table, ids, order, "gpu_samples" if gpu else "samples")


def metrics(run: str | dict | Iterable[str], *, store: Store | str | None = None
            ) -> pd.DataFrame:
    """Every logged metric value of the run(s), in logging order."""
    db = open_store(store)
    m = schema.metrics
    return _series(db, m, _run_ids(db, run), [m.c.run_id, m.c.host, m.c.seq], "metrics")


def _series(store: Store, table: sa.Table, ids: list[str], order: list, kind: str
            ) -> pd.DataFrame:
    columns = [c for c in DTYPES[kind] if c != "time"]
    with store.read() as conn:
        result = conn.execute(sa.select(*(table.c[c] for c in columns))
                              .where(table.c.run_id.in_(ids)).order_by(*order))
        frame = pd.DataFrame(result.fetchall(), columns=columns)
    frame.insert(frame.columns.get_loc("ts") + 1, "time",
                 pd.to_datetime(frame["ts"].astype("float64"), unit="s", utc=True)
                 .dt.round("us"))  # a double holds epoch seconds to about 0.2 µs
    return apply_dtypes(frame, kind)


def costs(project: str | None = None, *, run: str | None = None,
          store: Store | str | None = None) -> pd.DataFrame:
    """Cost rows (estimates and billed, per run and idle) of a project, a run, or all."""
    db = open_store(store)
    c, r = schema.costs, schema.runs
    query = sa.select(c).order_by(c.c.id)
    if run is not None:
        query = query.where(c.c.run_id == db.find_run(run)["id"])
    if project is not None:
        query = query.join(r, r.c.id == c.c.run_id).where(r.c.project == project)
    with db.read() as conn:
        rows = [dict(row) for row in conn.execute(query).mappings()]
    for row in rows:
        row["detail"] = None if row["detail"] is None else json.dumps(row["detail"],
                                                                      sort_keys=True)
    frame = pd.DataFrame(rows, columns=list(DTYPES["costs"]))
    return apply_dtypes(frame, "costs")


# -- types -------------------------------------------------------------------------------------
def apply_dtypes(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    """The frame with each column in its declared type (values as read from the store, or as
    text read back from a CSV file)."""
    out = frame.copy()
    for name in out.columns:
        dtype = DTYPES[kind].get(name) or _extra_dtype(name, out[name])
        out[name] = _as(out[name], dtype)
    return out


def _extra_dtype(name: str, column: pd.Series) -> str:
    if name.startswith("metric."):
        return "float64"
    if name.startswith("param."):
        return _param_dtype(column)
    return "string"


def _param_dtype(column: pd.Series) -> str:
    """Params are stored as text (JSON for non-text values, :func:`xprof.metrics_log.
    param_text`): a column of ``true``/``false`` is boolean (``True``/``False`` too, as older
    in-process runs wrote them), of integers Int64, of numbers float64, else string."""
    values = [str(v) for v in column if v is not None and not pd.isna(v)]
    if not values:
        return "string"
    if all(v.strip().lower() in ("true", "false") for v in values):
        return "boolean"
    try:
        if all(str(int(v)) == v.lstrip("+") for v in values):
            return "Int64"
    except ValueError:
        pass
    try:
        for v in values:
            float(v)
    except ValueError:
        return "string"
    if any(v.strip().lower() in ("nan", "inf", "-inf", "infinity") for v in values):
        return "string"
    return "float64"


def _to_bool(v: Any) -> bool:
    return bool(v) if not isinstance(v, str) else v.strip().lower() in ("true", "1")


def _to_int(v: Any) -> int:
    return int(v) if not isinstance(v, str) else int(v.strip())


def _to_decimal(v: Any) -> Decimal:
    return v if isinstance(v, Decimal) else Decimal(str(v))


def _as(column: pd.Series, dtype: str) -> pd.Series:
    """One column in ``dtype``, converting value by value (exact: no float detours)."""
    missing = [v is None or (not isinstance(v, str) and pd.isna(v)) for v in column]
    pairs = list(zip(column, missing, strict=True))
    if dtype == TIME:
        texts = pd.Series([None if m else v for v, m in pairs], index=column.index, dtype=object)
        return pd.to_datetime(texts, utc=True, format="ISO8601").astype(TIME)
    if dtype == "decimal":
        return pd.Series([None if m else _to_decimal(v) for v, m in pairs],
                         index=column.index, dtype=object)
    if dtype == "float64":
        return pd.Series([float("nan") if m else float(v) for v, m in pairs],
                         index=column.index, dtype="float64")
    convert = {"boolean": _to_bool, "Int64": _to_int}.get(dtype, str)
    converted = [None if m else convert(v) for v, m in pairs]
    return pd.Series(pd.array(converted, dtype=dtype), index=column.index)


# -- files --------------------------------------------------------------------------------------
def write_frame(frame: pd.DataFrame, path: str | Path, fmt: str, kind: str) -> None:
    """Write the frame as CSV or Parquet; the file appears whole or not at all."""
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r}: expected csv or parquet")
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
    os.close(fd)
    try:
        if fmt == "csv":
            write_csv(frame, tmp)
        else:
            _write_parquet(frame, tmp, kind)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_csv(frame: pd.DataFrame, stream: Any) -> None:
    """The frame as CSV on a text stream (e.g. stdout)."""
    frame.to_csv(stream, index=False)


def _write_parquet(frame: pd.DataFrame, path: str, kind: str) -> None:
    import pyarrow as pa  # lazy: optional (xprof[billing])
    import pyarrow.parquet as pq

    fields, arrays = [], []
    for name in frame.columns:
        column = frame[name]
        if column.dtype == object:  # Decimal money: exact, as decimal128(38, 9)
            arrays.append(pa.array([None if v is None else v.quantize(schema.NANO)
                                    for v in column], type=pa.decimal128(38, 9)))
        elif isinstance(column.dtype, pd.DatetimeTZDtype):
            naive = column.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
            arrays.append(pa.array(naive, from_pandas=True)
                          .cast(pa.timestamp("ns", tz="UTC")))
        else:
            arrays.append(pa.array(column.array))
        fields.append(pa.field(name, arrays[-1].type))
    metadata = {PARQUET_KIND_KEY: kind.encode(), b"pandas": _pandas_metadata(frame, pa)}
    table = pa.Table.from_arrays(arrays, schema=pa.schema(fields, metadata=metadata))
    pq.write_table(table, path)


def _pandas_metadata(frame: pd.DataFrame, pa: Any) -> bytes:
    """pandas' own schema note (column dtypes such as ``Int64``, ``string``, ``boolean``), so
    a plain ``pd.read_parquet`` gives the frame back in its types, not Int64 as float64."""
    with warnings.catch_warnings():  # pyarrow reads a tz column's .values: pandas warns
        warnings.simplefilter("ignore")
        return pa.Schema.from_pandas(frame.head(0), preserve_index=False).metadata[b"pandas"]


def read_frame(path: str | Path, kind: str | None = None) -> pd.DataFrame:
    """A frame written by :func:`write_frame` (or ``xprof export``), in its declared types.
    CSV files need ``kind`` (runs, samples, gpu_samples, metrics or costs)."""
    path = Path(path)
    if path.suffix == ".parquet" or (kind is None and _is_parquet(path)):
        import pyarrow as pa  # lazy: optional (xprof[billing])
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        kind = kind or (table.schema.metadata or {}).get(PARQUET_KIND_KEY, b"").decode()
        frame = table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype(),
                                              pa.bool_(): pd.BooleanDtype()}.get)
    else:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    if kind not in KINDS:
        raise ValueError(f"{path}: say which kind of frame it holds ({', '.join(KINDS)})")
    return apply_dtypes(frame, kind)


def _is_parquet(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(4) == b"PAR1"


def frame_for(kind: str, store: Store, *, project: str | None = None,
              runs_: Sequence[str] = ()) -> pd.DataFrame:
    """The frame ``xprof export KIND`` writes."""
    if kind == "runs":
        return runs(project, store=store)
    if kind == "costs":
        return costs(project, run=runs_[0] if len(runs_) == 1 else None, store=store)
    if kind == "metrics":
        return metrics(list(runs_), store=store)
    return samples(list(runs_), gpu=kind == "gpu_samples", store=store)


__all__ = ["apply_dtypes", "costs", "effective_status", "metrics", "read_frame", "runs",
           "samples", "write_frame"]
