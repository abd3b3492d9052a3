"""`xprof advise` computes, stores and shows advice for one run, a project or a time span,
as a table or JSON; bad input is one line and exit 2."""

from __future__ import annotations

import json
from decimal import Decimal

from click.testing import CliRunner

from tests.collector.advise_seed import GIB, T4, gpu_row, seed_run, stored
from xprof import schema
from xprof.cli import cli


def idle_three(k: int, i: int, t: float) -> dict:
    if i == 0:
        return gpu_row(20.0, 2 * GIB, T4[1], 2 * GIB, True)
    return gpu_row(0.0, 0, T4[1], 0, False)


def advise(*args: str):
    return CliRunner().invoke(cli, ["advise", *args])


def test_one_run_as_json(store):
    """`xprof advise RUN --json` lists the run's advice with savings as decimal strings."""
    run = seed_run(store, gpu_fn=idle_three)
    result = advise(run[:10], "--json")
    assert result.exit_code == 0, result.output
    data = {rec["rule"]: rec for rec in json.loads(result.output)}
    assert set(data) == {"idle_gpus", "gpu_underused", "gpu_memory_low"}
    idle = data["idle_gpus"]
    assert (idle["run_id"], idle["current_instance"], idle["suggested_instance"]) == (
        run, "g4dn.12xlarge", "g4dn.xlarge")
    assert (idle["saving_per_run"], idle["saving_per_month"], idle["status"]) == (
        "3.386", "3.386", "open")
    assert len(stored(store, run)) == 3


def test_project_as_a_table(store):
    """`xprof advise --project P` advises every ended run of P in a table with a total."""
    first = seed_run(store, gpu_fn=idle_three)
    second = seed_run(store, gpu_fn=idle_three)
    other = seed_run(store, project="other", gpu_fn=idle_three)
    result = advise("--project", "vision")
    assert result.exit_code == 0, result.output
    assert "g4dn.12xlarge → g4dn.xlarge" in result.output
    assert first[:8] in result.output and second[:8] in result.output
    assert "advice: 6 recommendation(s) for 2 run(s)" in result.output
    assert stored(store, other) == []


def test_since_selects_by_start(store):
    """`--since` advises only runs started since then."""
    run = seed_run(store, gpu_fn=idle_three)
    assert "No advice for 0 run(s)" in advise("--since", "2026-11-03").output
    result = advise("--since", "2026-11-02", "--json")
    assert {rec["run_id"] for rec in json.loads(result.output)} == {run}


def test_dismissed_status_is_shown(store):
    """A dismissed recommendation stays dismissed in the output."""
    run = seed_run(store, gpu_fn=idle_three)
    advise(run)
    with store.write() as conn:
        conn.execute(schema.recommendations.update().values(status="dismissed"))
    result = advise(run, "--json")
    assert {rec["status"] for rec in json.loads(result.output)} == {"dismissed"}


def test_bad_input_is_one_line_exit_2(store):
    """An unknown run, a bad date, or a run with --project: one line, exit 2."""
    run = seed_run(store, gpu_fn=idle_three, samples=3)
    for args, text in ((["nosuchrun"], "no run matches"),
                       (["--since", "last tuesday"], "--since"),
                       ([run, "--project", "vision"], "not both")):
        result = advise(*args)
        assert result.exit_code == 2, (args, result.output)
        assert text in result.output and len(result.output.strip().splitlines()) == 1


def test_json_carries_the_prediction(store):
    """A recommendation that suggests another machine carries predicted_duration_s,
    predicted_cost and confidence at the top level; saving_per_run = what the run cost -
    predicted_cost. The idle GPUs do not slow the run on one T4: the same 3,600 s."""
    run = seed_run(store, gpu_fn=idle_three)
    data = {rec["rule"]: rec for rec in json.loads(advise(run[:10], "--json").output)}
    idle = data["idle_gpus"]
    assert (idle["predicted_duration_s"], idle["predicted_cost"], idle["confidence"]) == (
        3600.0, "0.526", "medium")
    assert Decimal(idle["saving_per_run"]) == Decimal("3.912") - Decimal(idle["predicted_cost"])


def test_tiny_savings_keep_their_digits(store):
    """A 70 s run on g4dn.2xlarge that fits g4dn.xlarge saves $0.0044 a run: the table shows
    it as the summary does, never `0.00`, and the machine as `g4dn.2xlarge → g4dn.xlarge`."""
    def one(k: int, i: int, t: float) -> dict:
        return gpu_row(80.0, 2 * GIB, T4[1], 2 * GIB, True)
    run = seed_run(store, gpu_count=1, instance_type="g4dn.2xlarge", cpu_count=8,
                   memory_gib=32, duration_s=70, interval_s=1.0, gpu_fn=one)
    result = advise(run[:10])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "memory_overprovisioned" in line)
    assert "g4dn.2xlarge → g4dn.xlarge" in row
    assert "$0.0044" in row and " 0.00 " not in row and "$0.00 " not in row
    assert "(preliminary: a 70 s run)" in row


def test_no_advice_names_the_thresholds_and_settings(store):
    """A 30 s run gets no advice; the message names the limits and the settings."""
    run = seed_run(store, duration_s=30, interval_s=1.0, gpu_fn=idle_three)
    output = advise(run[:10]).output
    assert "No advice for 1 run(s)" in output
    assert "60 s" in output and "advise.preliminary_s" in output
    assert "300 s" in output and "advise.min_duration_s" in output
    assert "advise.min_samples" in output
