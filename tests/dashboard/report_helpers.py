"""Reading a rendered report back (HTML with html.parser, Markdown tables, money text) and
working out the expected figures straight from the store file with sqlite3, without xprof."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import NamedTuple

from click.testing import CliRunner, Result

from xprof.cli import cli

SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP"}
NANO = Decimal("1e-9")


def run_report(*args: str) -> Result:
    """``xprof report ARGS`` in this process (click's runner), stderr kept apart."""
    return CliRunner().invoke(cli, ["report", *args])


# -- parsing ------------------------------------------------------------------------------

class ReportHTML(HTMLParser):
    """Headings, tables (under the heading before them), paragraphs and every tag seen."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.headings: list[str] = []
        self.tables: dict[str, list[dict[str, str]]] = {}
        self.paragraphs: list[str] = []
        self.script_text: list[str] = []
        self._text: list[str] | None = None
        self._row: list[str] | None = None
        self._head: list[str] = []
        self._rows: list[list[str]] = []
        self._in = ""

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in ("h1", "h2", "h3", "p", "td", "th", "script"):
            self._text, self._in = [], tag
        elif tag == "table":
            self._head, self._rows = [], []
        elif tag == "tr":
            self._row = []

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == self._in and self._text is not None:
            text = "".join(self._text).strip()
            self._text, self._in = None, ""
            if tag in ("h1", "h2", "h3"):
                self.headings.append(text)
            elif tag == "p":
                self.paragraphs.append(text)
            elif tag == "script":
                self.script_text.append(text)
            elif self._row is not None:
                self._row.append(text)
                if tag == "th":
                    self._head.append(text)
        elif tag == "tr" and self._row is not None:
            if self._row and self._row != self._head:
                self._rows.append(self._row)
            self._row = None
        elif tag == "table":
            self.tables[self.headings[-1]] = [dict(zip(self._head, r, strict=True))
                                              for r in self._rows]


def parse_html(text: str) -> ReportHTML:
    parser = ReportHTML()
    parser.feed(text)
    parser.close()
    return parser


def unescape_md(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


def parse_markdown(text: str) -> dict[str, list[dict[str, str]]]:
    """Tables under their heading: {heading: [{column: cell}]} (escapes removed)."""
    tables: dict[str, list[dict[str, str]]] = {}
    heading, lines = None, text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            heading = unescape_md(line.lstrip("#").strip())
        elif line.startswith("| ") and i + 1 < len(lines) and lines[i + 1].startswith("|---"):
            head = _cells(line)
            rows = []
            i += 2
            while i < len(lines) and lines[i].startswith("| "):
                rows.append(dict(zip(head, _cells(lines[i]), strict=True)))
                i += 1
            tables[heading] = rows
            continue
        i += 1
    return tables


def _cells(line: str) -> list[str]:
    parts = re.split(r"(?<!\\)\|", line.strip())[1:-1]
    return [unescape_md(p.strip()) for p in parts]


def money(text: str) -> tuple[Decimal, str] | None:
    """``€7.60`` -> (7.60, EUR); ``12.30 CHF``; ``—`` -> None."""
    text = text.strip()
    if text in ("—", ""):
        return None
    sign = -1 if text.startswith("-") else 1
    text = text.lstrip("+-")
    if text[0] in SYMBOLS:
        return sign * Decimal(text[1:].replace(",", "")), SYMBOLS[text[0]]
    amount, currency = text.split(" ")
    return sign * Decimal(amount.replace(",", "")), currency


def cents(value: Decimal) -> Decimal:
    """How the report shows an amount: 2 places, more under one unit to keep two significant
    digits (0.011, 0.0055), half up."""
    places = 2
    while value and abs(value) < 1 and abs(value) * 10 ** places < 10:
        places += 1
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


# -- the expected figures, from the store file -------------------------------------------

def _ts(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


class Expected:
    """Plain SQL over the SQLite file: the report's rule written out independently.

    A run's cost in [start, end) = its billed rows at basis billed when it has any, else its
    estimate rows at list price (the seed writes no estimate at another basis); idle cost =
    idle rows at basis billed. Amounts are integer nano-units in the file.
    """

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(str(path))

    def counted(self, start: dt.datetime, end: dt.datetime) -> list[dict]:
        rows = self.db.execute(
            """SELECT c.run_id, c.source, c.amount, c.currency, r.project, r.user,
                      r.instance_type, r.cloud_provider, r.status, r.name
               FROM costs c JOIN runs r ON r.id = c.run_id
               WHERE c.kind = 'run' AND c.period_start >= ? AND c.period_start < ? AND (
                 (c.source = 'billed' AND c.basis = 'billed') OR
                 (c.source = 'estimate' AND c.basis = 'list' AND NOT EXISTS (
                    SELECT 1 FROM costs b WHERE b.run_id = c.run_id AND b.kind = 'run'
                    AND b.source = 'billed' AND b.basis = 'billed')))""",
            (_ts(start), _ts(end))).fetchall()
        keys = ("run_id", "source", "amount", "currency", "project", "user", "instance_type",
                "provider", "status", "name")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def idle(self, start: dt.datetime, end: dt.datetime) -> dict[str, Decimal]:
        out: dict[str, Decimal] = defaultdict(Decimal)
        for amount, currency in self.db.execute(
                "SELECT amount, currency FROM costs WHERE kind = 'idle' AND basis = 'billed' "
                "AND period_start >= ? AND period_start < ?", (_ts(start), _ts(end))):
            out[currency] += Decimal(amount) * NANO
        return dict(out)

    def totals(self, start: dt.datetime, end: dt.datetime) -> dict[str, dict[str, Decimal]]:
        """Per currency: total, billed, estimated, idle."""
        out: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
        for row in self.counted(start, end):
            if row["amount"] is not None:
                key = "billed" if row["source"] == "billed" else "estimated"
                out[row["currency"]][key] += Decimal(row["amount"]) * NANO
        for currency, amount in self.idle(start, end).items():
            out[currency]["billed"] += amount
            out[currency]["idle"] += amount
        for entry in out.values():
            entry["total"] = entry["billed"] + entry["estimated"]
        return {c: dict(v) for c, v in out.items()}

    def by(self, field: str, start: dt.datetime, end: dt.datetime
           ) -> dict[tuple[str, str], Decimal]:
        out: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        for row in self.counted(start, end):
            if row["amount"] is not None:
                out[(row[field] or "(none)", row["currency"])] += Decimal(row["amount"]) * NANO
        return dict(out)

    def saving(self) -> dict[str, Decimal]:
        out: dict[str, Decimal] = defaultdict(Decimal)
        for amount, currency in self.db.execute(
                "SELECT saving_per_month, currency FROM recommendations WHERE status = 'open'"):
            out[currency] += Decimal(amount) * NANO
        return dict(out)

    def unpriced(self, start: dt.datetime, end: dt.datetime) -> set[str]:
        return {name for (name,) in self.db.execute(
            "SELECT name FROM runs r WHERE started_at >= ? AND started_at < ? AND NOT EXISTS "
            "(SELECT 1 FROM costs c WHERE c.run_id = r.id AND c.kind = 'run')",
            (_ts(start), _ts(end)))}


# -- one seeded store for the whole session -----------------------------------------------

class SeededStore(NamedTuple):
    url: str
    path: Path
    ids: dict[str, str]


_CACHE: dict[str, SeededStore] = {}


def seeded_store(factory) -> SeededStore:
    """The report seed (tests/dashboard/report_seed.py) in a SQLite file, made once."""
    if "store" not in _CACHE:
        from tests.dashboard.report_seed import seed
        from xprof.store import Store

        path = factory.mktemp("report") / "xprof.db"
        url = f"sqlite:///{path}"
        store = Store.open(url)
        ids = seed(store)
        store.engine.dispose()
        _CACHE["store"] = SeededStore(url, path, ids)
    return _CACHE["store"]


def error_lines(output: str) -> list[str]:
    """The ``xprof: error:`` lines of a report command's output (not the path or summary)."""
    return [line for line in output.splitlines() if line.startswith("xprof: error:")]
