"""The pipeline over Spark Connect — the API serverless compute, standard access mode and Databricks Connect run code
through, where analysis waits until a plan runs and there is no cache, RDD or JVM to reach. `[spark] api = "connect"`
(GLOBALBEV_SPARK_API) starts the local JVM with Spark Connect's server inside and hands back a Connect client session.

Two generated days (file mode) go through bronze, silver and gold: the first run creates every table, the second
MERGEs into them, closes customer versions and refreshes gold from the Change Data Feed. They run in a process of their
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
from globalbev.pipeline import run_pipeline
from globalbev.runtime import get_spark, is_remote, stop_spark

root = sys.argv[1]
cfg = load_config("local")
spark = get_spark(cfg, app_name="globalbev-connect-test")
out = {"remote": is_remote(spark), "session": type(spark).__module__, "runs": []}
for days in (1, 2):
    gen = generate(GenerationConfig(root=root, pg_url=None, scale=0.0005, days=days, seed=11))
    result = run_pipeline(spark, cfg, None, landing_root=root, manifest_dir=str(gen.manifest_dir))
    out["runs"].append(result.summary)
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
