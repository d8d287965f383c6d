"""plan_findings (notebook 05d_plans) on tiny Delta tables: each expensive pattern is found in the plan that has it,
and a clean query has none."""

from __future__ import annotations

import pytest
from pyspark.sql import Window
from pyspark.sql import functions as F

from globalbev.config import table_name
from globalbev.frames import local_frame
from globalbev.plans import findings_table, plan_findings, plan_text


@pytest.fixture(scope="module")
def tables(spark, test_config):
    names = {t: table_name("gold", f"plans_{t}", test_config) for t in ("sales", "markets")}
    spark.range(2000).select(
        (F.col("id") % 6).cast("string").alias("market_code"),
        F.date_add(F.lit("2026-11-01").cast("date"), (F.col("id") % 30).cast("int")).alias("order_date"),
        (F.col("id") % 7).alias("units"),
    ).write.format("delta").mode("overwrite").saveAsTable(names["sales"])
    rows = [(str(i), f"m{i}") for i in range(6)]
    local_frame(spark, rows, "market_code string, name string").write.format("delta").mode("overwrite").saveAsTable(
        names["markets"]
    )
    return spark.table(names["sales"]), spark.table(names["markets"])


def patterns(df) -> set[str]:
    return {f.pattern for f in plan_findings(df)}


@pytest.mark.unit
def test_a_clean_query_has_no_finding(tables):
    sales, markets = tables
    q = (
        sales.where(F.col("order_date") >= F.lit("2026-11-20").cast("date"))
        .join(F.broadcast(markets), "market_code")
        .groupBy("name")
        .agg(F.sum("units").alias("units"))
    )
    assert plan_findings(q) == [] and findings_table([]) == "no expensive pattern found"
    assert "== Physical Plan ==" in plan_text(q) and "Statistics(sizeInBytes=" in plan_text(q, "cost")


@pytest.mark.unit
def test_each_pattern_is_found(spark, tables):
    sales, markets = tables
    spark.conf.set("spark.sql.autoBroadcastJoinThreshold", "-1")
    try:
        assert "sort-merge join with a small side" in patterns(sales.join(markets, "market_code"))
    finally:
        spark.conf.unset("spark.sql.autoBroadcastJoinThreshold")
    assert patterns(sales.join(markets, "market_code")) == set()  # broadcast by the default threshold

    upper = F.udf(lambda s: s.upper(), "string")
    assert "Python UDF" in patterns(markets.select(upper("name")))
    assert "Cartesian product" in patterns(sales.crossJoin(markets))
    assert "Cartesian product" in patterns(sales.join(markets, sales.units > F.length(markets.name)))
    assert "filter not pushed down" in patterns(sales.where(F.date_format("order_date", "yyyy-MM-dd") >= "2026-11-20"))
    assert "filter not pushed down" not in patterns(sales.where(F.col("order_date") >= F.lit("2026-11-20")))
    assert "everything through one task" in patterns(sales.withColumn("r", F.rank().over(Window.orderBy("units"))))
    twice = (
        sales.groupBy("market_code")
        .count()
        .join(sales.groupBy("market_code").agg(F.sum("units").alias("u")), "market_code")
    )
    found = plan_findings(twice)
    assert [f.pattern for f in found] == ["the same shuffle twice"] and "e.g. Exchange hashpartitioning" in found[
        0
    ].where


@pytest.mark.unit
def test_join_strategies_and_scan_summary_read_the_plan(spark, tables):
    from globalbev.joins_caching import join_strategies, scan_summary

    sales, markets = tables
    assert join_strategies(sales.join(F.broadcast(markets), "market_code")) == ["BroadcastHashJoin"]
    spark.conf.set("spark.sql.autoBroadcastJoinThreshold", "-1")
    try:
        assert join_strategies(sales.join(markets, "market_code")) == ["SortMergeJoin"]
    finally:
        spark.conf.unset("spark.sql.autoBroadcastJoinThreshold")
    (scan,) = scan_summary(sales.where(F.col("market_code") == "1").select("units"))
    assert scan["table"].endswith("plans_sales") and sorted(scan["columns"]) == ["market_code", "units"]
    assert "EqualTo(market_code,1)" in scan["pushed_filters"]


@pytest.mark.unit
def test_cached_takes_a_storage_level(spark, tables):
    from pyspark import StorageLevel

    from globalbev.runtime import cached, is_remote, uncache

    sales, _ = tables
    kept = cached(sales.select("units"), StorageLevel.DISK_ONLY)
    if is_remote(kept):  # Spark Connect refuses caching: the frame comes back as it was
        assert not kept.is_cached
    else:
        assert kept.storageLevel == StorageLevel.DISK_ONLY
        uncache(kept)
        assert not kept.is_cached
