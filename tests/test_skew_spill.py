"""Skew and spills (notebook 05c_skew_spill) on tiny data: `runtime.stage_metrics` reads Spark's task metrics from the
UI's REST API (so these tests talk HTTP to the session's own UI), finds the skewed join stage and the window that
spilled, and the fixes remove both with the same rows."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from globalbev.frames import local_frame
from globalbev.runtime import MetricsUnavailable, StageMetrics, session_conf, spark_ui_api, stage_metrics
from globalbev.skew_spill import (
    HOT_SKU,
    measure_skew,
    measure_spill,
    salted_join,
    skew_join_confs,
    skew_summary,
    skewed_sales,
    spill_summary,
)


def stage(stage_id: int, task_ms: tuple, read: tuple, spilled: tuple = (0, 0)) -> StageMetrics:
    return StageMetrics(stage_id, f"stage {stage_id}", 4, task_ms, read, *spilled)


@pytest.mark.unit
def test_skew_summary_takes_the_stage_with_the_biggest_read_and_applies_aqes_rule():
    even = stage(1, (90.0, 100.0, 110.0), (1e6, 1e6, 1.2e6))
    hot = stage(2, (90.0, 100.0, 700.0), (1e6, 1e6, 6e6))
    assert skew_summary([even])["skewed"] is False
    s = skew_summary([even, hot])
    assert (s["stage_id"], s["task_ratio"], s["read_ratio"], s["skewed"]) == (2, 7.0, 6.0, True)
    assert skew_summary([stage(3, (1.0, 0.0, 5.0), (0.0, 0.0, 4.0))])["read_ratio"] == float("inf")  # median 0
    with pytest.raises(ValueError, match="Exchange"):
        skew_summary([stage(4, (5.0, 5.0, 5.0), (0.0, 0.0, 0.0))])
    assert spill_summary([even, stage(5, (1.0, 1.0, 1.0), (0.0, 0.0, 0.0), (4096, 512))]) == {
        "memory_bytes_spilled": 4096,
        "disk_bytes_spilled": 512,
        "stages_spilling": 1,
    }


@pytest.mark.unit
def test_salted_join_gives_the_same_rows(spark):
    left = local_frame(spark, [(i, "hot" if i % 4 else f"k{i % 12}") for i in range(60)], "id long, key string")
    right = local_frame(spark, [("hot", 1), ("hot", 2), ("k4", 3), ("nowhere", 4)], "key string, batch int")
    for buckets in (1, 5):
        assertDataFrameEqual(salted_join(left, right, "key", buckets), left.join(right, "key"))
        assertDataFrameEqual(salted_join(left, right, "key", buckets, "left"), left.join(right, "key", "left"))
    with pytest.raises(ValueError, match="at least 1"):
        salted_join(left, right, "key", 0)


@pytest.mark.integration
def test_stage_metrics_reads_the_tagged_action_only(spark):
    assert spark_ui_api(spark).startswith("http://127.0.0.1:")
    spark.range(1000).count()  # another action, untagged: not in the result
    run = stage_metrics(spark, lambda: spark.range(5000).groupBy((F.col("id") % 3).alias("k")).count().collect())
    assert run.seconds > 0 and len(run.result) == 3
    assert run.stages and all(s.tasks >= 1 and s.task_ms[0] <= s.task_ms[1] <= s.task_ms[2] for s in run.stages)
    assert any(s.shuffle_read_bytes[2] > 0 for s in run.stages)
    assert sum(s.shuffle_write_bytes for s in run.stages) > 0


@pytest.mark.integration
def test_stage_metrics_covers_the_jobs_of_side_by_sides_threads(spark):
    # A job tag belongs to the thread that set it: side_by_side's threads carry the caller's, so a measured action
    # that writes tables side by side (the optimised pipeline, notebook 05) counts every thread's stages.
    from globalbev.run_state import side_by_side

    def grouped(n: int):
        return lambda: spark.range(n).groupBy((F.col("id") % 5).alias("k")).count().collect()

    before = spark.getTags()
    run = stage_metrics(spark, lambda: side_by_side({"a": grouped(3000), "b": grouped(4000)}, workers=2).raise_first())
    assert spark.getTags() == before  # nothing left behind in this thread
    assert len({s.stage_id for s in run.stages}) >= 4  # two jobs of two stages (map side, then the aggregation)


@pytest.mark.integration
def test_a_stage_the_ui_no_longer_keeps_is_left_out_not_an_error(spark):
    # A long-lived server (./dev test's) drops skipped stages first once it holds more than spark.ui.retainedStages:
    # the REST API then answers 404 for a stage id a job still lists. Such a stage never ran: it has no metrics to read.
    from globalbev.runtime import _stage_attempts

    assert _stage_attempts(spark_ui_api(spark), 10**9) == []


@pytest.mark.integration
def test_a_hot_key_is_found_and_both_fixes_remove_it(spark):
    sales = skewed_sales(spark, 20_000, skus=50)
    assert sales.where(f"sku = '{HOT_SKU}'").count() == 16_000
    figures = measure_skew(spark, 20_000, buckets=8, runs=1, skewed_bytes="32KB", advisory_bytes="8KB")
    assert figures["same_result"]
    assert figures["off_read_ratio"] > 5  # one task reads most of the shuffle
    assert figures["aqe_read_ratio"] < 5 and figures["salted_read_ratio"] < 5
    assert spark.conf.get("spark.sql.adaptive.skewJoin.enabled") == "true"  # the settings were unset afterwards
    with session_conf(spark, skew_join_confs(False)):
        assert spark.conf.get("spark.sql.adaptive.skewJoin.enabled") == "false"
    assert spark.conf.get("spark.sql.autoBroadcastJoinThreshold") != "-1"


@pytest.mark.integration
def test_a_spill_is_found_and_the_fix_spills_nothing(spark):
    figures = measure_spill(spark, 20_000, threshold_rows=1000, runs=1)
    assert figures["tight_disk_bytes_spilled"] > 0 and figures["tight_memory_bytes_spilled"] > 0
    assert figures["fixed_disk_bytes_spilled"] == 0 == figures["roomy_disk_bytes_spilled"]


@pytest.mark.unit
def test_on_databricks_the_metrics_say_where_to_look(spark, monkeypatch):
    monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", "17.3")
    with pytest.raises(MetricsUnavailable, match="query profile"):
        stage_metrics(spark, lambda: None)
