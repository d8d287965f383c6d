"""The pipeline benchmark as a smoke test: its smallest configuration runs end to end in its own process (its own
Spark session and PostgreSQL), writes its JSON, the DuckDB peer's fact has gold's totals, and `--compare` reads it
back. Not timed: the figures come from the benchmark on a quiet machine, never from a test."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_pipeline", ROOT / "benchmarks" / "bench_pipeline.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_benchmark_measures_a_correct_run_and_compares(tmp_path, bench):
    out = tmp_path / "bench.json"
    cmd = [sys.executable, "benchmarks/bench_pipeline.py", "--scale", "0.0005", "--jit", "quick"]
    cmd += ["--projections", "interpreted", "--json", str(out)]
    env = {**os.environ, "GLOBALBEV_SPARK_REMOTE": ""}  # a JVM of its own, never ./dev test's shared server
    run = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    m = json.loads(out.read_text())
    assert m["status"] == "succeeded" and m["all_balanced"] and m["reconciles"]
    assert m["injected"] > 0 and m["caught"] == m["injected"] and m["false_alarms"] == 0
    assert m["nothing_new_rows_in"] == 0 and m["nothing_new_changed_tables"] == {}  # a run with nothing new
    assert set(m["layers_s"]) == {"bronze", "silver", "gold", "checks"} and m["pipeline_s"] > 0
    assert {"bronze.orders", "silver.order_lines", "gold.fact"} <= set(m["tables_s"])
    assert m["machine"]["cpus"] and m["machine"]["pyspark"] and len(m["load_1min"]) == 2
    assert m["jit"] == "quick" and m["projections"] == "interpreted"  # what the JVM ran with
    assert m["driver_memory"] and m["class_cache"]
    assert "where the time goes, per layer" in run.stdout
    peer = m["duckdb"]  # the same fact from the same raw input, by DuckDB: the same totals per market
    assert peer["same_totals"], peer["differences"]
    assert peer["seconds"] > 0 and peer["spark_over_duckdb"] > 0 and "Spark / DuckDB" in run.stdout
    assert peer["memory_limit"].endswith(("MB", "%"))  # bounded, so it spills rather than dies at SF 5

    from rich.console import Console

    console = Console(width=120, record=True)
    bench.print_report(m, console, baseline=m)  # against itself: every ratio is 1.00
    text = console.export_text()
    assert f"{m['pipeline_s']:.1f} s then" in text and ": 1.00x" in text and "baseline/now" in text


def test_the_week3_benchmark_measures_layouts_and_costs(tmp_path):
    out = tmp_path / "week3.json"
    # naive vs optimised and skew/spill (skipped here): tests/test_naive_vs_optimised.py and test_skew_spill.py
    cmd = [sys.executable, "benchmarks/bench_week3.py", "--rows", "20000", "--files", "20", "--max-file-kb", "16",
           "--skip-naive", "--skip-skew", "--json", str(out)]  # fmt: skip
    env = {**os.environ, "GLOBALBEV_SPARK_REMOTE": "", "GLOBALBEV_JIT": "quick"}  # a JVM of its own
    run = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    m = json.loads(out.read_text())
    small, zorder, liquid = (m["layout"][k] for k in ("20 small files", "ZORDER BY (sku, market_code)",
                                                      "CLUSTER BY (sku, market_code)"))  # fmt: skip
    assert small["files"] == small["files_read"] == 20 and small["skipped"] == 0
    assert zorder["files_read"] < zorder["files"] and liquid["files_read"] < liquid["files"]  # data skipping at work
    assert all(s["seconds"] > 0 and s["speedup"] > 0 for s in m["layout"].values())
    assert [n["gb"] for n in m["cost"]["nights"]] == [20, 500] and all(n["ratio"] <= 0.4 for n in m["cost"]["nights"])
    assert "naive" not in m and "skew" not in m and "File layout" in run.stdout and "Cost per night" in run.stdout
