"""Delta operations on real Delta tables: MERGE upserts, type-2 history, Change Data Feed, time travel and RESTORE."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.testing import assertDataFrameEqual

from globalbev.delta_ops import (
    apply_scd2,
    latest_version,
    merge_upsert,
    path_table,
    read_changes,
    read_version,
    restore_table,
    scd2_staging,
    table_history,
    version_before,
)

CUSTOMERS = "customer_id long, city string, is_deleted boolean, _run_id string"


def _customers(spark, rows):
    return spark.createDataFrame(rows, CUSTOMERS)


@pytest.mark.unit
def test_merge_is_idempotent_two_runs_same_table(spark, tmp_path):
    table = path_table(str(tmp_path / "customers"))
    day0 = _customers(spark, [(1, "Leeds", False, "r1"), (2, "Lyon", False, "r1")])
    day1 = _customers(spark, [(1, "York", False, "r2"), (3, "Pune", False, "r2")])
    merge_upsert(spark, day0, table, ["customer_id"])
    assert merge_upsert(spark, day1, table, "customer_id") == {"inserted": 1, "updated": 1, "deleted": 0}
    first = read_version(spark, table, latest_version(spark, table))
    assert merge_upsert(spark, day1, table, "customer_id") == {"inserted": 0, "updated": 0, "deleted": 0}
    assertDataFrameEqual(spark.table(table), first)
    assertDataFrameEqual(
        spark.table(table),
        _customers(spark, [(1, "York", False, "r2"), (2, "Lyon", False, "r1"), (3, "Pune", False, "r2")]),
    )


@pytest.mark.unit
def test_merge_honours_deletes_and_never_inserts_a_deleted_row(spark, tmp_path):
    table = path_table(str(tmp_path / "crm"))
    merge_upsert(spark, _customers(spark, [(1, "Leeds", False, "r1"), (2, "Lyon", False, "r1")]), table, "customer_id")
    batch = _customers(spark, [(1, "Leeds", True, "r2"), (9, "Natal", True, "r2")])
    assert merge_upsert(spark, batch, table, "customer_id", delete_condition="s.is_deleted") == {
        "inserted": 0,
        "updated": 0,
        "deleted": 1,
    }
    assertDataFrameEqual(spark.table(table), _customers(spark, [(2, "Lyon", False, "r1")]))
    # without a delete condition (silver's choice) the erased customer stays, flagged
    silver = path_table(str(tmp_path / "silver"))
    merge_upsert(spark, _customers(spark, [(1, "Leeds", False, "r1")]), silver, "customer_id")
    merge_upsert(spark, batch.limit(1), silver, "customer_id")
    assertDataFrameEqual(spark.table(silver), _customers(spark, [(1, "Leeds", True, "r2")]))


@pytest.mark.unit
def test_merge_refuses_duplicate_keys_and_evolves_the_schema(spark, tmp_path):
    table = path_table(str(tmp_path / "t"))
    merge_upsert(spark, _customers(spark, [(1, "Leeds", False, "r1")]), table, "customer_id")
    dup = _customers(spark, [(2, "Lyon", False, "r2"), (2, "Lille", False, "r2")])
    with pytest.raises(ValueError, match=r"2 rows for key \{'customer_id': 2\}"):
        merge_upsert(spark, dup, table, "customer_id")
    drift = spark.createDataFrame([(1, "Leeds", False, "r3", "gold")], CUSTOMERS + ", loyalty_tier string")
    assert merge_upsert(spark, drift, table, "customer_id")["updated"] == 1
    assert spark.table(table).first().loyalty_tier == "gold"


@pytest.mark.unit
def test_scd2_history_on_three_steps_and_idempotent(spark, tmp_path):
    d1, d2, d3 = (dt.datetime(2025, 7, d, 23) for d in (1, 2, 3))
    schema = "customer_id long, city string, updated_at timestamp, is_deleted boolean"
    steps = [
        spark.createDataFrame(rows, schema)
        for rows in (
            [(1, "Leeds", d1, False), (2, "Lyon", d1, False)],
            [(1, "York", d2, False), (2, "Lyon", d2, False), (3, "Pune", d2, False)],  # 2 re-sent unchanged
            [(2, "Lyon", d3, True), (1, "York", d2, False), (3, "Goa", d3, False)],
        )
    ]  # 2 erased, 1 old, 3 moves
    dim = path_table(str(tmp_path / "dim_customer"))
    got = [apply_scd2(spark, s, dim, "customer_id", ["city"], "updated_at") for s in steps]
    assert got == [{"opened": 2, "closed": 0}, {"opened": 2, "closed": 1}, {"opened": 1, "closed": 2}]
    expected = spark.createDataFrame(
        [
            (1, "Leeds", d1, d2, False),
            (1, "York", d2, None, True),
            (2, "Lyon", d1, d3, False),
            (3, "Pune", d2, d3, False),
            (3, "Goa", d3, None, True),
        ],
        "customer_id long, city string, valid_from timestamp, valid_to timestamp, is_current boolean",
    )
    assertDataFrameEqual(spark.table(dim).drop("customer_sk"), expected)
    sks = spark.table(dim).select("customer_sk").distinct().count()
    assert sks == 5
    version = latest_version(spark, dim)
    for s in steps:  # re-applying any batch changes nothing, not even the version
        assert apply_scd2(spark, s, dim, "customer_id", ["city"], "updated_at") == {"opened": 0, "closed": 0}
    assert latest_version(spark, dim) == version
    assertDataFrameEqual(spark.table(dim).drop("customer_sk"), expected)


@pytest.mark.unit
def test_scd2_one_key_at_one_instant_twice_keeps_the_same_row_on_every_run(spark, tmp_path):
    d1, d2 = dt.datetime(2025, 7, 1, 23), dt.datetime(2025, 7, 2, 23)
    schema = "customer_id long, city string, updated_at timestamp, is_deleted boolean"
    rows = [(7, "Leeds", d1, False), (7, "York", d1, False), (8, "Lyon", d1, False), (7, "York", d2, False)]
    dim = path_table(str(tmp_path / "dim"))
    apply_scd2(spark, spark.createDataFrame(rows[2:3], schema), dim, "customer_id", ["city"], "updated_at")
    staged = [
        scd2_staging(
            spark.table(dim), spark.createDataFrame(order, schema).repartition(n), "customer_id", ["city"], "updated_at"
        )
        .orderBy("customer_id", "valid_from")
        .collect()
        for order, n in ((rows, 1), (rows[::-1], 3), (rows[1:2] + rows[:1] + rows[3:], 2))
    ]
    assert staged[0] == staged[1] == staged[2]  # the same version kept whatever the order or partitioning
    assert [(r.city, r.valid_from, r.valid_to, r.is_current) for r in staged[0]] == [
        ("Leeds", d1, d2, False),
        ("York", d2, None, True),
    ]


@pytest.mark.unit
def test_scd2_several_changes_of_one_key_in_one_batch(spark, tmp_path):
    d1, d2, d3 = (dt.datetime(2025, 7, d, 23) for d in (1, 2, 3))
    batch = spark.createDataFrame(
        [(7, "A", d1, False), (7, "B", d2, False), (7, "B", d3, False)],
        "customer_id long, city string, updated_at timestamp, is_deleted boolean",
    )
    dim = path_table(str(tmp_path / "dim"))
    assert apply_scd2(spark, batch, dim, "customer_id", ["city"], "updated_at") == {"opened": 2, "closed": 0}
    assertDataFrameEqual(
        spark.table(dim).select("city", "valid_from", "valid_to", "is_current"),
        spark.createDataFrame(
            [("A", d1, d2, False), ("B", d2, None, True)],
            "city string, valid_from timestamp, valid_to timestamp, is_current boolean",
        ),
    )


@pytest.mark.unit
def test_change_data_feed_returns_only_changed_keys(spark, tmp_path):
    table = path_table(str(tmp_path / "orders"))
    rows = [(i, "Leeds", False, "r1") for i in range(1, 6)]
    merge_upsert(spark, _customers(spark, rows), table, "customer_id")
    since = latest_version(spark, table) + 1
    batch = _customers(spark, rows[:2] + [(3, "York", False, "r2"), (4, "Leeds", True, "r2"), (6, "Pune", False, "r2")])
    merge_upsert(spark, batch, table, "customer_id", delete_condition="s.is_deleted")
    merge_upsert(spark, batch, table, "customer_id", delete_condition="s.is_deleted")  # a re-run: no new changes
    changes = read_changes(spark, table, since)
    assert sorted((r.customer_id, r._change_type) for r in changes.collect()) == [
        (3, "update_postimage"),
        (4, "delete"),
        (6, "insert"),
    ]
    pre = read_changes(spark, table, since, include_preimage=True).where("_change_type = 'update_preimage'")
    assert [(r.customer_id, r.city) for r in pre.collect()] == [(3, "Leeds")]
    assert read_changes(spark, table, latest_version(spark, table) + 1).count() == 0


@pytest.mark.unit
def test_restore_returns_the_exact_prior_state(spark, tmp_path):
    table = path_table(str(tmp_path / "orders"))
    orders = spark.createDataFrame(
        [(i, ["BR", "US", "IN"][i % 3], i * 1.5) for i in range(30)], "order_id long, market_code string, amount double"
    )
    merge_upsert(spark, orders, table, "order_id")
    original = read_version(spark, table, latest_version(spark, table))
    spark.sql(f"DELETE FROM {table} WHERE market_code = 'BR'")
    assert spark.table(table).count() == 20
    good = version_before(spark, table, "DELETE")
    restore_table(spark, table, good)
    assertDataFrameEqual(spark.table(table), original)
    assert [r.operation for r in table_history(spark, table).limit(2).collect()] == ["RESTORE", "DELETE"]
    with pytest.raises(ValueError, match="no OPTIMIZE"):
        version_before(spark, table, "OPTIMIZE")
