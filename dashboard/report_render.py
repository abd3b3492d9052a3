"""The report as HTML (self-contained, inline SVG charts), Markdown (the same tables) and JSON
(the same numbers, money as exact decimal strings); plus a Slack-compatible summary.

Every table is built once by :func:`tables` and written by both the HTML and the Markdown
writer, so the two carry the same rows. User text is escaped by the writer of each format.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from html import escape
from typing import Any

from xprof.dashboard import report_charts
from xprof.dashboard.formatting import duration, money, number, per_money_label
from xprof.dashboard.report_bill import bill_headline, bill_tables

FORMATS = ("html", "md", "json")
STATUS_WORDS = {"failed": "failed (non-zero exit)", "killed": "killed (by a signal)",
                "crashed": "crashed (agent stopped reporting)"}
MAX_RECS = 25
MAX_LISTED = 50


@dataclass
class Table:
    """One table as text cells; ``note`` is shown under it, ``empty`` when it has no rows."""

    id: str
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    note: str | None = None
    empty: str = "Nothing in this period."
    level: int = 2


def _when(value: dt.datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "—"


def _change(row: dict[str, Any]) -> str:
    if row["previous_total"] is None:
        return "new (nothing before)"
    change, currency = row["change"], row["currency"]
    text = money(change, currency)
    text = text if text.startswith("-") else f"+{text}"
    if row["change_pct"] is not None:
        text += f" ({row['change_pct']:+.1f} %)"
    return text


def _hours(value: float) -> str:
    return f"{value:,.1f}"


def _period_text(report: dict[str, Any]) -> str:
    p = report["period"]
    last = p["end"] - dt.timedelta(days=1)
    why = f", {p['why']}" if p.get("why") else ""  # why the default period is this one
    return f"{p['start']:%Y-%m-%d} to {last:%Y-%m-%d} ({p['tz']}){why}"


def empty_sentence(report: dict[str, Any]) -> str:
    """The plain sentence an empty period gets."""
    scope = f" in project {report['project']}" if report["project"] else ""
    return (f"No runs and no spend recorded{scope} in {report['period']['label']}, "
            f"{_period_text(report)}.")


def terminal_summary(report: dict[str, Any]) -> list[str]:
    """A few lines for the terminal beside the file's path: the period, total per currency,
    runs, the top spender and the largest open saving."""
    if report["empty"]:
        lines = [empty_sentence(report)]
    else:
        lines = [f"{report['period']['label']}: {_period_text(report)}"]
        totals = ", ".join(money(t["total"], t["currency"]) for t in report["totals"]
                           if t["total"])
        lines.append(f"Total {totals or 'nothing priced'} · {report['runs']['started']} "
                     "run(s)")
    if report["top_runs"]:
        top = report["top_runs"][0]
        lines.append(f"Top spender: {top['name']} ({top['project']}) "
                     f"{money(top['amount'], top['currency'])}")
    recs = report["recommendations"]["open"]
    if recs:
        best = max(recs, key=lambda r: r["saving_per_month"] or 0)
        lines.append(f"Top saving: {best['title']} "
                     f"({money(best['saving_per_month'], best['currency'])}/month)")
    return lines


def headline(report: dict[str, Any]) -> list[str]:
    """One line per currency: total, billed / estimated, change; then what is not priced."""
    if report["empty"]:
        return [empty_sentence(report)]
    lines = []
    for t in report["totals"]:
        c = t["currency"]
        lines.append(f"Total {money(t['total'], c)} (billed {money(t['billed'], c)}, "
                     f"estimated {money(t['estimated'], c)}; idle {money(t['idle'], c)}), "
                     f"{_change(t)} vs {report['previous']['label']}")
    if not report["totals"]:
        lines.append("No priced spend in this period.")
    lines += bill_headline(report)
    np = report["not_priced"]
    if np["unpriced"] or np["unknown_runs"]:
        lines.append(f"Not priced yet: {len(np['unpriced'])} run(s) without a cost, "
                     f"{np['unknown_runs']} with an unknown cost (not in the totals).")
    return lines


def _spend_table(report: dict[str, Any], by: str, title: str) -> Table:
    table = Table(f"spend-{by.replace('_', '-')}", title,
                  [by.replace("_", " ").capitalize(), "Currency", "Billed", "Estimated",
                   "Total", "Runs", "Unknown cost rows"], level=3)
    for r in report["spend"][by]:
        c = r["currency"]
        table.rows.append([str(r["key"]), c, money(r["billed"] or Decimal(0), c),
                           money(r["estimate"] or Decimal(0), c),  # as in the total: $0.00
                           money(r["total"], c), str(r["runs"]), str(r["unknown"])])
    for idle in report["idle_line"]:
        c = idle["currency"]
        table.rows.append(["idle (no run on the machine)", c, money(idle["amount"], c), "—",
                           money(idle["amount"], c), "0", "0"])
    return table


def tables(report: dict[str, Any]) -> list[Table]:
    """Every table of the report, in order (HTML and Markdown write these same rows)."""
    out: list[Table] = []
    prev = report["previous"]["label"]
    totals = Table("totals", "Total spend",
                   ["Currency", "Total", "Billed", "Estimated", "Idle (in total)",
                    f"Previous ({prev})", "Change"],
                   note="Billed: from billing data; estimated: catalog price × duration × "
                        "share, until billing arrives (billed replaces estimated).")
    for t in report["totals"]:
        c = t["currency"]
        totals.rows.append([c, money(t["total"], c), money(t["billed"], c),
                            money(t["estimated"], c), money(t["idle"], c),
                            money(t["previous_total"], c), _change(t)])
    out.append(totals)
    out += bill_tables(report, Table)
    for by, title in (("project", "Spend by project"), ("user", "Spend by user"),
                      ("instance_type", "Spend by instance type"),
                      ("provider", "Spend by provider")):
        out.append(_spend_table(report, by, title))
    idle = Table("idle", "Idle cost (paid while no run used the machine)",
                 ["Resource", "Currency", "Amount", "From", "To"],
                 empty="No idle cost recorded (it comes from billing data: `xprof collect`)."
                 if not report["project"] else "Idle cost belongs to no project: see the "
                 "team report (without --project).")
    for r in report["idle"]:
        idle.rows.append([str(r["resource_id"]), r["currency"], money(r["amount"], r["currency"]),
                          _when(r["from"]), _when(r["to"])])
    out.append(idle)
    out.append(_gpu_table(report))
    nf = Table("not-finished", "Spend on runs that did not finish",
               ["Status", "Currency", "Spend", "Runs", "Unknown cost rows"],
               empty="No spend on failed, killed or crashed runs.")
    for r in report["not_finished"]:
        nf.rows.append([STATUS_WORDS[r["status"]], r["currency"],
                        money(r["amount"], r["currency"]), str(r["runs"]), str(r["unknown"])])
    out.append(nf)
    top = Table("top-runs", "Most expensive runs",
                ["#", "Run", "Project", "User", "Status", "Instance type", "Started", "Duration",
                 "Spend", "Source"])
    rank: dict[str, int] = {}
    for r in report["top_runs"]:
        rank[r["currency"]] = rank.get(r["currency"], 0) + 1
        top.rows.append([str(rank[r["currency"]]), r["name"], r["project"], r["user"] or "—",
                         r["status"], r["instance_type"] or "—", _when(r["started_at"]),
                         duration(r["duration_s"]), money(r["amount"], r["currency"]),
                         r["source"]])
    out.append(top)
    for number_, entry in enumerate(report["efficiency"], start=1):
        out += _efficiency_tables(entry, number_)
    out += _recommendation_tables(report)
    out += _not_priced_tables(report)
    runs = Table("runs", "Runs started in the period", ["Status", "Runs"])
    for status, n in report["runs"]["by_status"].items():
        runs.rows.append([status, str(n)])
    out.append(runs)
    return out


def _gpu_table(report: dict[str, Any]) -> Table:
    g = report["gpu"]
    table = Table("gpu-hours", "GPU-hours", ["What", "GPU-hours", "Cost"],
                  empty="No run on a GPU machine in this period.")
    if g["runs"] or g["unrecorded_runs"]:
        cost_used = ", ".join(money(c["used"], c["currency"]) for c in g["cost"]) or "—"
        cost_idle = ", ".join(money(c["idle"], c["currency"]) for c in g["cost"]) or "—"
        table.rows += [["paid (GPUs on machines while a run held them)", _hours(g["hours_paid"]),
                        "—"],
                       ["used by runs", _hours(g["hours_used"]), cost_used],
                       ["paid but idle", _hours(g["hours_idle"]), cost_idle]]
    if not (g["runs"] or g["unrecorded_runs"]):
        return table
    notes = [f"{g['runs']} run(s) on {g['machines']} GPU machine(s). Per machine: paid = "
             "GPUs × hours a run held it; used = GPUs the runs used × hours; idle = paid − "
             "used. Cost at each run's price per GPU-hour."]
    if g["unpriced_hours_used"] or g["unpriced_hours_idle"]:
        notes.append(f"{_hours(g['unpriced_hours_used'])} used and "
                     f"{_hours(g['unpriced_hours_idle'])} idle GPU-hours are on runs without "
                     "a known cost (not priced).")
    if g["unrecorded_runs"]:
        notes.append(f"{g['unrecorded_runs']} run(s) ({_hours(g['unrecorded_hours'])} GPU-hours "
                     "held) did not record which GPUs they used and are left out.")
    table.note = " ".join(notes)
    return table


def _efficiency_tables(entry: dict[str, Any], index: int) -> list[Table]:
    project, objective, mode = entry["project"], entry["objective"], entry["mode"]
    slug = f"{index}-{_slug(project)}"
    better = "higher is better" if mode == "max" else "lower is better"
    heading = (f"Project {project}: {objective} ({better})" if objective
               else f"Project {project}")
    best = Table(f"best-{slug}", f"{heading}: best value for money",
                 ["Rank", "Run", "Currency", objective or "objective", "Cost",
                  "Score (per money)"], level=3,
                 empty=entry["note"] or "No run with a known cost and objective.")
    for r in entry["best"]:
        best.rows.append([str(r["rank"]), r["name"], r["currency"], number(r["objective"]),
                          money(r["cost"], r["currency"]),
                          f"{number(r['score'])} {per_money_label(r['currency'])}"])
    if entry["best"]:
        best.note = ("Score: (" + (f"{objective} − baseline" if mode == "max"
                                   else f"baseline − {objective}")
                     + ") ÷ cost, the dashboard's rule; ranks are per currency. "
                     f"{entry['scored']} of {entry['runs']} run(s) started in the period "
                     "have a score.")
    frontier = Table(f"frontier-{slug}", f"{heading}: Pareto frontier",
                     ["Run", "Currency", "Cost", objective or "objective"], level=3,
                     empty=entry["note"] or "No run with a known cost and objective.")
    for r in entry["frontier"]:
        frontier.rows.append([r["name"], r["currency"], money(r["cost"], r["currency"]),
                              number(r["objective"])])
    if entry["frontier"]:
        frontier.note = "No other run is both cheaper (or as cheap) and better."
    return [best, frontier]


def _recommendation_tables(report: dict[str, Any]) -> list[Table]:
    recs = report["recommendations"]
    totals = Table("saving", "Open recommendations: potential saving",
                   ["Currency", "Open", "Saving per month"],
                   empty="No open recommendation (`xprof advise` makes them).")
    for t in recs["totals"]:
        totals.rows.append([t["currency"] or "—", str(t["n"]),
                            money(t["saving_per_month"], t["currency"])])
    listed = Table("recommendations", "Open recommendations",
                   ["Saving per month", "Run", "Project", "Advice", "Now", "Suggested"],
                   level=3, empty="None open.")
    for r in recs["open"][:MAX_RECS]:
        listed.rows.append([money(r["saving_per_month"], r["currency"]), r["run_name"] or "—",
                            r["project"] or "—", r["title"], r["current_instance"] or "—",
                            r["suggested_instance"] or "—"])
    if len(recs["open"]) > MAX_RECS:
        listed.note = (f"The {MAX_RECS} largest of {len(recs['open'])} are shown; "
                       "`xprof dashboard` lists them all.")
    return [totals, listed]


def _not_priced_tables(report: dict[str, Any]) -> list[Table]:
    np = report["not_priced"]
    unpriced = Table("unpriced", f"Not priced yet: {len(np['unpriced'])} run(s) without a cost",
                     ["Run", "Project", "Status", "Instance type", "Started"], level=3,
                     empty="Every run started in the period has a cost.")
    for r in np["unpriced"][:MAX_LISTED]:
        unpriced.rows.append([r["name"], r["project"], r["status"], r["instance_type"] or "—",
                              _when(r["started_at"])])
    if np["unpriced"]:
        unpriced.note = ("Not in any total. `xprof collect` prices runs from the catalog."
                         + (f" The first {MAX_LISTED} are listed."
                            if len(np["unpriced"]) > MAX_LISTED else ""))
    unknown = Table("unknown-cost",
                    f"Cost unknown: {np['unknown_runs']} run(s)",
                    ["Run", "Project", "Status", "Instance type", "Currency", "Why"], level=3,
                    empty="No run has an unknown cost.")
    for r in np["unknown"][:MAX_LISTED]:
        unknown.rows.append([r["name"], r["project"], r["status"], r["instance_type"] or "—",
                             r["currency"], r["reason"]])
    if np["unknown"]:
        unknown.note = "Cost rows without an amount count in no total."
    return [unpriced, unknown]


# -- HTML ---------------------------------------------------------------------------------

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:72rem;
color:#1a202c;padding:0 1rem}h1{margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:1px solid
#e2e8f0}table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.9rem}th,td{padding:.25rem
.6rem;border-bottom:1px solid #edf2f7;text-align:left;vertical-align:top}th{background:#f7fafc}
td.num{text-align:right;font-variant-numeric:tabular-nums}p.note{color:#4a5568;font-size:.85rem;
max-width:60rem}p.empty{font-style:italic}.headline{font-size:1.05rem}.meta{color:#718096}
"""
_NUMERIC = re.compile(r"^[+-]?[$€£¥₹]?[\d,]+(\.\d+)?( [A-Z]{3})?( \([+-][\d.]+ %\))?$")


def _html_table(table: Table) -> str:
    tag = f"h{table.level}"
    parts = [f'<{tag} id="h-{escape(table.id)}">{escape(table.title)}</{tag}>']
    if not table.rows:
        parts.append(f'<p class="empty" id="{escape(table.id)}-empty">{escape(table.empty)}</p>')
    else:
        head = "".join(f"<th>{escape(c)}</th>" for c in table.columns)
        body = []
        for row in table.rows:
            cells = "".join(f'<td class="num">{escape(v)}</td>' if _NUMERIC.match(v)
                            else f"<td>{escape(v)}</td>" for v in row)
            body.append(f"<tr>{cells}</tr>")
        parts.append(f'<table id="{escape(table.id)}"><thead><tr>{head}</tr></thead>'
                     f'<tbody>{"".join(body)}</tbody></table>')
    if table.note:
        parts.append(f'<p class="note">{escape(table.note)}</p>')
    return "\n".join(parts)


def _day_charts(report: dict[str, Any]) -> list[str]:
    charts = []
    for currency in sorted({r["currency"] for r in report["by_day"]}):
        rows = [r for r in report["by_day"] if r["currency"] == currency]
        if not any(r["billed"] or r["estimate"] or r["idle"] for r in rows):
            continue
        days = [r["day"].strftime("%a %d") if report["period"]["days"] <= 14
                else r["day"].strftime("%m-%d") for r in rows]
        series = [(name, [float(r[name]) for r in rows]) for name in ("billed", "estimate", "idle")
                  if any(r[name] for r in rows)]
        charts.append(report_charts.stacked_bars(f"Spend per day ({currency})", days, series,
                                                 currency))
    return charts


def _project_charts(report: dict[str, Any]) -> list[str]:
    charts = []
    for currency in sorted({r["currency"] for r in report["spend"]["project"]}):
        rows = [r for r in report["spend"]["project"] if r["currency"] == currency][:12]
        if not any(r["total"] for r in rows):
            continue
        series = [(name, [float(r[name] or 0) for r in rows]) for name in ("billed", "estimate")]
        charts.append(report_charts.stacked_bars(f"Spend by project ({currency})",
                                                 [str(r["key"]) for r in rows], series,
                                                 currency))
    return charts


def _frontier_charts(entry: dict[str, Any]) -> list[str]:
    charts = []
    for currency in sorted({p["currency"] for p in entry["points"]}):
        points = [p for p in entry["points"] if p["currency"] == currency]
        title = f"{entry['project']}: {entry['objective']} against cost ({currency})"
        charts.append(report_charts.frontier_scatter(title, points, entry["objective"],
                                                     currency))
    return charts


def render_html(report: dict[str, Any]) -> str:
    """One self-contained HTML page: inline CSS and SVG, no script, nothing fetched."""
    title = _title(report)
    meta = (f"{_period_text(report)} · cost basis {report['basis']} · generated "
            f"{_when(report['generated_at'])}")
    body = [f"<h1>{escape(title)}</h1>", f'<p class="meta">{escape(meta)}</p>']
    if report["empty"]:
        body.append(f'<p class="headline" id="empty">{escape(empty_sentence(report))}</p>')
    else:
        body += [f'<p class="headline">{escape(line)}</p>' for line in headline(report)]
    done: set[str] = set()
    for table in tables(report):
        group = _group(table.id)
        if group and group not in done:
            done.add(group)
            body.append(f'<h2 id="h-{group}">{escape(GROUPS[group])}</h2>')
            if group == "spend":
                body += _day_charts(report) + _project_charts(report)
        body.append(_html_table(table))
        if table.id.startswith("frontier-"):
            index = int(table.id.split("-")[1]) - 1
            body += _frontier_charts(report["efficiency"][index])
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><meta name=\"viewport\" "
            "content=\"width=device-width, initial-scale=1\">"
            f"<style>{CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


GROUPS = {"spend": "Where the money went", "efficiency": "Value for money per project",
          "not-priced": "What is not priced yet"}


def _group(table_id: str) -> str | None:
    if table_id.startswith(("spend-", "bill-")):
        return "spend"
    if table_id.startswith(("best-", "frontier-")):
        return "efficiency"
    if table_id in ("unpriced", "unknown-cost"):
        return "not-priced"
    return None


def _title(report: dict[str, Any]) -> str:
    title = f"{report['title']} {report['period']['label']}"
    return title + (f" · {report['project']}" if report["project"] else "")


def _slug(project: str) -> str:
    return "".join(ch if ch.isascii() and ch.isalnum() else "-" for ch in project)[:40]


# -- Markdown -----------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&$])")


def escape_markdown(text: object) -> str:
    """Text made inert inside a Markdown line or table cell: no HTML, links, emphasis, code,
    math or cell breaks. (Every line the report writes starts with its own words, so list
    and heading markers need no escape.)"""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).splitlines()))


def _md_cell(text: str) -> str:
    return escape_markdown(text) if text else " "


def _md_table(table: Table) -> str:
    lines = [f"{'#' * table.level} {escape_markdown(table.title)}", ""]
    if not table.rows:
        lines.append(f"_{escape_markdown(table.empty)}_")
    else:
        lines.append("| " + " | ".join(_md_cell(c) for c in table.columns) + " |")
        lines.append("|" + "|".join("---" for _ in table.columns) + "|")
        lines += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in table.rows]
    if table.note:
        lines += ["", escape_markdown(table.note)]
    return "\n".join(lines)


def render_markdown(report: dict[str, Any]) -> str:
    """The same tables as the HTML page, as GitHub-flavoured Markdown (charts: see the HTML)."""
    title = _title(report)
    out = [f"# {escape_markdown(title)}", "",
           escape_markdown(f"{_period_text(report)} · cost basis {report['basis']} · "
                           f"generated {_when(report['generated_at'])}"), ""]
    out += [escape_markdown(line) + "  " for line in headline(report)]
    done: set[str] = set()
    for table in tables(report):
        group = _group(table.id)
        if group and group not in done:
            done.add(group)
            out += ["", f"## {GROUPS[group]}"]
        out += ["", _md_table(table)]
    return "\n".join(out) + "\n"


# -- JSON ---------------------------------------------------------------------------------

def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def to_plain(report: dict[str, Any]) -> dict[str, Any]:
    """The report with money as exact decimal strings and times as ISO 8601 text."""
    return _plain(report)


def render_json(report: dict[str, Any]) -> str:
    """Every number of the report; money as decimal strings ("12.345"), exact."""
    return json.dumps(to_plain(report), indent=2, ensure_ascii=False) + "\n"


def render(report: dict[str, Any], fmt: str) -> str:
    """The report in ``fmt`` (html | md | json)."""
    if fmt == "html":
        return render_html(report)
    if fmt == "md":
        return render_markdown(report)
    if fmt == "json":
        return render_json(report)
    raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")


# -- Slack / chat ---------------------------------------------------------------------------

def _slack(text: str) -> str:
    """Text made inert for Slack mrkdwn (&, <, > are its only control characters)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(report: dict[str, Any], location: str | None = None) -> dict[str, Any]:
    """A Slack-compatible incoming-webhook message: ``text`` (the fallback) and ``blocks``."""
    title = _title(report)
    lines = headline(report)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
        {"type": "section", "text": {"type": "mrkdwn",
                                     "text": "\n".join(_slack(line) for line in lines)}}]
    top = report["top_runs"][:5]
    if top:
        text = "*Most expensive runs*\n" + "\n".join(
            f"• {_slack(r['name'])} ({_slack(r['project'])}): "
            f"{_slack(money(r['amount'], r['currency']))}" for r in top)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    savings = report["recommendations"]["totals"]
    if savings:
        text = "*Open recommendations*: " + ", ".join(
            f"{t['n']} worth {_slack(money(t['saving_per_month'], t['currency']))}/month"
            for t in savings)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text}})
    if location:
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"Full report: {_slack(location)}"}]})
    return {"text": _slack(f"{title}: " + " ".join(lines)), "blocks": blocks}


def mail_subject(report: dict[str, Any]) -> str:
    """The subject line of the report's mail."""
    return _title(report)
