"""The report's whole-bill section: the period's billing data in runs + idle + other spend.

Numbers come from :func:`xprof.collector.billing.bill.whole_bill` (the same function as
``xprof collect``'s summary and the dashboard's Spend page); this module only shapes them for
the report dict (key ``bill``, one entry per currency) and its tables.
"""

from __future__ import annotations

from typing import Any

from xprof.collector.billing.bill import whole_bill
from xprof.dashboard.formatting import money
from xprof.store import Store

BREAKDOWNS = (("category", "other_by_category", "Other spend by category"),
              ("other-project", "other_by_project", "Other spend by project (tags)"),
              ("idle-project", "idle_by_project", "Idle machine time by project (tags)"),
              ("provider", "by_provider", "Bill by provider"),
              ("service", "by_service", "Bill by service"),
              ("region", "by_region", "Bill by region"),
              ("account", "by_account", "Bill by account"))
MAX_ROWS = 50


def bill_section(store: Store, start: Any, end: Any, basis: str,
                 project: str | None) -> list[dict[str, Any]]:
    """Per currency: total, runs, idle, other and the breakdowns ([] for a project report:
    the bill belongs to the team)."""
    if project is not None:
        return []
    return [b.as_dict() for b in whole_bill(store, start=start, end=end, basis=basis)]


def bill_headline(report: dict[str, Any]) -> list[str]:
    """``Bill $20.52 (USD): runs $0.10 + idle $18.24 + other $2.18`` per currency."""
    return [f"Bill {money(b['total'], b['currency'])} ({b['currency']}): runs "
            f"{money(b['runs'], b['currency'])} + idle {money(b['idle'], b['currency'])} + "
            f"other {money(b['other'], b['currency'])}" for b in report.get("bill", [])]


def bill_tables(report: dict[str, Any], table_type: Any) -> list[Any]:
    """The bill's tables (``table_type`` is the renderer's ``Table``); none without data."""
    bills = report.get("bill", [])
    if not bills:
        return []
    whole = table_type("bill", "The whole bill (billing data of the period)",
                       ["Currency", "Billed total", "Runs", "Idle", "Other spend", "Items"],
                       note="Every billed amount is in exactly one bucket: runs (allocated to "
                            "runs), idle (machine time no run used), other (storage, network, "
                            "managed services, support, tax, credits, adjustments).")
    skipped = [b["skipped"] for b in bills if b.get("skipped")]
    if skipped:
        whole.note += (f" {sum(s['items'] for s in skipped):,} Azure amortized row(s) were "
                       "skipped: an actual cost export covers the same days, and the bill "
                       "counts actual cost (as invoiced).")
    for b in bills:
        c = b["currency"]
        whole.rows.append([c, money(b["total"], c), money(b["runs"], c), money(b["idle"], c),
                           money(b["other"], c), f"{b['items']:,}"])
    out = [whole]
    for name, key, title in BREAKDOWNS:
        table = table_type(f"bill-{name}", title,
                           [name.split("-")[-1].capitalize(), "Currency", "Amount"],
                           level=3)
        for b in bills:
            rows = b[key]
            for row in rows[:MAX_ROWS]:
                table.rows.append([str(row["key"]), b["currency"],
                                   money(row["amount"], b["currency"])])
            if len(rows) > MAX_ROWS:
                rest = sum((r["amount"] for r in rows[MAX_ROWS:]), start=0)
                table.rows.append([f"{len(rows) - MAX_ROWS} more", b["currency"],
                                   money(rest, b["currency"])])
        out.append(table)
    return out
