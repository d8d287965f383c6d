"""The declarative inventory pipeline (notebook 08a_declarative_pipeline): expectations with Databricks' semantics on
tiny frames — warn keeps and counts, drop removes and counts, fail stops naming the expectation and the row — the
event-log rows they leave, the decorators outside and inside a pipeline registration. The real `spark-pipelines` CLI on
the pipeline in pipelines/inventory_monitoring (a dry-run: the graph resolves, "Run is COMPLETED") runs and is asserted
in notebooks/08a_declarative_pipeline.ipynb, which ./dev test runs; see the runbook for a full run's time."""

from __future__ import annotations

import importlib.util

import pytest
from pyspark.testing import assertDataFrameEqual

from globalbev.config import table_name
from globalbev.frames import local_frame
from globalbev.pipeline_expectations import (
    EXPECTATION_LOG_COLUMNS,
    ExpectationViolation,
    PipelineExpectation,
    PipelineExpectationError,
    _native,
    current_stock,
    enforce_expectations,
    expect,
    expect_all_or_drop,
    expect_or_fail,
    expectation_log,
    expectation_verdicts,
    expected_failures,
    inventory_events_with_defects,
    run_expectations,
    silver_inventory_rules,
    stockouts,
)
from globalbev.runtime import ensure_schemas

HAS_PIPELINES = importlib.util.find_spec("pyspark.pipelines") is not None
NEEDS_PIPELINES = pytest.mark.skipif(
    not HAS_PIPELINES, reason="pyspark.pipelines (Spark Declarative Pipelines) needs pyspark >= 4.1; this is older"
)
STOCK_OK = "on_hand >= 0"


@pytest.fixture
def log_table(spark, test_config, request):
    """An event-log table of the test's own, in the run's `ops` schema."""
    ensure_schemas(spark, test_config)
    name = table_name("ops", f"log_{request.node.name[:40]}", test_config)
    spark.sql(f"DROP TABLE IF EXISTS {name}")
    return name


@pytest.fixture
def rows(spark):
    return local_frame(spark, [(1, 5), (2, -1), (3, None), (4, 0)], "event_id int, on_hand int")


@pytest.mark.unit
def test_an_expectation_is_checked_when_declared():
    with pytest.raises(PipelineExpectationError, match="warn, drop, fail"):
        PipelineExpectation("stock", STOCK_OK, "quarantine")
    with pytest.raises(PipelineExpectationError, match="a name and a constraint"):
        PipelineExpectation("stock", " ")


@pytest.mark.unit
def test_warn_keeps_drop_removes_and_null_counts_as_failed(spark, rows):
    warn = [PipelineExpectation("stock_ok", STOCK_OK)]
    drop = [PipelineExpectation("stock_ok", STOCK_OK, "drop")]
    assertDataFrameEqual(enforce_expectations(rows, warn, "t"), rows)
    assertDataFrameEqual(enforce_expectations(rows, drop, "t"), rows.where("event_id IN (1, 4)"))
    log = expectation_log(
        expectation_verdicts(rows, warn + [PipelineExpectation("id_small", "event_id < 4")], "t", "u")
    )
    assert tuple(log.columns) == EXPECTATION_LOG_COLUMNS
    got = {(r.update_id, r.dataset, r.expectation, r.action, r.passed_records, r.failed_records) for r in log.collect()}
    assert got == {("u", "t", "stock_ok", "warn", 2, 2), ("u", "t", "id_small", "warn", 3, 1)}


@pytest.mark.unit
def test_fail_stops_the_query_naming_the_expectation_and_the_row(spark, rows):
    fail = [PipelineExpectation("stock_ok", STOCK_OK, "fail"), PipelineExpectation("id_ok", "event_id > 0", "drop")]
    with pytest.raises(Exception) as caught:
        enforce_expectations(rows, fail, "inventory_silver").collect()
    message = str(caught.value)
    assert "'stock_ok' (expect_or_fail) failed on dataset 'inventory_silver'" in message
    assert '"event_id":2' in message and '"on_hand":-1' in message
    assertDataFrameEqual(
        enforce_expectations(rows.where("event_id IN (1, 4)"), fail, "t"), rows.where("event_id IN (1, 4)")
    )


@pytest.mark.integration
def test_run_expectations_logs_every_update_also_the_one_that_fails(spark, rows, log_table):
    rules = [PipelineExpectation("stock_ok", STOCK_OK, "drop"), PipelineExpectation("id_small", "event_id < 4")]
    kept = run_expectations(rows, rules, "t", log_table, update_id="u1")
    assertDataFrameEqual(kept, rows.where("event_id IN (1, 4)"))
    with pytest.raises(ExpectationViolation) as caught:
        run_expectations(rows, [PipelineExpectation("stock_ok", STOCK_OK, "fail")], "t", log_table, update_id="u2")
    assert caught.value.expectation == "stock_ok" and caught.value.failed == 2 and '"event_id":2' in caught.value.row
    log = {
        (r.update_id, r.expectation, r.action, r.passed_records, r.failed_records)
        for r in spark.table(log_table).collect()
    }
    assert log == {("u1", "stock_ok", "drop", 2, 2), ("u1", "id_small", "warn", 3, 1), ("u2", "stock_ok", "fail", 2, 2)}


@pytest.mark.integration
def test_the_silver_rulebook_counts_each_planted_defect_and_accounts_for_every_row(spark, log_table):
    n = 400
    events = inventory_events_with_defects(spark, n).withColumn("_corrupt_record", F_null())
    silver = run_expectations(events, silver_inventory_rules(), "inventory_silver", log_table, "u")
    failed = {r.expectation: r.failed_records for r in spark.table(log_table).collect()}
    assert {k: failed[k] for k in expected_failures(n)} == expected_failures(n)
    assert failed["event_id_present"] == 0 == failed["well_formed"]
    dropped = expected_failures(n)["warehouse_present"] + expected_failures(n)["stock_not_negative"]
    assert silver.count() == n - dropped
    stock = current_stock(silver)
    assert stock.where("warehouse_id IS NULL OR on_hand < 0").count() == 0
    assert stockouts(stock).where("available > 0").count() == 0


def F_null():
    from pyspark.sql import functions as F

    return F.lit(None).cast("string")


@pytest.mark.unit
def test_the_decorators_enforce_outside_a_pipeline_and_defer_to_databricks_there(spark, rows, monkeypatch):
    @expect_or_fail("id_present", "event_id IS NOT NULL")
    @expect_all_or_drop({"stock_ok": STOCK_OK})
    @expect("id_small", "event_id < 4")
    def inventory():
        return rows

    assert inventory.__name__ == "inventory"
    assert [(e.name, e.action) for e in inventory.expectations] == [
        ("id_present", "fail"), ("stock_ok", "drop"), ("id_small", "warn")
    ]  # fmt: skip
    assertDataFrameEqual(inventory(), rows.where("event_id IN (1, 4)"))
    assert _native("expect") is None  # open-source Spark has no expectations

    calls = []  # Databricks: `from pyspark import pipelines as dp` has expect; the decorator is dp's own
    import globalbev.pipeline_expectations as pe

    monkeypatch.setattr(pe, "_native", lambda name: lambda *args: calls.append((name, args)) or "dp's decorator")
    assert expect_all_or_drop({"stock_ok": STOCK_OK}) == "dp's decorator"
    assert calls == [("expect_all_or_drop", ({"stock_ok": STOCK_OK},))]


@NEEDS_PIPELINES
@pytest.mark.unit
def test_in_a_pipeline_each_decorator_registers_a_verdict_flow(spark, rows, monkeypatch):
    from pyspark.pipelines.graph_element_registry import GraphElementRegistry, graph_element_registration_context

    import globalbev.pipeline_expectations as pe

    class Recorder(GraphElementRegistry):
        def __init__(self):
            self.outputs, self.flows = [], []

        def register_output(self, output):
            self.outputs.append(output.name)

        def register_flow(self, flow):  # as spark-pipelines does, the query function runs at registration (the log's
            df = flow.func() if flow.target == "expectation_verdicts" else None  # reads a table that exists only there)
            self.flows.append((flow.name, flow.target, df))

        def register_auto_cdc_flow(self, flow):
            raise AssertionError("not used")

        def register_sql(self, sql_text, file_path):
            raise AssertionError("not used")

    monkeypatch.setattr(pe, "_declared", set())
    registry = Recorder()
    with graph_element_registration_context(registry):

        @expect_or_fail("id_present", "event_id IS NOT NULL")
        @expect_all_or_drop({"stock_ok": STOCK_OK})
        def inventory_silver():
            return rows

    assert registry.outputs == ["expectation_verdicts", "expectation_log"]
    flows = {name: (target, df) for name, target, df in registry.flows}
    assert set(flows) == {
        "inventory_silver__expect__stock_ok",
        "inventory_silver__expect__id_present",
        "expectation_log",
    }
    target, verdicts = flows["inventory_silver__expect__stock_ok"]
    assert target == "expectation_verdicts"
    assert sorted((r.dataset, r.expectation, r.passed) for r in verdicts.collect()) == [
        ("inventory_silver", "stock_ok", False), ("inventory_silver", "stock_ok", False),
        ("inventory_silver", "stock_ok", True), ("inventory_silver", "stock_ok", True),
    ]  # fmt: skip
