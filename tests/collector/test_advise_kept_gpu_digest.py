"""Advice at a run's end reads each GPU as the agent summarised it while sampling (its
host summary's ``gpu_devices``: sample count, utilisation histogram, peaks, used, MIG) and
its samples as the agent counted them (``advice_counts``), not the rows: on the same recorded
run the advice equals the advice computed from the raw samples in SQL, to the digit."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from tests.agent.gpu_helpers import GIB, fake_nvml_env, gpu_rows, only_run
from xprof import schema
from xprof.collector.advise import advise_run, load_evidence
from xprof.collector.sample_counts_sql import sample_counts_sql
from xprof.settings import Settings
from xprof.store import Store

T4_BYTES = 15360 * 2**20


def t4(**overrides: Any) -> dict[str, Any]:
    return {"name": "Tesla T4", "memory_total": T4_BYTES, "util_gpu": 0, "util_mem": 0,
            "power_mw": 27_000, "power_limit_mw": 70_000, "temperature_c": 35,
            "sm_clock_mhz": 585, **overrides}


def _advice(store: Store, run_id: str, settings: Settings) -> dict[str, tuple]:
    return {rec.rule: (rec.title, rec.evidence, rec.suggested_instance, rec.saving_per_run,
                       rec.saving_per_month) for rec in advise_run(store, run_id, settings)}


def _drop_kept_devices(store: Store, run: dict[str, Any]) -> None:
    """The host summary as an agent that kept no GPU digest nor sample counts wrote it."""
    h = schema.run_hosts
    with store.write() as conn:
        summary = conn.execute(sa.select(h.c.summary).where(
            h.c.run_id == run["id"], h.c.host == run["host"])).scalar()
        summary.pop("gpu_devices")
        summary.pop("advice_counts")
        conn.execute(h.update().where(h.c.run_id == run["id"], h.c.host == run["host"])
                     .values(summary=summary))


def test_kept_gpu_digest_gives_the_advice_of_the_raw_samples(xprof, store, tmp_path):
    """A real run on 2 of 4 fake T4s with utilisation that changes over time: the kept
    digest equals the SQL summary device by device, and the stored advice is the same."""
    process = [{"pid": "$ROOT", "used_memory": 2 * GIB, "sm_util": 30}]
    scenario = {"devices": [
        t4(),
        t4(util_gpu=[[0, 10], [0.6, 55], [1.2, 20], [1.8, 90]], util_mem=[[0, 5], [1, 30]],
           processes=process),
        t4(util_gpu=[[0, 3], [1, 40]], processes=process),
        t4(util_gpu=[[0, 0], [1.5, 12]])]}  # busy with something else: not the run's
    env = {**fake_nvml_env(tmp_path, scenario), "XPROF_ADVISE_MIN_DURATION_S": "0.5",
           "XPROF_ADVISE_MIN_SAMPLES": "5"}
    result = xprof("run", "--interval", "0.1", "--provider", "aws", "--instance-type",
                   "g4dn.12xlarge", "--region", "us-east-1", "--", "sleep", "2.5", env=env)
    assert result.returncode == 0, result.stderr
    run = only_run(store)
    assert run["hardware"]["gpus_used"] == [1, 2]
    settings = Settings(env={"XPROF_ADVISE_MIN_DURATION_S": "0.5",
                             "XPROF_ADVISE_MIN_SAMPLES": "5"}, config={})
    whole = [r for r in gpu_rows(store, run["id"]) if r["mig_index"] == -1]
    kept = load_evidence(store, run, settings)
    assert kept is not None
    assert {i: d.samples for i, d in kept.gpus.items()} == {
        i: sum(1 for r in whole if r["gpu_index"] == i) for i in range(4)}
    assert len(set(kept.gpus[1].util_counts)) >= 3  # the utilisation did change
    counts = sample_counts_sql(store, run)  # the agent's counts are those of its rows
    assert kept.counts.host_samples == counts.host_samples >= 20
    assert (kept.counts.cores_util, kept.counts.iowait_util, kept.counts.profile) == (
        counts.cores_util, counts.iowait_util, counts.profile)
    assert (kept.counts.last_active_ts, kept.counts.tail_first_ts, kept.counts.tail_ticks) == (
        counts.last_active_ts, counts.tail_first_ts, counts.tail_ticks)
    from_summary = _advice(store, run["id"], settings)
    assert {"idle_gpus", "gpu_memory_low"} <= set(from_summary)  # GPU 0 idle, 3 foreign

    _drop_kept_devices(store, run)
    raw = load_evidence(store, run, settings)
    assert raw is not None
    assert raw.gpus == kept.gpus
    assert raw.counts.profile == kept.counts.profile
    assert _advice(store, run["id"], settings) == from_summary
