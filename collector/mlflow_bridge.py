"""xprof <-> MLflow: cost and usage onto MLflow runs; MLflow runs into xprof to be costed.

Export (:func:`export_runs`) writes onto the MLflow run that matches each xprof run:

- matched by the MLflow run id stored with the xprof run (tag or param ``mlflow.run_id``, as
  import and earlier exports store it, and as the framework callbacks record it when an MLflow
  run is active), else by an MLflow run tagged ``xprof.run_id``, else a new MLflow run in the
  experiment named after the project (``experiment`` overrides), with the xprof run's name,
  times, status, params and metric history;
- metrics (step 0, timestamp now): ``xprof.cost`` (MLflow keeps floats: the Decimal is
  converted here, at the edge), ``xprof.duration_s``, CPU/GPU/memory percentiles, energy,
  ``xprof.recommendations_open`` and the best open saving per run; each written once, and
  again only when its figure changed (billing arrived), so it is the run's latest value;
- tags: ``xprof.run_id``, status, cost currency and source, machine, energy method, and one
  ``xprof.recommendation.<rule>`` per open recommendation (its title).

The MLflow run id is stored back as the xprof run's tag ``mlflow.run_id``, so a second export
writes onto the same MLflow run.

Import (:func:`import_runs`) brings ended MLflow runs (FINISHED, FAILED, KILLED) in with their
params, metric history, times and tags. The xprof run id is derived from the MLflow run id
(the same run imported twice is one run); runs that xprof exported are not brought back.
Instance tags (``instance_type``, ``cloud_provider``, ``region``, ``lifecycle``, ``gpu_count``
and their usual spellings) become the run's machine, so each imported run gets an estimate.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from xprof import schema
from xprof.collector.catalog import providers_of
from xprof.collector.estimate import estimate_run
from xprof.collector.writes import set_run_providers, set_run_tag
from xprof.rollups import refresh_runs
from xprof.store import Store, utcnow
from xprof.storeurl import sqlite_path

log = logging.getLogger("xprof.collector")

MLFLOW_RUN_KEY = "mlflow.run_id"  # xprof tag/param naming the MLflow run
XPROF_RUN_TAG = "xprof.run_id"  # MLflow tag naming the xprof run
TO_MLFLOW_STATUS = {"finished": "FINISHED", "failed": "FAILED", "killed": "KILLED",
                    "crashed": "FAILED", "running": "RUNNING"}
FROM_MLFLOW_STATUS = {"FINISHED": "finished", "FAILED": "failed", "KILLED": "killed"}
SUMMARY_METRICS = ("cpu_cores_p50", "cpu_cores_p95", "gpu_util_p50", "gpu_util_p95",
                   "rss_peak_bytes", "energy_kwh", "energy_gpu_kwh", "energy_cpu_kwh")
_NAMESPACE = uuid.UUID("0c6f8e57-54a1-4a0e-9c39-7f5d2b7d9a11")
BATCH = 1000  # MLflow's log_batch limit on metrics
MAX_PARAM_CHARS = 6000
INSTANCE_TAGS: dict[str, tuple[str, ...]] = {
    "instance_type": ("instance_type", "instance-type", "instanceType", "ec2_instance_type",
                      "machine_type", "vm_size", "xprof.instance_type"),
    "cloud_provider": ("cloud_provider", "cloud", "provider", "xprof.cloud_provider"),
    "cloud_region": ("cloud_region", "region", "aws_region", "location", "xprof.region"),
    "cloud_zone": ("cloud_zone", "zone", "availability_zone"),
    "lifecycle": ("lifecycle", "market", "capacity_type", "xprof.lifecycle"),
    "gpu_count": ("gpu_count", "num_gpus", "gpus"),
    "gpu_model": ("gpu_model", "gpu_type", "xprof.gpu_model"),
    "host": ("host", "hostname", "mlflow.source.host"),
}


_NOT_IN_MLFLOW_NAMES = re.compile(r"[^\w\-. /]")


def mlflow_name(key: str) -> str:
    """A metric, param or tag name MLflow accepts (letters, digits, _ - . space /)."""
    return _NOT_IN_MLFLOW_NAMES.sub("_", key)[:250]


class MlflowBridgeError(RuntimeError):
    """The tracking store cannot be used (the message names it)."""


def client_for(tracking_uri: str, *, must_exist: bool = False):
    """An ``MlflowClient`` for ``tracking_uri``; ``must_exist``: a SQLite file must be there."""
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if must_exist and tracking_uri.startswith("sqlite:"):
        path = sqlite_path(tracking_uri)
        if path is None or not path.exists():
            raise MlflowBridgeError(f"no MLflow tracking store at {tracking_uri}")
    try:
        from mlflow.tracking import MlflowClient  # optional and heavy: xprof[integrations]
    except ImportError as exc:
        raise MlflowBridgeError("MLflow is not installed: pip install 'xprof[integrations]'"
                                ) from exc
    try:
        client = MlflowClient(tracking_uri=tracking_uri)
        client.search_experiments(max_results=1)
    except Exception as exc:
        raise MlflowBridgeError(f"cannot open MLflow tracking store {tracking_uri}: "
                                f"{_first_line(exc)}") from exc
    return client


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _ms(value: dt.datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


def _from_ms(value: int | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromtimestamp(value / 1000, dt.UTC)


# -- export -------------------------------------------------------------------------------------
@dataclass
class Exported:
    """One xprof run written onto one MLflow run."""

    run_id: str
    mlflow_run_id: str
    experiment: str
    created: bool
    values: int  # metrics and tags written


def summary_metrics(run: Mapping[str, Any], cost: Mapping[str, Any] | None,
                    recommendations: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """The ``xprof.*`` metrics of a run (unknown figures are left out)."""
    summary = run.get("summary") or {}
    out: dict[str, float] = {}
    if cost and cost.get("amount") is not None and not cost.get("mixed_currency"):
        out["xprof.cost"] = float(cost["amount"])
    if run.get("duration_s") is not None:
        out["xprof.duration_s"] = float(run["duration_s"])
    if run.get("cpu_seconds") is not None:
        out["xprof.cpu_seconds"] = float(run["cpu_seconds"])
    for key in SUMMARY_METRICS:
        if summary.get(key) is not None:
            out[f"xprof.{key}"] = float(summary[key])
    open_recs = [r for r in recommendations if r.get("status") == "open"]
    out["xprof.recommendations_open"] = float(len(open_recs))
    savings = [r["saving_per_run"] for r in open_recs if r.get("saving_per_run") is not None]
    if savings:
        out["xprof.saving_per_run"] = float(max(savings))
    return out


def summary_tags(run: Mapping[str, Any], cost: Mapping[str, Any] | None,
                 recommendations: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """The ``xprof.*`` tags of a run."""
    summary = run.get("summary") or {}
    hardware = run.get("hardware") or {}
    tags = {XPROF_RUN_TAG: run["id"], "xprof.status": run["status"]}
    for key, value in (("instance_type", run.get("instance_type")),
                       ("cloud_provider", run.get("cloud_provider")),
                       ("region", run.get("cloud_region")), ("lifecycle", run.get("lifecycle")),
                       ("gpu_model", hardware.get("gpu_model")),
                       ("energy_method", summary.get("energy_method"))):
        if value:
            tags[f"xprof.{key}"] = str(value)
    if cost:
        tags["xprof.cost_source"] = cost["source"]
        tags["xprof.cost_currency"] = cost["currency"]
    for rec in recommendations:
        if rec.get("status") == "open":
            tags[mlflow_name(f"xprof.recommendation.{rec['rule']}")] = str(rec["title"])[:5000]
    return tags


def export_runs(store: Store, run_ids: Iterable[str], tracking_uri: str,
                experiment: str | None = None) -> list[Exported]:
    """Write each run's cost, usage and open advice onto its MLflow run (see module doc)."""
    client = client_for(tracking_uri)
    return [export_run(client, store, run_id, experiment) for run_id in run_ids]


def export_run(client: Any, store: Store, run_id: str, experiment: str | None) -> Exported:
    from mlflow.entities import Metric, RunTag  # optional and heavy: xprof[integrations]

    run = store.find_run(run_id)
    details = store.run_details(run["id"])
    cost = store.run_costs([run["id"]]).get(run["id"])
    recs = details["recommendations"]
    experiment_name = experiment or run["project"]
    mlflow_id = _matching_mlflow_run(client, run, details, experiment_name)
    created = mlflow_id is None
    if created:
        mlflow_id = _create_mlflow_run(client, store, run, details, experiment_name)
    now = int(utcnow().timestamp() * 1000)
    latest = {} if created else client.get_run(mlflow_id).data.metrics
    metrics = [Metric(k, v, now, 0) for k, v in summary_metrics(run, cost, recs).items()
               if latest.get(k) != v]  # once: a new point only when the figure changed
    tags = [RunTag(k, v) for k, v in summary_tags(run, cost, recs).items()]
    client.log_batch(mlflow_id, metrics=metrics, tags=tags)
    _remember_mlflow_run(store, run["id"], mlflow_id)
    return Exported(run["id"], mlflow_id, experiment_name, created, len(metrics) + len(tags))


def _matching_mlflow_run(client: Any, run: Mapping[str, Any], details: Mapping[str, Any],
                         experiment_name: str) -> str | None:
    for known in (details["tags"].get(MLFLOW_RUN_KEY), details["params"].get(MLFLOW_RUN_KEY)):
        if known:
            try:
                client.get_run(known)
                return known
            except Exception:  # gone, or from another tracking store
                continue
    found = client.get_experiment_by_name(experiment_name)
    if found is None:
        return None
    matches = client.search_runs([found.experiment_id], max_results=1,
                                 filter_string=f"tags.`{XPROF_RUN_TAG}` = '{run['id']}'")
    return matches[0].info.run_id if matches else None


def _experiment_id(client: Any, name: str) -> str:
    found = client.get_experiment_by_name(name)
    return found.experiment_id if found is not None else client.create_experiment(name)


def _create_mlflow_run(client: Any, store: Store, run: Mapping[str, Any],
                       details: Mapping[str, Any], experiment_name: str) -> str:
    """A new MLflow run holding the xprof run's name, times, status, params and metrics."""
    from mlflow.entities import Metric, Param  # optional and heavy: xprof[integrations]

    tags = {XPROF_RUN_TAG: run["id"]}
    if run.get("user"):
        tags["mlflow.user"] = run["user"]
    if run.get("command"):
        tags["mlflow.source.name"] = " ".join(run["command"])[:500]
    git = run.get("git") or {}
    if git.get("commit"):
        tags["mlflow.source.git.commit"] = git["commit"]
    tags.update({mlflow_name(k): v or "" for k, v in details["tags"].items()
                 if k != MLFLOW_RUN_KEY})
    created = client.create_run(_experiment_id(client, experiment_name),
                                start_time=_ms(run["started_at"]), tags=tags,
                                run_name=run["name"])
    mlflow_id = created.info.run_id
    params = [Param(mlflow_name(k), (v or "")[:MAX_PARAM_CHARS])
              for k, v in sorted(details["params"].items()) if k != MLFLOW_RUN_KEY]
    for start in range(0, len(params), 100):
        client.log_batch(mlflow_id, params=params[start:start + 100])
    m = schema.metrics
    with store.read() as conn:
        rows = conn.execute(sa.select(m.c.key, m.c.value, m.c.step, m.c.ts)
                            .where(m.c.run_id == run["id"]).order_by(m.c.ts, m.c.seq)).all()
    metrics = [Metric(mlflow_name(r.key), r.value, int(r.ts * 1000), r.step or 0)
               for r in rows]
    for start in range(0, len(metrics), BATCH):
        client.log_batch(mlflow_id, metrics=metrics[start:start + BATCH])
    status = TO_MLFLOW_STATUS.get(run["status"], "FINISHED")
    if status != "RUNNING":
        client.set_terminated(mlflow_id, status, end_time=_ms(run.get("ended_at")
                                                              or run.get("heartbeat_at")))
    return mlflow_id


def _remember_mlflow_run(store: Store, run_id: str, mlflow_id: str) -> None:
    set_run_tag(store, run_id, MLFLOW_RUN_KEY, mlflow_id)


# -- import -------------------------------------------------------------------------------------
@dataclass
class Imported:
    """What an import did."""

    run_ids: list[str] = field(default_factory=list)
    existing: int = 0  # already in the store (imported before, or exported from xprof)
    unfinished: int = 0  # RUNNING or SCHEDULED: import them once they end
    priced: int = 0  # imported runs that got a known estimate
    unpriced: dict[str, str] = field(default_factory=dict)  # "name (id)" -> why not priced


def xprof_id_for(mlflow_run_id: str) -> str:
    """The xprof run id of an imported MLflow run (stable: imports are idempotent)."""
    return uuid.uuid5(_NAMESPACE, f"mlflow:{mlflow_run_id}").hex


def import_runs(store: Store, tracking_uri: str, experiment: str | None = None, *,
                project: str | None = None, settings: Any = None) -> Imported:
    """Bring ended MLflow runs (all experiments, or ``experiment`` by name or id) into the
    store and estimate their cost; ``project`` overrides the experiment name as project."""
    client = client_for(tracking_uri, must_exist=True)
    experiments = _experiments(client, experiment)
    result = Imported()
    existing = _existing_ids(store)
    for exp in experiments:
        token = None
        while True:
            page = client.search_runs([exp.experiment_id], max_results=500, page_token=token,
                                      order_by=["attribute.start_time ASC"])
            for mlrun in page:
                _import_one(client, store, mlrun, project or exp.name, existing, result)
            token = page.token
            if not token:
                break
    _estimate(store, result, settings)
    return result


def _experiments(client: Any, experiment: str | None) -> list[Any]:
    if experiment is None:
        return list(client.search_experiments())
    found = client.get_experiment_by_name(experiment)
    if found is None and experiment.isdigit():
        try:
            found = client.get_experiment(experiment)
        except Exception:
            found = None
    if found is None:
        raise MlflowBridgeError(f"no MLflow experiment named {experiment!r}")
    return [found]


def _existing_ids(store: Store) -> set[str]:
    with store.read() as conn:
        return set(conn.execute(sa.select(schema.runs.c.id)).scalars())


def _import_one(client: Any, store: Store, mlrun: Any, project: str, existing: set[str],
                result: Imported) -> None:
    info, data = mlrun.info, mlrun.data
    if info.status not in FROM_MLFLOW_STATUS:
        result.unfinished += 1
        return
    run_id = xprof_id_for(info.run_id)
    if run_id in existing or data.tags.get(XPROF_RUN_TAG) in existing:
        result.existing += 1
        return
    row, host, tags = run_row(info, data.tags, project)
    params = {k: (v, "mlflow") for k, v in data.params.items()}
    metric_rows: list[dict[str, Any]] = []
    for key in sorted(data.metrics):
        for point in client.get_metric_history(info.run_id, key):
            metric_rows.append({"key": key[:200], "value": float(point.value),
                                "step": point.step, "ts": point.timestamp / 1000,
                                "source": "mlflow"})
    metric_rows.sort(key=lambda r: (r["ts"], r["step"] or 0, r["key"]))
    for seq, metric in enumerate(metric_rows, start=1):
        metric["seq"] = seq
    store.create_run(row, params=params, tags=tags, host=host)
    if metric_rows:
        store.write_batch(row["id"], row["host"], metrics=metric_rows)
    refresh_runs(store, [row["id"]])
    existing.add(row["id"])
    result.run_ids.append(row["id"])


def _tag(tags: Mapping[str, str], field_name: str) -> str | None:
    for key in INSTANCE_TAGS[field_name]:
        if tags.get(key):
            return str(tags[key]).strip()
    return None


def _hardware_of(tags: Mapping[str, str]) -> dict[str, Any]:
    hardware: dict[str, Any] = {}
    gpus = _tag(tags, "gpu_count")
    if gpus and gpus.isdigit():
        hardware["gpu_count"] = int(gpus)
    if _tag(tags, "gpu_model"):
        hardware["gpu_model"] = _tag(tags, "gpu_model")
    return hardware


def _lifecycle_of(tags: Mapping[str, str]) -> str:
    """spot, on-demand, or "" when the tags do not say."""
    lifecycle = (_tag(tags, "lifecycle") or "").lower()
    if lifecycle in ("spot", "preemptible", "spot-instance", "low-priority") or \
            str(tags.get("spot", "")).lower() in ("true", "1", "yes"):
        return "spot"
    return "on-demand" if lifecycle else ""


def _provider_of(tags: Mapping[str, str]) -> str | None:
    provider = (_tag(tags, "cloud_provider") or "").lower() or None
    return "aws" if provider in ("amazon", "ec2") else provider


def _git_of(tags: Mapping[str, str]) -> dict[str, Any] | None:
    if not tags.get("mlflow.source.git.commit"):
        return None
    return {"commit": tags["mlflow.source.git.commit"],
            "repo": tags.get("mlflow.source.git.repoURL"),
            "branch": tags.get("mlflow.source.git.branch"), "dirty": None, "diff_sha256": None}


def run_row(info: Any, tags: Mapping[str, str], project: str
            ) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """(runs row, run_hosts row, tags) of an MLflow run."""
    started = _from_ms(info.start_time) or utcnow()
    ended = _from_ms(info.end_time)
    status = FROM_MLFLOW_STATUS[info.status]
    hardware = _hardware_of(tags)
    lifecycle = _lifecycle_of(tags)
    provider = _provider_of(tags)
    source = tags.get("mlflow.source.name")
    git = _git_of(tags)
    host = _tag(tags, "host") or "mlflow"
    row = {
        "id": xprof_id_for(info.run_id), "name": (info.run_name or info.run_id[:8])[:200],
        "project": project[:200], "status": status, "exit_code": None,
        "started_at": started, "ended_at": ended, "heartbeat_at": ended or started,
        "duration_s": (ended - started).total_seconds() if ended else None,
        "interval_s": 1.0, "flush_interval_s": 2.0,
        "command": [source] if source else [], "cwd": None, "host": host[:255],
        "user": tags.get("mlflow.user") or info.user_id or None, "git": git,
        "hardware": hardware, "cloud_provider": provider,
        "cloud_region": _tag(tags, "cloud_region"), "cloud_zone": _tag(tags, "cloud_zone"),
        "instance_type": _tag(tags, "instance_type"), "lifecycle": lifecycle or None,
        "cloud": {"source": "mlflow"}, "agent_version": "mlflow-import",
    }
    run_host = {"host": row["host"], "status": status, "started_at": started,
                "ended_at": ended, "heartbeat_at": row["heartbeat_at"], "hardware": hardware,
                **{k: row[k] for k in ("cloud_provider", "cloud_region", "cloud_zone",
                                       "instance_type", "lifecycle", "cloud")}}
    kept = {k: str(v) for k, v in tags.items() if not k.startswith("mlflow.")}
    kept[MLFLOW_RUN_KEY] = info.run_id
    kept["mlflow.experiment_id"] = str(info.experiment_id)
    return row, run_host, kept


def _estimate(store: Store, result: Imported, settings: Any) -> None:
    """Price the imported runs now (catalog only), so they can be ranked at once."""
    if not result.run_ids:
        return
    _infer_providers(store, result.run_ids)
    for run_id in result.run_ids:
        try:
            estimate = estimate_run(store, run_id, settings)
        except Exception as exc:
            log.warning("could not estimate imported run %s: %s", run_id[:8], exc)
            estimate = None
        if estimate is not None and estimate.amount is not None:
            result.priced += 1
            continue
        why = estimate.reason if estimate is not None else "the estimate failed (see the log)"
        result.unpriced[f"{store.find_run(run_id)['name']} ({run_id[:8]})"] = why or "unknown"


def _infer_providers(store: Store, run_ids: Sequence[str]) -> None:
    """An instance type only one provider's catalog lists names its provider."""
    r = schema.runs
    with store.read() as conn:
        rows = conn.execute(sa.select(r.c.id, r.c.instance_type).where(
            r.c.id.in_(list(run_ids)), r.c.cloud_provider.is_(None),
            r.c.instance_type.is_not(None))).all()
    found = {row.id: providers_of(store, row.instance_type) for row in rows}
    set_run_providers(store, {run_id: providers[0] for run_id, providers in found.items()
                              if len(providers) == 1})
