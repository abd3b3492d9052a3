"""Leaderboard: a project's runs ranked by what they bought per unit of money."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from xprof import repeats
from xprof.dashboard import board, charts, queries, ui
from xprof.dashboard.formatting import duration, money, number, per_money_label
from xprof.dashboard.queries import COST_STATES
from xprof.efficiency import cost_as_float
from xprof.store import BASES

ui.store()
ui.stop_if_empty()
project = ui.project_picker()
runs_in_project = ui.query(queries.projects).set_index("project").loc[project, "runs"]

st.title("Leaderboard")
st.caption(f"Project **{ui.md(project)}** · {runs_in_project} runs")

left, mid, right = st.columns(3)
objective, mode = ui.objective_picker(project, left, mid)
basis = right.selectbox("Cost basis", BASES, key="basis", bind="query-params",
                        help="billed: what the bill charged; effective: amortised "
                             "commitments; list: on-demand price. Runs without billing yet "
                             "show their estimate.")

with st.sidebar:
    st.subheader("Filters")
    options = ui.query(board.filter_options, project=project)
    statuses = st.multiselect("Status", options["statuses"], key="status", bind="query-params")
    tags = st.multiselect("Tags", ui.query(board.tag_pairs, project=project), key="tag",
                          bind="query-params")
    instances = st.multiselect("Instance type", options["instance_types"], key="instance",
                               bind="query-params")
    cost_states = st.multiselect("Cost source", list(COST_STATES), key="cost", bind="query-params")
    first = st.date_input("Started from", value=None, key="from", bind="query-params")
    last = st.date_input("Started until", value=None, key="until", bind="query-params")

start = dt.datetime.combine(first, dt.time(), dt.UTC) if first else None
end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), dt.UTC) if last else None
filters = board.Filters(statuses=tuple(statuses), instance_types=tuple(instances),
                        cost_states=tuple(cost_states), tags=tuple(tags), start=start, end=end)

counts = ui.query(board.currencies, project=project, basis=basis, filters=filters)
currencies = sorted(counts)
currency = min(currencies, key=lambda c: (-counts[c], c)) if counts else "USD"
if len(currencies) > 1:
    currency = st.selectbox("Currency", currencies, index=currencies.index(currency),
                            key="currency", bind="query-params",
                            help="Costs in different currencies are never added or compared; "
                                 "rank within one.")
per = per_money_label(currency)

b_col, t_col, s_col = st.columns(3)
baseline_text = b_col.text_input(
    "Baseline", key="baseline", bind="query-params",
    help="Score = (objective − baseline) / cost when higher is better (baseline 0 by default); "
         "(baseline − objective) / cost when lower is better (default: the project's worst "
         "value, which then scores 0).")
target_text = t_col.text_input("Target", key="target", bind="query-params",
                               help="Find the cheapest run whose objective reaches this.")
sort = s_col.selectbox("Sort by", list(board.SORTS), key="sort", bind="query-params",
                       help="rank = by the score; click a column header to sort by it too.")


def _number(text: str, what: str) -> float | None:
    if not text.strip():
        return None
    try:
        return float(text)
    except ValueError:
        st.warning(f"{what} {ui.md(text)} is not a number; ignored.")
        return None


baseline = _number(baseline_text, "Baseline")
if baseline is None:
    baseline = ui.query(board.default_baseline, project=project, objective=objective,
                        mode=mode)
target = _number(target_text, "Target")

grouped = st.session_state.get("group") or st.query_params.get("group") == "true"
shown = ui.query(board.page, project=project, objective=objective, mode=mode, basis=basis,
                 filters=filters, currency=currency if len(currencies) > 1 else None,
                 baseline=baseline, target=target, sort=sort,
                 limit=None if grouped else board.PAGE_ROWS)
ranked, unpriced = shown.rows, shown.shown - shown.priced

c1, c2, c3, c4 = st.columns(4)
c1.metric("Runs shown", shown.shown)
c2.metric("Priced", f"{shown.priced}",
          help="Runs with a known cost: billed where the bill arrived, else estimated.")
if shown.best is not None:
    best = shown.best
    c3.metric(f"Best {ui.md(objective)} {per}", number(best["score"]))
    c3.caption(f"{ui.md(best['name'])} · {objective} {number(best['objective'])} · "
               f"{money(best['cost'], best['currency'])}")
else:
    c3.metric(f"Best {per}", "—")
c4.metric("On the frontier", len(shown.frontier))
if shown.shown > len(ranked):
    st.caption(f"The table lists the first {len(ranked)} of {shown.shown} runs in this order; "
               "filter to see others. Counts, the frontier and the best run cover them all.")

if not objective:
    st.info("No metric logged in this project yet: log one with `xprof.log(val_acc=...)` and "
            "name it with `xprof run --objective val_acc:max`.")
if unpriced:
    st.caption(f"{unpriced} run(s) without a usable cost ({shown.not_priced} not yet priced: run "
               "`xprof collect`); they are listed last and never on the frontier.")
if mode == "min" and baseline is not None:
    st.caption(f"Lower is better: score = ({number(baseline)} − {ui.md(objective)}) / cost.")

if target is not None:
    reached = shown.reached
    if reached.empty:
        st.info(f"No priced run reaches {ui.md(objective)} "
                f"{'≥' if mode == 'max' else '≤'} {number(target)} yet.")
    for _, hit in reached.iterrows():
        st.success(f"Cheapest run reaching {number(target)}: **{ui.md(hit['name'])}** — "
                   f"{objective} {number(hit['objective'])} for "
                   f"{money(hit['cost'], hit['currency'])} ({hit['cost_source']})")

table = pd.DataFrame({
    "rank": ranked["rank"], "name": ranked["name"].astype(str),
    "objective": ranked["objective"], "score": ranked["score"],
    "cost": [money(c, cur) for c, cur in zip(ranked["cost"], ranked["currency"], strict=True)],
    "currency": ranked["currency"],
    "cost_state": ranked["cost_state"], "frontier": ranked["frontier"],
    "duration": ranked["duration_s"].map(duration),
    "instance_type": ranked["instance_type"], "gpu_util_p50": ranked["gpu_util_p50"],
    "cpu_cores_p50": ranked["cpu_cores_p50"], "status": ranked["status"],
    "started_at": ranked["started_at"], "run_id": ranked["run_id"],
    "open": "run?run=" + ranked["run_id"],
})
st.dataframe(table, hide_index=True, placeholder="—", key="leaderboard", column_config={
    "rank": st.column_config.NumberColumn("rank", help=f"by {objective} {per}, 1 = best"),
    "objective": st.column_config.NumberColumn(objective or "objective", format="%.4f"),
    "score": st.column_config.NumberColumn(f"{objective} {per}", format="localized"),
    "cost": st.column_config.TextColumn(
        "cost", help="billed where known, else estimated (`Sort by: cost` orders by amount)"),
    "cost_state": st.column_config.TextColumn("cost source"),
    "frontier": st.column_config.CheckboxColumn("frontier"),
    "duration": st.column_config.TextColumn(
        "duration", help="`Sort by: duration` orders by length"),
    "gpu_util_p50": st.column_config.NumberColumn("GPU util p50 %", format="%.0f"),
    "cpu_cores_p50": st.column_config.NumberColumn("CPU cores p50", format="%.2f"),
    "started_at": st.column_config.DatetimeColumn("started (UTC)", format="YYYY-MM-DD HH:mm"),
    "open": st.column_config.LinkColumn("run page", display_text="open"),
})

st.subheader("Objective vs cost")
frontier_runs = shown.frontier.copy()
if frontier_runs.empty:
    st.info("The frontier needs runs with both a cost and the objective.")
else:
    plotted = pd.concat([ranked, frontier_runs[~frontier_runs["run_id"].isin(ranked["run_id"])]
                         .assign(frontier=True)], ignore_index=True)
    st.altair_chart(charts.frontier_chart(plotted, objective, mode, currency),
                    width="stretch")
    frontier_runs["_c"] = cost_as_float(frontier_runs["cost"])
    frontier_runs = frontier_runs.sort_values("_c")
    st.dataframe(pd.DataFrame({
        "name": frontier_runs["name"].astype(str),
        "cost": [money(c, cur) for c, cur in zip(frontier_runs["cost"],
                                                  frontier_runs["currency"], strict=True)],
        "currency": frontier_runs["currency"],
        "objective": frontier_runs["objective"], "score": frontier_runs["score"],
        "run_id": frontier_runs["run_id"],
    }), hide_index=True, placeholder="—", key="frontier", column_config={  # as the table above
        "objective": st.column_config.NumberColumn(objective or "objective", format="%.4f"),
        "score": st.column_config.NumberColumn(f"{objective} {per}", format="localized"),
    })

st.subheader("Repeated runs")
if st.toggle("Group runs with the same params (seeds ignored)", key="group",
             bind="query-params"):
    params = ui.query(queries.run_params, project=project)
    signatures = repeats.param_signature(params, ranked["run_id"])
    groups = repeats.group_repeats(ranked, signatures)

    def _pm(mean: object, std: object, fmt: str) -> str:
        if mean is None or pd.isna(mean):
            return "—"
        def show(value: object) -> str:
            return number(float(value)) if fmt == "sig" else format(float(value), fmt)
        text = show(mean)
        return text if std is None or pd.isna(std) else f"{text} ± {show(std)}"

    st.dataframe(pd.DataFrame({
        "params": groups["signature"].replace("", "(no params)"),
        "n": groups["n"],
        "objective": [_pm(m, s, ".4f") for m, s in zip(groups["objective_mean"],
                                                        groups["objective_std"], strict=True)],
        "cost": [money(m, c) if s is None or pd.isna(s) else f"{money(m, c)} ± {money(s, c)}"
                 for m, s, c in zip(groups["cost_mean"], groups["cost_std"], groups["currency"],
                                    strict=True)],
        "currency": groups["currency"],
        "score": [_pm(m, s, "sig") for m, s in zip(groups["score_mean"], groups["score_std"],
                                                    strict=True)],
        "objective_mean": groups["objective_mean"], "objective_std": groups["objective_std"],
        "score_mean": groups["score_mean"],
        "runs": [", ".join(map(str, names)) for names in groups["names"]],
    }), hide_index=True, placeholder="—", key="groups")
