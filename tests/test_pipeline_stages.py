"""The batch job as a task graph (issue #16): `ingest_bronze` → `silver` → `gold` → `checks`, each task a process of its
own with the job's run id (`{{job.run_id}}`), handing its results on through `ops.run_stages`.

What a graph adds to a run is tested here on its own, cheaply: the command line, the checks called before the layers
ran, and `merge_attempts` — a stage run again keeps its proof, and a stage whose earlier attempt did its work but died
before writing its record makes the checks fail instead of passing rows nobody counted. The whole graph — bronze,
silver crashed half way and run again with the same run id as a task retry does, gold, the checks — runs over Spark
Connect on Spark 4.0 in tests/test_spark_connect.py (`./dev compat`, after `./dev test` in `.ci/run`): the Spark of
Databricks Runtime 17.3 and serverless, where the job's tasks run. A graph run costs a pipeline run's Spark jobs, and
the stages are the functions `run_pipeline` itself calls in turn, which tests/test_pipeline.py runs on every path.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from globalbev.classroom import start_lesson
from globalbev.cli import build_parser, main
from globalbev.pipeline import account, merge_attempts, run_checks
from globalbev.run_state import StageResult, StagesMissing, recorded_stages

RUN_ID = "4711"  # what {{job.run_id}} gives every task of one job run


@pytest.mark.unit
def test_the_cli_runs_one_stage_only_with_a_run_id(capsys):
    args = build_parser().parse_args(["run", "--stage", "silver", "--run-id", "X"])
    assert (args.stage, args.run_id) == ("silver", "X")
    assert build_parser().parse_args(["run"]).stage == "all"
    assert main(["run", "--stage", "silver"]) == 2  # refused before a configuration is read or Spark started
    assert "name the run with --run-id" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--stage", "platinum", "--run-id", "X"])


@pytest.mark.integration
def test_checks_before_the_layers_ran_fail_with_a_clear_message(spark, test_config):
    cfg = start_lesson(spark, "stages_early", test_config)
    with pytest.raises(StagesMissing) as early:
        run_checks(spark, cfg, RUN_ID)
    assert early.value.exit_code == 1 and early.value.missing == ["bronze", "silver", "gold"]
    assert "no record of stage(s) bronze, silver, gold in ops.run_stages" in str(early.value)
    assert f"globalbev run --stage bronze --run-id {RUN_ID}" in str(early.value)
    summary = json.loads(Path(early.value.summary_path).read_text())
    assert (summary["run_id"], summary["status"]) == (RUN_ID, "failed_checks")
    assert recorded_stages(spark, cfg, RUN_ID) == {}


def _silver(accounting: list[dict]) -> StageResult:
    return StageResult("silver", accounting, "2026-12-04T02:00:00+00:00", 1.0, {"silver.orders": 1.0})


@pytest.mark.unit
def test_a_stage_run_again_keeps_its_proof_and_never_turns_lost_work_green():
    done = _silver([account("orders", "silver", 10, 9, 1, batch_id="b1")])
    nothing = _silver([account("orders", "silver", 0, 0, 0)])
    again = merge_attempts(nothing, RUN_ID, done, {})  # the stage had finished: its record stays, nothing is added
    assert again.accounting == done.accounting and again.started_at == done.started_at and again.seconds == 2.0
    more = merge_attempts(_silver([account("orders", "silver", 5, 5, 0, batch_id="b2")]), RUN_ID, done, {})
    assert [a["rows_in"] for a in more.accounting] == [10, 5]  # what the retry moved is added to the record
    # an earlier attempt took batch b1 and died before its record: the retry takes nothing, and the checks must fail
    lost = merge_attempts(nothing, RUN_ID, None, {("orders", "b1"): None})
    (row,) = [a for a in lost.accounting if not a["balanced"]]
    assert (row["dataset"], row["rows_in"], row["rows_out"], row["batches"]) == (
        "(earlier attempt)",
        1,
        0,
        ["orders/b1"],
    )
    assert "left no record in ops.run_stages" in row["reason"]
    retaken = merge_attempts(_silver([account("orders", "silver", 10, 9, 1, batch_id="b1")]), RUN_ID, None,
                             {("orders", "b1"): None})  # fmt: skip
    assert all(a["balanced"] for a in retaken.accounting)  # taken again by the retry: counted, nothing lost
