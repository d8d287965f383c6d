"""Week 1 ingestion: the interface, the state store, the PostgreSQL and warehouse API sources, on real Spark, Delta,
PostgreSQL and HTTP."""

from __future__ import annotations

import json
import uuid

import pytest
from pyspark.sql import Row
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from globalbev.ingestion import (
    ApiPageError,
    PostgresTableSource,
    WarehouseApiSource,
    check_page,
    commit_batch,
    get_state,
)
from globalbev.postgres import pg_query


def _name(kind: str) -> str:
    """A source name of its own, so tests sharing the session's ops tables never see each other's state."""
    return f"{kind}:test-{uuid.uuid4().hex[:8]}"


# ------------------------------------------------------------------------------------------------- warehouse API (unit)
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


# ----------------------------------------------------------------------------------------------------------- PostgreSQL
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


# -------------------------------------------------------------------------------------------------------- warehouse API
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
