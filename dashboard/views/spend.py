"""Spend: run cost by day, project, instance type, user and provider; idle cost on its own;
the whole bill (billed total = runs + idle + other spend) by category, provider, service,
region and account."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from xprof.dashboard import charts, queries, ui
from xprof.dashboard.formatting import money
from xprof.dashboard.queries import total_by_currency
from xprof.dashboard.tables import money_columns, spend_table
from xprof.store import BASES

ui.store()
ui.stop_if_empty()
st.title("Spend")

left, mid, right = st.columns(3)
first = left.date_input("From", value=None, key="from", bind="query-params")
last = mid.date_input("Until (inclusive)", value=None, key="until", bind="query-params")
basis = right.selectbox("Cost basis", BASES, key="basis", bind="query-params")
start = dt.datetime.combine(first, dt.time(), dt.UTC) if first else None
end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), dt.UTC) if last else None
period = {"basis": basis, "start": start, "end": end}

by_day = ui.query(queries.spend, by="day", **period)
idle = ui.query(queries.idle_spend, **period)
unpriced = ui.query(queries.unpriced_runs, **period)
bills = ui.query(queries.whole_bill, **period)

run_totals = total_by_currency(by_day)
idle_totals = total_by_currency(idle)
currencies = sorted(set(run_totals) | set(idle_totals))
if not currencies and not bills:
    st.info("Nothing priced yet. `xprof collect` estimates each run's cost from the price "
            "catalog and replaces estimates with billed cost when billing data arrives.")
billed = total_by_currency(by_day[by_day["source"] == "billed"]) if len(by_day) else {}
for currency in currencies:
    c1, c2, c3 = st.columns(3)
    c1.metric(f"Run cost ({currency})", money(run_totals.get(currency), currency))
    c2.metric(f"of which billed ({currency})", money(billed.get(currency), currency),
              help="The rest is estimated until billing data arrives.")
    c3.metric(f"Idle cost ({currency})", money(idle_totals.get(currency), currency),
              help="Paid for while no run used the machine; never spread over runs.")
if unpriced:
    st.caption(f"{unpriced} run(s) not yet priced are not in these totals.")

if bills:
    st.subheader("The whole bill")
    st.caption("Every billed amount in exactly one bucket: runs, idle machine time, other spend "
               "(storage, network, managed services, support, tax, credits, adjustments).")
for bill in bills:
    c = bill["currency"]
    b1, b2, b3, b4 = st.columns(4)
    b1.metric(f"Billed total ({c})", money(bill["total"], c))
    b2.metric(f"Bill: runs ({c})", money(bill["runs"], c))
    b3.metric(f"Bill: idle ({c})", money(bill["idle"], c))
    b4.metric(f"Bill: other spend ({c})", money(bill["other"], c))

for currency in currencies:
    if currency in run_totals:
        st.altair_chart(charts.spend_by_day(by_day, currency), width="stretch")

tabs = st.tabs(["By day", "By project", "By instance type", "By user", "By provider", "Idle"])
for tab, by in zip(tabs[:5], ("day", "project", "instance_type", "user", "provider"),
                   strict=True):
    with tab:
        frame = by_day if by == "day" else ui.query(queries.spend, by=by, **period)
        st.dataframe(money_columns(spend_table(frame, by), ["billed", "estimate", "total"]),
                     hide_index=True, placeholder="—", key=f"spend_{by}")
with tabs[5]:
    if idle.empty:
        st.caption("No idle cost recorded (it comes from billing data: `xprof collect`).")
    else:
        st.dataframe(money_columns(idle, ["amount"]), hide_index=True, placeholder="—", key="idle")

if bills:
    parts = st.tabs(["Other spend by category", "Other spend by project",
                     "Idle by project", "Bill by provider", "Bill by service",
                     "Bill by region", "Bill by account"])
    for tab, (name, key) in zip(parts, (("category", "other_by_category"),
                                        ("project", "other_by_project"),
                                        ("project", "idle_by_project"),
                                        ("provider", "by_provider"), ("service", "by_service"),
                                        ("region", "by_region"), ("account", "by_account")),
                                strict=True):
        rows = [{name: r["key"], "currency": b["currency"], "amount": r["amount"]}
                for b in bills for r in b[key]]
        with tab:
            st.dataframe(money_columns(pd.DataFrame(rows, columns=[name, "currency", "amount"]),
                                       ["amount"]),
                         hide_index=True, placeholder="—", key=f"bill_{key}")
