"""Altair charts the pages show: frontier, run timeline, metric curves, spend. No Streamlit.

Each function takes ready frames (from queries/ranking) and returns a chart; money arrives
here as floats only for the axis.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

from xprof.efficiency import cost_as_float

GIB = 1024**3
# d3 formats: significant digits in decimal notation, never an exponent ("1.543e+04")
NUMBER = ",.4~r"
MONEY = ",.3~r"


def frontier_chart(runs: pd.DataFrame, objective: str, mode: str, money_label: str) -> alt.Chart:
    """Objective against cost for priced runs; frontier runs highlighted and joined by a step
    line (no run is both cheaper and better than a highlighted one)."""
    data = pd.DataFrame({
        "name": runs["name"].astype(str), "run_id": runs["run_id"],
        "objective": runs["objective"], "cost": cost_as_float(runs["cost"]),
        "frontier": runs["frontier"].map({True: "Pareto frontier", False: "dominated"}),
    }).dropna(subset=["objective", "cost"])
    positive = data["cost"][data["cost"] > 0]
    wide = len(positive) == len(data) and len(data) > 1 and positive.max() > 20 * positive.min()
    x = alt.X("cost:Q", title=f"cost ({money_label}{', log scale' if wide else ''})",
              scale=alt.Scale(type="log") if wide else alt.Scale(zero=False),
              axis=alt.Axis(format=MONEY))
    y = alt.Y("objective:Q", title=f"{objective} ({'higher' if mode == 'max' else 'lower'} "
              "is better)", scale=alt.Scale(zero=False))
    colour = alt.Color("frontier:N", title=None, scale=alt.Scale(
        domain=["Pareto frontier", "dominated"], range=["#d62728", "#9aa5b1"]))
    points = alt.Chart(data).mark_circle(size=70, opacity=0.8).encode(
        x=x, y=y, color=colour,
        tooltip=[alt.Tooltip("name:N"), alt.Tooltip("objective:Q", format=NUMBER),
                 alt.Tooltip("cost:Q", format=MONEY), alt.Tooltip("run_id:N")])
    line = (alt.Chart(data[data["frontier"] == "Pareto frontier"].sort_values("cost"))
            .mark_line(interpolate="step-after", color="#d62728", strokeDash=[4, 3])
            .encode(x=x, y=y))
    return (line + points).properties(height=340)


def _time(frame: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(frame["ts"], unit="s", utc=True)


def run_timeline(samples: pd.DataFrame, gpus: pd.DataFrame,
                 metrics: pd.DataFrame) -> alt.VConcatChart | None:
    """CPU cores, RSS, each GPU's utilisation and memory, and the logged metrics, stacked on one
    shared time axis (UTC)."""
    rows: list[alt.Chart] = []
    # whole seconds, one tick a second at least: a 2 s run reads 12:00:01 12:00:02, not .950
    x = alt.X("time:T", title="time (UTC)",
              axis=alt.Axis(format="%H:%M:%S", tickMinStep=1000, labelOverlap=True))
    height = 150
    if not samples.empty:
        cpu = samples.assign(time=_time(samples))
        rows.append(alt.Chart(cpu).mark_line().encode(
            x=x, y=alt.Y("cpu_cores:Q", title="CPU cores"),
            tooltip=["time:T", alt.Tooltip("cpu_cores:Q", format=".2f")]).properties(
            height=height))
        rss = cpu.assign(rss_gib=cpu["rss_bytes"] / GIB)
        rows.append(alt.Chart(rss).mark_line(color="#8c564b").encode(
            x=x, y=alt.Y("rss_gib:Q", title="RSS (GiB)"),
            tooltip=["time:T", alt.Tooltip("rss_gib:Q", format=".2f")]).properties(
            height=height))
    if not gpus.empty:
        gpu = gpus.assign(time=_time(gpus), gpu=gpus["gpu_index"].map("GPU {}".format),
                          mem_gib=gpus["mem_used_bytes"] / GIB)
        rows.append(alt.Chart(gpu).mark_line().encode(
            x=x, y=alt.Y("util_gpu_pct:Q", title="GPU util (%)",
                         scale=alt.Scale(domain=[0, 100])), color=alt.Color("gpu:N", title=None),
            tooltip=["time:T", "gpu:N", alt.Tooltip("util_gpu_pct:Q", format=".0f")])
            .properties(height=height))
        rows.append(alt.Chart(gpu).mark_line().encode(
            x=x, y=alt.Y("mem_gib:Q", title="GPU memory (GiB)"),
            color=alt.Color("gpu:N", title=None),
            tooltip=["time:T", "gpu:N", alt.Tooltip("mem_gib:Q", format=".2f")])
            .properties(height=height))
    if not metrics.empty:
        logged = metrics.assign(time=_time(metrics))
        rows.append(alt.Chart(logged).mark_line(point=True).encode(
            x=x, y=alt.Y("value:Q", title="logged metrics", scale=alt.Scale(zero=False),
                         axis=alt.Axis(format=NUMBER)),
            color=alt.Color("key:N", title=None),
            tooltip=["time:T", "key:N", "step:Q", alt.Tooltip("value:Q", format=NUMBER)])
            .properties(height=height))
    if not rows:
        return None
    return alt.vconcat(*rows).resolve_scale(x="shared", color="independent")


def metric_curves(metrics: pd.DataFrame, names: dict[str, str], key: str) -> alt.Chart:
    """One metric's curve per run, over its step (or, without steps, the log order)."""
    data = metrics[metrics["key"] == key].copy()
    data["run"] = data["run_id"].map(names).fillna(data["run_id"]) + " · " + \
        data["run_id"].str[:8]
    data["x"] = data["step"].where(data["step"].notna(), data.groupby("run_id").cumcount())
    return alt.Chart(data).mark_line(point=True).encode(
        x=alt.X("x:Q", title="step", axis=alt.Axis(format=",d", tickMinStep=1)),
        y=alt.Y("value:Q", title=key, scale=alt.Scale(zero=False), axis=alt.Axis(format=NUMBER)),
        color=alt.Color("run:N", title=None),
        tooltip=["run:N", "x:Q", alt.Tooltip("value:Q", format=NUMBER)]).properties(height=320)


def spend_by_day(spend: pd.DataFrame, currency: str) -> alt.Chart:
    """Daily run cost in one currency, stacked by source (billed, estimate)."""
    data = spend[spend["currency"] == currency].copy()
    data["amount_f"] = cost_as_float(data["amount"])
    data["day"] = pd.to_datetime(data["day"])
    return alt.Chart(data).mark_bar().encode(
        x=alt.X("yearmonthdate(day):O", title="day (UTC)"),
        y=alt.Y("sum(amount_f):Q", title=f"cost ({currency})", axis=alt.Axis(format=MONEY)),
        color=alt.Color("source:N", title=None, scale=alt.Scale(
            domain=["billed", "estimate"], range=["#1f77b4", "#aec7e8"])),
        tooltip=["yearmonthdate(day):O", "source:N",
                 alt.Tooltip("sum(amount_f):Q", format=MONEY)]).properties(height=260)
