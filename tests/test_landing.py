"""Week 1a landing files: three CSV dialects, rescued data, schema evolution, each file once (real Spark, Delta)."""

from __future__ import annotations

import json
import uuid

import pytest
from pyspark.sql import Row
from pyspark.sql import functions as F
from pyspark.sql.types import StructType
from pyspark.testing import assertDataFrameEqual

from globalbev.ingestion import commit_batch, get_state, reset_state
from globalbev.landing import PARTNER_COLUMNS, LandingFileSource, merge_schema


def _name(kind: str) -> str:
    """A source name of its own, so tests sharing the session's ops tables never see each other's state."""
    return f"{kind}:test-{uuid.uuid4().hex[:8]}"


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
