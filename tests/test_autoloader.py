"""Auto Loader's options locally (notebook 07a_autoloader): the schema tracked in versions at the schema location, the
four schema evolution modes against the generator's drift day and tiny hostile files, the rescued column,
`includeExistingFiles` and `maxFilesPerTrigger` — real file streams, `availableNow` / `processAllAvailable`, no
sleeps."""

from __future__ import annotations

import json
import re
import shutil
import uuid
from pathlib import Path

import pytest
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from globalbev.autoloader import (
    EVOLUTION_MODES,
    NEW_COLUMNS_ERROR,
    NewColumnsError,
    added_fields,
    auto_loader,
    check_evolution_mode,
    cloud_files_options,
    hinted_schema,
    hints_ddl,
    ingest_available,
    parse_records,
    schema_versions,
    track_schema,
    tracked_schema,
)
from globalbev.errors import GlobalBevError
from globalbev.frames import local_frame
from globalbev.ingestion import INVENTORY_EVENTS_SCHEMA


def write_lines(folder: Path, name: str, *lines: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    f = folder / name
    f.write_text("".join(line + "\n" for line in lines))
    return f


def run(df, out: Path) -> dict:
    """Append what is available to the Delta folder `out` (new columns merged in); the batches and rows read."""
    q = df.writeStream.format("delta").option("checkpointLocation", str(out) + "_checkpoint")
    query = q.option("mergeSchema", "true").trigger(availableNow=True).start(str(out))
    query.awaitTermination()
    read = [p["numInputRows"] for p in query.recentProgress if p["numInputRows"]]
    return {"batches": len(read), "rows": sum(read)}


def land_day(generated: Path, day: int, to: Path) -> int:
    """Copy the generator's inventory files of `day` into `to`; the events in them."""
    to.mkdir(parents=True, exist_ok=True)
    n = 0
    for f in sorted((generated / "landing" / "inventory_events" / f"day={day:03d}").glob("*.jsonl")):
        shutil.copy(f, to / f.name)
        n += sum(1 for line in f.read_text().splitlines() if line.strip())
    return n


def test_databricks_options_are_auto_loaders_names(spark):  # spark: DDL is parsed by a session
    opts = cloud_files_options("json", "/Volumes/c/s/v/schemas", "failOnNewColumns", "_rescued", 10, False, "a int")
    assert opts == {
        "cloudFiles.format": "json",
        "cloudFiles.schemaLocation": "/Volumes/c/s/v/schemas",
        "cloudFiles.schemaEvolutionMode": "failOnNewColumns",
        "cloudFiles.includeExistingFiles": "false",
        "cloudFiles.inferColumnTypes": "true",
        "rescuedDataColumn": "_rescued",
        "cloudFiles.maxFilesPerTrigger": "10",
        "cloudFiles.schemaHints": "a int",
    }
    assert "rescuedDataColumn" not in cloud_files_options("json", "/s", rescued_column=None)
    assert [check_evolution_mode(m) for m in EVOLUTION_MODES] == list(EVOLUTION_MODES)
    with pytest.raises(ValueError, match="not one of addNewColumns"):
        check_evolution_mode("merge")
    assert hinted_schema(hints_ddl(INVENTORY_EVENTS_SCHEMA)) == INVENTORY_EVENTS_SCHEMA


def test_the_schema_is_tracked_in_versions_like_auto_loaders(spark, tmp_path):
    where = str(tmp_path / "schemas")
    assert tracked_schema(where) is None
    assert track_schema(where, StructType.fromDDL("id long")) == 0
    assert track_schema(where, StructType.fromDDL("id long, t double")) == 1
    assert schema_versions(where) == [0, 1] and tracked_schema(f"file:{where}").fieldNames() == ["id", "t"]
    assert (tmp_path / "schemas" / "_schemas" / "0").read_text().startswith("v1\n{")
    tracked = StructType.fromDDL("id long, s struct<a: int>")
    assert added_fields(tracked, StructType.fromDDL("ID string, s struct<a: int, b: int>, new int")) == ["s.b", "new"]


def test_parse_records_rescues_what_does_not_fit_and_keeps_every_record(spark):
    records = [
        ('{"id":1,"qty":2}', "a"),
        ('{"id":2,"qty":"two"}', "a"),  # a type change
        ('{"id":3,"qty":3,"temp":4.5}', "b"),  # a new column
        ('{"id":4,"Qty":4}', "b"),  # a key in another case
        ('{"id":5,"qty":', "b"),  # a cut-off line
        ("[1,2]", "b"),  # not an object
    ]
    out = parse_records(
        local_frame(spark, records, "value string, _source_file string"), hinted_schema("id long, qty int")
    )
    rows = sorted(out.collect(), key=lambda r: (r.id is None, r.id or 0, r._rescued_data or ""))
    assert len(rows) == len(records)  # every record a row
    assert [(r.id, r.qty) for r in rows[:4]] == [(1, 2), (2, None), (3, 3), (4, None)]
    rescued = [json.loads(r._rescued_data) if r._rescued_data else None for r in rows]
    assert rescued[:4] == [
        None,
        {"qty": "two", "_file_path": "a"},
        {"temp": "4.5", "_file_path": "b"},
        {"Qty": "4", "_file_path": "b"},
    ]
    assert {r["_corrupt_record"] for r in rescued[4:]} == {'{"id":5,"qty":', "[1,2]"}


@pytest.mark.parametrize("mode", EVOLUTION_MODES)
def test_the_drift_day_mode_by_mode(spark, generated, tmp_path, mode):
    src, out, where = tmp_path / "landing", tmp_path / "bronze", str(tmp_path / "schemas")
    events = land_day(generated, 0, src) + land_day(generated, 1, src)

    def start():
        return run(auto_loader(spark, str(src), where, evolution=mode, schema_hints=INVENTORY_EVENTS_SCHEMA), out)

    assert start()["rows"] == events
    drift = land_day(generated, 2, src)  # temperature_c and source_system, from the drift day on
    events += drift
    if mode in ("addNewColumns", "failOnNewColumns"):
        with pytest.raises(NewColumnsError, match=f"{NEW_COLUMNS_ERROR}.*source_system, temperature_c") as stop:
            start()
        assert ("recorded as schema version 1" in str(stop.value)) == (mode == "addNewColumns")
    if mode == "failOnNewColumns":  # stays stopped, the schema untouched
        with pytest.raises(NewColumnsError):
            start()
        assert schema_versions(where) == [0] and spark.read.format("delta").load(str(out)).count() == events - drift
        return
    assert start()["rows"] == drift  # addNewColumns: the restart reads them; rescue, none: read the first time
    bronze = spark.read.format("delta").load(str(out))
    assert bronze.count() == events  # every event a row
    day2 = bronze.where(F.col("event_id") >= 2_000_000_000)
    if mode == "addNewColumns":
        assert (
            schema_versions(where) == [0, 1] and tracked_schema(where)["temperature_c"].dataType.typeName() == "double"
        )
        assert day2.where(F.col("temperature_c").isNotNull() & F.col("_rescued_data").isNull()).count() == drift
    else:  # rescue and none: the schema never evolves; the new fields are rescued (a rescued column is set)
        assert schema_versions(where) == [0] and "temperature_c" not in bronze.columns
        assert day2.where(F.col("_rescued_data").contains('"temperature_c"')).count() == drift


def test_none_without_a_rescued_column_ignores_new_columns(spark, tmp_path):
    src = tmp_path / "landing"
    write_lines(src, "a.jsonl", '{"id":1}')
    df = auto_loader(spark, str(src), str(tmp_path / "s"), evolution="none", rescued_column=None)
    write_lines(src, "b.jsonl", '{"id":2,"new":"x"}')
    assert run(df, tmp_path / "out")["rows"] == 2
    assert spark.read.format("delta").load(str(tmp_path / "out")).columns == ["id", "_source_file"]
    with pytest.raises(ValueError, match="rescued column"):
        auto_loader(spark, str(src), str(tmp_path / "s"), evolution="rescue", rescued_column=None)


def test_a_new_column_stops_a_running_stream_and_a_restart_reads_it(spark, tmp_path):
    src, out, where = tmp_path / "landing", tmp_path / "bronze", str(tmp_path / "schemas")
    write_lines(src, "a.jsonl", '{"id":1,"qty":1}', '{"id":2,"qty":2}')
    query = (
        auto_loader(spark, str(src), where)
        .writeStream.format("delta")
        .option("checkpointLocation", str(tmp_path / "checkpoint"))
        .option("mergeSchema", "true")
        .start(str(out))
    )
    try:
        query.processAllAvailable()
        write_lines(src, "b.jsonl", '{"id":3,"qty":3,"temp":7.5}')  # lands while the stream runs
        with pytest.raises(Exception) as stopped:  # StreamingQueryException
            query.processAllAvailable()
        said = str(stopped.value) + str(getattr(stopped.value, "_stackTrace", ""))  # the cause may be in the JVM's
        assert re.search(rf"\[{NEW_COLUMNS_ERROR}\] new columns temp in \S*b.jsonl: start again", said)
    finally:
        query.stop()
    df = lambda: auto_loader(spark, str(src), where)  # noqa: E731
    with pytest.raises(NewColumnsError, match="new columns temp"):  # the start records it
        df()
    q = df().writeStream.format("delta").option("checkpointLocation", str(tmp_path / "checkpoint"))
    q.option("mergeSchema", "true").trigger(availableNow=True).start(str(out)).awaitTermination()
    rows = {r.id: r.temp for r in spark.read.format("delta").load(str(out)).collect()}
    assert rows == {1: None, 2: None, 3: 7.5}


def test_fail_on_new_columns_goes_on_once_the_hints_name_them(spark, tmp_path):
    src, where = tmp_path / "landing", str(tmp_path / "schemas")
    write_lines(src, "a.jsonl", '{"id":1}')
    assert run(auto_loader(spark, str(src), where, evolution="failOnNewColumns"), tmp_path / "out")["rows"] == 1
    write_lines(src, "b.jsonl", '{"id":2,"temp":7.5}')
    with pytest.raises(NewColumnsError, match="failOnNewColumns stops here"):
        auto_loader(spark, str(src), where, evolution="failOnNewColumns")
    df = auto_loader(spark, str(src), where, evolution="failOnNewColumns", schema_hints="temp double")
    assert run(df, tmp_path / "out")["rows"] == 1 and schema_versions(where) == [0]
    assert {r.id: r.temp for r in spark.read.format("delta").load(str(tmp_path / "out")).collect()} == {1: None, 2: 7.5}


def test_include_existing_files_and_max_files_per_trigger(spark, tmp_path):
    src, where = tmp_path / "landing", str(tmp_path / "schemas")
    write_lines(src, "old.jsonl", '{"id":1,"qty":1}')
    table = f"default.autoloader_{uuid.uuid4().hex[:8]}"
    stream = lambda: auto_loader(  # noqa: E731
        spark, str(src), where, include_existing_files=False, max_files_per_trigger=1
    )
    try:
        assert ingest_available(stream(), table, str(tmp_path / "checkpoint")) == {"batches": 0, "rows": 0}
        for i in range(2):
            write_lines(src, f"new-{i}.jsonl", f'{{"id":{10 + i},"qty":{i}}}', "")
        write_lines(src, "empty.jsonl")  # an empty file: no record, no row, no error
        # one file a batch, a record a row; a blank line makes none
        assert ingest_available(stream(), table, str(tmp_path / "checkpoint")) == {"batches": 2, "rows": 2}
        assert sorted(r.id for r in spark.table(table).collect()) == [10, 11]
    finally:
        spark.sql(f"DROP TABLE IF EXISTS {table}")


def test_documents_one_per_file_and_the_errors_that_say_what_to_do(spark, tmp_path):
    src = tmp_path / "docs"
    src.mkdir()
    (src / "a.json").write_text('{\n  "sku": "SKU-1",\n  "serving": {"size_ml": 330}\n}\n')
    (src / "b.json").write_text('{"sku": "SKU-2", "serving": {"size_ml": "big"}}')
    hints = "serving struct<size_ml: int>"  # inferred alone, size_ml would be a string: "big" is one
    df = auto_loader(spark, str(src), str(tmp_path / "s"), evolution="rescue", multiline=True, schema_hints=hints)
    assert run(df, tmp_path / "out")["rows"] == 2
    rows = {r.sku: r for r in spark.read.format("delta").load(str(tmp_path / "out")).collect()}
    assert rows["SKU-1"].serving.size_ml == 330 and rows["SKU-1"]._rescued_data is None
    assert json.loads(rows["SKU-2"]._rescued_data)["serving.size_ml"] == "big"
    (tmp_path / "nothing").mkdir()
    with pytest.raises(GlobalBevError, match="no file there to infer one from, and no schema hints"):
        auto_loader(spark, str(tmp_path / "nothing"), str(tmp_path / "s2"))
    with pytest.raises(ValueError, match="reads JSON"):
        auto_loader(spark, str(src), str(tmp_path / "s3"), fmt="csv")
