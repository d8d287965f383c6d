"""The inventory-monitoring pipeline, declared once: landing JSON -> bronze -> silver (with expectations) -> current
stock per SKU and warehouse -> stockouts.

The same file runs locally under `spark-pipelines` (open-source Spark Declarative Pipelines) and on Databricks as a
Lakeflow Declarative Pipeline (resources/inventory_pipeline.yml). The transformations and the rulebook live in
`globalbev.pipeline_expectations` (notebook 08a_declarative_pipeline), where they are tested on tiny frames; the
expectation decorators are Databricks' own there and GlobalBev's stand-ins here, with the same semantics.
"""

from pyspark import pipelines as dp
from pyspark.sql import SparkSession

from globalbev.pipeline_expectations import (
    SILVER_DROP,
    SILVER_FAIL,
    SILVER_WARN,
    bronze_inventory,
    current_stock,
    expect_all,
    expect_all_or_drop,
    expect_all_or_fail,
    read_inventory_landing,
    stockouts,
    table_options,
)

spark = SparkSession.getActiveSession()
LANDING = spark.conf.get("globalbev.inventory.landing")
OPTIONS = table_options()


@dp.table(comment="inventory events as they landed, with their source file", **OPTIONS)
def inventory_bronze():
    return bronze_inventory(read_inventory_landing(spark, LANDING, stream=True))


@dp.table(comment="inventory events that passed the rulebook (failures counted per expectation)", **OPTIONS)
@expect_all_or_fail(SILVER_FAIL)
@expect_all_or_drop(SILVER_DROP)
@expect_all(SILVER_WARN)
def inventory_silver():
    return spark.readStream.table("inventory_bronze")


@dp.materialized_view(comment="stock now per SKU and warehouse", **OPTIONS)
def inventory_current_stock():
    return current_stock(spark.read.table("inventory_silver"))


@dp.materialized_view(comment="SKU x warehouse pairs with nothing left to sell", **OPTIONS)
def inventory_stockouts():
    return stockouts(spark.read.table("inventory_current_stock"))
