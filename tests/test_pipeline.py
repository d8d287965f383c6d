"""The weeks 1-2 pipeline end to end on real engines: three generated days through bronze, silver and gold, with
`shop`'s tables as the generator's operational files — Databricks' default (`[sources] operational = "files"`); the
PostgreSQL path runs end to end in the demo (notebooks/04d_demo), and tests/test_operational_files.py proves both give
bronze the same batches.

Asserts what the issue asks of the main job: rows conserved at every layer, every injected defect caught with no false
alarm, schema drift absorbed, gold reconciled with silver, and a run with nothing new changing nothing.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hostile import hostile_files
from pyspark.sql import functions as F

from globalbev.config import table_name
from globalbev.delta_ops import latest_version, read_version
from globalbev.demo import reset_local_lakehouse
from globalbev.pipeline import run_pipeline
from globalbev.report import report_run
from globalbev.run_state import PipelineCrashed
from globalbev.silver_steps import SILVER_STEPS, SilverStep, WiringError, reference_table, required_table

DAYS = 3
_WAREHOUSE = '"WH-HX{0}","US","Reno",{1},2025-07-03 23:00:00.000000Z'
HOSTILE_OPERATIONAL = {  # shop.warehouses' export, broken: a file of another table, and a file with two bad lines
    "hostile-other-table.csv": "sku,brand\nSKU-1,Fizz\n",
    "hostile-lines.csv": "\n".join(
        [
            "warehouse_id,market_code,city,capacity_units,updated_at",
            _WAREHOUSE.format(1, 500),  # good
            _WAREHOUSE.format(2, "lots"),  # capacity is not a number
            '"WH-HX3","US"',  # two fields of five
        ]
    )
    + "\n",
}


def crash_at(stage: str):
    """A progress callback that stops the run when it reaches `stage` — a crash between two steps or layers."""

    def progress(s: str) -> None:
        if s == stage:
            raise RuntimeError(f"injected crash at {stage}\n\tat org.apache.spark.Fake(Fake.java:1)")

    return progress


@pytest.fixture(scope="module")
def runs(spark, test_config, tmp_path_factory):
    """Generate day 0 without its partner files (a landing dataset with no file yet), run and report; add day 1 (the
    partner files of days 0 and 1 arrive), crash the run in the middle of silver, run again and report; add day 2
    (drift day), crash the run between silver and gold, run again and report; run once more with nothing new; then
    put the hostile landing files (tests/hostile.py) next to the generated ones and run."""
    from data_generators import GenerationConfig, generate

    root = tmp_path_factory.mktemp("pipeline") / "data"
    reset_local_lakehouse(spark, test_config)
    results, crashes = [], []
    for upto, crash in zip(range(1, DAYS + 1), (None, "silver.order_lines", "gold"), strict=True):
        gen = generate(GenerationConfig(root=str(root), pg_url=None, scale=0.002, days=upto, seed=7))
        if upto == 1:  # each generate() writes every day again: day 1's brings the partner files of day 0 back
            shutil.rmtree(root / "landing" / "partner_orders")
        args = dict(landing_root=str(root), manifest_dir=str(gen.manifest_dir))
        if crash:
            with pytest.raises(PipelineCrashed) as stopped:
                run_pipeline(spark, test_config, None, progress=crash_at(crash), **args)
            crashes.append(stopped.value)
        result = run_pipeline(spark, test_config, None, **args)
        results.append(report_run(spark, test_config, result))
    versions = {s.table: latest_version(spark, table_name("silver", s.table, test_config)) for s in SILVER_STEPS}
    again = run_pipeline(spark, test_config, None, landing_root=str(root), manifest_dir=str(root / "manifest"))
    after = {s.table: latest_version(spark, table_name("silver", s.table, test_config)) for s in SILVER_STEPS}
    for h in hostile_files():
        h.write(root)
    for name, text in HOSTILE_OPERATIONAL.items():
        (root / "operational" / "warehouses" / "day=009").mkdir(parents=True, exist_ok=True)
        (root / "operational" / "warehouses" / "day=009" / name).write_text(text)
    hostile = run_pipeline(spark, test_config, None, landing_root=str(root))
    return {
        "results": results,
        "crashes": crashes,
        "again": again,
        "hostile": hostile,
        "versions_before_again": versions,
        "versions_after_again": after,
        "root": root,
    }


@pytest.mark.integration
def test_every_row_accounted_for_at_every_layer(runs):
    for res in runs["results"] + [runs["again"], runs["hostile"]]:
        unbalanced = [a for a in res.accounting if not a["balanced"]]
        assert not unbalanced, unbalanced
    day0 = {(a["dataset"], a["layer"]): a for a in runs["results"][0].accounting}
    assert day0[("customers", "bronze")]["rows_in"] > 0 and day0[("order_lines", "silver")]["rows_quarantined"] > 0


@pytest.mark.integration
def test_every_injected_defect_caught_without_false_alarms(runs):
    score = {r["defect_id"]: r for r in (x.asDict() for x in runs["again"].detection.collect())}
    assert sum(r["injected"] for r in score.values()) > 500
    missed = {k: r["missed"] for k, r in score.items() if r["missed"]}
    false = {k: r["false_alarms"] for k, r in score.items() if r["false_alarms"]}
    assert not missed and not false, (missed, false)


@pytest.mark.integration
def test_gold_reconciles_with_silver_after_every_run(runs):
    assert all(r.summary["reconciliation_matches"] for r in runs["results"] + [runs["again"]])
    assert all(r.summary["status"] == "succeeded" for r in runs["results"])


@pytest.mark.integration
def test_schema_drift_absorbed(spark, test_config, runs):
    bronze = spark.table(table_name("bronze", "customers", test_config))
    silver = spark.table(table_name("silver", "customers", test_config))
    assert "loyalty_tier" in bronze.columns and "loyalty_tier" in silver.columns
    assert silver.where(F.col("loyalty_tier").isNotNull()).count() > 0
    events = spark.table(table_name("bronze", "inventory_events", test_config))
    assert {"temperature_c", "source_system"} <= set(events.columns)


@pytest.mark.integration
def test_a_landing_dataset_with_no_file_yet(spark, test_config, runs):
    """Day 0 had no partner file at all: the run still succeeded and reconciled, with silver.partner_orders made
    empty; day 1's run took the partner files of days 0 and 1."""
    first, second = runs["results"][:2]
    bronze0 = {a["dataset"]: a for a in first.accounting if a["layer"] == "bronze"}
    silver1 = {a["dataset"]: a for a in second.accounting if a["layer"] == "silver"}
    assert bronze0["partner_orders"]["rows_in"] == 0 and first.summary["status"] == "succeeded"
    assert read_version(spark, table_name("silver", "partner_orders", test_config), 0).count() == 0
    assert silver1["partner_orders"]["rows_in"] > 0


@pytest.mark.integration
def test_a_run_with_nothing_new_changes_nothing(spark, test_config, runs):
    again = runs["again"]
    assert all(a["rows_in"] == 0 for a in again.accounting), [a for a in again.accounting if a["rows_in"]]
    assert runs["versions_after_again"] == runs["versions_before_again"]


@pytest.mark.integration
def test_silver_customers_follow_the_daily_changes(spark, test_config, runs):
    manifest = json.loads((runs["root"] / "manifest" / "day=002.json").read_text())
    changes = manifest["changes"]["shop.customers"]
    deleted = {str(k) for k in changes.get("delete_keys", changes.get("deleted_keys", []))}
    assert deleted, "the generator deletes customers on later days"
    silver = spark.table(table_name("silver", "customers", test_config))
    flagged = {str(r.customer_id) for r in silver.where("is_deleted").select("customer_id").collect()}
    assert deleted <= flagged
    dim = spark.table(table_name("gold", "dim_customer", test_config))
    still_current = dim.where(F.col("is_current") & F.col("customer_id").cast("string").isin(*deleted)).count()
    assert still_current == 0


@pytest.mark.integration
def test_run_summary_and_log_written(spark, test_config, runs):
    summary = runs["results"][-1].summary
    assert Path(summary["summary_path"]).is_file()
    assert all(Path(p).is_file() for p in summary["charts"].values())
    log = spark.table(table_name("ops", "run_log", test_config))
    assert log.where(F.col("run_id") == summary["run_id"]).count() == 1


@pytest.mark.unit
def test_a_wrongly_wired_step_is_refused_when_it_is_made():
    orders = next(s for s in SILVER_STEPS if s.table == "orders")
    with pytest.raises(WiringError, match=r"unknown reference\(s\) \['custmers'\]"):
        SilverStep("orders", orders.builder, ("order_id",), ("custmers",), needs_initial_load=True)
    with pytest.raises(WiringError, match=r"does not take \['products'\]"):
        SilverStep("orders", orders.builder, ("order_id",), ("customers", "products"), needs_initial_load=True)


@pytest.mark.unit
def test_an_unknown_reference_or_a_missing_table_is_an_error(spark, test_config):
    with pytest.raises(WiringError, match="unknown reference 'custmers'"):
        reference_table(spark, test_config, "custmers")
    with pytest.raises(WiringError, match="table bronze.no_such_table does not exist: ingest it first"):
        required_table(spark, "bronze.no_such_table", "ingest it first")


@pytest.mark.integration
def test_a_crashed_run_is_recorded_and_the_next_run_resumes(spark, test_config, runs):
    """Crashed in the middle of silver (day 1) and between silver and gold (day 2): each crash left a `crashed` summary
    and run-log row naming the stage and the error (no JVM stack), and the re-run took what it left — the checks
    above (every row accounted for, every defect caught, gold reconciled) ran on the resumed lakehouse."""
    assert [(c.stage, c.exit_code) for c in runs["crashes"]] == [("silver.order_lines", 3), ("gold", 3)]
    log = spark.table(table_name("ops", "run_log", test_config))
    for crash in runs["crashes"]:
        summary = json.loads(Path(crash.summary_path).read_text())
        assert summary["status"] == "crashed" and summary["stage"] == crash.stage
        assert summary["error"] == f"RuntimeError: injected crash at {crash.stage}"
        assert log.where((F.col("run_id") == crash.run_id) & (F.col("status") == "crashed")).count() == 1
    resumed = {a["dataset"]: a for a in runs["results"][1].accounting if a["layer"] == "silver"}
    assert resumed["orders"]["rows_in"] > 0, "the re-run took the batches the crashed run left in bronze"
    assert runs["results"][2].summary["gold"]["dim_customer"], "the re-run brought gold up to date"


def _rows_of(df, name: str):
    return df.where(F.col("record").contains(name) | F.col("record_key").contains(name)).collect()


@pytest.mark.integration
def test_hostile_files_next_to_good_ones(spark, test_config, runs):
    """The run over the hostile landing zone succeeds; file by file: a broken file is quarantined whole with its
    reason, every good row is in silver, every bad row is in quarantine with the reason its contract names."""
    result = runs["hostile"]
    assert result.summary["status"] == "succeeded", [a for a in result.accounting if not a["balanced"]]
    files = spark.table(table_name("quarantine", "rejected_files", test_config)).collect()
    quarantine = spark.table(table_name("quarantine", "rejected_rows", test_config))
    keys = {
        "partner_orders": ("partner_orders", "partner_order_id"),
        "inventory_events": ("inventory_events", "event_id"),
    }
    problems = []
    for h in hostile_files():
        name = f"{h.dataset}/{h.path}"  # e.g. inventory_events/day=000/hostile-bom.jsonl
        if h.file_reason:
            reasons = [f.reason for f in files if f.path.endswith(name)]
            if not (reasons and h.file_reason.lower() in reasons[0].lower()):
                problems.append((h.dataset, h.name, "file", reasons))
            continue
        if h.good:
            table, key = keys[h.dataset]
            silver = spark.table(table_name("silver", table, test_config))
            found = {str(r[0]) for r in silver.where(F.col(key).cast("string").isin(*h.good)).select(key).collect()}
            if found != set(h.good):
                problems.append((h.dataset, h.name, "good rows missing from silver", set(h.good) - found))
        mine = _rows_of(quarantine, name)
        reasons = [r.reason for r in mine]
        if len(mine) != len(h.bad) or not all(any(f.lower() in x.lower() for x in reasons) for f in h.bad):
            problems.append((h.dataset, h.name, "quarantine", h.bad, [x[:120] for x in reasons]))
    assert not problems, problems


@pytest.mark.integration
def test_hostile_operational_files_next_to_good_ones(spark, test_config, runs):
    """shop's tables as files, broken: a file of another table is rejected whole with why, a bad line is quarantined
    with why (counted in bronze's balance), the good row beside them reaches silver."""
    folder = "operational/warehouses/day=009"
    files = spark.table(table_name("quarantine", "rejected_files", test_config))
    other = files.where(F.col("path").endswith(f"{folder}/hostile-other-table.csv")).collect()
    assert len(other) == 1 and other[0].reason.startswith("header: expected warehouse_id,market_code,city")
    lines = _rows_of(spark.table(table_name("quarantine", "rejected_rows", test_config)), f"{folder}/hostile-lines.csv")
    assert sorted(r.reason for r in lines) == ["capacity_units: lots is not int", "malformed: not 5 fields"]
    assert {r.rule for r in lines} == {"rejected_line"} and {r.dataset for r in lines} == {"operational/warehouses"}
    silver = spark.table(table_name("silver", "warehouses", test_config))
    assert silver.where(F.col("warehouse_id") == "WH-HX1").count() == 1
    bronze = next(a for a in runs["hostile"].accounting if (a["dataset"], a["layer"]) == ("warehouses", "bronze"))
    assert (bronze["rows_in"], bronze["rows_out"], bronze["rows_quarantined"]) == (3, 1, 2) and bronze["balanced"]
