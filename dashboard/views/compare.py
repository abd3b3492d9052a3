"""Compare: runs side by side (params diff, curves, cost and efficiency), and two groups of
repeated runs judged by a Welch t-test."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from xprof import repeats
from xprof.dashboard import charts, queries, ranking, ui
from xprof.dashboard.formatting import duration, money, number, p_value, per_money_label
from xprof.efficiency import default_baseline
from xprof.store import BASES

ui.store()
ui.stop_if_empty()
linked_ids = tuple(dict.fromkeys(st.query_params.get_all("runs")))
linked = ui.query(queries.runs_by_id, run_ids=linked_ids)
project = ui.project_picker(prefer=linked["project"].iloc[0] if len(linked) else None)
st.title("Compare")
if unknown := [r for r in linked_ids if r not in set(linked["run_id"])]:
    st.warning(f"No run with id {ui.md(', '.join(unknown))} in this store: left out.")
left, mid, right = st.columns(3)
objective, mode = ui.objective_picker(project, left, mid)
basis = right.selectbox("Cost basis", BASES, key="basis", bind="query-params")


def ranked_runs(of_project: str) -> pd.DataFrame:
    """A project's runs with score and rank (the project's own baseline)."""
    runs = ui.query(queries.leaderboard, project=of_project, objective=objective, basis=basis)
    return ranking.rank_runs(runs, mode, default_baseline(runs["objective"], mode))


ranked = ranked_runs(project)
# a link's runs of other projects are shown too, each ranked within its own project
others = [ranked_runs(p).pipe(lambda f: f[f["run_id"].isin(linked["run_id"])])
          for p in dict.fromkeys(linked["project"]) if p != project]
choices = pd.concat([ranked, *others], ignore_index=True) if others else ranked
names = dict(zip(choices["run_id"], choices["name"].astype(str), strict=True))
picked = ui.runs_picker("Runs", choices["run_id"].tolist(), names,
                        help="Pick two or more runs of the project (a link may name runs of "
                             "any project).")

if len(picked) >= 2:
    chosen = choices.set_index("run_id").loc[picked].reset_index()
    label = [f"{names[r]} · {r[:8]}" for r in picked]
    if chosen["project"].nunique() > 1:
        st.caption(f"Runs of {chosen['project'].nunique()} projects: the objective is "
                   f"{ui.md(objective)} as each run logged it; scores rank within a project.")
    st.subheader("Cost and efficiency")
    st.dataframe(pd.DataFrame({
        "run": label, "project": chosen["project"], "objective": chosen["objective"],
        "cost": [money(c, cur) for c, cur in zip(chosen["cost"], chosen["currency"],
                                                  strict=True)],
        "currency": chosen["currency"],
        "cost source": chosen["cost_state"], "score": chosen["score"],
        "duration": chosen["duration_s"].map(duration),
        "instance type": chosen["instance_type"], "GPU util p50 %": chosen["gpu_util_p50"],
    }), hide_index=True, placeholder="—", key="compare_runs")

    st.subheader("Params")
    params = ui.query(queries.run_params, run_ids=tuple(picked))
    wide = (params.pivot_table(index="key", columns="run_id", values="value", aggfunc="first")
            .reindex(columns=picked) if not params.empty else pd.DataFrame(columns=picked))
    wide.columns = label
    wide = wide.astype(object).where(wide.notna(), None)
    differs = wide.apply(lambda row: len({str(v) for v in row}) > 1, axis=1)
    table = wide.assign(differs=differs).rename_axis("param").reset_index()
    st.dataframe(table.style.apply(
        lambda row: ["background-color: #fff3cd" if row["differs"] else ""] * len(row), axis=1),
        hide_index=True, placeholder="—", key="params_diff")
    st.caption(f"{int(differs.sum())} of {len(differs)} params differ (highlighted).")

    st.subheader("Metric curves")
    series = ui.query(queries.metric_series, run_ids=tuple(picked))
    keys = sorted(series["key"].unique()) if not series.empty else []
    if keys:
        key = st.selectbox("Metric", keys, index=keys.index(objective) if objective in keys
                           else 0, key="metric", bind="query-params")
        st.altair_chart(charts.metric_curves(series, names, key), width="stretch")
    else:
        st.caption("The chosen runs logged no metrics.")
elif picked:
    st.info("Pick at least one more run.")

st.subheader("Repeated runs: is the difference real?")
params = ui.query(queries.run_params, project=project)
signatures = repeats.param_signature(params, ranked["run_id"])
groups = repeats.group_repeats(ranked, signatures)
groups["label"] = groups["signature"].replace("", "(no params)") + " · n=" + \
    groups["n"].astype(str)
labels = groups["label"].tolist()
if len(labels) < 2:
    st.caption("Needs two groups of runs with different params (seeds are ignored).")
else:
    first, second = repeats.default_pair(groups)
    a_col, b_col = st.columns(2)
    group_a = a_col.selectbox("Group A", labels, index=first, key="group_a",
                              bind="query-params")
    group_b = b_col.selectbox("Group B", labels, index=second, key="group_b",
                              bind="query-params")
    a = groups.loc[groups["label"] == group_a].iloc[0]
    b = groups.loc[groups["label"] == group_b].iloc[0]
    values = ranked.set_index("run_id")["objective"]
    result = repeats.welch_t_test(values.reindex(a["run_ids"]), values.reindex(b["run_ids"]),
                                  mode=mode, label=objective or "objective")
    c1, c2, c3 = st.columns(3)
    c1.metric("A mean ± std", f"{number(result.mean_a)} ± {number(result.std_a)}",
              help=f"n = {result.n_a}")
    c2.metric("B mean ± std", f"{number(result.mean_b)} ± {number(result.std_b)}",
              help=f"n = {result.n_b}")
    c3.metric("Welch t-test", p_value(result.p),
              help=f"t = {number(result.t)}, df = {number(result.df)}")
    st.markdown(ui.md(result.reading))
    per = per_money_label(a["currency"])
    st.dataframe(pd.DataFrame({
        "group": ["A", "B"], "params": [a["signature"], b["signature"]],
        "n": [a["n"], b["n"]], "objective mean": [a["objective_mean"], b["objective_mean"]],
        "objective std": [a["objective_std"], b["objective_std"]],
        f"score {per} mean": [a["score_mean"], b["score_mean"]],
        "runs": [", ".join(map(str, a["names"])), ", ".join(map(str, b["names"]))],
        "t": [result.t, result.t], "p": [result.p, result.p],
    }), hide_index=True, placeholder="—", key="ttest")
