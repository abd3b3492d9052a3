"""One set of rules for untidy billing data, whatever the source, and one shape out of it.

A source describes its input as a :class:`Spec`: the columns it reads (kind, required or not,
other names) and how each billing item field is computed from them. :class:`Normaliser` reads
files (CSV, gzip CSV, Parquet) or rows from an API through DuckDB, checks every value and
returns one Arrow table with :data:`ITEM_COLUMNS`. The rules:

- a time without a zone is UTC; with a zone it is converted to UTC;
- an empty field and a literal ``NULL`` (any case) are null;
- enumerated values compare case-insensitively (stored lowercase), currencies uppercase;
- money is parsed as a decimal and kept as integer nano-units (round half to even, 128-bit: any
  currency's amounts fit), never a float;
- tags/labels (a JSON object, a ``[{key, value}]`` list, Azure's ``"k": "v", …`` without
  braces, or one column per tag) become one JSON object of non-empty string values;
- the first bad value stops the import with one line naming the file, the row and the column,
  e.g. ``focus.csv: data row 7, column BilledCost: not a number ('12,5')``; nothing of that
  input is written, because writing happens only after :meth:`Normaliser.result`.

Rows are numbered from 1 after the header ("data row"); Parquet rows from 1 in file order.
Each row gets a stable ``row_key``: ``<group>|md5(identity columns)`` plus ``#n`` for the n-th
repeat of an identical identity, so the same export read twice yields the same keys and a
restated row (same identity, new amounts) replaces the old one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xprof.collector.billing import BillingInputError

if TYPE_CHECKING:  # pragma: no cover
    import duckdb
    import pyarrow as pa

# ISO 4217 codes in use (plus funds codes that appear on invoices); XTS/XXX are not currencies.
_CURRENCY_CODES = """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD BTN
BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP
ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HRK HTG HUF IDR ILS INR IQD IRR
ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD
MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR
PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL
THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES VND VUV WST XAF
XAG XAU XCD XCG XDR XOF XPD XPF XPT XSU XUA YER ZAR ZMW ZWG ZWL
"""
CURRENCIES = frozenset(_CURRENCY_CODES.split())

CHARGE_CATEGORIES = ("adjustment", "credit", "purchase", "tax", "usage")

# The normalised item table: billing_items columns, times as epoch microseconds (UTC) and money
# as integer nano-units of ``currency``.
ITEM_COLUMNS: tuple[tuple[str, str], ...] = (
    ("provider", "VARCHAR"), ("account_id", "VARCHAR"), ("resource_id", "VARCHAR"),
    ("region", "VARCHAR"), ("service", "VARCHAR"), ("sku", "VARCHAR"),
    ("charge_category", "VARCHAR"), ("charge_description", "VARCHAR"),
    ("period_start_us", "BIGINT"), ("period_end_us", "BIGINT"),
    ("usage_quantity", "DOUBLE"), ("usage_unit", "VARCHAR"), ("instance_type", "VARCHAR"),
    ("list_nanos", "HUGEINT"), ("billed_nanos", "HUGEINT"), ("effective_nanos", "HUGEINT"),
    ("currency", "VARCHAR"), ("tags", "VARCHAR"),
)
ITEM_FIELDS = tuple(name for name, _ in ITEM_COLUMNS)
_NOT_NULL_FIELDS = ("period_start_us", "period_end_us", "billed_nanos", "currency")

_MACROS = """
CREATE OR REPLACE MACRO xclean(x) AS CASE WHEN x IS NULL OR trim(x) = '' OR upper(trim(x)) = 'NULL'
    THEN NULL ELSE trim(x) END;
CREATE OR REPLACE MACRO xnanos(x) AS
    TRY_CAST(round_even(TRY_CAST(x AS DECIMAL(38,12)) * 1000000000, 0) AS HUGEINT);
CREATE OR REPLACE MACRO xtime(x) AS epoch_us(TRY_CAST(x AS TIMESTAMPTZ));
CREATE OR REPLACE MACRO xprovider(p) AS CASE
    WHEN p IS NULL THEN NULL
    WHEN lower(p) IN ('aws', 'amazon web services', 'amazon') THEN 'aws'
    WHEN lower(p) IN ('microsoft', 'azure', 'microsoft azure') THEN 'azure'
    WHEN lower(p) IN ('google cloud', 'google', 'gcp', 'google cloud platform') THEN 'gcp'
    ELSE left(lower(p), 16) END;
CREATE OR REPLACE MACRO xkey(r) AS CASE
    WHEN r IS NULL OR trim(r) = '' THEN NULL
    WHEN lower(trim(r)) LIKE 'arn:%' AND regexp_matches(trim(r), '/i-[0-9A-Za-z]+$')
        THEN regexp_extract(trim(r), '/(i-[0-9A-Za-z]+)$', 1)
    WHEN regexp_matches(trim(r), '^//compute\\.googleapis\\.com/.*/instances/[^/]+$')
        THEN regexp_extract(trim(r), '/instances/([^/]+)$', 1)
    WHEN lower(trim(r)) LIKE '/subscriptions/%' THEN rtrim(lower(trim(r)), '/')
    ELSE trim(r) END;
CREATE OR REPLACE MACRO xmachine(r, instance_type) AS
    instance_type IS NOT NULL
    OR regexp_matches(coalesce(xkey(r), ''), '^i-[0-9A-Za-z]+$')
    OR regexp_matches(lower(coalesce(r, '')), '/providers/microsoft\\.compute/virtualmachines/')
    OR regexp_matches(coalesce(r, ''), '^//compute\\.googleapis\\.com/.*/instances/')
    OR regexp_matches(lower(coalesce(r, '')), '^ocid[0-9]*\\.instance\\.');
CREATE OR REPLACE MACRO xtagtext(t) AS CASE WHEN left(t, 1) IN ('{', '[') THEN t
    ELSE '{' || t || '}' END;
CREATE OR REPLACE MACRO xtagmap(t) AS CASE
    WHEN t IS NULL OR NOT json_valid(xtagtext(t)) THEN NULL
    WHEN left(t, 1) = '[' THEN map_from_entries(list_filter(TRY_CAST(json(t) AS
        STRUCT("key" VARCHAR, "value" VARCHAR)[]), @keyed@))
    ELSE TRY_CAST(json(xtagtext(t)) AS MAP(VARCHAR, VARCHAR)) END;
CREATE OR REPLACE MACRO xfirst(l) AS list_filter(l, @first@);
CREATE OR REPLACE MACRO xtags(t, strip) AS nullif(to_json(map_from_entries(xfirst(list_transform(
    list_filter(map_entries(xtagmap(t)), @keep@), @rename@)))), '{}');
"""
# DuckDB 1.3 added ``lambda e: …``; 2.x refuses the older ``e -> …``
_LAMBDAS = {"keyed": "e: e.key IS NOT NULL",
            "keep": "e: trim(e.key) <> '' AND coalesce(trim(e.value), '') <> ''",
            "rename": "e: {'k': regexp_replace(e.key, strip, ''), 'v': e.value}",
            # tags whose names become one after the prefix is dropped (``user:team`` and
            # ``team``): the first is kept, not a duplicate map key (DuckDB refuses those)
            "first": "e, i: list_position([x.k for x in l], e.k) = i"}


def resource_key(resource_id: str | None) -> str | None:
    """The id billing and runs are matched on (the same rule as the SQL macro ``xkey``).

    An EC2 ARN ending in ``/i-…`` becomes the instance id, a GCP ``//compute.googleapis.com/…/
    instances/ID`` its last part, an Azure ``/subscriptions/…`` path is lowercased (Azure ids
    are case-insensitive); anything else is kept as it is (trimmed).
    """
    if resource_id is None:
        return None
    text = str(resource_id).strip()
    if not text:
        return None
    if text.lower().startswith("arn:"):
        match = re.search(r"/(i-[0-9A-Za-z]+)$", text)
        if match:
            return match.group(1)
    if text.startswith("//compute.googleapis.com/"):
        match = re.search(r"/instances/([^/]+)$", text)
        if match:
            return match.group(1)
    if text.lower().startswith("/subscriptions/"):
        return text.lower().rstrip("/")
    return text


def connect(memory_limit: str | None = None, threads: int | None = None,
            temp_directory: str | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection in UTC with xprof's macros."""
    import duckdb  # heavy, optional (xprof[billing]): only when normalising

    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    if temp_directory:
        con.execute(f"SET temp_directory = {quote_literal(temp_directory)}")
    macros = _MACROS
    for name, body in _LAMBDAS.items():
        macros = macros.replace(f"@{name}@", _lambda(body))
    con.execute(macros)
    return con


def _lambda(body: str) -> str:
    """``e: …`` in the lambda syntax of the installed DuckDB."""
    import duckdb

    version = tuple(int(p) for p in re.findall(r"\d+", duckdb.__version__)[:2])
    params, _, expr = body.partition(":")
    if version >= (1, 3):
        return f"lambda {params}: {expr.strip()}"
    return f"({params}) -> {expr}" if "," in params else f"{params} -> {expr}"


def to_arrow(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    """The result of ``sql`` as an Arrow table (DuckDB 1.x and 2.x spell this differently)."""
    relation = con.sql(sql)
    convert = getattr(relation, "to_arrow_table", None) or relation.arrow
    return convert()


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class Column:
    """A column a source reads: its kind, whether it must exist and/or be filled, other names.

    Kinds: ``text``, ``tags`` (tags/labels: a JSON object or ``[{key, value}]`` list, as text
    or nested; read with the SQL macro ``xtags``), ``time``, ``date`` (a time, or a US
    ``MM/DD/YYYY`` date as Azure cost details files write it), ``money``, ``number``,
    ``currency``, ``category`` (one of :data:`CHARGE_CATEGORIES`, any case) and ``lower``
    (text compared case-insensitively).
    """

    kind: str = "text"
    required: bool = False
    not_null: bool = False
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Spec:
    """How one kind of input becomes billing items.

    ``fields`` maps an item field to SQL over the typed input columns (named as in ``columns``,
    quoted); missing fields are NULL. ``identity`` lists SQL expressions that identify a row
    across re-deliveries (amounts excluded). ``field_columns`` names the input column behind a
    field, for messages about derived checks (a period that ends before it starts).
    """

    name: str
    columns: Mapping[str, Column]
    fields: Mapping[str, str]
    identity: Sequence[str]
    field_columns: Mapping[str, str] = field(default_factory=dict)
    hints: Mapping[str, str] = field(default_factory=dict)  # column found -> what to do instead
    # one column per tag (legacy CUR ``resourceTags/user:project``): input columns whose name
    # starts with one of these prefixes are gathered into the JSON object ``"__tag_columns"``,
    # keyed by the rest of the name
    tag_prefixes: Sequence[str] = ()


_NUMERIC = re.compile(r"^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|"
                      r"UBIGINT|UHUGEINT|FLOAT|REAL|DOUBLE|DECIMAL.*)$")
_TEMPORAL = re.compile(r"^(DATE|TIMESTAMP.*)$")


def _display(value: Any) -> str:
    text = str(value)
    return repr(text if len(text) <= 40 else text[:37] + "...")


class Normaliser:
    """Collects the rows of several inputs of one spec, checks them, and keys them."""

    def __init__(self, spec: Spec, con: duckdb.DuckDBPyConnection | None = None) -> None:
        self.spec = spec
        self.con = con or connect()
        self.inputs = 0
        self._table = f"_items_{id(self)}"
        columns = ", ".join(f"{name} {kind}" for name, kind in ITEM_COLUMNS)
        self.con.execute(f"CREATE TEMP TABLE {self._table} ({columns}, _ident UHUGEINT, "
                         "_file VARCHAR, _row BIGINT, _bad INTEGER)")

    # -- inputs --------------------------------------------------------------------------------
    def add_file(self, path: str | Path, label: str | None = None,
                 rename: Callable[[str], str] | None = None) -> None:
        """Read one CSV (optionally gzip) or Parquet file; ``label`` names it in messages.

        ``rename`` maps the file's column names to the spec's (legacy CUR's
        ``lineItem/UsageStartDate`` to ``line_item_usage_start_date``).
        """
        import duckdb  # heavy, optional (xprof[billing])

        path = str(path)
        label = label or Path(path).name
        lower = path.lower()
        if lower.endswith((".parquet", ".parq")):
            relation = f"SELECT * FROM read_parquet({quote_literal(path)}, file_row_number=true)"
            row_sql, header = "file_row_number + 1", "schema"
            hidden = {"file_row_number"}
        elif lower.endswith((".csv", ".csv.gz", ".csv.gzip", ".tsv", ".txt", ".gz")):
            relation = (f"SELECT * FROM read_csv({quote_literal(path)}, header=true, "
                        "all_varchar=true, auto_detect=true)")
            row_sql, header, hidden = "row_number() OVER ()", "header row", set()
        else:
            raise BillingInputError(f"{label}: not a CSV or Parquet file")
        try:
            if rename is not None:
                names = [str(r[0]) for r in self.con.execute(f"DESCRIBE {relation}").fetchall()]
                relation = "SELECT " + ", ".join(
                    f"{quote_ident(n)} AS {quote_ident(n if n in hidden else rename(n))}"
                    for n in names) + f" FROM ({relation})"
            self.add_relation(relation, label, row_sql=row_sql, header=header, hidden=hidden)
        except (duckdb.Error, BillingInputError) as exc:
            short = _short_row(path, label) if header == "header row" else None
            if short:  # a truncated or ragged row confuses the CSV sniffer: name the row
                raise BillingInputError(short) from exc
            if isinstance(exc, BillingInputError):
                raise
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BillingInputError(f"{label}: cannot read: {first}") from exc

    def add_rows(self, rows: Sequence[Mapping[str, Any]], columns: Sequence[str],
                 label: str) -> None:
        """Rows from an API (values as the API gives them; amounts preferably as strings)."""
        import pyarrow as pa  # heavy, optional (xprof[billing])

        if not rows:
            return
        data = {name: [None if r.get(name) is None else str(r.get(name)) for r in rows]
                for name in columns}
        data["_api_row"] = list(range(1, len(rows) + 1))
        table = pa.table(data)
        name = f"_api_{id(table)}"
        self.con.register(name, table)
        try:
            self.add_relation(f"SELECT * FROM {name}", label, row_sql="_api_row",
                              header="response", hidden={"_api_row"})
        finally:
            self.con.unregister(name)

    def add_relation(self, relation_sql: str, label: str, *, row_sql: str, header: str,
                     hidden: Iterable[str] = ()) -> None:
        """Check and append the rows of any SQL relation (the general case of the above).

        One scan reads, checks and converts every row; each row's first problem (if any) is
        kept as a code in ``_bad``, so finding the first bad row afterwards is a cheap query.
        """
        con = self.con
        hidden = set(hidden)
        described = con.execute(f"DESCRIBE {relation_sql}").fetchall()
        actual = {str(name).lower(): (str(name), str(kind)) for name, kind, *_ in described
                  if str(name) not in hidden}
        raw_cols, typed_cols, checks = [], [], []
        for canon, column in self.spec.columns.items():
            found = next((actual[n.lower()] for n in (canon, *column.aliases)
                          if n.lower() in actual), None)
            if found is None:
                if column.required:
                    hint = next((text for name, text in self.spec.hints.items()
                                 if name.lower() in actual), None)
                    raise BillingInputError(f"{label}: {header}: missing column {canon}"
                                            + (f" ({hint})" if hint else ""))
                raw_cols.append(f"NULL::VARCHAR AS {quote_ident(canon)}")
                typed_cols.append(f"{_null_of(column.kind)} AS {quote_ident(canon)}")
                continue
            name, duck_type = found
            raw, typed, bad = _column_sql(quote_ident(name), duck_type, column.kind)
            q = quote_ident(canon)
            raw_cols.append(f"{raw} AS {q}")
            typed_cols.append(f"{typed.replace('{x}', q)} AS {q}")
            if column.not_null:
                checks.append((f"{q} IS NULL", name, "empty", canon))
            if bad:
                checks.append((bad.replace("{x}", q), name, _problem(column.kind), canon))
        raw_cols.append(f"{_tag_columns_sql(actual.values(), self.spec.tag_prefixes)} "
                        'AS "__tag_columns"')
        typed_cols.append('"__tag_columns"')
        bad_sql = ("CASE " + " ".join(f"WHEN {cond} THEN {i}" for i, (cond, *_) in
                                      enumerate(checks)) + " END") if checks else "NULL"
        view = f"_in_{id(self)}_{self.inputs}"
        self.inputs += 1
        con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT {row_sql} AS _row, "
                    f"{', '.join(raw_cols)} FROM ({relation_sql})")
        exprs = [f"{self.spec.fields.get(name, 'NULL')}::{kind} AS {name}"
                 for name, kind in ITEM_COLUMNS]
        ident = " || chr(31) || ".join(f"coalesce(CAST(({e}) AS VARCHAR), '')"
                                       for e in self.spec.identity) or "''"
        first = self.count()
        try:
            con.execute(f"INSERT INTO {self._table} SELECT {', '.join(exprs)}, "
                        f"md5_number({ident}) AS _ident, {quote_literal(label)} AS _file, _row, "
                        f"_bad FROM (SELECT _row, {', '.join(typed_cols)}, {bad_sql} AS _bad "
                        f"FROM {view})")
            self._first_problem(view, checks, label, first)
            self._check_items(label, first)
        finally:
            con.execute(f"DROP VIEW IF EXISTS {view}")

    def _first_problem(self, view: str, checks: list[tuple[str, str, str, str]], label: str,
                       first: int) -> None:
        row = self.con.execute(f"SELECT _row, _bad FROM {self._table} WHERE rowid >= {first} "
                               "AND _bad IS NOT NULL ORDER BY _row LIMIT 1").fetchall()
        if not row:
            return
        number, code = row[0]
        _, column, problem, canon = checks[code]
        value = self.con.execute(f"SELECT CAST({quote_ident(canon)} AS VARCHAR) FROM {view} "
                                 "WHERE _row = ?", [number]).fetchall()
        shown = "" if not value or value[0][0] is None else f" ({_display(value[0][0])})"
        raise BillingInputError(f"{label}: data row {number}, column {column}: {problem}{shown}")

    def _check_items(self, label: str, first: int) -> None:
        """Checks of the computed fields (a source's own rules may leave them empty)."""
        cols = self.spec.field_columns
        conds = [(f"{name} IS NULL", cols.get(name, name), "empty") for name in _NOT_NULL_FIELDS]
        conds.append(("period_end_us <= period_start_us", cols.get("period_end_us", "end"),
                      "the charge period ends before it starts"))
        conds.append(("charge_category IS NOT NULL AND charge_category NOT IN "
                      f"({', '.join(quote_literal(c) for c in CHARGE_CATEGORIES)})",
                      cols.get("charge_category", "charge category"),
                      f"not one of {', '.join(CHARGE_CATEGORIES)}"))
        where = " OR ".join(f"({c})" for c, _, _ in conds)
        which = " ".join(f"WHEN {c} THEN {i}" for i, (c, _, _) in enumerate(conds))
        row = self.con.execute(f"SELECT _row, CASE {which} END FROM {self._table} "
                               f"WHERE rowid >= {first} AND ({where}) ORDER BY _row LIMIT 1"
                               ).fetchall()
        if row:
            number, code = row[0]
            _, column, problem = conds[code]
            raise BillingInputError(f"{label}: data row {number}, column {column}: {problem}")

    def drop_repeats(self) -> tuple[int, str | None]:
        """Drop rows that repeat an earlier row exactly (same line-item identity and the same
        values, in any file read so far): a copy of an export, a row delivered twice.

        Returns how many were dropped and, if any, a note naming the first one
        (``copy.csv data row 1 = focus.csv data row 1``)."""
        values = " || chr(31) || ".join(f"coalesce(CAST({name} AS VARCHAR), '')"
                                        for name in ITEM_FIELDS)
        ranked = (f"SELECT rowid AS _id, _file, _row, first_value(_file) OVER w AS _f0, "
                  f"first_value(_row) OVER w AS _r0, row_number() OVER w AS _n "
                  f"FROM {self._table} WINDOW w AS (PARTITION BY _ident, md5({values}) "
                  "ORDER BY _file, _row)")
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE _repeats AS SELECT * FROM ({ranked}) "
                         "WHERE _n > 1")
        try:
            count = int(self.con.execute("SELECT count(*) FROM _repeats").fetchall()[0][0])
            if not count:
                return 0, None
            file, row, file0, row0 = self.con.execute(
                "SELECT _file, _row, _f0, _r0 FROM _repeats ORDER BY _file, _row LIMIT 1"
                ).fetchall()[0]
            self.con.execute(f"DELETE FROM {self._table} WHERE rowid IN "
                             "(SELECT _id FROM _repeats)")
        finally:
            self.con.execute("DROP TABLE IF EXISTS _repeats")
        return count, f"{file} data row {row} = {file0} data row {row0}"

    # -- output --------------------------------------------------------------------------------
    def count(self) -> int:
        return int(self.con.execute(f"SELECT count(*) FROM {self._table}").fetchall()[0][0])

    def relation_sql(self, source: str, group: str) -> str:
        """SQL for the keyed items: ``source``, ``row_key`` and :data:`ITEM_FIELDS`.

        ``row_key`` is ``<group>|<identity hash>|<value hash>`` (``#n`` for the n-th exact
        repeat): the same row always gets the same key, and a restated row (same identity,
        other amounts) a key that differs only after the second ``|``.
        """
        values = " || chr(31) || ".join(f"coalesce(CAST({name} AS VARCHAR), '')"
                                        for name in ITEM_FIELDS)
        return (f"SELECT {quote_literal(source)} AS source, "
                f"_key || CASE WHEN _occ > 0 THEN '#' || _occ ELSE '' END AS row_key, "
                f"{', '.join(ITEM_FIELDS)} FROM ("
                f"SELECT *, row_number() OVER (PARTITION BY _key ORDER BY _file, _row) - 1 "
                f"AS _occ FROM (SELECT *, {quote_literal(group + '|')} || "
                f"lpad(lower(hex(_ident)), 32, '0') || '|' || left(md5({values}), 16) AS _key "
                f"FROM {self._table}))")

    def result(self, source: str, group: str) -> pa.Table:
        """The checked, keyed items as an Arrow table."""
        return to_arrow(self.con, self.relation_sql(source, group))

    def close(self) -> None:
        self.con.execute(f"DROP TABLE IF EXISTS {self._table}")


def oversize_nanos_sql(*columns: str) -> str:
    """SQL that is true where a nano-unit column is beyond SQLite's 64-bit integers."""
    return " OR ".join(f"abs({c}) > 9223372036854775807" for c in columns)


def oversize_as_blobs(batches: Iterable[Sequence[tuple]]) -> Iterator[list[tuple]]:
    """Batches for SQLite with integers beyond 64 bits as their digits in a BLOB (how
    ``schema.Money`` keeps an amount beyond ±9.2e9 units exactly)."""
    from xprof.schema import fits_int64

    for batch in batches:
        yield [tuple(str(v).encode() if v.__class__ is int and not fits_int64(v) else v
                     for v in row) for row in batch]


def _short_row(path: str, label: str) -> str | None:
    """The first row of a CSV file whose field count differs from its header's, as a message
    naming its line (``file: line 7: 3 field(s) where the header has 20 ...``); None if every
    row matches. Read only when DuckDB could not make sense of the file."""
    import csv
    import gzip

    opener = gzip.open if path.lower().endswith((".gz", ".gzip")) else open
    delimiter = "\t" if path.lower().endswith(".tsv") else ","
    try:
        with opener(path, "rt", encoding="utf-8", errors="replace", newline="") as fh:
            reader = csv.reader(fh, delimiter=delimiter)
            header = next(reader, None)
            for record in reader:
                if header and record and len(record) != len(header):
                    return (f"{label}: line {reader.line_num}: {len(record)} field(s) where "
                            f"the header has {len(header)} (a truncated or ragged row)")
    except (OSError, csv.Error, EOFError):
        return None
    return None


def _tag_columns_sql(columns: Iterable[tuple[str, str]], prefixes: Sequence[str]) -> str:
    """SQL of a JSON object of the columns named ``<prefix><tag key>`` (NULL if none)."""
    entries = []
    for name, _ in columns:
        prefix = next((p for p in prefixes if name.lower().startswith(p.lower())), None)
        if prefix and len(name) > len(prefix):
            entries.append(f"{{'k': {quote_literal(name[len(prefix):])}, "
                           f"'v': xclean(CAST({quote_ident(name)} AS VARCHAR))}}")
    if not entries:
        return "NULL::VARCHAR"
    return f"CAST(to_json(map_from_entries([{', '.join(entries)}])) AS VARCHAR)"


def _problem(kind: str) -> str:
    return {"money": "not an amount of money", "number": "not a number",
            "time": "not a date/time", "date": "not a date", "currency": "unknown currency",
            "category": f"not one of {', '.join(CHARGE_CATEGORIES)}",
            "tags": "not a JSON object of tags"}.get(kind, "invalid")


def _null_of(kind: str) -> str:
    return {"money": "NULL::HUGEINT", "number": "NULL::DOUBLE", "time": "NULL::BIGINT",
            "date": "NULL::BIGINT"}.get(
        kind, "NULL::VARCHAR")


def _column_sql(name: str, duck_type: str, kind: str) -> tuple[str, str, str | None]:
    """(raw select, typed expression over ``{x}``, bad-value condition over ``{x}``)."""
    upper = duck_type.upper()
    numeric, temporal = bool(_NUMERIC.match(upper)), bool(_TEMPORAL.match(upper))
    if kind == "money":
        if numeric and upper.startswith("DECIMAL"):  # exact
            typed = ("TRY_CAST(round_even(TRY_CAST({x} AS DECIMAL(38,12)) * 1000000000, 0) "
                     "AS HUGEINT)")
            return name, typed, f"{{x}} IS NOT NULL AND ({typed}) IS NULL"
        if numeric:  # a binary float (CUR Parquet): as exact as the float itself
            typed = "TRY_CAST(round_even(CAST({x} AS DOUBLE) * 1000000000, 0) AS HUGEINT)"
            return name, typed, f"{{x}} IS NOT NULL AND ({typed}) IS NULL"
        return f"xclean(CAST({name} AS VARCHAR))", "xnanos({x})", \
            "{x} IS NOT NULL AND xnanos({x}) IS NULL"
    if kind == "number":
        if numeric:
            return name, "CAST({x} AS DOUBLE)", \
                "{x} IS NOT NULL AND NOT isfinite(CAST({x} AS DOUBLE))"
        return f"xclean(CAST({name} AS VARCHAR))", "TRY_CAST({x} AS DOUBLE)", \
            "{x} IS NOT NULL AND NOT coalesce(isfinite(TRY_CAST({x} AS DOUBLE)), false)"
    if kind in ("time", "date"):
        if temporal:
            return name, "epoch_us(CAST({x} AS TIMESTAMPTZ))", None
        typed = "xtime({x})" if kind == "time" else \
            "coalesce(xtime({x}), epoch_us(try_strptime({x}, '%m/%d/%Y')))"
        return f"xclean(CAST({name} AS VARCHAR))", typed, f"{{x}} IS NOT NULL AND {typed} IS NULL"
    raw = f"xclean(CAST({name} AS VARCHAR))"
    if kind == "tags":
        if upper.startswith(("MAP", "STRUCT")) or upper.endswith("[]"):  # Parquet / JSON
            raw = f"xclean(CAST(to_json({name}) AS VARCHAR))"
        return raw, "{x}", "{x} IS NOT NULL AND xtagmap({x}) IS NULL"
    if kind == "currency":
        codes = ", ".join(quote_literal(c) for c in sorted(CURRENCIES))
        return raw, "upper({x})", f"{{x}} IS NOT NULL AND upper({{x}}) NOT IN ({codes})"
    if kind == "category":
        allowed = ", ".join(quote_literal(c) for c in CHARGE_CATEGORIES)
        return raw, "lower({x})", f"{{x}} IS NOT NULL AND lower({{x}}) NOT IN ({allowed})"
    if kind == "lower":
        return raw, "lower({x})", None
    return raw, "{x}", None
