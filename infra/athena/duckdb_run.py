#!/usr/bin/env python3
"""Runs infra/athena/tables.sql and views.sql on DuckDB, over exports on the local disk, after a
small, fixed translation of what Athena (Trino) and DuckDB spell differently:

  1. CREATE EXTERNAL TABLE t (item map<string, struct<s:string, n:string>>) PARTITIONED BY
     (cut_off string) ... LOCATION '...' TBLPROPERTIES (projection of cut_off) becomes a view
     over read_json('<folder>/data/*.json.gz', newline-delimited), the partition a constant
     column (--cut-off: one export folder is one partition), with the same column type in
     DuckDB's spelling (MAP(VARCHAR, STRUCT("S" VARCHAR, "N" VARCHAR))): the
     SerDe matches JSON keys case-insensitively and read_json does not, so struct fields take
     DynamoDB JSON's upper-case type keys; field access (.s) is case-insensitive in both.
  2. element_at(map, key) becomes map_extract_value(map, key): Trino's element_at on a map
     returns the value (NULL when the key is absent); DuckDB's returns a list.
  3. from_iso8601_timestamp(x) becomes CAST(x AS TIMESTAMPTZ), with the session in UTC.

Everything else (window functions, DECIMAL casts, UNNEST, date_trunc, LIKE ... ESCAPE) is run as
written. Anything in the SQL the translation does not know makes it fail rather than guess.

  .venv/bin/python infra/athena/duckdb_run.py --ledger <export folder> [--stats <export folder>] \
      [--cut-off 2026-12-15T00-00-00Z] [--query SQL]...      # prints each query's rows as JSON (decimals as strings)
"""
import argparse
import json
import re
import sys
from decimal import Decimal
from pathlib import Path

import duckdb

HERE = Path(__file__).resolve().parent

TYPE_WORDS = {"string": "VARCHAR", "bigint": "BIGINT", "int": "INTEGER", "double": "DOUBLE"}


def duck_type(hive):
    """Hive/Athena column type -> DuckDB type (map, struct and the scalar types above)."""
    hive = hive.strip()
    m = re.fullmatch(r"map\s*<(.*)>", hive, re.S)
    if m:
        key, value = split_top(m.group(1))
        return f"MAP({duck_type(key)}, {duck_type(value)})"
    m = re.fullmatch(r"struct\s*<(.*)>", hive, re.S)
    if m:
        fields = []
        rest = m.group(1)
        for part in split_all(rest):
            name, typ = part.split(":", 1)
            # The SerDe matches JSON keys case-insensitively; read_json does not, so the fields are
            # spelled as DynamoDB JSON spells its type keys (S, N). Access (.s) is
            # case-insensitive in DuckDB, as in Athena.
            fields.append(f'"{name.strip().upper()}" {duck_type(typ)}')
        return f"STRUCT({', '.join(fields)})"
    if hive.lower() in TYPE_WORDS:
        return TYPE_WORDS[hive.lower()]
    raise SystemExit(f"duckdb_run: no translation for the type {hive!r}")


def split_all(text):
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p for p in parts if p.strip()]


def split_top(text):
    parts = split_all(text)
    if len(parts) != 2:
        raise SystemExit(f"duckdb_run: a map needs a key and a value type: {text!r}")
    return parts


def statements(sql):
    """The SQL's statements, comments dropped."""
    sql = "\n".join(line for line in sql.splitlines() if not line.strip().startswith("--"))
    return [s.strip() for s in sql.split(";") if s.strip()]


PROJECTION = (r"TBLPROPERTIES \(\s*'projection\.enabled' = 'true',\s*'projection\.(\w+)\.type' = 'injected',\s*"
              r"'storage\.location\.template' = '[^']*\$\{(\w+)\}/'\s*\)")


def translate_table(stmt, folders, cut_off):
    m = re.fullmatch(
        r"CREATE EXTERNAL TABLE IF NOT EXISTS (\w+) \(\s*(\w+) (.*?)\s*\)\s*"
        r"PARTITIONED BY \((\w+) string\)\s*ROW FORMAT SERDE "
        r"'org\.openx\.data\.jsonserde\.JsonSerDe'\s*WITH SERDEPROPERTIES \('case\.insensitive' = 'true'\)\s*"
        r"LOCATION '[^']*'\s*" + PROJECTION, stmt, re.S)
    if not m:
        raise SystemExit(f"duckdb_run: no translation for:\n{stmt}")
    table, column, hive, partition, projected, templated = m.groups()
    if not partition == projected == templated:
        raise SystemExit(f"duckdb_run: {table}: the partition, its projection and the location template disagree")
    folder = folders.get(table)
    if folder is None:
        return None
    # One export folder is one partition: its cut-off is a constant column, as Athena projects it.
    data = (Path(folder) / "data" / "*.json.gz").as_posix()
    return (f"CREATE VIEW {table} AS SELECT \"Item\" AS {column}, '{cut_off}' AS {partition} FROM read_json('{data}', "
            f"format='newline_delimited', columns={{'Item': '{duck_type(hive)}'}})")


def translate_query(stmt):
    out = re.sub(r"\belement_at\(", "map_extract_value(", stmt)
    out = re.sub(r"\bfrom_iso8601_timestamp\(([^()]*(?:\([^()]*\)[^()]*)*)\)", r"CAST(\1 AS TIMESTAMPTZ)", out)
    if re.search(r"\b(from_iso8601|date_parse|try_cast|approx_)", out, re.I):
        raise SystemExit(f"duckdb_run: an Athena function without a translation in:\n{stmt}")
    return out


def connect(folders, cut_off):
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for stmt in statements((HERE / "tables.sql").read_text()):
        view = translate_table(stmt, folders, cut_off)
        if view:
            con.execute(view)
    for stmt in statements((HERE / "views.sql").read_text()):
        if "stats_export" in stmt and "stats_export" not in folders:
            continue
        con.execute(translate_query(stmt))
    return con


def rows(con, query):
    cur = con.execute(translate_query(query))
    names = [d[0] for d in cur.description]
    out = []
    for row in cur.fetchall():
        out.append({n: (str(v) if isinstance(v, Decimal) else v.isoformat() if hasattr(v, "isoformat") else v)
                    for n, v in zip(names, row)})
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ledger", required=True, help="the ledger export's AWSDynamoDB/<id> folder")
    ap.add_argument("--stats", help="the stats export's AWSDynamoDB/<id> folder")
    ap.add_argument("--cut-off", default="2026-12-15T00-00-00Z",
                    help="the exports' cut-off as their prefix names it: the partition's value")
    ap.add_argument("--query", action="append", default=[], help="SQL to run (Athena spelling)")
    args = ap.parse_args(argv)
    folders = {"ledger_export": args.ledger}
    if args.stats:
        folders["stats_export"] = args.stats
    con = connect(folders, args.cut_off)
    json.dump([rows(con, q) for q in args.query], sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
