"""Lineage and compliance (globalbev.compliance, notebook 09a) on real Delta tables: the declared lineage matches the
pipeline's wiring, the change report flags a hand-made change and no pipeline write, an erasure leaves the customer in
no readable version of any table (every version read) and nobody else's rows touched, and the PII scanner finds
unmasked e-mails, phones and card numbers but not masked columns or look-alikes."""

from __future__ import annotations

import datetime as dt
import inspect
import re

import pytest
import sqlglot
from pyspark.sql import functions as F
from sqlglot import expressions as exp

from globalbev import pipeline
from globalbev.classroom import start_lesson
from globalbev.compliance import (
    ERASURE_RULES,
    GOLD_WIRING,
    change_report,
    declared_lineage,
    erase_customer,
    is_card,
    is_email,
    is_phone,
    luhn_ok,
    pseudonym,
    run_lineage,
    scan_pii,
    system_column_lineage_sql,
    system_table_lineage_sql,
    upstream_of,
)
from globalbev.config import table_name
from globalbev.frames import local_frame, union_all
from globalbev.gold import FACT_SOURCES
from globalbev.pipeline import RUN_LOG_SCHEMA
from globalbev.run_state import QUARANTINE_SCHEMA, side_by_side
from globalbev.runtime import session_conf
from globalbev.silver_steps import SILVER_STEPS

ERASED, OTHER = 7, 8
CUSTOMERS = "customer_id bigint, email string, phone string, city string, _run_id string"
DIM = "customer_sk bigint, customer_id bigint, email string, city string, valid_from timestamp, is_current boolean"
ORDERS = "order_id bigint, customer_id bigint, order_ref string, _run_id string"
FINDINGS = "dataset string, record_key string, defect string, action string, rule string, reason string, _run_id string"
T = dt.datetime(2025, 7, 1)


@pytest.mark.unit
def test_declared_lineage_is_the_pipelines_wiring():
    edges = declared_lineage()
    for s in SILVER_STEPS:
        into = {(e.source, e.kind) for e in edges if e.target == f"silver.{s.table}"}
        looked = {"quarantine.rejected_rows" if r == "quarantined_orders" else f"bronze.{r}" for r in s.references}
        assert into == {(f"bronze.{s.bronze}", "input")} | {(t, "lookup") for t in looked}, s.table
    fact = {e.source for e in edges if e.target == "gold.fact_sku_market_performance"}
    assert fact == {"quarantine.rejected_rows" if t == "quarantine" else f"silver.{t}" for t in FACT_SOURCES}
    assert set(pipeline.GOLD_SOURCES) | {"quarantine"} == set(FACT_SOURCES)  # what build_gold_layer passes the fact
    gold_src = inspect.getsource(pipeline.build_gold_layer)  # the dimensions, as build_gold_layer builds them
    assert "gold.build_dim_market(silver.markets)" in gold_src and GOLD_WIRING["dim_market"] == ("silver.markets",)
    assert 'table_name("silver", "products", cfg)' in gold_src and GOLD_WIRING["dim_product"] == ("silver.products",)
    assert "silver.orders" in inspect.getsource(pipeline._refresh_dim_date)
    assert 'table_name("silver", "customers", cfg)' in inspect.getsource(pipeline.customers_changed)
    assert upstream_of(edges, "gold.dim_customer") == {"silver.customers", "bronze.customers"}


@pytest.mark.unit
def test_system_table_sql_parses_as_databricks_select():
    for sql in (
        system_table_lineage_sql("globalbev_prod.gold.fact_sku_market_performance"),
        system_table_lineage_sql("c.s.t", "downstream", days=7),
        system_column_lineage_sql("c.s.t", "net_revenue_usd"),
        system_column_lineage_sql("c.s.it's"),
    ):
        tree = sqlglot.parse_one(sql, read="databricks")
        assert isinstance(tree, exp.Select) and not isinstance(tree, exp.Command), sql
        assert {t.sql() for t in tree.find_all(exp.Table)} <= {
            "system.access.table_lineage",
            "system.access.column_lineage",
        }
    with pytest.raises(ValueError, match="upstream nor downstream"):
        system_table_lineage_sql("c.s.t", "sideways")


@pytest.mark.unit
def test_pii_detectors_and_look_alikes():
    assert luhn_ok("4539578763621486") and not luhn_ok("4539578763621487")
    assert is_card("4539 5787 6362 1486") and not is_card("12345") and not is_card("453957876362")
    assert is_email('{"email":"x.y@example.com"}') and not is_email("x@y")
    assert is_phone("+44 20 7946 0958") and is_phone("01 42 68 53 00") and not is_phone("4000000000000002")
    assert not is_phone("2025-07-01 10:00:00") and not is_phone("123456789")  # dates, bare ids
    refs = [str(4000000000000000 + i) for i in range(200)]  # 16-digit ids: Luhn lets one in ten through
    assert 0.05 < sum(map(is_card, refs)) / len(refs) < 0.2


def _append(spark, rows, ddl, name):
    local_frame(spark, rows, ddl).write.format("delta").mode("append").saveAsTable(name)


def _log_run(spark, run, started, run_log):
    log = [(run, "local", started.isoformat(), dt.datetime.now(dt.timezone.utc).isoformat(), "succeeded", "{}")]
    _append(spark, log, RUN_LOG_SCHEMA, run_log)


def _sizes(spark, name):
    """Per erasure table: (rows that are not customer 7's, all rows) - one job for the seven tables."""
    parts = [spark.table(name[r.table]).select(F.lit(r.table).alias("t"), F.expr(f"NOT ({r.where(ERASED)})").alias("o"))
             for r in ERASURE_RULES]  # fmt: skip
    got = union_all(parts).groupBy("t").agg(F.count_if("o").alias("others"), F.count("*").alias("n")).collect()
    return {r.t: (r.others, r.n) for r in got}


@pytest.fixture(scope="module")
def governed(spark, test_config):
    """Seven tiny governed tables (deletion vectors and the change feed on), a run log and two pipeline runs: the
    first writes every table, the second only the customers (bronze, silver, a second SCD2 version in dim_customer) -
    one or two versions per table; then a hand-made UPDATE; the change report before the erasure, then the erasure of
    customer 7."""
    cfg = start_lesson(spark, "test_compliance", test_config)
    name = {r.table: table_name(*r.table.split("."), cfg) for r in ERASURE_RULES}
    run_log = table_name("ops", "run_log", cfg)
    features = ("enableDeletionVectors", "enableChangeDataFeed")
    defaults = {f"spark.databricks.delta.properties.defaults.{p}": "true" for p in features}
    with session_conf(spark, defaults):
        for day, run in enumerate(("r0", "r1")):
            started = dt.datetime.now(dt.timezone.utc)
            people = [(ERASED, f"e{day}@example.fr", "+33 6 12 34 56 78", f"city{day}", run),
                      (OTHER, "o@example.de", "+49 30 901820", "Berlin", run)]  # fmt: skip
            _append(spark, people, CUSTOMERS, name["bronze.customers"])  # first: the others' input
            dim = [(day * 10 + p[0], p[0], p[1], p[3], T + dt.timedelta(days=day), True) for p in people]
            writes = {"silver.customers": (people, CUSTOMERS), "gold.dim_customer": (dim, DIM)}  # (a MERGE: the same)
            if not day:  # the second run changed customers only: no more commits than the proof needs
                orders = [(100, ERASED, "4000000000000001", run), (200, OTHER, "4000000000000003", run)]
                writes |= {"bronze.orders": (orders, ORDERS), "silver.orders": (orders, ORDERS)}
                writes["quarantine.rejected_rows"] = (
                    [("shop.customers", str(ERASED), "h0-1", "duplicate_exact", "a copy", '{"customer_id":7}',
                      "postgres:shop.customers", run, T),
                     ("shop.orders", "300", "o0-1", "future_order_date", "in the future",
                      '{"order_id":300,"customer_id":7}', "postgres:shop.orders", run, T),
                     ("shop.orders", "400", "p0-1", "orphan_customer", "no such customer",
                      '{"order_id":400,"customer_id":8}', "postgres:shop.orders", run, T)],
                    QUARANTINE_SCHEMA)  # fmt: skip
                writes["ops.dq_findings"] = ([("shop.customers", str(ERASED), "phone_format", "fixed", "r", "why", run),
                                              ("shop.customers", str(OTHER), "phone_format", "fixed", "r", "why", run)],
                                             FINDINGS)  # fmt: skip
            tasks = {k: (lambda k=k, rows=rows, ddl=ddl: _append(spark, rows, ddl, name[k])) for k, (rows, ddl) in
                     writes.items()}  # fmt: skip
            side_by_side(tasks).raise_first()  # independent tables, side by side as the pipeline writes them
            _log_run(spark, run, started, run_log)
    spark.sql(f"UPDATE {name['silver.customers']} SET city = 'Munich' WHERE customer_id = {OTHER}")  # by hand
    lineage = run_lineage(spark, name, declared_lineage(), run_log)
    report = change_report(spark, name, run_log, lineage=lineage).collect()
    others = {k: n for k, (n, _) in _sizes(spark, name).items()}
    erasure = erase_customer(spark, cfg, ERASED, request_id="req-1")
    return {"cfg": cfg, "name": name, "lineage": lineage.collect(), "report": report, "others": others,
            "erasure": erasure, "tables": {r.table: r for r in erasure.tables.collect()},
            "proof": erasure.proof.collect()}  # fmt: skip


def test_change_report_flags_the_manual_change_and_no_pipeline_write(governed):
    flagged = [(r.table, r.operation) for r in governed["report"] if r.outside_pipeline]
    assert flagged == [("silver.customers", "UPDATE")]
    manual = next(r for r in governed["report"] if r.outside_pipeline)
    assert "not one the pipeline runs" in manual.reason and "no pipeline run was running" in manual.reason
    assert manual.rows_changed == 2  # both of OTHER's rows in silver
    runs = {r.run_id for r in governed["report"] if not r.outside_pipeline}
    assert runs == {"r0", "r1"} and len(governed["report"]) == 7 + 3 + 1  # run 1: 7 tables, run 2: 3, by hand: 1


def test_run_lineage_names_the_run_and_the_input_version(governed):
    v1 = next(r for r in governed["lineage"] if r.table == "silver.customers" and r.version == 1)
    assert v1.run_ids == ["r1"] and v1.run_id == "r1" and v1.inputs == ["bronze.customers@v1"]


def test_erasure_leaves_the_customer_in_no_readable_version(spark, governed):
    proof, name = governed["proof"], governed["name"]
    assert governed["erasure"].complete and all(r.erased for r in proof)
    assert all(p == {"reorg": True, "vacuum": True} for p in governed["erasure"].purged.values())  # DVs seen: purged
    history = {r.table: [h.version for h in spark.sql(f"DESCRIBE HISTORY {name[r.table]}").collect()]
               for r in ERASURE_RULES}  # fmt: skip
    for rule in ERASURE_RULES:  # every version still in the history was read, none skipped
        versions = history[rule.table]
        assert sorted(r.version for r in proof if r.table == rule.table) == sorted(versions), rule.table
        assert any(not r.readable for r in proof if r.table == rule.table), rule.table  # the old ones: gone
    for key in ("silver.customers", "gold.dim_customer"):  # read again here, independently of the proof
        for v in history[key]:
            try:
                n = spark.sql(f"SELECT * FROM {name[key]} VERSION AS OF {v} WHERE customer_id = {ERASED}").count()
            except Exception as e:  # noqa: BLE001 - only "the files are gone" may stop a read
                assert re.search(r"FILE_NOT_(EXIST|FOUND)|FileNotFound", str(e)), str(e)[:300]
                continue
            assert n == 0, (key, v)


def test_erasure_accounts_for_every_row_and_spares_everyone_else(spark, governed):
    tables, name = governed["tables"], governed["name"]
    matched = {"bronze.customers": 2, "silver.customers": 2, "gold.dim_customer": 2, "quarantine.rejected_rows": 2,
               "ops.dq_findings": 1, "bronze.orders": 1, "silver.orders": 1}  # fmt: skip
    assert {k: r.rows_matched for k, r in tables.items()} == matched
    sizes = _sizes(spark, name)  # read again, independently of the erasure's own counts
    for k, r in tables.items():
        expected = r.rows_before - r.rows_matched if r.action == "delete" else r.rows_before
        assert r.rows_after == expected == sizes[k][1], k
    for rule in ERASURE_RULES:
        left = sizes[rule.table][0]
        extra = matched[rule.table] if rule.action == "pseudonymise" else 0  # her orders, kept without her
        assert left == governed["others"][rule.table] + extra, rule.table
    kept = spark.table(name["silver.orders"]).where(f"customer_id = {pseudonym('req-1')}").count()
    assert kept == 1 and tables["quarantine.rejected_rows"].rows_after == 1  # OTHER's orphan order stays


def test_pii_scanner_reports_unmasked_columns_only_as_what_they_are(spark, governed):
    name = governed["name"]
    masked = {"silver.customers": {"email", "phone"}}
    found = {(r.table, r.column, r.kind): r.masked for r in scan_pii(spark, name, masked).collect()}
    assert found[("bronze.customers", "email", "email")] is False
    assert found[("bronze.customers", "phone", "phone")] is False
    assert found[("silver.customers", "email", "email")] is True  # found, and masked
    assert not [k for k in found if k[1] in ("order_ref", "order_id", "customer_id", "record_key", "row_id")]
    cards = table_name("silver", "cards", governed["cfg"])
    _append(spark, [(i, "4539 5787 6362 1486", i * 1000) for i in range(5)], "id int, card string, n bigint", cards)
    hits = scan_pii(spark, {"silver.cards": cards}, {}).collect()
    assert [(r.column, r.kind, r.matched, r.masked) for r in hits] == [("card", "card", 5, False)]
