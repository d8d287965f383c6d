"""globalbev.bronze: ingestion metadata, rescued data, idempotent writes with schema evolution, the row-count audit."""

from __future__ import annotations

import uuid

import pytest
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual

from globalbev.bronze import METADATA_COLUMNS, add_ingestion_metadata, bronze_audit, rescue_unexpected, write_bronze
from globalbev.config import table_name


@pytest.fixture
def dataset(spark, test_config):
    """A fresh bronze table name for one test, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:8]}"
    yield name
    spark.sql(f"DROP TABLE IF EXISTS {table_name('bronze', name, test_config)}")


@pytest.mark.unit
def test_add_ingestion_metadata(spark):
    raw = spark.createDataFrame([(1, "a", "/x.csv"), (2, "b", "/x.csv")], "id long, v string, _source_file string")
    out = add_ingestion_metadata(raw, "file:landing/x", "b1", "r1")
    assert out.columns == ["id", "v", *METADATA_COLUMNS]
    assert dict(out.dtypes)["_ingested_at"] == "timestamp"
    got = out.drop("_ingested_at")
    assertDataFrameEqual(
        got,
        spark.createDataFrame(
            [
                (1, "a", "file:landing/x", "/x.csv", "b1", "r1", None),
                (2, "b", "file:landing/x", "/x.csv", "b1", "r1", None),
            ],
            got.schema,
        ),
    )
    no_file = add_ingestion_metadata(spark.createDataFrame([(1,)], "id long"), "postgres:shop.t", "b", "r")
    assert no_file.select("_source_file", "_rescued_data").first() == (None, None)


@pytest.mark.unit
def test_rescue_unexpected_moves_what_does_not_fit(spark):
    expected = T.StructType(
        [
            T.StructField("id", T.LongType()),
            T.StructField("qty", T.IntegerType()),
            T.StructField("dims", T.StructType([T.StructField("kg", T.DoubleType())])),
            T.StructField("tags", T.ArrayType(T.StringType())),
        ]
    )
    batch = spark.createDataFrame(
        [
            (1, "3", ("1.5",), 7, "DE", '{"old":1}'),
            (2, "-3 units", ("heavy",), 8, None, None),
            (3, None, None, None, "BR", None),
        ],
        "id long, qty string, dims struct<kg:string>, tags int, origin string, _rescued_data string",
    )
    out = rescue_unexpected(batch, expected)
    assert out.columns == ["id", "qty", "dims", "tags", "origin", "_rescued_data"]
    assert dict(out.dtypes)["qty"] == "int" and dict(out.dtypes)["tags"] == "array<string>"
    assert [
        tuple(r) for r in out.select("id", "qty", "dims.kg", "tags", "origin", "_rescued_data").orderBy("id").collect()
    ] == [
        (1, 3, 1.5, None, "DE", '{"old":1,"tags":7}'),
        (2, None, None, None, None, '{"qty":"-3 units","dims.kg":"heavy","tags":8}'),
        (3, None, None, None, "BR", None),
    ]
    assert rescue_unexpected(out, out.schema) is out


@pytest.mark.unit
def test_write_bronze_is_idempotent_per_batch(spark, test_config, dataset):
    name = table_name("bronze", dataset, test_config)
    rows = lambda data, batch, run: add_ingestion_metadata(
        spark.createDataFrame(data, "id long, qty int"), "t", batch, run
    )
    assert write_bronze(spark, test_config, dataset, rows([(1, 10), (2, 20)], "b1", "r1")) == 2
    assert write_bronze(spark, test_config, dataset, rows([(3, 30)], "b2", "r1")) == 1
    assert write_bronze(spark, test_config, dataset, rows([(1, 10), (2, 20)], "b1", "r2")) == 2
    assert write_bronze(spark, test_config, dataset, rows([(1, 10), (2, 20)], "b1", "r3"), batch_id="b1") == 2
    assert spark.table(name).count() == 3
    assert {(r._batch_id, r._run_id) for r in spark.table(name).collect()} == {("b1", "r3"), ("b2", "r1")}
    last = spark.sql(f"DESCRIBE HISTORY {name}").orderBy("version", ascending=False).first()
    assert last.operationParameters["predicate"] == "_batch_id IN ('b1')"


@pytest.mark.unit
def test_write_bronze_evolves_schema_and_rescues(spark, test_config, dataset):
    name = table_name("bronze", dataset, test_config)
    write_bronze(
        spark,
        test_config,
        dataset,
        add_ingestion_metadata(spark.createDataFrame([(1, 10)], "id long, qty int"), "t", "b1", "r"),
    )
    drift = spark.createDataFrame([(2, "5 cases", "gold"), (3, "7", None)], "id long, qty string, tier string")
    assert write_bronze(spark, test_config, dataset, add_ingestion_metadata(drift, "t", "b2", "r")) == 2
    table = spark.table(name)
    assert dict(table.dtypes)["qty"] == "int" and dict(table.dtypes)["tier"] == "string"
    assert [tuple(r) for r in table.select("id", "qty", "tier", "_rescued_data").orderBy("id").collect()] == [
        (1, 10, None, None),
        (2, None, "gold", '{"qty":"5 cases"}'),
        (3, 7, None, None),
    ]


@pytest.mark.unit
def test_write_bronze_refuses_rows_without_batch_id(spark, test_config, dataset):
    with pytest.raises(ValueError, match="add_ingestion_metadata"):
        write_bronze(spark, test_config, dataset, spark.createDataFrame([(1,)], "id long"))


@pytest.mark.unit
def test_bronze_audit(spark, test_config, dataset):
    write_bronze(
        spark,
        test_config,
        dataset,
        add_ingestion_metadata(spark.createDataFrame([(1,), (2,)], "id long"), "t", "b1", "r"),
    )
    got = [tuple(r) for r in bronze_audit(spark, test_config, dataset, {"b1": 2, "b2": 3}).collect()]
    assert got == [(dataset, "b1", 2, 2, 0), (dataset, "b2", 3, 0, -3)]


@pytest.mark.integration
def test_three_days_of_customers_with_drift(spark, test_config, pg_server, data_root, dataset):
    """PostgreSQL gains loyalty_tier on day 2: bronze takes it, every batch audits to zero, a re-run changes nothing."""
    from data_generators import GenerationConfig, as_of, generate
    from globalbev.postgres import read_postgres

    name = table_name("bronze", dataset, test_config)
    read = {}
    for day in range(3):
        generate(GenerationConfig(root=str(data_root), pg_url=pg_server.url, scale=0.002, days=day + 1, seed=7))
        since = f"updated_at > '{as_of(day - 1)} 23:00:00+00'" if day else None
        df = read_postgres(spark, pg_server, "shop.customers", where=since)
        batch = f"postgres:shop.customers@{as_of(day)}"
        read[batch] = df.count()
        written = write_bronze(
            spark, test_config, dataset, add_ingestion_metadata(df, "postgres:shop.customers", batch, "t")
        )
        assert written == read[batch]
        assert ("loyalty_tier" in spark.table(name).columns) == (day >= 2)
    audit = bronze_audit(spark, test_config, dataset, read)
    assert audit.where("difference != 0").count() == 0 and audit.count() == 3
    before = spark.table(name).count()
    df = read_postgres(spark, pg_server, "shop.customers", where=f"updated_at > '{as_of(1)} 23:00:00+00'")
    write_bronze(
        spark,
        test_config,
        dataset,
        add_ingestion_metadata(df, "postgres:shop.customers", f"postgres:shop.customers@{as_of(2)}", "t2"),
    )
    assert spark.table(name).count() == before == sum(read.values())
    assert spark.table(name).where("loyalty_tier IS NOT NULL").count() > 0
