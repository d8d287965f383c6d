"""`shop`'s tables without PostgreSQL (Databricks' default): the generator's operational files, read through the same
ingestion interface, give bronze exactly what a JDBC read of the database gives; hostile files are rejected or their
bad lines quarantined; the generator never drops a `shop` schema it did not make unless told to."""

from __future__ import annotations

from dataclasses import replace

import psycopg
import pytest
from pyspark.testing import assertDataFrameEqual

from data_generators import GenerationConfig, generate
from data_generators.cli import main as generator_main
from data_generators.sinks import SHOP_MARKER, ForeignSchemaError
from globalbev import operational_files
from globalbev.config import ConfigError, load_config
from globalbev.ingestion import PostgresTableSource, commit_batches, get_state, reset_state
from globalbev.operational_files import OPERATIONAL_TABLES, OperationalFileSource, operational_kind
from globalbev.pipeline import pipeline_sources


@pytest.mark.integration
def test_file_mode_gives_bronze_what_postgres_gives(spark, test_config, pg_server, tmp_path):
    """Day 0 (every table) and day 1 (inserts, updates, soft deletes, the new `loyalty_tier` column), generated into
    PostgreSQL and as files under a /Volumes-like root: every batch has the same columns, types and rows."""
    root = tmp_path / "Volumes" / "globalbev_dev" / "ops" / "files"
    files = {t: OperationalFileSource(t, str(root), name=f"file:optest/{t}") for t in OPERATIONAL_TABLES}
    pg = {t: PostgresTableSource(pg_server, f"shop.{t}", name=f"postgres:optest.{t}") for t in OPERATIONAL_TABLES}
    reset_state(spark, test_config, *[s.name for s in files.values()])
    pg_state: dict[str, str | None] = {}
    days = {0: list(OPERATIONAL_TABLES), 1: ["customers", "inventory", "orders", "order_lines"]}
    for day, tables in days.items():
        cfg = GenerationConfig(
            root=str(root), pg_url=pg_server.url, write_operational_files=True, scale=0.001, days=day + 1, seed=11
        )
        generate(replace(cfg, customer_drift_day=1))
        done = []
        for t in tables:
            a = pg[t].read(spark, test_config, pg_state.get(t))
            b = files[t].read(spark, test_config, get_state(spark, test_config, files[t].name))
            assert not b.rejected and not b.rejected_lines, (t, day, b.rejected, b.rejected_lines[:3])
            assert b.df.dtypes == a.df.dtypes, (t, day)
            assertDataFrameEqual(b.df, a.df)
            pg_state[t] = a.next_state
            done.append((files[t], b))
        commit_batches(spark, test_config, done, run_id=f"optest-{day}")
        customers = next(b for s, b in done if s is files["customers"]).df
        assert ("loyalty_tier" in customers.columns) == (day == 1)  # the drift day's new column, as text
    again = files["customers"].read(spark, test_config, get_state(spark, test_config, files["customers"].name))
    assert again.files == [] and again.df.count() == 0  # committed files are not read twice


@pytest.mark.integration
def test_hostile_operational_files(spark, test_config, tmp_path, monkeypatch):
    """Empty, foreign, headerless and mostly-broken files are rejected whole; a repeated header and single bad lines
    are quarantined with why; the good rows beside them are read."""
    monkeypatch.setattr(operational_files, "MAX_BAD_LINES", 2)
    day = tmp_path / "operational" / "warehouses" / "day=000"
    day.mkdir(parents=True)
    header = ",".join(c for c, _ in OPERATIONAL_TABLES["warehouses"])
    row = '"WH-{0}","US","Reno",{1},2025-07-01 23:00:00.000000Z'
    (day / "a-empty.csv").write_text("")
    (day / "b-no-header.csv").write_text(row.format(1, 10) + "\n")
    (day / "c-missing-column.csv").write_text("warehouse_id,market_code,city\n")
    (day / "d-utf16.csv").write_bytes((header + "\n").encode("utf-16"))
    (day / "e-mostly-broken.csv").write_text(header + "\n" + "\n".join(row.format(i, "many") for i in range(3)) + "\n")
    (day / "f-good.csv").write_text(
        "\n".join([header, row.format(2, 20), header, row.format(3, "x"), '"WH-4","US"', row.format(5, 50)]) + "\n"
    )
    src = OperationalFileSource("warehouses", str(tmp_path), name="file:optest/hostile")
    reset_state(spark, test_config, src.name)
    batch = src.read(spark, test_config, None)
    why = {p.rsplit("/", 1)[1]: r.reason for p, r in batch.rejected.items()}
    assert sorted(why) == [
        "a-empty.csv",
        "b-no-header.csv",
        "c-missing-column.csv",
        "d-utf16.csv",
        "e-mostly-broken.csv",
    ]
    assert why["a-empty.csv"].startswith("empty file")
    assert why["b-no-header.csv"].startswith("header: expected warehouse_id,market_code,city,capacity_units")
    assert why["c-missing-column.csv"] == "header: shop.warehouses's columns capacity_units, updated_at are missing"
    assert "NUL bytes" in why["d-utf16.csv"] or why["d-utf16.csv"].startswith("header:")
    assert why["e-mostly-broken.csv"].startswith("malformed: 3 lines are not rows of shop.warehouses")
    assert [p.rsplit("/", 1)[1] for p in batch.files] == ["f-good.csv"]
    assert sorted(r for *_, r in batch.rejected_lines) == [
        "capacity_units: x is not int",
        "malformed: not 5 fields",
        "the header line appears again inside the file",
    ]
    assert sorted(r.warehouse_id for r in batch.df.collect()) == ["WH-2", "WH-5"]


@pytest.mark.unit
def test_the_configuration_chooses_the_operational_source(tmp_path):
    """Databricks' environments read files, the laptop and production PostgreSQL; a wrong value is a clear error; with
    no server the pipeline's `shop` sources are the file sources."""
    assert operational_kind(load_config("dev", environ={})) == "files"
    assert operational_kind(load_config("test", environ={})) == "files"
    assert operational_kind(load_config("local", environ={})) == "postgres"
    assert operational_kind(load_config("prod", environ={})) == "postgres"
    assert operational_kind(load_config("local", environ={"GLOBALBEV_OPERATIONAL": "files"})) == "files"
    with pytest.raises(ConfigError, match="choose one of postgres, files"):
        operational_kind(load_config("local", environ={"GLOBALBEV_OPERATIONAL": "ftp"}))
    sources = pipeline_sources(None, "/Volumes/globalbev_dev/ops/files")
    assert {type(s) for t, s in sources.items() if t in OPERATIONAL_TABLES} == {OperationalFileSource}
    assert sources["orders"].folder == "/Volumes/globalbev_dev/ops/files/operational/orders"


@pytest.fixture
def other_database(pg_url):
    """A database of the run's server of its own, so that a foreign `shop` never meets the other tests."""
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS gb_foreign")
        conn.execute("CREATE DATABASE gb_foreign")
    yield pg_url.rsplit("/", 1)[0] + "/gb_foreign"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS gb_foreign WITH (FORCE)")


@pytest.mark.integration
def test_the_generator_never_drops_a_shop_schema_it_did_not_make(other_database, tmp_path, capsys):
    """A server's own `shop` survives `globalbev generate --pg-url` (exit 2, with why and the way out); with
    `--replace-shop-schema` it is replaced; the generator's own `shop` is replaced without asking."""
    with psycopg.connect(other_database, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA shop")
        conn.execute("CREATE TABLE shop.ledger (id int)")
    args = ["generate", "--root", str(tmp_path), "--scale", "0.0005", "--pg-url", other_database, "--no-progress"]
    assert generator_main(args) == 2
    assert "was not made by the generator (it holds ledger)" in capsys.readouterr().err
    with pytest.raises(ForeignSchemaError, match="--replace-shop-schema"):
        generate(GenerationConfig(root=str(tmp_path), pg_url=other_database, scale=0.0005))
    with psycopg.connect(other_database) as conn:
        assert conn.execute("SELECT count(*) FROM shop.ledger").fetchone() == (0,)  # still there
    assert generator_main([*args, "--replace-shop-schema"]) == 0
    generate(GenerationConfig(root=str(tmp_path), pg_url=other_database, scale=0.0005))  # its own: no question
    with psycopg.connect(other_database) as conn:
        q = "SELECT obj_description('shop'::regnamespace, 'pg_namespace'), to_regclass('shop.ledger')"
        assert conn.execute(q).fetchone() == (SHOP_MARKER, None)
