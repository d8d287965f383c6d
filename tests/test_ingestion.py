"""Week 1 ingestion: the three sources, the state store and the profiling report, on real Spark, Delta, PostgreSQL and HTTP."""

from __future__ import annotations

import json
import uuid

import pytest
from pyspark.sql import Row
from pyspark.sql import functions as F
from pyspark.sql.types import StructType
from pyspark.testing import assertDataFrameEqual

from globalbev.ingestion import (
    PARTNER_COLUMNS,
    ApiPageError,
    LandingFileSource,
    PostgresTableSource,
    WarehouseApiSource,
    check_page,
    commit_batch,
    count_duplicates,
    format_pattern,
    get_state,
    merge_schema,
    pattern_histogram,
    profile_columns,
    reset_state,
)
from globalbev.postgres import pg_query


def _name(kind: str) -> str:
    """A source name of its own, so tests sharing the session's ops tables never see each other's state."""
    return f"{kind}:test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """A tiny three-day GlobalBev landing zone (operational tables as files; the drift day is day 2)."""
    from data_generators import GenerationConfig, generate

    root = tmp_path_factory.mktemp("gen")
    generate(GenerationConfig(root=str(root), pg_url=None, scale=0.001, days=3, seed=7))
    return root


# ---------------------------------------------------------------------------------------------- profiling (unit)
@pytest.mark.unit
def test_format_pattern_shapes(spark):
    df = spark.createDataFrame([("+1 (555) 010-9999",), ("Straße 12b",), (None,)], "v string")
    assert [r[0] for r in df.select(format_pattern("v")).collect()] == ["+9 (999) 999-9999", "AAAAAA 99A", None]


@pytest.mark.unit
def test_pattern_histogram_per_group(spark):
    df = spark.createDataFrame(
        [("US", "555-0101"), ("US", "555-0102"), ("US", "5550103"), ("DE", None)], "m string, p string"
    )
    assertDataFrameEqual(
        pattern_histogram(df, "p", by=["m"]),
        [Row(m="US", pattern="999-9999", rows=2), Row(m="US", pattern="9999999", rows=1)],
    )


@pytest.mark.unit
def test_profile_numbers_on_a_tiny_frame(spark):
    df = spark.createDataFrame(
        [(1, " a@x.com", -2), (2, "b@y.org", 5), (3, None, 5), (3, "", 7)], "id int, email string, qty int"
    )
    p = {r.column: r for r in profile_columns(df).collect()}
    assert list(p) == ["id", "email", "qty"]
    assert (p["email"].rows, p["email"].nulls, p["email"].null_rate, p["email"].distinct) == (4, 1, 0.25, 3)
    assert (p["email"].blank, p["email"].untrimmed, p["email"].patterns) == (1, 1, 3)
    assert (p["qty"].negative, p["qty"].top_patterns, p["id"].distinct) == (1, ["9 (3)", "-9 (1)"], 3)
    assert count_duplicates(df) == 0 and count_duplicates(df, ["id"]) == 1 and count_duplicates(df, ["qty"]) == 1


@pytest.mark.unit
def test_merge_schema_keeps_declared_types_and_adds_new_fields(spark):
    declared = StructType.fromDDL("id long, s struct<x: int>, a array<struct<n: string>>")
    observed = StructType.fromDDL(
        "id string, s struct<x: long, y: string>, a array<struct<n: string, m: long>>, t double"
    )
    assert (
        merge_schema(declared, observed).simpleString()
        == "struct<id:bigint,s:struct<x:int,y:string>,a:array<struct<n:string,m:bigint>>,t:double>"
    )


@pytest.mark.unit
@pytest.mark.parametrize(
    "body, message",
    [
        (b'{"items": [{"event_id": 1', "truncated"),
        (b'{"items": [{"event_id": 1, "sku": "S"}], "count": 2}', "2 items announced, 1"),
        (b'{"items": [{"event_id": 9}], "count": 1}', "event 9 misses sku"),
    ],
)
def test_partial_pages_are_refused_naming_the_cursor(body, message):
    with pytest.raises(ApiPageError, match="cursor '1500'") as e:
        check_page(body, "1500", ["event_id", "sku"])
    assert message in str(e.value)


# ---------------------------------------------------------------------------------------------- PostgreSQL
@pytest.mark.integration
def test_postgres_incremental_by_watermark(spark, test_config, pg_server):
    table = f"ing_{uuid.uuid4().hex[:8]}"
    pg_query(pg_server, f"CREATE TABLE public.{table} (id bigint primary key, name text, updated_at timestamptz)")
    pg_query(
        pg_server, f"INSERT INTO public.{table} SELECT g, 'n' || g, '2025-07-01 23:00+00' FROM generate_series(1, 40) g"
    )
    src = PostgresTableSource(pg_server, f"public.{table}", partition_column="id", name=_name("postgres"))
    first = src.read(spark, test_config, get_state(spark, test_config, src.name))
    assert first.df.count() == 40 and first.df.rdd.getNumPartitions() == 4
    assert first.next_state == "2025-07-01T23:00:00+00:00"
    assert src.read(spark, test_config, None).batch_id == first.batch_id  # same input, same id
    commit_batch(spark, test_config, src, first, "run-1")
    assert get_state(spark, test_config, src.name) == first.next_state

    pg_query(
        pg_server, f"UPDATE public.{table} SET name = 'changed', updated_at = '2025-07-02 23:00+00' WHERE id IN (3, 17)"
    )
    second = src.read(spark, test_config, get_state(spark, test_config, src.name))
    assertDataFrameEqual(second.df.select("id", "name"), [Row(id=3, name="changed"), Row(id=17, name="changed")])
    commit_batch(spark, test_config, src, second, "run-2")

    third = src.read(spark, test_config, get_state(spark, test_config, src.name))
    assert third.df.count() == 0 and third.next_state == second.next_state == "2025-07-02T23:00:00+00:00"


# ---------------------------------------------------------------------------------------------- landing files
@pytest.mark.integration
def test_files_are_read_once(spark, test_config, generated):
    src = LandingFileSource("partner_orders", str(generated), max_files=2, name=_name("file"))
    total = len(list((generated / "landing" / "partner_orders").rglob("*.csv")))
    seen: list[str] = []
    for _ in range(total):
        batch = src.read(spark, test_config, get_state(spark, test_config, src.name))
        if not batch.files:
            break
        assert len(batch.files) <= 2 and not set(batch.files) & set(seen)
        seen += batch.files
        commit_batch(spark, test_config, src, batch, "run")
    assert len(seen) == total
    last = src.read(spark, test_config, get_state(spark, test_config, src.name))
    assert (
        last.files == []
        and last.df.count() == 0
        and last.df.columns == PARTNER_COLUMNS + ["_rescued_data", "_source_file"]
    )
    reset_state(spark, test_config, src.name)
    assert (
        len(LandingFileSource("partner_orders", str(generated), name=src.name).read(spark, test_config, None).files)
        == total
    )


@pytest.mark.integration
def test_three_csv_dialects_parse_to_the_same_columns(spark, test_config, generated):
    batch = LandingFileSource("partner_orders", str(generated), name=_name("file")).read(spark, test_config, None)
    df = batch.df
    assert df.columns == PARTNER_COLUMNS + ["_rescued_data", "_source_file"]
    expected_rows = {}
    for f in (generated / "landing" / "partner_orders").rglob("*.csv"):
        partner = f.parent.name.split("=", 1)[1]
        expected_rows[partner] = expected_rows.get(partner, 0) + len(f.read_bytes().splitlines()) - 1
    got = {r.partner: r["count"] for r in df.groupBy("partner").count().collect()}
    assert got == expected_rows and set(got) == {"shelfly", "marktplatz", "bazar_sul"}
    complete = F.expr(" AND ".join(f"{c} IS NOT NULL" for c in PARTNER_COLUMNS))
    assert df.where(~complete | F.col("_rescued_data").isNotNull()).count() == 0
    assert {r.currency for r in df.select("currency").distinct().collect()} <= {"USD", "GBP", "INR", "EUR", "BRL"}
    assert df.where(F.col("partner") == "marktplatz").where(~F.col("unit_price").contains(",")).count() == 0


@pytest.mark.integration
def test_corrupt_and_misfit_values_are_rescued(spark, test_config, data_root):
    csv = data_root / "landing/partner_orders/day=000/partner=marktplatz/p.csv"
    csv.parent.mkdir(parents=True)
    csv.write_text(
        '"Partner";"Partner_Order_Id";"Line_No";"Order_Date";"Market";"Sku";"Quantity";"Unit_Price";"Currency"\r\n'
        '"marktplatz";"MA-1";1;"01.07.2025";"DE";"SKU-000001";2;"1,01";"EUR"\r\n"marktplatz";"MA-2"\r\n'
    )
    ev = data_root / "landing/inventory_events/day=000/e.jsonl"
    ev.parent.mkdir(parents=True)
    good = {
        "event_id": 1,
        "event_ts": "2025-07-01T10:00:00.000Z",
        "warehouse_id": "WH-US-1",
        "sku": "SKU-000001",
        "event_type": "shipment",
        "quantity_delta": -2,
        "on_hand_after": 5,
        "reserved": 0,
        "reorder_point": 20,
    }
    ev.write_text(
        "\n".join([json.dumps(good), json.dumps({**good, "event_id": 2, "quantity_delta": "lots"}), "{not json"]) + "\n"
    )
    parts = LandingFileSource("partner_orders", str(data_root), name=_name("file")).read(spark, test_config, None).df
    assertDataFrameEqual(
        parts.select("partner_order_id", "_rescued_data"),
        [
            Row(partner_order_id="MA-1", _rescued_data=None),
            Row(
                partner_order_id="MA-2",
                _rescued_data=json.dumps({"_corrupt_record": '"marktplatz";"MA-2"'}, separators=(",", ":")),
            ),
        ],
    )
    events = LandingFileSource("inventory_events", str(data_root), name=_name("file")).read(spark, test_config, None).df
    assertDataFrameEqual(
        events.select("event_id", "quantity_delta", "_rescued_data"),
        [
            Row(event_id=1, quantity_delta=-2, _rescued_data=None),
            Row(event_id=2, quantity_delta=None, _rescued_data='{"quantity_delta":"lots"}'),
            Row(event_id=None, quantity_delta=None, _rescued_data='{"_corrupt_record":"{not json"}'),
        ],
    )


@pytest.mark.integration
def test_schema_evolution_on_the_drift_day(spark, test_config, generated):
    src = LandingFileSource("inventory_events", str(generated), name=_name("file"))
    files = sorted(str(p) for p in (generated / "landing" / "inventory_events").rglob("*.jsonl"))
    day0 = src.read_files(spark, [f for f in files if "/day=000/" in f])
    drift = src.read_files(spark, [f for f in files if "/day=002/" in f])
    assert "temperature_c" not in day0.columns
    types = dict(drift.dtypes)
    assert (
        types["temperature_c"] == "double" and types["source_system"] == "string" and types["event_ts"] == "timestamp"
    )
    assert drift.where(F.col("temperature_c").isNull() | F.col("_rescued_data").isNotNull()).count() == 0
    nutrition = LandingFileSource("nutrition", str(generated), name=_name("file")).read(spark, test_config, None).df
    assert "sustainability" in nutrition.columns
    assert "micronutrients" in nutrition.schema["per_serving"].dataType.fieldNames()
    assert nutrition.where(F.col("sustainability").isNotNull()).count() == len(
        list((generated / "landing" / "nutrition" / "day=002").glob("*.json"))
    )
    assert nutrition.where(F.col("_rescued_data").isNotNull()).count() == 0


# ---------------------------------------------------------------------------------------------- warehouse API
@pytest.mark.integration
def test_api_source_is_complete_against_the_landing_events(spark, test_config, generated):
    from data_generators.api import serve_api

    landing = set()
    for f in (generated / "landing" / "inventory_events").rglob("*.jsonl"):
        landing |= {json.loads(line)["event_id"] for line in f.read_text().splitlines() if line}
    with serve_api(generated) as api:
        src = WarehouseApiSource(api.url, page_size=97, name=_name("api"))
        first = src.read(spark, test_config, None)
        ids = [r.event_id for r in first.df.select("event_id").collect()]
        assert len(ids) == len(set(ids)) and set(ids) == landing
        assert first.df.where(F.col("_rescued_data").isNotNull()).count() == 0
        again = src.read(spark, test_config, first.next_state)
        assert again.df.count() == 0 and again.next_state == first.next_state


@pytest.mark.integration
def test_api_source_never_keeps_a_partial_page(spark, test_config, generated):
    from data_generators.api import ApiFaults, serve_api

    with serve_api(generated, ApiFaults(partial_rate=1.0, seed=3)) as api:
        with pytest.raises(ApiPageError, match="cursor"):
            WarehouseApiSource(api.url, page_size=50, name=_name("api")).read(spark, test_config, None)
    with serve_api(generated, ApiFaults(error_rate=1.0, seed=3)) as api:
        with pytest.raises(ApiPageError, match=r"HTTP 50[03] at cursor None"):
            WarehouseApiSource(api.url, name=_name("api")).read(spark, test_config, None)
