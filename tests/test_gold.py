"""Gold on tiny hand-made silver: the fact computed by hand, dimensions, reconciliation, the slices a change touches.
The incremental refresh from the CDF on the same tiny silver (a cancelled order, a moved order and a new partner line:
the four slices touched, the fact equal to a full rebuild, nothing done when nothing is new) is asserted in
notebooks/04a_incremental_gold.ipynb, which ./dev test runs."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from globalbev.delta_ops import path_table
from globalbev.gold import (
    MONEY,
    Silver,
    build_dim_customer,
    build_dim_date,
    build_fact_sku_market_performance,
    quarantined_sales_lines,
    reconcile,
)
from globalbev.incremental_gold import affected_slices

sys.path.append(str(Path(__file__).resolve().parents[1] / "notebooks"))  # the lessons' week2_silver.py
from week2_silver import tiny_silver  # noqa: E402 — the hand-made silver lessons 04a_gold and 04a_incremental_gold use

D1, D2 = dt.date(2025, 7, 1), dt.date(2025, 7, 2)


def _expected(spark, rows):
    df = spark.createDataFrame(
        rows,
        "sku string, market_code string, date date, units long, g string, n string, orders long, "
        "distinct_customers long, a string, stockout_days int, quarantined_share double",
    )
    return df.selectExpr(
        "sku",
        "market_code",
        "date",
        "units",
        f"CAST(g AS {MONEY}) AS gross_revenue_usd",
        f"CAST(n AS {MONEY}) AS net_revenue_usd",
        "orders",
        "distinct_customers",
        "CAST(a AS decimal(18,6)) AS avg_selling_price_usd",
        "stockout_days",
        "quarantined_share",
    )


@pytest.mark.unit
def test_fact_on_a_tiny_hand_computed_example(spark):
    fact = build_fact_sku_market_performance(**tiny_silver(spark))
    assertDataFrameEqual(
        fact,
        _expected(
            spark,
            [
                # US SKU-A: orders 1 (2 × 3.00 − 10 % = 5.40), 2 (1 × 3.00), partner (3 × 3.00); order 3 cancelled;
                # 1 rejected line of 4
                ("SKU-A", "US", D1, 6, "18", "17.40", 3, 2, "2.9", 1, 0.25),
                ("SKU-B", "US", D1, 1, "10", "10", 1, 1, "10", 0, 0.0),
                ("SKU-A", "GB", D1, 4, "10.16", "10.16", 1, 1, "2.54", 0, 0.0),  # 8.00 GBP × 1.27
                ("SKU-B", "GB", D2, 0, "0", "0", 0, 0, None, 1, None),
            ],
        ),
    )  # a stockout day without sales


@pytest.mark.unit
def test_quarantined_lines_are_placed_through_their_order_and_partner_dates_parsed(spark):
    s = tiny_silver(spark)
    q = spark.createDataFrame(
        [
            ("shop.order_lines", "9|1", "orphan_product", '{"order_id":9,"line_no":1,"sku":"SKU-Z","quantity":1}'),
            (
                "shop.orders",
                "9",
                "orphan_customer",
                '{"order_id":9,"market_code":"GB","order_ts":"2025-07-02T10:00:00.000Z"}',
            ),
            (
                "shop.order_lines",
                "1|1",
                "superseded",
                '{"order_id":1,"line_no":1,"sku":"SKU-A","quantity":2}',
            ),  # a copy: not lost
            (
                "landing/partner_orders",
                "marktplatz|MA-1|1",
                "quantity_nonpositive",
                '{"partner":"marktplatz","market":"DE","sku":"SKU-A","order_date":"02 Jul 2025"}',
            ),
        ],
        "dataset string, record_key string, rule string, record string",
    )
    got = quarantined_sales_lines(q, s["orders"])
    assertDataFrameEqual(
        got,
        spark.createDataFrame(
            [("SKU-Z", "GB", D2, 1), ("SKU-A", "DE", D2, 1)],
            "sku string, market_code string, date date, quarantined_lines long",
        ),
    )


@pytest.mark.unit
def test_reconciliation_equal_and_a_tampered_gold_row_fails(spark):
    s = tiny_silver(spark)
    fact = build_fact_sku_market_performance(**s)
    table, ok = reconcile(fact, s["order_lines"], s["orders"], s["partner_orders"], s["markets"])
    assert ok
    assert [
        (r.market_code, r.silver_units, r.gold_units, str(r.silver_net_revenue_usd), r.matches) for r in table.collect()
    ] == [("GB", 4, 4, "10.16000000", True), ("US", 7, 7, "27.40000000", True)]
    cent = fact.withColumn(
        "net_revenue_usd",
        F.when(
            (F.col("market_code") == "US") & (F.col("sku") == "SKU-B"),
            F.col("net_revenue_usd") + F.lit("0.00000001").cast(MONEY),
        )
        .otherwise(F.col("net_revenue_usd"))
        .cast(MONEY),
    )
    table, ok = reconcile(cent, s["order_lines"], s["orders"], s["partner_orders"], s["markets"])
    assert not ok and [r.market_code for r in table.where("NOT matches").collect()] == ["US"]
    lost = fact.where("market_code <> 'GB'")  # a market missing from gold is a mismatch too
    table, ok = reconcile(lost, s["order_lines"], s["orders"], s["partner_orders"], s["markets"])
    assert not ok and table.where("market_code = 'GB'").first().gold_units == 0


@pytest.mark.unit
def test_dim_date_and_dim_customer(spark, tmp_path):
    days = build_dim_date(spark, dt.date(2025, 6, 29), dt.date(2025, 6, 30)).collect()
    assert [(r.day_of_week, r.is_weekend, r.iso_week, r.quarter) for r in days] == [(7, True, 26, 2), (1, False, 27, 2)]
    t1, t2 = dt.datetime(2025, 7, 1, 23), dt.datetime(2025, 7, 2, 23)
    schema = (
        "customer_id long, market_code string, city string, updated_at timestamp, is_deleted boolean, _run_id string"
    )
    dim = path_table(str(tmp_path / "dim_customer"))
    build_dim_customer(
        spark,
        spark.createDataFrame([(1, "US", "Boston", t1, False, "r1"), (2, "GB", "Leeds", t1, False, "r1")], schema),
        dim,
    )
    assert build_dim_customer(
        spark,
        spark.createDataFrame([(1, "US", "Austin", t2, False, "r2"), (2, "GB", "Leeds", t2, True, "r2")], schema),
        dim,
    ) == {"opened": 1, "closed": 2}
    current = spark.table(dim).where("is_current").select("customer_id", "city", "valid_from")
    assertDataFrameEqual(
        current, spark.createDataFrame([(1, "Austin", t2)], "customer_id long, city string, valid_from timestamp")
    )
    assert "_run_id" not in spark.table(dim).columns


@pytest.mark.unit
def test_affected_slices_old_and_new_of_a_moved_order_every_slice_of_a_rate_and_a_new_stockout(spark):
    """The slices `affected_slices` names from Change Data Feed rows: an order's lines on its day before and after a
    move (pre- and post-image), every slice of a market whose rate changed, the slice of a new stockout."""
    s = tiny_silver(spark)
    moved = s["orders"].where("order_id = 1")  # US, lines SKU-A and SKU-B, 1 July
    d3 = dt.date(2025, 7, 3)
    changes = {
        "orders": moved.withColumn("_change_type", F.lit("update_preimage")).unionByName(
            moved.withColumn("order_date", F.lit(d3)).withColumn("_change_type", F.lit("update_postimage"))
        ),
        "markets": s["markets"].where("market_code = 'GB'").withColumn("_change_type", F.lit("update_postimage")),
        "inventory_events": spark.createDataFrame(
            [(4, dt.datetime(2025, 7, 2, 18), "WH-US-1", "SKU-B", 0)],
            "event_id long, event_ts timestamp, warehouse_id string, sku string, on_hand_after int",
        ),
    }
    got = {tuple(r) for r in affected_slices(changes, Silver(**s)).collect()}
    assert got == {
        ("SKU-A", "US", D1), ("SKU-B", "US", D1), ("SKU-A", "US", d3), ("SKU-B", "US", d3),  # the move, both days
        ("SKU-A", "GB", D1), ("SKU-B", "GB", D2),  # GB's rate: every GB slice of the fact
        ("SKU-B", "US", D2),  # the new stockout
    }  # fmt: skip
