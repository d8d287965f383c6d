"""The naive and the optimised pipeline of notebook 05_naive_vs_optimised on a tiny hand-made day: the Python UDFs
apply week 2's rules exactly (hostile values included), both versions write the same tables, the naive one in more
files and commits, and plan_findings names the naive plan's mistakes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from pyspark.sql import functions as F

from globalbev.frames import local_frame
from globalbev.naive_vs_optimised import (
    NAIVE_PARTITIONS,
    NAIVE_SETTINGS,
    city_udf,
    compare,
    comparison_table,
    email_udf,
    phone_udf,
    postal_code_udf,
    revenue_usd_udf,
    sales_lines,
    silver_customers,
    table_commits,
    variant_tables,
)
from globalbev.plans import plan_findings
from globalbev.runtime import session_conf

PHONES = [
    ("07416 324062", "GB"), ("+44 (0)20 7946 0958", "GB"), ("0044 7416 324062", "GB"), ("(212) 555-0187", "US"),
    ("011 49 1512 3456789", "US"), ("0151 23456789", "DE"), ("+55 11 91234-5678", "BR"), ("0 21 11 91234 5678", "BR"),
    ("98765 43210", "IN"), ("01 23 45 67 89", "FR"), ("12345", "GB"), ("0741６ 324062", "GB"),  # a full-width digit
    ("07416\u00a0324062", "GB"), ("07416\t324062", "GB"), ("phone", "US"), ("", "DE"), (None, "DE"),
    ("07416 324062", None), ("07416 324062", "XX"),
]  # fmt: skip
EMAILS = [" Ana.Silva@Example.COM ", "\tana@example.com", "ana@example", "ÄNNE@example.de", "a b@example.com", None, ""]
CITIES = ["  SÃO   PAULO ", "münchen", "MÜNCHEN", "Straße", "STRAßE", "New york", "mumbai\tcentral", "123", "", None]
POSTALS = [" sw1a 1aa ", "10115", "   ", "", None, "ec1a\t1bb"]


@pytest.mark.unit
def test_the_udfs_apply_the_native_rules_exactly(spark):
    from globalbev.cleaning import standardize_city, standardize_email, standardize_phone, standardize_postal_code

    cases = [
        (PHONES, "phone string, market string", lambda: standardize_phone("phone", "market"),
         lambda: phone_udf("phone", "market")),
        ([(e,) for e in EMAILS], "v string", lambda: standardize_email("v"), lambda: email_udf("v")),
        ([(c,) for c in CITIES], "v string", lambda: standardize_city("v"), lambda: city_udf("v")),
        ([(p,) for p in POSTALS], "v string", lambda: standardize_postal_code("v"), lambda: postal_code_udf("v")),
    ]  # fmt: skip
    for rows, ddl, native, udf in cases:
        df = local_frame(spark, rows, ddl)
        got = df.select(native().alias("native"), udf().alias("udf")).collect()
        assert [r.native for r in got] == [r.udf for r in got], rows
    assert sum(r.native is not None for r in got) == 3  # not all null: the rules did something


@pytest.mark.unit
def test_the_usd_udf_rounds_as_spark_casts(spark):
    rows = [(Decimal("10.05"), Decimal("1.085000")), (Decimal("0.01"), Decimal("0.500000")), (None, Decimal("1"))]
    df = local_frame(spark, rows, "a decimal(14,2), fx decimal(12,6)")
    got = df.select((F.col("a") * F.col("fx")).cast("decimal(18,2)").alias("n"), revenue_usd_udf("a", "fx").alias("u"))
    cents = [Decimal("10.90"), Decimal("0.01"), None]
    assert [(r.n, r.u) for r in got.collect()] == [(c, c) for c in cents]


def tiny_day(spark) -> dict:
    ts = dt.datetime(2026, 11, 30, 10, 0)
    customers = [
        (1, "GB", "07416 324062", " Ana@Example.com ", "LONDON", "sw1a 1aa", dt.date(2024, 1, 1), ts),
        (1, "GB", "07416 324063", "ana@example.com", "London", "SW1A 1AA", dt.date(2024, 1, 1), ts + dt.timedelta(1)),
        (2, "DE", "0151 23456789", "bad-address", "münchen", "80331", dt.date(2025, 5, 5), ts),
    ]
    orders = [(10, 1, "GB", ts, "shipped"), (11, 2, "DE", ts + dt.timedelta(1), "paid"), (12, 2, "DE", ts, "cancelled")]
    lines = [(10, 1, "SKU-1", 2, Decimal("5.00")), (10, 2, "SKU-2", 1, Decimal("3.33")),
             (11, 1, "SKU-1", 4, Decimal("9.99")), (12, 1, "SKU-2", 1, Decimal("1.00"))]  # fmt: skip
    return {
        "customers": local_frame(spark, customers, "customer_id bigint, market_code string, phone string, "
                                 "email string, city string, postal_code string, signup_date date, "
                                 "updated_at timestamp"),
        "orders": local_frame(spark, orders, "order_id bigint, customer_id bigint, market_code string, "
                              "order_ts timestamp, status string"),
        "order_lines": local_frame(spark, lines, "order_id bigint, line_no int, sku string, quantity int, "
                                   "line_amount decimal(14,2)"),
        "products": local_frame(spark, [("SKU-1", "water"), ("SKU-2", "tea")], "sku string, category string"),
        "markets": local_frame(spark, [("GB", Decimal("1.270000")), ("DE", Decimal("1.080000"))],
                               "market_code string, fx_to_usd decimal(12,6)"),
    }  # fmt: skip


@pytest.mark.unit
def test_both_versions_write_the_same_tables_the_naive_in_more_files_and_commits(spark, test_config):
    day = tiny_day(spark)
    before = spark.conf.get("spark.sql.shuffle.partitions")
    result = compare(spark, day, test_config, raw_input_bytes=1000, warm_up=False)
    assert spark.conf.get("spark.sql.shuffle.partitions") == before  # the naive settings are put back
    assert (
        result["naive"]["rows"] == result["optimised"]["rows"] == {"customers": 2, "sales_lines": 4, "daily_sales": 4}
    )
    assert result["naive"]["commits"]["daily_sales"] == 2 and result["optimised"]["commits"]["daily_sales"] == 1
    assert sum(result["naive"]["files"].values()) > sum(result["optimised"]["files"].values())
    assert result["ratio"] == round(result["naive"]["seconds"] / result["optimised"]["seconds"], 1)
    # Spark's task metrics of each run, the optimised one's three writer threads included: the naive shuffles more
    assert result["naive"]["shuffle_bytes"] > result["optimised"]["shuffle_bytes"] > 0
    assert result["naive"]["spilled_bytes"] == result["optimised"]["spilled_bytes"] == 0  # nothing this small spills
    assert "shuffle written (MB)" in comparison_table(result)
    n, o = (variant_tables(test_config, v) for v in ("naive", "optimised"))
    for t in n:
        a, b = spark.table(n[t]), spark.table(o[t])
        assert a.exceptAll(b).isEmpty() and b.exceptAll(a).isEmpty(), t
    # the naive sales lines: a folder per market and SKU, a file (at least) in each; the optimised: no partitions
    assert spark.sql(f"DESCRIBE DETAIL {n['sales_lines']}").first().partitionColumns == list(NAIVE_PARTITIONS)
    assert spark.sql(f"DESCRIBE DETAIL {o['sales_lines']}").first().partitionColumns == []
    pairs = spark.table(n["sales_lines"]).select(*NAIVE_PARTITIONS).distinct().count()
    assert result["naive"]["files"]["sales_lines"] >= pairs == 4
    gb = spark.table(o["customers"]).where("customer_id = 1").first()
    assert (gb.phone, gb.email, gb.city) == (
        "+447416324063",
        "ana@example.com",
        "London",
    )  # the newest row, standardised
    assert table_commits(spark, o["sales_lines"]) == 1


@pytest.mark.unit
def test_plan_findings_names_the_naive_plans_mistakes(spark, test_config):
    day = {k: v for k, v in tiny_day(spark).items()}
    with session_conf(spark, NAIVE_SETTINGS):
        naive = {f.pattern for f in plan_findings(sales_lines(day, naive=True))}
        naive |= {f.pattern for f in plan_findings(silver_customers(day["customers"], udfs=True))}
    assert naive >= {"Python UDF", "sort-merge join with a small side", "more shuffle partitions than the data needs"}
    assert plan_findings(sales_lines(day)) == [] and plan_findings(silver_customers(day["customers"])) == []
