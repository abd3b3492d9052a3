"""``xprof compare RUN RUN…``: runs side by side in the terminal, as the dashboard's Compare
page shows them: the params that differ, final metrics, cost, metric per unit of money, and a
Welch t-test of the objective between groups of repeated runs (seeds ignored).

The score is :mod:`xprof.efficiency`'s rule, the groups and the t-test :mod:`xprof.repeats`'
(the same code the Compare page runs).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import click

from xprof.cli import BadInput
from xprof.money import currency_label
from xprof.numbers import number, p_value
from xprof.runs_cli import (
    declared_objective,
    format_cost,
    open_store,
    output_options,
    print_table,
    store_option,
    to_jsonable,
)
from xprof.storeurl import StoreError


def parse_objective(value: str | None, runs: list[dict[str, Any]]) -> tuple[str | None, str]:
    """``NAME`` or ``NAME:max|min``; without it the objective most of the runs declared (its
    mode as declared, else max)."""
    if value:
        name, sep, mode = value.rpartition(":")
        if not sep:
            name, mode = value, ""
        if not name or mode not in ("", "max", "min"):
            raise BadInput(f"--objective {value!r}: expected NAME, NAME:max or NAME:min")
        declared = [r["objective_mode"] for r in runs if r["objective_name"] == name]
        return name, mode or (declared[0] if declared and declared[0] else "max")
    return declared_objective(runs) or (None, "max")


def comparison(db, runs: list[dict[str, Any]], objective: str | None, mode: str,
               basis: str = "billed") -> dict[str, Any]:
    """Everything `xprof compare` prints, as data: per run its params, final metrics, cost,
    objective and score; the params that differ; the repeat groups and their t-test."""
    import pandas as pd  # lazy: pandas and scipy only for this command

    from xprof import repeats
    from xprof.efficiency import default_baseline, efficiency

    ids = [r["id"] for r in runs]
    details = {run_id: db.run_details(run_id) for run_id in ids}
    costs = db.run_costs(ids, basis)
    values = [details[i]["metrics"].get(objective, {}).get("value") if objective else None
              for i in ids]
    frame = pd.DataFrame({
        "run_id": ids, "name": [r["name"] for r in runs],
        "objective": pd.Series([float("nan") if v is None else v for v in values],
                               dtype="float64"),
        "cost": pd.Series([(costs.get(i) or {}).get("amount") for i in ids], dtype=object),
        "currency": [(costs.get(i) or {}).get("currency") for i in ids],
    })
    pool: dict[str, float] = {}  # a minimised objective's baseline: its projects' worst value
    for project in {r["project"] for r in runs} if objective else ():
        pool.update(db.last_metric_values(objective, project=project))
    baseline = default_baseline(pd.Series(list(pool.values()), dtype="float64"), mode)
    frame["score"] = efficiency(frame["objective"], frame["cost"], mode, baseline)
    keys = sorted({k for d in details.values() for k in d["params"]})
    differing = [k for k in keys if len({details[i]["params"].get(k) for i in ids}) > 1]
    params = pd.DataFrame([(i, k, v) for i in ids for k, v in details[i]["params"].items()],
                          columns=["run_id", "key", "value"])
    groups = repeats.group_repeats(frame, repeats.param_signature(params, ids))
    test = None
    if objective and len(groups) >= 2:
        first, second = repeats.default_pair(groups)
        a, b = groups.iloc[first], groups.iloc[second]
        by_id = frame.set_index("run_id")["objective"]
        result = repeats.welch_t_test(by_id.reindex(a["run_ids"]), by_id.reindex(b["run_ids"]),
                                      mode=mode, label=objective)
        test = {"a": a["signature"] or "(no params)", "b": b["signature"] or "(no params)",
                "n_a": result.n_a, "n_b": result.n_b, "mean_a": result.mean_a,
                "mean_b": result.mean_b, "std_a": result.std_a, "std_b": result.std_b,
                "t": result.t, "df": result.df, "p": result.p, "reading": result.reading}
    return {
        "objective": objective, "mode": mode,
        "runs": [{"id": run["id"], "name": run["name"], "project": run["project"],
                  "status": run["status"], "params": details[run["id"]]["params"],
                  "metrics": {k: m["value"] for k, m in details[run["id"]]["metrics"].items()},
                  "cost": costs.get(run["id"]), "objective": values[n],
                  "score": None if pd.isna(frame["score"].iloc[n])
                  else float(frame["score"].iloc[n])}
                 for n, run in enumerate(runs)],
        "params_differ": differing,
        "groups": [{"params": g["signature"] or "(no params)", "n": int(g["n"]),
                    "runs": list(g["names"]), "objective_mean": g["objective_mean"],
                    "objective_std": g["objective_std"]} for _, g in groups.iterrows()],
        "t_test": test,
    }


def _value(value: Any) -> str:
    if value is None:
        return "—"
    return number(value) if isinstance(value, float | int | Decimal) else str(value)


def _score(run: dict[str, Any], per: str) -> str:
    """A run's score; with several currencies about, the cell names its own."""
    if run["score"] is None or per != "per money":
        return _value(run["score"])
    return f"{_value(run['score'])} per {currency_label(run['cost']['currency'])}"


def print_comparison(result: dict[str, Any]) -> None:
    """The comparison as tables for people."""
    runs, objective = result["runs"], result["objective"]
    heads = [f"{r['name']} ({r['id'][:8]})" for r in runs]
    currencies = {r["cost"]["currency"] for r in runs if r["cost"]}
    per = f"per {currency_label(currencies.pop())}" if len(currencies) == 1 else "per money"
    click.echo(f"Objective: {objective} ({result['mode']})" if objective else
               "Objective: none declared (give --objective NAME to score the runs)")
    rows = [["project", *[r["project"] for r in runs]],
            ["status", *[r["status"] for r in runs]],
            ["cost", *[format_cost(r["cost"]) for r in runs]]]
    if objective:
        rows += [[objective, *[_value(r["objective"]) for r in runs]],
                 [f"{objective} {per}", *[_score(r, per) for r in runs]]]
    print_table(rows, ["", *heads])
    click.echo("")
    if result["params_differ"]:
        print_table([[k, *[r["params"].get(k, "—") for r in runs]]
                     for k in result["params_differ"]], ["PARAM (differs)", *heads])
    else:
        click.echo("Params: the runs' params are the same.")
    click.echo("")
    keys = sorted({k for r in runs for k in r["metrics"]})
    if keys:
        print_table([[k, *[_value(r["metrics"].get(k)) for r in runs]] for k in keys],
                    ["METRIC (last)", *heads])
    else:
        click.echo("Metrics: none logged.")
    click.echo("")
    test = result["t_test"]
    if test is None:
        click.echo("Welch t-test: needs two groups of runs with different params (seeds are "
                   "ignored) and an objective.")
        return
    click.echo(f"Welch t-test of {objective}, A = {test['a']} vs B = {test['b']}:")
    click.echo(f"  A: n={test['n_a']} mean {number(test['mean_a'])} ± {number(test['std_a'])}"
               f"   B: n={test['n_b']} mean {number(test['mean_b'])} ± "
               f"{number(test['std_b'])}   t = {number(test['t'])}, df = {number(test['df'])},"
               f" {p_value(test['p'])}")
    click.echo(f"  {test['reading']}")


@click.command()
@click.argument("run_refs", nargs=-1, required=True, metavar="RUN...")
@click.option("--objective", metavar="NAME[:max|min]",
              help="Metric to score and test (default: the one the runs declared).")
@click.option("--basis", type=click.Choice(["billed", "effective", "list"]), default="billed",
              show_default=True, help="Cost basis of billed runs.")
@store_option
@output_options
def compare(run_refs, objective, basis, store, as_json) -> None:
    """Compare runs (ids, unique id prefixes or names): the params that differ, final metrics,
    cost, metric per unit of money, and a Welch t-test of the objective between groups of
    repeated runs (same params, seeds ignored), as the dashboard's Compare page.

    \b
    Examples:
      xprof compare svc-s0 svc-s1 rf-s0 rf-s1
      xprof compare 3f2a 9c1b --objective val_loss:min --json
    """
    if len(run_refs) < 2:
        raise BadInput("compare needs at least two runs (ids, id prefixes or names)")
    db = open_store(store)
    try:
        runs = list({run["id"]: run for run in map(db.find_run, run_refs)}.values())
    except StoreError as exc:
        raise BadInput(str(exc)) from exc
    if len(runs) < 2:
        raise BadInput(f"{', '.join(run_refs)} name one run; compare needs two")
    name, mode = parse_objective(objective, runs)
    result = comparison(db, runs, name, mode, basis)
    if as_json:
        click.echo(json.dumps(_no_nan(to_jsonable(result)), indent=2))
        return
    print_comparison(result)


def _no_nan(value: Any) -> Any:
    """NaN (the std of a single run, a test that cannot run) as JSON null."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nan(v) for v in value]
    return value
