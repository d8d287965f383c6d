"""A peer for the pipeline benchmark: gold's `fact_sku_market_performance` computed by DuckDB from the same raw input
(the shop's PostgreSQL tables and the landing zone's files), on the same machine — the yardstick for what one machine
can do.

    .venv/bin/python benchmarks/duckdb_peer.py --root DATA --pg-url postgresql://...   # prints seconds and totals

It applies the silver rules that decide what reaches the fact, in SQL:
- orders: id and timestamp present, the customer exists, not dated after the day it was written, known status/channel;
- order lines: positive quantity, the product and batch exist, the batch not made after the sale, the price within
  10x of the price rule, a discount of 0-100 %, the order exists and was not rejected;
- partner lines (three CSV dialects): exact copies dropped, a date in any known format, whole positive quantity,
  a price (decimal comma read as a point), a known product, market and partner;
- inventory events: exact copies dropped, id/time present, known type, on hand >= 0, known product and warehouse;
then the fact per sku x market x day as gold builds it: units, gross/net revenue in USD, orders, distinct customers,
stockout days and the share of the slice's lines that were quarantined.
It does not write an audited lakehouse: no Delta tables, no quarantine table, no state, no history, no incremental
runs — what it measures is the work itself. `compare` checks its per-market totals against Spark's gold table.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from globalbev.cleaning import DATE_FORMATS  # noqa: E402
from globalbev.landing import PARTNER_COLUMNS, PARTNER_DIALECTS  # noqa: E402
from globalbev.quality_landing import EVENT_TYPES  # noqa: E402
from globalbev.quality_sales import CHANNELS, ORDER_STATUSES  # noqa: E402

# What PostgreSQL hands over (timestamps as UTC text), and the types DuckDB reads them as.
PG_TABLES = {
    "markets": ("market_code", "fx_to_usd"),
    "customers": ("customer_id",),
    "products": ("sku", "list_price_usd"),
    "batches": ("batch_id", "manufacture_date"),
    "warehouses": ("warehouse_id", "market_code"),
    "orders": ("order_id", "customer_id", "market_code", "order_ts", "channel", "status", "updated_at"),
    "order_lines": ("order_id", "line_no", "sku", "batch_id", "quantity", "unit_price", "discount_pct", "line_amount"),
}
TYPES = {
    "fx_to_usd": "DECIMAL(12,6)", "customer_id": "BIGINT", "list_price_usd": "DECIMAL(10,2)", "batch_id": "BIGINT",
    "manufacture_date": "DATE", "order_id": "BIGINT", "order_ts": "TIMESTAMP", "updated_at": "TIMESTAMP",
    "line_no": "INTEGER", "quantity": "INTEGER", "unit_price": "DECIMAL(12,2)", "discount_pct": "DECIMAL(5,2)",
    "line_amount": "DECIMAL(14,2)",
}  # fmt: skip
MEASURES = ("rows", "units", "gross_revenue_usd", "net_revenue_usd", "orders", "distinct_customers",
            "stockout_days", "quarantined_share")  # fmt: skip


def _strftime(spark_format: str) -> str:
    """Spark's date pattern (`DATE_FORMATS`) as DuckDB's strptime format."""
    out = spark_format.replace("'T'", "T")
    for spark, duck in (("yyyy", "%Y"), ("MMM", "%b"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("mm", "%M"),
                        ("ss", "%S")):  # fmt: skip
        out = out.replace(spark, duck)
    return out


def any_format_date(text: str, formats=DATE_FORMATS, iso_prefix: bool = False) -> str:
    """SQL: the date in the first of `formats` that parses `text` (null when none does); with `iso_prefix`, as gold's
    `any_date`, a longer text's first ten characters read as yyyy-MM-dd last."""
    tries = [f"try_strptime({text}, '{_strftime(f)}')::DATE" for f in formats]
    if iso_prefix:
        tries.append(f"CASE WHEN length({text}) > 10 THEN try_strptime(substr({text}, 1, 10), '%Y-%m-%d')::DATE END")
    return "coalesce(" + ", ".join(tries) + ")"


def extract_postgres(pg_url: str, folder: Path) -> dict[str, Path]:
    """The shop tables the fact needs, copied out of PostgreSQL as CSV (timestamps in UTC)."""
    import psycopg

    out = {}
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        for table, cols in PG_TABLES.items():
            path = out[table] = folder / f"{table}.csv"
            select = ", ".join(f"{c}::timestamp" if TYPES.get(c) == "TIMESTAMP" else c for c in cols)
            with conn.cursor().copy(f"COPY (SELECT {select} FROM shop.{table}) TO STDOUT (FORMAT csv, HEADER)") as cp:
                with path.open("wb") as f:
                    for chunk in cp:
                        f.write(chunk)
    return out


def _load(con, csvs: dict[str, Path], landing: Path) -> None:
    for table, path in csvs.items():
        cols = ", ".join(f"'{c}': '{TYPES.get(c, 'VARCHAR')}'" for c in PG_TABLES[table])
        con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_csv('{path}', header = true, columns = {{{cols}}})")
    files, cols = landing / "partner_orders", ", ".join(f"'{c}': 'VARCHAR'" for c in PARTNER_COLUMNS)
    con.execute(f"CREATE TABLE partner_raw ({', '.join(f'{c} VARCHAR' for c in PARTNER_COLUMNS)}, filename VARCHAR)")
    for partner, dialect in PARTNER_DIALECTS.items():
        if list(files.glob(f"day=*/partner={partner}/*.csv")):  # a partner without files adds nothing
            con.execute(
                f"INSERT INTO partner_raw SELECT * FROM read_csv('{files}/day=*/partner={partner}/*.csv', "
                f"delim = '{dialect['sep']}', header = true, columns = {{{cols}}}, quote = '\"', filename = true, "
                "hive_partitioning = false)"  # the partner column as the file writes it, not the folder's name
            )
    events = f"{landing}/inventory_events/day=*/*.jsonl"
    con.execute(
        f"""CREATE TABLE events_raw AS SELECT * FROM read_json('{events}', format = 'newline_delimited', columns = {{
            'event_id': 'BIGINT', 'event_ts': 'TIMESTAMPTZ', 'warehouse_id': 'VARCHAR', 'sku': 'VARCHAR',
            'event_type': 'VARCHAR', 'quantity_delta': 'INTEGER', 'on_hand_after': 'INTEGER', 'reserved': 'INTEGER',
            'reorder_point': 'INTEGER'}})"""
    )


FACT_SQL = """
CREATE TABLE orders_checked AS
SELECT o.*, o.order_ts::DATE AS order_date,
       o.order_id IS NULL OR o.order_ts IS NULL
       OR (o.customer_id IS NOT NULL
           AND o.customer_id NOT IN (SELECT customer_id FROM customers WHERE customer_id IS NOT NULL))
       OR coalesce(o.order_ts::DATE > o.updated_at::DATE, false)
       OR coalesce(o.status NOT IN ({statuses}), false)
       OR coalesce(o.channel NOT IN ({channels}), false) AS rejected
FROM orders o;

CREATE TABLE lines_checked AS
SELECT l.*, o.order_date, o.market_code, o.customer_id, o.status,
       l.order_id IS NULL OR l.line_no IS NULL
       OR coalesce(l.quantity <= 0, false)
       OR (l.sku IS NOT NULL AND p.sku IS NULL) OR (l.batch_id IS NOT NULL AND b.batch_id IS NULL)
       OR coalesce(b.manufacture_date > o.order_ts::DATE, false)
       OR coalesce(l.unit_price > round(p.list_price_usd / m.fx_to_usd, 2) * 10
                   OR l.unit_price < round(p.list_price_usd / m.fx_to_usd, 2) / 10, false)
       OR coalesce(l.discount_pct < 0 OR l.discount_pct > 100, false)
       OR (l.order_id IS NOT NULL AND o.order_id IS NULL)
       OR coalesce(o.rejected, false) AS rejected
FROM order_lines l
LEFT JOIN orders_checked o USING (order_id)
LEFT JOIN products p USING (sku)
LEFT JOIN batches b USING (batch_id)
LEFT JOIN markets m ON m.market_code = o.market_code;

CREATE TABLE partner_distinct AS  -- exact copies (all columns equal, as written) leave: one stays
SELECT * EXCLUDE (filename) FROM partner_raw
QUALIFY row_number() OVER (PARTITION BY {partner_cols} ORDER BY filename) = 1;

CREATE TABLE partner_checked AS
WITH parsed AS (
  SELECT *, trim(partner) AS _partner, trim(partner_order_id) AS _poid, TRY_CAST(trim(line_no) AS INTEGER) AS _line_no,
         {any_date_trimmed} AS _date, TRY_CAST(trim(quantity) AS INTEGER) AS _quantity,
         TRY_CAST(replace(trim(unit_price), ',', '.') AS DECIMAL(12,2)) AS _unit_price, upper(trim(market)) AS _market
  FROM partner_distinct
)
SELECT parsed.*,
       partner_order_id IS NULL OR _line_no IS NULL OR coalesce(_partner NOT IN ({partners}), false) OR _date IS NULL
       OR _quantity IS NULL OR _quantity <= 0 OR _unit_price IS NULL
       OR (sku IS NOT NULL AND sku NOT IN (SELECT sku FROM products))
       OR (_market IS NOT NULL AND _market NOT IN (SELECT market_code FROM markets)) AS rejected
FROM parsed;

CREATE TABLE sales AS
SELECT sku, l.market_code, order_date AS date, 'shop:' || order_id AS order_key, customer_id, quantity,
       CAST(quantity * unit_price AS DECIMAL(18,2)) AS gross_local, CAST(line_amount AS DECIMAL(18,2)) AS net_local
FROM lines_checked l WHERE NOT rejected AND coalesce(status, '') <> 'cancelled'
UNION ALL
SELECT trim(sku), _market, _date, 'partner:' || _partner || ':' || _poid, NULL, _quantity,
       CAST(_quantity * _unit_price AS DECIMAL(18,2)), CAST(_quantity * _unit_price AS DECIMAL(18,2))
FROM partner_checked WHERE NOT rejected;

CREATE TABLE events_clean AS
SELECT * FROM (SELECT DISTINCT * FROM events_raw)
WHERE event_id IS NOT NULL AND event_ts IS NOT NULL
  AND coalesce(event_type IN ({event_types}), true)
  AND coalesce(on_hand_after >= 0, true)
  AND NOT (sku IS NOT NULL AND sku NOT IN (SELECT sku FROM products))
  AND NOT (warehouse_id IS NOT NULL AND warehouse_id NOT IN (SELECT warehouse_id FROM warehouses))
QUALIFY row_number() OVER (PARTITION BY event_id) = 1;

CREATE TABLE quarantined AS  -- rejected sales lines (copies aside), placed by their order when they carry no market
WITH placed AS (SELECT order_id, market_code, order_date FROM orders_checked)
SELECT sku, market_code, date, count(*) AS quarantined_lines FROM (
  SELECT l.sku, o.market_code, o.order_date AS date FROM lines_checked l JOIN placed o USING (order_id)
  WHERE l.rejected
  UNION ALL
  SELECT sku, market, {any_date_raw} FROM partner_checked WHERE rejected
) WHERE sku IS NOT NULL AND market_code IS NOT NULL AND date IS NOT NULL
GROUP BY ALL;

CREATE TABLE fact AS
WITH agg AS (
  SELECT s.sku, s.market_code, s.date, sum(quantity) AS units, sum(gross_local * m.fx_to_usd) AS gross_usd,
         sum(net_local * m.fx_to_usd) AS net_usd, count(DISTINCT order_key) AS orders,
         count(DISTINCT customer_id) AS distinct_customers, count(*) AS lines
  FROM sales s JOIN markets m USING (market_code) GROUP BY ALL
), stockouts AS (
  SELECT DISTINCT e.sku, w.market_code, (e.event_ts AT TIME ZONE 'UTC')::DATE AS date, 1 AS stockout_days
  FROM events_clean e JOIN warehouses w USING (warehouse_id) WHERE on_hand_after = 0
)
SELECT sku, market_code, date, coalesce(units, 0) AS units, coalesce(gross_usd, 0) AS gross_revenue_usd,
       coalesce(net_usd, 0) AS net_revenue_usd, coalesce(orders, 0) AS orders,
       coalesce(distinct_customers, 0) AS distinct_customers, coalesce(stockout_days, 0) AS stockout_days,
       CASE WHEN coalesce(lines, 0) + coalesce(quarantined_lines, 0) > 0
            THEN coalesce(quarantined_lines, 0) / (coalesce(lines, 0) + coalesce(quarantined_lines, 0)) END
         AS quarantined_share
FROM agg FULL JOIN stockouts USING (sku, market_code, date) LEFT JOIN quarantined USING (sku, market_code, date);
"""


def _sql_list(values) -> str:
    return ", ".join(f"'{v}'" for v in values)


def per_market_sql(table: str) -> str:
    """SQL (Spark and DuckDB alike): the fact's totals per market, to compare two facts."""
    return f"""SELECT market_code, count(*) AS rows, sum(units) AS units,
      CAST(sum(gross_revenue_usd) AS DECIMAL(30,2)) AS gross_revenue_usd,
      CAST(sum(net_revenue_usd) AS DECIMAL(30,2)) AS net_revenue_usd, sum(orders) AS orders,
      sum(distinct_customers) AS distinct_customers, sum(stockout_days) AS stockout_days,
      round(sum(coalesce(quarantined_share, 0)), 6) AS quarantined_share
    FROM {table} GROUP BY market_code ORDER BY market_code"""


def _memory_limit(share: float = 0.6, floor_mb: int = 1024) -> str:
    """DuckDB's memory limit: `share` of the memory still available (Linux's MemAvailable), at least `floor_mb`."""
    try:
        meminfo = Path("/proc/meminfo").read_text()
        available_kb = int(next(ln.split()[1] for ln in meminfo.splitlines() if ln.startswith("MemAvailable:")))
    except (OSError, StopIteration, ValueError):  # not Linux: DuckDB's own default
        return "80%"
    return f"{max(floor_mb, int(available_kb * share / 1024))}MB"


def run_peer(root: str | Path, pg_url: str) -> dict:
    """Compute the fact from the raw input under `root` and `pg_url`; returns seconds and totals per market."""
    import duckdb

    landing = Path(root) / "landing"
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="globalbev-duckdb-") as tmp:
        csvs = extract_postgres(pg_url, Path(tmp))
        extract_s = time.perf_counter() - t0
        # A database file and a spill folder beside it, and a memory limit from what the machine has left (the Spark
        # driver is still up): in memory with DuckDB's default limit (80 % of RAM) it was killed at SF 5.
        memory_limit = _memory_limit()
        con = duckdb.connect(str(Path(tmp) / "peer.duckdb"))
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"SET temp_directory = '{Path(tmp) / 'spill'}'")
        con.execute(f"SET memory_limit = '{memory_limit}'")
        con.execute("SET preserve_insertion_order = false")
        _load(con, csvs, landing)
        con.execute(
            FACT_SQL.format(
                partner_cols=", ".join(PARTNER_COLUMNS),
                partners=_sql_list(PARTNER_DIALECTS),
                statuses=_sql_list(ORDER_STATUSES),
                channels=_sql_list(CHANNELS),
                event_types=_sql_list(EVENT_TYPES),
                any_date_trimmed=any_format_date("trim(order_date)"),
                any_date_raw=any_format_date("order_date", iso_prefix=True),  # gold's any_date: not trimmed
            )
        )
        rows = con.execute(per_market_sql("fact")).fetchall()
        cols = [d[0] for d in con.description]
        con.close()
    return {
        "seconds": round(time.perf_counter() - t0, 1),
        "extract_s": round(extract_s, 1),
        "memory_limit": memory_limit,
        "per_market": {r[0]: dict(zip(cols[1:], [_plain(v) for v in r[1:]], strict=True)) for r in rows},
    }


def _plain(v):
    """A number as JSON writes it exactly (decimals as text)."""
    return str(v) if isinstance(v, Decimal) else v


def spark_per_market(spark, table: str) -> dict:
    """Spark's gold fact totals per market, in the peer's shape."""
    rows = spark.sql(per_market_sql(table)).collect()
    return {r["market_code"]: {k: _plain(r[k]) for k in MEASURES} for r in rows}


def compare(peer: dict, spark_totals: dict) -> list[str]:
    """The differences between two per-market totals (empty: the two facts agree)."""
    diffs = []
    for market in sorted(set(peer) | set(spark_totals)):
        a, b = peer.get(market, {}), spark_totals.get(market, {})
        for k in MEASURES:
            if str(a.get(k)) != str(b.get(k)):
                diffs.append(f"{market}.{k}: duckdb {a.get(k)} vs spark {b.get(k)}")
    return diffs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True, help="the generator's root (landing/ under it)")
    ap.add_argument("--pg-url", required=True, help="the PostgreSQL the generator loaded")
    args = ap.parse_args(argv)
    out = run_peer(args.root, args.pg_url)
    print(f"duckdb: {out['seconds']} s (PostgreSQL extract {out['extract_s']} s)")
    for market, totals in out["per_market"].items():
        print(market, totals)
    return 0


if __name__ == "__main__":
    sys.exit(main())
