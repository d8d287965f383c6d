"""The pipeline over Spark Connect — the API serverless compute, standard access mode and Databricks Connect run code
through, where analysis waits until a plan runs and there is no cache, RDD or JVM to reach. `[spark] api = "connect"`
(GLOBALBEV_SPARK_API) starts the local JVM with Spark Connect's server inside and hands back a Connect client session.

Two generated days (file mode) go through bronze, silver and gold: the first run creates every table, the second
MERGEs into them, closes customer versions and refreshes gold from the Change Data Feed. The second day runs as the
batch job's task graph runs it on Databricks (issue #16): stage by stage with one run id, `run_stage` bronze, silver
crashed half way and run again with the same run id (a task retry), gold, then `run_checks` from what `ops.run_stages`
holds — so the graph is proven on the Spark and the API the job's tasks run on. They run in a process of their
own, because a Connect client changes what pyspark builds in its whole process (functions and columns too), so it
cannot share the tests' classic session. Not timed. `./dev compat` runs it (marker `connect`), on pyspark 4.0 — the
Spark of Databricks Runtime 17.3 LTS and serverless, which run code through Spark Connect; `.ci/run` runs it after
`./dev test`, which leaves it out (about 200 s of its budget).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.connect

SCRIPT = """
import json, sys
from data_generators import GenerationConfig, generate
from globalbev.config import load_config
from globalbev.pipeline import run_checks, run_pipeline, run_stage
from globalbev.run_state import PipelineCrashed, recorded_stages
from globalbev.runtime import get_spark, is_remote, stop_spark


def crash_at(stage):
    def progress(s):
        if s == stage:
            raise RuntimeError(f"injected crash at {stage}")
    return progress


root = sys.argv[1]
cfg = load_config("local")
spark = get_spark(cfg, app_name="globalbev-connect-test")
out = {"remote": is_remote(spark), "session": type(spark).__module__, "runs": []}
gen = generate(GenerationConfig(root=root, pg_url=None, scale=0.0005, days=1, seed=11))
out["runs"].append(run_pipeline(spark, cfg, None, landing_root=root, manifest_dir=str(gen.manifest_dir)).summary)
gen = generate(GenerationConfig(root=root, pg_url=None, scale=0.0005, days=2, seed=11))
run_id = "4711"  # {{job.run_id}}: the same for every task of one job run
run_stage(spark, cfg, "bronze", run_id, None, root)
try:
    run_stage(spark, cfg, "silver", run_id, progress=crash_at("silver.order_lines"))
except PipelineCrashed as e:
    out["crash"] = [e.stage, e.exit_code, e.run_id]
run_stage(spark, cfg, "silver", run_id)  # the task's retry
run_stage(spark, cfg, "gold", run_id)
out["runs"].append(run_checks(spark, cfg, run_id, str(gen.manifest_dir)).summary)
out["stages"] = sorted(recorded_stages(spark, cfg, run_id))
print("RESULT " + json.dumps(out, default=str))
stop_spark()
"""


def test_two_pipeline_days_run_over_spark_connect(tmp_path):
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "GLOBALBEV_SPARK_API": "connect",
        "GLOBALBEV_OPERATIONAL": "files",
        "GLOBALBEV_DATA_ROOT": str(tmp_path / "lake"),
        "GLOBALBEV_SPARK_MASTER": "local[2]",
        "GLOBALBEV_DRIVER_MEMORY": "2g",
        "GLOBALBEV_JIT": os.environ.get("GLOBALBEV_JIT", "quick"),
        "GLOBALBEV_SPARK_REMOTE": "",  # a server of its own, not the one ./dev test shares between the notebooks
    }
    cmd = [sys.executable, "-c", SCRIPT, str(tmp_path / "raw")]
    run = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-6000:]
    out = json.loads(next(line for line in run.stdout.splitlines() if line.startswith("RESULT "))[7:])
    assert out["remote"] and out["session"].startswith("pyspark.sql.connect"), out["session"]  # really a Connect client
    first, second = out["runs"]
    for s in (first, second):
        assert s["status"] == "succeeded" and s["all_balanced"] and s["reconciliation_matches"], s["status"]
        assert all(row["balanced"] for row in s["accounting"])
        assert all(d["caught"] == d["injected"] and d["false_alarms"] == 0 for d in s["detection"]), s["detection"]
    assert sum(d["injected"] for d in second["detection"]) > 0
    assert first["gold"]["fact"]["full_build"] and not second["gold"]["fact"]["full_build"]  # day 2: from the CDF
    silver_in = {r["dataset"]: r["rows_in"] for r in second["accounting"] if r["layer"] == "silver"}
    assert silver_in["orders"] > 0 and silver_in["customers"] > 0  # the second run MERGEd new rows
    assert out["crash"] == ["silver.order_lines", 3, "4711"] and second["run_id"] == "4711"  # crashed, retried
    assert out["stages"] == ["bronze", "gold", "silver"]  # one record per stage, the retry's replacing the crash's
