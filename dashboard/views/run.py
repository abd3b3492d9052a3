"""Run: what one run used over time, what it logged, what it cost and what to change."""

from __future__ import annotations

import shlex

import pandas as pd
import streamlit as st

from xprof.dashboard import charts, queries, ui
from xprof.dashboard.advice_table import candidates_table, prediction_caption
from xprof.dashboard.formatting import duration, money, number, summary_row
from xprof.process_facts import failed_rows, failed_text
from xprof.store import BASES

ui.store()
ui.stop_if_empty()

choices = ui.query(queries.run_choices)
names = dict(zip(choices["run_id"], choices["name"].astype(str), strict=True))
ids = choices["run_id"].tolist()
wanted = st.query_params.get("run")
if wanted and wanted not in names and (extra := ui.query(queries.run, run_id=wanted)):
    ids.insert(0, wanted)
    names[wanted] = str(extra["name"])
run_id = ui.run_picker("Run", ids, names, where=st.sidebar)
basis = st.sidebar.selectbox("Cost basis", BASES, key="basis", bind="query-params")
run = ui.query(queries.run, run_id=run_id)
if run is None:
    st.error("No such run.")
    st.stop()

st.title(f"Run {ui.md(run['name'])}")
where = " · ".join(ui.md(v) for v in (run["project"], run["instance_type"], run["cloud_provider"],
                                      run["cloud_region"], run["lifecycle"]) if v)
st.caption(f"{run_id} · {where} · started {run['started_at']:%Y-%m-%d %H:%M:%S} UTC")

cost = ui.query(queries.run_cost, run_id=run_id, basis=basis)
final = ui.query(queries.final_metrics, run_ids=(run_id,))
objective = run["objective_name"]
objective_value = final.loc[final["key"] == objective, "value"]

c1, c2, c3, c4 = st.columns(4)
c1.metric("Status", run["status"] + (f" (exit {run['exit_code']})"
                                     if run["exit_code"] not in (None, 0) else ""))
c2.metric("Duration", duration(run["duration_s"]))
if cost["cost_state"] in ("billed", "estimate"):
    bound = "≤ " if cost["upper_bound"] else ""
    c3.metric(f"Cost ({cost['cost_state']})", bound + money(cost["cost"], cost["currency"]))
else:
    c3.metric("Cost", cost["cost_state"])
    if cost["cost_state"] == "not priced":
        c3.caption("Not yet priced: `xprof collect` estimates it; billing replaces that later.")
    elif cost["cost_reason"]:
        c3.caption(ui.md(cost["cost_reason"]))
if objective:
    value = objective_value.iloc[0] if len(objective_value) else None
    c4.metric(f"{ui.md(objective)} ({run['objective_mode'] or 'max'})", number(value))
else:
    c4.metric("Objective", "—", help="Give one with `xprof run --objective NAME:max|min`.")

st.subheader("Utilisation and metrics over time")
samples = ui.query(queries.samples, run_id=run_id)
gpus = ui.query(queries.gpu_samples, run_id=run_id)
logged = ui.query(queries.metric_series, run_ids=(run_id,))
timeline = charts.run_timeline(samples, gpus, logged)
if timeline is None:
    st.info("No samples or metrics recorded for this run.")
else:
    st.altair_chart(timeline, width="stretch")
summary = run["summary"] or {}
if summary:
    st.dataframe(pd.DataFrame([summary_row(summary)]), hide_index=True, placeholder="—",
                 key="summary")
    failed = failed_text(summary, shown=0)
    if failed:
        st.warning(ui.md(failed.split(":")[0]) + " (non-zero exit or a signal).")
        st.dataframe(pd.DataFrame(failed_rows(summary)), hide_index=True, key="failed")

params_tab, context_tab, cost_tab, advice_tab, metrics_tab = st.tabs(
    ["Params & tags", "Context", "Cost", "Recommendations", "Final metrics"])

with params_tab:
    params = ui.query(queries.run_params, run_ids=(run_id,))
    tags = ui.query(queries.run_tags, run_ids=(run_id,))
    if params.empty:
        st.caption("No params recorded.")
    else:
        st.dataframe(params[["key", "value", "source"]], hide_index=True, placeholder="—",
                     key="params")
    if not tags.empty:
        st.dataframe(tags[["key", "value"]], hide_index=True, placeholder="—", key="tags")

with context_tab:
    st.code(shlex.join(str(a) for a in run["command"] or []), language="bash")
    st.dataframe(pd.DataFrame([
        {"field": k, "value": "" if run[k] is None else str(run[k])}
        for k in ("host", "user", "cwd", "os", "python", "cloud_provider", "cloud_account",
                  "cloud_region", "cloud_zone", "instance_id", "instance_type", "lifecycle",
                  "exit_code", "signal", "ended_at", "agent_version")]),
        hide_index=True, placeholder="—", key="context")
    for field in ("git", "hardware", "cloud"):
        if run[field]:
            st.caption(field)
            st.json(run[field], expanded=False)
    environment = dict(run["environment"] or {})
    packages = environment.pop("packages", None)
    if environment:
        st.caption("environment")
        st.json(environment, expanded=False)
    if packages:
        st.caption(f"{len(packages)} Python packages recorded")
    if run["output_tail"]:
        with st.expander("Output (tail)"):
            st.code(run["output_tail"], language=None)

with cost_tab:
    rows = ui.query(queries.cost_rows, run_id=run_id)
    if rows.empty:
        st.info("Not yet priced. `xprof collect` estimates the cost from the price catalog; "
                "billed cost replaces the estimate when billing data arrives.")
    else:
        detail = rows["detail"].map(lambda d: d if isinstance(d, dict) else {})
        st.dataframe(pd.DataFrame({
            "source": rows["source"], "basis": rows["basis"],
            "from": rows["period_start"], "to": rows["period_end"],
            "amount": [money(a, c) for a, c in zip(rows["amount"], rows["currency"],
                                                    strict=True)],
            "upper bound": rows["upper_bound"],
            "share": detail.map(lambda d: d.get("share")),
            "method": detail.map(lambda d: d.get("method") or d.get("allocation")),
            "note": detail.map(lambda d: d.get("reason") or d.get("note") or ""),
        }), hide_index=True, placeholder="—", key="cost_rows")
        st.caption(f"Counted: {cost['cost_state']} ({basis} basis). A billed cost replaces the "
                   "estimate; both stay listed.")
    items = ui.query(queries.billing_items_for_run, run=run)
    if not items.empty:
        st.caption("Billing line items on this instance during the run")
        shown = items.copy()
        for column in ("billed_cost", "effective_cost", "list_cost"):
            shown[column] = [money(a, c) for a, c in zip(shown[column], shown["currency"],
                                                         strict=True)]
        st.dataframe(shown, hide_index=True, placeholder="—", key="billing_items")

with advice_tab:
    advice = ui.query(queries.recommendations, status=None, run_id=run_id)
    if advice.empty:
        st.caption("No recommendations for this run.")
    for _, rec in advice.iterrows():
        with st.container(border=True):
            st.markdown(f"**{ui.md(rec['title'])}** · {rec['rule']} · {rec['severity']} · "
                        f"{rec['status']}")
            if rec["suggested_instance"]:
                st.caption(f"{ui.md(rec['current_instance'] or 'this machine')} → "
                           f"{ui.md(rec['suggested_instance'])}")
            st.caption(f"saving {money(rec['saving_per_run'], rec['currency'])} per run, "
                       f"{money(rec['saving_per_month'], rec['currency'])} per month")
            caption = prediction_caption(rec["evidence"], run.get("duration_s"), rec["currency"])
            if caption:
                st.caption(ui.md(caption))
                st.dataframe(candidates_table(rec["evidence"], rec["currency"]),
                             hide_index=True, key=f"candidates_{rec['id']}")
            st.json(rec["evidence"], expanded=False)

with metrics_tab:
    if final.empty:
        st.caption("No metrics logged.")
    else:
        st.dataframe(final[["key", "value", "step"]], hide_index=True, placeholder="—",
                     key="final_metrics")
