"""Recommendations: open advice, the saving it promises, and dismiss / mark done."""

from __future__ import annotations

import streamlit as st

from xprof.dashboard import queries, ui
from xprof.dashboard.advice_table import candidates_table, prediction_caption
from xprof.dashboard.formatting import money
from xprof.dashboard.tables import money_columns

ui.store()
ui.stop_if_empty()
st.title("Recommendations")


def _set_status(rec_id: int, status: str) -> None:
    queries.set_recommendation_status(ui.store(), rec_id, status)
    ui.forget_cached_queries()


status = st.segmented_control("Show", ["open", "dismissed", "done"], default="open",
                              key="status", bind="query-params") or "open"
totals = ui.query(queries.saving_totals, status=status)
advice = ui.query(queries.recommendations, status=status)

if advice.empty:
    if status == "open":
        st.info("No open recommendations. `xprof collect` (and every `xprof run` that ends) "
                "checks runs against the rightsizing rules.")
    else:
        st.caption(f"No {status} recommendations.")
    st.stop()

if status == "open":
    columns = st.columns(max(len(totals), 1))
    for column, (_, row) in zip(columns, totals.iterrows(), strict=False):
        column.metric(f"Potential saving per month ({row['currency'] or 'no currency'})",
                      money(row["saving_per_month"], row["currency"]),
                      help=f"{row['n']} open recommendations; "
                           f"{money(row['saving_per_run'], row['currency'])} per run summed")

projects = sorted(p for p in advice["project"].dropna().unique())
rules = sorted(advice["rule"].unique())
left, right = st.columns(2)
project = left.selectbox("Project", ["(all)", *projects], key="project", bind="query-params")
picked_rules = right.multiselect("Rule", rules, key="rule", bind="query-params")
shown = advice
if project != "(all)":
    shown = shown[shown["project"] == project]
if picked_rules:
    shown = shown[shown["rule"].isin(picked_rules)]

by_rule, by_project = st.columns(2)
with by_rule:
    st.caption("By rule")
    st.dataframe(money_columns(ui.query(queries.saving_totals, by="rule", status=status),
                               ["saving_per_run", "saving_per_month"]),
                 hide_index=True, placeholder="—", key="by_rule")
with by_project:
    st.caption("By project")
    st.dataframe(money_columns(ui.query(queries.saving_totals, by="project", status=status),
                               ["saving_per_run", "saving_per_month"]),
                 hide_index=True, placeholder="—", key="by_project")

st.subheader(f"{len(shown)} {status}")
for _, rec in shown.iterrows():
    rec_id = int(rec["id"])
    with st.container(border=True):
        text, actions = st.columns([5, 1])
        text.markdown(f"**{ui.md(rec['title'])}**")
        run_part = f"run {ui.md(rec['run_name'])} · " if rec["run_name"] else ""
        text.caption(f"{run_part}{ui.md(rec['project'] or '')} · {rec['rule']} · "
                     f"{rec['severity']} · saving {money(rec['saving_per_run'], rec['currency'])}"
                     f" per run, {money(rec['saving_per_month'], rec['currency'])} per month")
        if rec["suggested_instance"]:
            text.caption(f"{ui.md(rec['current_instance'] or 'this machine')} → "
                         f"{ui.md(rec['suggested_instance'])}")
        caption = prediction_caption(rec["evidence"], (rec["evidence"] or {}).get("duration_s"),
                                     rec["currency"])
        if caption:
            text.caption(ui.md(caption))
            text.dataframe(candidates_table(rec["evidence"], rec["currency"]), hide_index=True,
                           key=f"candidates_{rec_id}")
        with text.expander("Evidence"):
            st.json(rec["evidence"])
        if status == "open":
            actions.button("Dismiss", key=f"dismiss_{rec_id}", on_click=_set_status,
                           args=(rec_id, "dismissed"))
            actions.button("Mark done", key=f"done_{rec_id}", on_click=_set_status,
                           args=(rec_id, "done"))
        else:
            actions.button("Reopen", key=f"reopen_{rec_id}", on_click=_set_status,
                           args=(rec_id, "open"))
