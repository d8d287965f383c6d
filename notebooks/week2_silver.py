"""Week 2's stand-in silver: what the gold lessons (`04a_gold`, `04a_incremental_gold`) build on.

They import it from next to them (`from week2_silver import ...`; a notebook's folder is on `sys.path` in Jupyter and
in a Databricks Git folder). It turns a tiny generated GlobalBev into **minimal silver tables with plain Spark**: typed
columns with the pipeline contract's names, and a few of the week's rules sending rows to a quarantine with the
contract's columns, enough for gold to have something real to build on. Notebooks 03a-03d hold the real silver rules
and `04b_pipeline` runs them; nothing here is part of the `globalbev` package.

- `generate_week2(root)`: a fresh tiny GlobalBev (scale 0.003, three days, seed 7) in `root`;
- `silver_batch(spark, root, days)`: the silver rows of some days, per table, plus their quarantine rows;
- `KEYS`: each silver table's key (what a later day's `merge_upsert` matches on);
- `tiny_silver(spark)`: the hand-made silver of `04a_gold`'s tiny example, whose fact that lesson computes by hand.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from data_generators import GenerationConfig, generate
from globalbev.cleaning import try_to_date
from globalbev.config import is_uri
from globalbev.frames import union_all
from globalbev.runtime import databricks_utils


def reset(folder: str) -> None:
    """Remove a workshop folder (local disk or a Volume; `dbutils` for cloud URIs on Databricks)."""
    if is_uri(folder):
        databricks_utils().fs.rm(folder, True)
    else:
        shutil.rmtree(folder, ignore_errors=True)


def listdir(folder: str) -> list[str]:
    """The names in a folder (local disk, a Volume, or cloud storage through `dbutils`)."""
    if is_uri(folder):
        return sorted(f.name.rstrip("/") for f in databricks_utils().fs.ls(folder))
    return sorted(p.name for p in Path(folder).iterdir()) if Path(folder).is_dir() else []


TYPES = {
    "markets": {
        "market_code": "string",
        "market_name": "string",
        "currency": "string",
        "fx_to_usd": "decimal(12,6)",
        "calling_code": "int",
        "timezone": "string",
    },
    "products": {
        "sku": "string",
        "brand": "string",
        "product_name": "string",
        "category": "string",
        "size_ml": "int",
        "pack_size": "int",
        "list_price_usd": "decimal(10,2)",
        "launched_on": "date",
    },
    "warehouses": {"warehouse_id": "string", "market_code": "string", "city": "string", "capacity_units": "int"},
    "orders": {
        "order_id": "bigint",
        "customer_id": "bigint",
        "market_code": "string",
        "order_ts": "timestamp",
        "channel": "string",
        "status": "string",
        "currency": "string",
        "order_total": "decimal(14,2)",
    },
    "order_lines": {
        "order_id": "bigint",
        "line_no": "int",
        "sku": "string",
        "batch_id": "bigint",
        "quantity": "int",
        "unit_price": "decimal(12,2)",
        "discount_pct": "decimal(5,2)",
        "line_amount": "decimal(14,2)",
    },
    "customers": {
        "customer_id": "bigint",
        "market_code": "string",
        "first_name": "string",
        "last_name": "string",
        "email": "string",
        "phone": "string",
        "street": "string",
        "city": "string",
        "postal_code": "string",
        "signup_date": "date",
        "marketing_consent": "boolean",
        "loyalty_tier": "string",
        "updated_at": "timestamp",
        "deleted_at": "timestamp",
    },
}
EVENTS = (
    "event_id long, event_ts timestamp, warehouse_id string, sku string, event_type string, quantity_delta int, "
    "on_hand_after int, reserved int, reorder_point int"
)
EVENT_COLUMNS = [c.split()[0] for c in EVENTS.split(", ")]
DIALECTS = {
    "shelfly": (",", "MM/dd/yyyy"),
    "marktplatz": (";", "dd.MM.yyyy"),
    "bazar_sul": ("|", "yyyy-MM-dd'T'HH:mm:ss"),
}
MIXED_DATES = ["yyyyMMdd", "dd MMM yyyy", "MMM dd, yyyy", "yyyy/MM/dd"]


def read_op(spark, root: str, table: str, days: list[int]) -> DataFrame:
    """The change files of an operational table for some days, typed by column name."""

    def typed(raw):
        return raw.select(
            *[(F.col(c) if c in raw.columns else F.lit(None)).cast(t).alias(c) for c, t in TYPES[table].items()]
        )

    return union_all(
        [
            typed(spark.read.option("header", True).csv(f"{root}/operational/{table}/{d}"))
            for d in listdir(f"{root}/operational/{table}")
            if int(d[4:]) in days
        ]
    )


def read_partner_orders(spark, root: str, days: list[int]) -> DataFrame:
    """Partner order lines of some days in every partner's CSV dialect, typed; the raw row kept as JSON."""
    parts = []
    for d in (f"day={d:03d}" for d in days):
        for folder in listdir(f"{root}/landing/partner_orders/{d}"):
            sep, fmt = DIALECTS[folder.split("=", 1)[1]]
            raw = (
                spark.read.option("header", True).option("sep", sep).csv(f"{root}/landing/partner_orders/{d}/{folder}")
            )
            raw = raw.toDF(*[c.lower() for c in raw.columns])
            parts.append(
                raw.select(
                    "partner",
                    "partner_order_id",
                    F.col("line_no").cast("int").alias("line_no"),
                    F.coalesce(*[try_to_date("order_date", f) for f in [fmt, *MIXED_DATES]]).alias("order_date"),
                    F.col("market").alias("market_code"),
                    "sku",
                    F.col("quantity").cast("int").alias("quantity"),
                    F.regexp_replace("unit_price", ",", ".").cast("decimal(12,2)").alias("unit_price"),
                    "currency",
                    F.to_json(F.struct(*raw.columns)).alias("_record"),
                    F.lit(d).alias("_day"),
                )
            )
    return union_all(parts)


def read_events(spark, root: str, days: list[int]) -> DataFrame:
    """Warehouse events of some days, typed."""
    return spark.read.schema(EVENTS).json([f"{root}/landing/inventory_events/day={d:03d}" for d in days])


def generate_week2(root: str):
    """A fresh tiny GlobalBev in `root`: scale 0.003, three days (0 and 1 the initial load, 2 a later day), seed 7."""
    reset(root)
    return generate(GenerationConfig(root=root, pg_url=None, scale=0.003, days=3, seed=7))


def rejected(df: DataFrame, dataset: str, key: list[str], rule: Column, record: Column | None = None) -> DataFrame:
    """Rows of `df` whose `rule` (a column giving the rule name or null) fired, in the quarantine table's columns."""
    return (
        df.withColumn("rule", rule)
        .where(F.col("rule").isNotNull())
        .select(
            F.lit(dataset).alias("dataset"),
            F.concat_ws("|", *[F.col(k).cast("string") for k in key]).alias("record_key"),
            "rule",
            F.concat(F.lit("rule "), F.col("rule"), F.lit(" failed")).alias("reason"),
            (record if record is not None else F.to_json(F.struct(*[F.col(c) for c in df.columns]))).alias("record"),
            F.lit("workshop").alias("_source"),
            F.lit("workshop-week2").alias("_run_id"),
            F.current_timestamp().alias("quarantined_at"),
        )
    )


def silver_batch(spark, root: str, days: list[int]) -> dict[str, DataFrame]:
    """Minimal silver for some days: clean rows per table, plus the quarantine for the rows a rule rejected."""
    products = read_op(spark, root, "products", [0])
    known = products.select("sku", F.lit(True).alias("_known"))
    lines = read_op(spark, root, "order_lines", days).join(known, "sku", "left")
    line_rule = F.when(F.col("quantity") <= 0, "quantity_nonpositive").when(F.col("_known").isNull(), "orphan_product")
    partner = read_partner_orders(spark, root, days).join(known, "sku", "left")
    partner = partner.withColumn(
        "_copy", F.row_number().over(Window.partitionBy("_day", "_record").orderBy("_day")) > 1
    )
    partner_rule = (
        F.when(F.col("_copy"), "duplicate_exact")
        .when(F.col("quantity") <= 0, "quantity_nonpositive")
        .when(F.col("_known").isNull(), "orphan_product")
    )
    events = read_events(spark, root, days).withColumn(
        "_copy", F.row_number().over(Window.partitionBy("event_id").orderBy("event_ts")) > 1
    )
    event_rule = F.when(F.col("_copy"), "duplicate_exact").when(F.col("warehouse_id").isNull(), "null_burst")
    customers = read_op(spark, root, "customers", days).withColumn(
        "_n", F.row_number().over(Window.partitionBy("customer_id").orderBy(F.desc("updated_at")))
    )
    p_key = ["partner", "partner_order_id", "line_no"]
    return {
        "markets": read_op(spark, root, "markets", [0]) if 0 in days else None,
        "products": products if 0 in days else None,
        "warehouses": read_op(spark, root, "warehouses", [0]) if 0 in days else None,
        "customers": customers.where("_n = 1")
        .withColumn("is_deleted", F.col("deleted_at").isNotNull())
        .drop("deleted_at", "_n"),
        "orders": read_op(spark, root, "orders", days)
        .withColumn("order_date", F.to_date("order_ts"))
        .withColumn("channel", F.coalesce("channel", F.lit("unknown"))),
        "order_lines": lines.where(line_rule.isNull()).drop("_known"),
        "partner_orders": partner.where(partner_rule.isNull()).drop("_known", "_copy", "_record", "_day"),
        "inventory_events": events.where(event_rule.isNull()).drop("_copy"),
        "quarantine": union_all(
            [
                rejected(
                    lines,
                    "shop.order_lines",
                    ["order_id", "line_no"],
                    line_rule,
                    F.to_json(F.struct(*TYPES["order_lines"])),
                ),
                rejected(partner, "landing/partner_orders", p_key, partner_rule, F.col("_record")),
                rejected(
                    events, "landing/inventory_events", ["event_id"], event_rule, F.to_json(F.struct(*EVENT_COLUMNS))
                ),
            ]
        ).dropDuplicates(["dataset", "record_key", "rule"]),
    }


KEYS = {
    "markets": ["market_code"],
    "products": ["sku"],
    "warehouses": ["warehouse_id"],
    "customers": ["customer_id"],
    "orders": ["order_id"],
    "order_lines": ["order_id", "line_no"],
    "inventory_events": ["event_id"],
    "partner_orders": ["partner", "partner_order_id", "line_no"],
    "quarantine": ["dataset", "record_key", "rule"],
}


def tiny_silver(spark):
    """The hand-made silver of 04a_gold's tiny example (US and GB, 1-2 July 2025, its fact computed by hand)."""
    d1 = dt.date(2025, 7, 1)
    return dict(
        order_lines=spark.createDataFrame(
            [
                (1, 1, "SKU-A", 2, "3.00", "5.40"),
                (1, 2, "SKU-B", 1, "10.00", "10.00"),
                (2, 1, "SKU-A", 1, "3.00", "3.00"),
                (3, 1, "SKU-A", 5, "3.00", "15.00"),
                (4, 1, "SKU-A", 4, "2.00", "8.00"),
            ],
            "order_id long, line_no int, sku string, quantity int, unit_price string, line_amount string",
        ).selectExpr(
            "order_id",
            "line_no",
            "sku",
            "quantity",
            "CAST(unit_price AS decimal(12,2)) AS unit_price",
            "CAST(line_amount AS decimal(14,2)) AS line_amount",
        ),
        orders=spark.createDataFrame(
            [
                (1, 10, "US", d1, "web", "paid"),
                (2, 11, "US", d1, "app", "delivered"),
                (3, 13, "US", d1, "web", "cancelled"),
                (4, 12, "GB", d1, "web", "shipped"),
            ],
            "order_id long, customer_id long, market_code string, order_date date, channel string, status string",
        ),
        partner_orders=spark.createDataFrame(
            [("shelfly", "SH-1", 1, d1, "US", "SKU-A", 3, "3.00")],
            "partner string, partner_order_id string, line_no int, order_date date, market_code string, "
            "sku string, quantity int, unit_price string",
        ).withColumn("unit_price", F.col("unit_price").cast("decimal(12,2)")),
        markets=spark.createDataFrame(
            [("US", "1.000000"), ("GB", "1.270000")], "market_code string, fx_to_usd string"
        ).withColumn("fx_to_usd", F.col("fx_to_usd").cast("decimal(12,6)")),
        inventory_events=spark.createDataFrame(
            [
                (1, dt.datetime(2025, 7, 1, 9), "WH-US-1", "SKU-A", 0),
                (2, dt.datetime(2025, 7, 2, 9), "WH-GB-1", "SKU-B", 0),
                (3, dt.datetime(2025, 7, 1, 9), "WH-GB-1", "SKU-A", 7),
            ],
            "event_id long, event_ts timestamp, warehouse_id string, sku string, on_hand_after int",
        ),
        quarantine=spark.createDataFrame(
            [
                (
                    "shop.order_lines",
                    "2|2",
                    "quantity_nonpositive",
                    '{"order_id":2,"line_no":2,"sku":"SKU-A","quantity":-1}',
                ),
                (
                    "landing/partner_orders",
                    "shelfly|SH-1|1",
                    "duplicate_exact",
                    '{"partner":"shelfly","market":"US","sku":"SKU-A","order_date":"07/01/2025"}',
                ),
            ],
            "dataset string, record_key string, rule string, record string",
        ),
        warehouses=spark.createDataFrame(
            [("WH-US-1", "US"), ("WH-GB-1", "GB")], "warehouse_id string, market_code string"
        ),
    )
