"""Where generated data lands: PostgreSQL (COPY through psycopg 3), operational CSV files, the landing zone.

Every writer returns the number of bytes it wrote (the raw-output figure the benchmark reports).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

# PostgreSQL DDL of schema `shop` (the README's contract). No foreign keys: injected orphans must load.
TABLES: dict[str, list[tuple[str, str]]] = {
    "markets": [
        ("market_code", "text"),
        ("market_name", "text"),
        ("currency", "text"),
        ("fx_to_usd", "numeric(12,6)"),
        ("calling_code", "int"),
        ("timezone", "text"),
        ("updated_at", "timestamptz"),
    ],
    "customers": [
        ("customer_id", "bigint"),
        ("market_code", "text"),
        ("first_name", "text"),
        ("last_name", "text"),
        ("email", "text"),
        ("phone", "text"),
        ("street", "text"),
        ("city", "text"),
        ("postal_code", "text"),
        ("signup_date", "date"),
        ("marketing_consent", "boolean"),
        ("updated_at", "timestamptz"),
        ("deleted_at", "timestamptz"),
    ],
    "products": [
        ("sku", "text"),
        ("brand", "text"),
        ("product_name", "text"),
        ("category", "text"),
        ("size_ml", "int"),
        ("pack_size", "int"),
        ("list_price_usd", "numeric(10,2)"),
        ("launched_on", "date"),
        ("updated_at", "timestamptz"),
    ],
    "batches": [
        ("batch_id", "bigint"),
        ("sku", "text"),
        ("plant", "text"),
        ("manufacture_date", "date"),
        ("expiry_date", "date"),
        ("updated_at", "timestamptz"),
    ],
    "orders": [
        ("order_id", "bigint"),
        ("customer_id", "bigint"),
        ("market_code", "text"),
        ("order_ts", "timestamptz"),
        ("channel", "text"),
        ("status", "text"),
        ("currency", "text"),
        ("order_total", "numeric(14,2)"),
        ("updated_at", "timestamptz"),
    ],
    "order_lines": [
        ("order_id", "bigint"),
        ("line_no", "int"),
        ("sku", "text"),
        ("batch_id", "bigint"),
        ("quantity", "int"),
        ("unit_price", "numeric(12,2)"),
        ("discount_pct", "numeric(5,2)"),
        ("line_amount", "numeric(14,2)"),
        ("updated_at", "timestamptz"),
    ],
    "payments": [
        ("payment_id", "bigint"),
        ("order_id", "bigint"),
        ("method", "text"),
        ("amount", "numeric(14,2)"),
        ("currency", "text"),
        ("card_brand", "text"),
        ("card_last4", "text"),
        ("paid_at", "timestamptz"),
        ("updated_at", "timestamptz"),
    ],
    "warehouses": [
        ("warehouse_id", "text"),
        ("market_code", "text"),
        ("city", "text"),
        ("capacity_units", "int"),
        ("updated_at", "timestamptz"),
    ],
    "inventory": [
        ("warehouse_id", "text"),
        ("sku", "text"),
        ("on_hand", "int"),
        ("reserved", "int"),
        ("reorder_point", "int"),
        ("updated_at", "timestamptz"),
    ],
}
PRIMARY_KEYS = {
    "markets": "market_code",
    "customers": "customer_id",
    "products": "sku",
    "batches": "batch_id",
    "orders": "order_id",
    "order_lines": "order_id, line_no",
    "payments": "payment_id",
    "warehouses": "warehouse_id",
    "inventory": "warehouse_id, sku",
}
UPSERT_TABLES = {"customers", "inventory"}  # later days change existing rows of these tables


def csv_bytes(
    table: pa.Table,
    *,
    header: bool = True,
    delimiter: str = ",",
    quoting: str = "needed",
    eol: str = "\n",
    header_names: list[str] | None = None,
) -> bytes:
    """The table as CSV bytes, exactly as Arrow's writer lays them out (unquoted empty = NULL, "" = empty string)."""
    names = header_names if header_names is not None else table.column_names
    k = table.num_columns
    fields = [_csv_field(table.column(i), quoting, eol if i == k - 1 else "") for i in range(k)]
    if any(f is None for f in fields) or (quoting == "none" and _has_structural(table, delimiter)):
        return _arrow_csv_bytes(
            table, header=header, delimiter=delimiter, quoting=quoting, eol=eol, header_names=header_names
        )
    head = (delimiter.join('"' + n.replace('"', '""') + '"' for n in names) + eol).encode() if header else b""
    if table.num_rows == 0 or not fields:
        return head
    return head + lines_bytes(pc.binary_join_element_wise(*fields, delimiter) if k > 1 else fields[0])


def _arrow_csv_bytes(
    table: pa.Table, *, header: bool, delimiter: str, quoting: str, eol: str, header_names: list[str] | None
) -> bytes:
    """Arrow's own CSV writer (the reference `csv_bytes` reproduces; slow on time-zoned timestamps)."""
    if header_names is not None:
        table = table.rename_columns(header_names)
    buf = io.BytesIO()
    pcsv.write_csv(
        table, buf, pcsv.WriteOptions(include_header=header, delimiter=delimiter, quoting_style=quoting, eol=eol)
    )
    return buf.getvalue()


def _csv_field(col: pa.ChunkedArray, quoting: str, suffix: str = "") -> pa.Array | None:
    """One column's CSV text per row (nulls as ""), followed by `suffix`; None when the type is not handled here."""
    col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    t = col.type
    is_text = pa.types.is_string(t) or pa.types.is_large_string(t)
    quote = (is_text and quoting in ("needed", "all_valid")) or quoting == "all_valid"
    utc = pa.types.is_timestamp(t) and t.tz in ("UTC", "+00:00")
    if not (
        is_text
        or utc
        or pa.types.is_integer(t)
        or pa.types.is_boolean(t)
        or pa.types.is_decimal(t)
        or pa.types.is_date32(t)
        or pa.types.is_floating(t)
    ):
        return None
    if utc and len(col) > 1 and col.null_count == 0:
        lo_hi = pc.min_max(col.cast(pa.int64()))
        if lo_hi["min"] == lo_hi["max"]:  # one value in every row (updated_at): format it once
            one = _csv_field(col.slice(0, 1), quoting, suffix)[0].as_py()
            return pa.repeat(pa.scalar(one, pa.string()), len(col))
    if is_text:
        text = col.cast(pa.string())
        if quote and pc.any(pc.match_substring(text, '"')).as_py():
            text = pc.replace_substring(text, '"', '""')
    elif utc:
        # Arrow formats a UTC timestamp as its naive text + "Z"; the naive cast is ~25x faster than the zoned one
        text = pc.cast(col.cast(pa.timestamp(t.unit)), pa.string())
    else:
        text = pc.cast(col, pa.string())
    before, after = ('"' if quote else ""), ("Z" if utc else "") + ('"' if quote else "")
    if before or after:
        text = (
            pc.binary_join_element_wise(before, text, after, "")
            if before
            else pc.binary_join_element_wise(text, after, "")
        )
    if text.null_count:
        text = pc.fill_null(text, "")
    return pc.binary_join_element_wise(text, suffix, "") if suffix else text


def _has_structural(table: pa.Table, delimiter: str) -> bool:
    """True when a text value holds a character that quoting "none" cannot write (Arrow then raises)."""
    for col in table.columns:
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            for ch in (delimiter, '"', "\n", "\r"):
                if pc.any(pc.match_substring(col, ch)).as_py():
                    return True
    return False


def lines_bytes(lines: pa.Array) -> bytes:
    """Concatenate a string array whose values already end in '\\n' (zero-copy slice of Arrow's data buffer)."""
    lines = pc.cast(lines, pa.string()) if lines.type != pa.string() else lines
    if len(lines) == 0:
        return b""
    lines = pa.concat_arrays([lines]) if lines.offset else lines
    offsets = np.frombuffer(lines.buffers()[1], np.int32, len(lines) + 1)
    return lines.buffers()[2].to_pybytes()[offsets[0] : offsets[-1]]


def json_pretty(obj, indent: int = 2, sort_keys: bool = False, default=None) -> str:
    """json.dumps(obj, indent=indent, ensure_ascii=False, sort_keys=..., default=...), same text, without the
    stdlib's slow pure-Python path (it is only used when indent is None); anything unusual goes to json.dumps."""
    try:
        return _pretty(obj, "\n", " " * indent, sort_keys, default)
    except _NotPlain:
        return json.dumps(obj, indent=indent, ensure_ascii=False, sort_keys=sort_keys, default=default)


class _NotPlain(Exception):
    pass


_encode_str = json.encoder.encode_basestring  # the C implementation when available
_INF = float("inf")


def _pretty(o, nl: str, step: str, sort_keys: bool, default) -> str:
    t = type(o)
    if t is str:
        return _encode_str(o)
    if t is int:
        return int.__repr__(o)
    if t is float:
        if o != o or o == _INF or o == -_INF:
            raise _NotPlain
        return float.__repr__(o)
    if o is None:
        return "null"
    if o is True:
        return "true"
    if o is False:
        return "false"
    inner = nl + step
    if t is dict:
        if not o:
            return "{}"
        if any(type(k) is not str for k in o):
            raise _NotPlain
        items = sorted(o.items()) if sort_keys else o.items()
        return (
            "{"
            + inner
            + ("," + inner).join(_encode_str(k) + ": " + _pretty(v, inner, step, sort_keys, default) for k, v in items)
            + nl
            + "}"
        )
    if t is list or t is tuple:
        if not o:
            return "[]"
        return "[" + inner + ("," + inner).join(_pretty(v, inner, step, sort_keys, default) for v in o) + nl + "]"
    if default is not None and not isinstance(o, (int, float, str, dict, list, tuple)):
        return _pretty(default(o), nl, step, sort_keys, default)
    raise _NotPlain


def write_file(path: Path, data: bytes) -> int:
    """Write bytes to a file (creating folders); returns the byte count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return len(data)


class FileSink:
    """Operational tables as COPY-compatible CSV under <root>/operational/<table>/day=NNN/ (no PostgreSQL)."""

    def __init__(self, root: Path):
        self.root = Path(root) / "operational"
        self._parts: dict[tuple[str, int], int] = {}

    def begin_day(self, day: int, drift_columns: dict[str, list[tuple[str, str]]]) -> None:
        pass

    def next_part(self, table: str, day: int) -> int:
        """The number of the next file of `table` on `day` (files are numbered in write order)."""
        part = self._parts.get((table, day), 0)
        self._parts[(table, day)] = part + 1
        return part

    def path(self, table: str, day: int, part: int) -> Path:
        return self.root / table / f"day={day:03d}" / f"{table}-d{day:03d}-c{part:04d}.csv"

    @staticmethod
    def render(table: str, day: int, data: pa.Table, op: str = "insert") -> bytes:
        """The file's bytes: CSV with a header, plus an `_op` column from day 1."""
        if day > 0:
            data = data.append_column("_op", pa.array(np.full(len(data), op, object), pa.string()))
        return csv_bytes(data)

    def end_day(self, day: int) -> None:
        pass

    def close(self) -> None:
        pass


SHOP_MARKER = "globalbev generator: synthetic GlobalBev data, dropped and made again by every generation"


class ForeignSchemaError(RuntimeError):
    """The server already has a schema `shop` that the generator did not make: it is never dropped without asking."""


def foreign_shop_schema(cur) -> str | None:
    """Why the server's schema `shop` is not the generator's (None: there is none, or the generator made it). The
    generator's carries its comment; one from before the comment holds nothing but the generator's tables."""
    cur.execute("SELECT oid, obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = 'shop'")
    row = cur.fetchone()
    if row is None or row[1] == SHOP_MARKER:
        return None
    cur.execute(
        "SELECT relname FROM pg_class WHERE relnamespace = %s AND relkind IN ('r', 'p', 'v', 'm', 'f')", (row[0],)
    )
    others = sorted({r[0] for r in cur.fetchall()} - set(TABLES))
    if row[1] is None and not others:
        return None
    return f"it holds {', '.join(others[:5])}" if others else f"its comment is {row[1]!r}"


class PostgresSink:
    """Operational tables in PostgreSQL schema `shop`, loaded with COPY; later days upsert through temp tables. Day 0
    replaces `shop` only when the generator made it (or `replace_schema`): a server's own `shop` is never dropped."""

    def __init__(self, url: str, replace_schema: bool = False):
        import psycopg

        self.conn = psycopg.connect(url, autocommit=False)
        self.columns = {t: list(cols) for t, cols in TABLES.items()}
        self.replace_schema = replace_schema

    def begin_day(self, day: int, drift_columns: dict[str, list[tuple[str, str]]]) -> None:
        with self.conn.cursor() as cur:
            if day == 0:
                foreign = foreign_shop_schema(cur)
                if foreign and not self.replace_schema:
                    self.conn.rollback()
                    info = self.conn.info
                    raise ForeignSchemaError(
                        f"schema shop on {info.host}:{info.port}/{info.dbname} was not made by the generator "
                        f"({foreign}): refusing to drop it. Point --pg-url at another database, or pass "
                        "--replace-shop-schema to drop it and everything in it"
                    )
                cur.execute("DROP SCHEMA IF EXISTS shop CASCADE")
                cur.execute("CREATE SCHEMA shop")
                cur.execute(f"COMMENT ON SCHEMA shop IS '{SHOP_MARKER}'")
                for table, cols in TABLES.items():
                    cur.execute(f"CREATE TABLE shop.{table} ({', '.join(f'{c} {t}' for c, t in cols)})")
            for table, cols in drift_columns.items():
                for col, typ in cols:
                    if (col, typ) not in self.columns[table]:
                        cur.execute(f"ALTER TABLE shop.{table} ADD COLUMN {col} {typ}")
                        self.columns[table].append((col, typ))
        self.conn.commit()

    @staticmethod
    def render(table: str, day: int, data: pa.Table, op: str = "insert") -> bytes:
        """The COPY payload (CSV without header); can be built in another process."""
        return csv_bytes(data, header=False)

    def load(self, table: str, day: int, payload: bytes, column_names: list[str], op: str = "insert") -> int:
        """COPY a rendered payload into shop.<table> (upserting customers and inventory from day 1)."""
        cols = ", ".join(column_names)
        with self.conn.cursor() as cur:
            if day > 0 and table in UPSERT_TABLES:
                cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS stage_{table} (LIKE shop.{table}) ON COMMIT DROP")
                cur.execute(f"TRUNCATE stage_{table}")
                with cur.copy(f"COPY stage_{table} ({cols}) FROM STDIN (FORMAT csv)") as copy:
                    copy.write(payload)
                keys = PRIMARY_KEYS[table]
                sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in column_names if c not in keys.split(", "))
                cur.execute(
                    f"INSERT INTO shop.{table} ({cols}) SELECT {cols} FROM stage_{table} "
                    f"ON CONFLICT ({keys}) DO UPDATE SET {sets}"
                )
            else:
                with cur.copy(f"COPY shop.{table} ({cols}) FROM STDIN (FORMAT csv)") as copy:
                    copy.write(payload)
        return len(payload)

    def end_day(self, day: int) -> None:
        with self.conn.cursor() as cur:
            if day == 0:
                for table, key in PRIMARY_KEYS.items():
                    cur.execute(f"ALTER TABLE shop.{table} ADD PRIMARY KEY ({key})")
                cur.execute("CREATE INDEX ON shop.customers (updated_at)")
                cur.execute("CREATE INDEX ON shop.orders (updated_at)")
                cur.execute("CREATE INDEX ON shop.order_lines (updated_at)")
        self.conn.commit()
        with self.conn.cursor() as cur:
            self.conn.autocommit = True
            cur.execute("ANALYZE")
            self.conn.autocommit = False

    def close(self) -> None:
        self.conn.close()
