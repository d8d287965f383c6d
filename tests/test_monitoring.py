"""Monitoring (globalbev.monitoring, notebook 10a): run health from ops.run_log, freshness from Delta history, alert
rules and their sinks, the HTML health report opened in a real headless Chromium, the regression check against the
committed benchmark baseline, and `globalbev status` end to end on real Delta tables."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from globalbev.classroom import start_lesson
from globalbev.cli import main
from globalbev.config import table_name
from globalbev.frames import local_frame
from globalbev.monitoring import (
    AlertRules,
    Freshness,
    MonitoringError,
    OpsLogSink,
    check_regression,
    evaluate_alerts,
    figure_of,
    health_report_html,
    last_commit_at,
    load_per_cpu,
    run_health,
    send_alerts,
    table_freshness,
)
from globalbev.pipeline import RUN_LOG_SCHEMA
from globalbev.streaming_inventory import JsonFileSink, WebhookSink, start_alert_receiver

ROOT = Path(__file__).resolve().parents[1]
T0 = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.timezone.utc)


def _summary(n: int, status: str, seconds: float, quarantined: int = 10, missed: int = 0, balanced: bool = True):
    started = T0 + dt.timedelta(days=n)
    s = {
        "run_id": f"run-{n}", "env": "local", "status": status, "started_at": started.isoformat(),
        "finished_at": (started + dt.timedelta(seconds=seconds)).isoformat(), "seconds": seconds,
        "timings": {"bronze_s": 1.0, "silver_s": 2.0, "gold_s": 3.0},
        "accounting": [
            {"dataset": "orders", "layer": "silver", "rows_in": 100, "rows_out": 100 - quarantined,
             "rows_quarantined": quarantined, "balanced": balanced},
            {"dataset": "orders", "layer": "bronze", "rows_in": 100, "rows_out": 100, "rows_quarantined": 0,
             "balanced": True},
        ],
        "detection": [{"missed": missed, "false_alarms": 0}], "reconciliation_matches": balanced,
    }  # fmt: skip
    if status == "crashed":
        s |= {"stage": "silver.orders", "error": "OutOfMemoryError: Java heap space"}
    return s


def _run_log(spark, summaries):
    rows = [(s["run_id"], s["env"], s["started_at"], s["finished_at"], s["status"], json.dumps(s)) for s in summaries]
    return local_frame(spark, rows, RUN_LOG_SCHEMA)


WEEK = [_summary(0, "succeeded", 300), _summary(1, "failed_checks", 420, quarantined=40, missed=3, balanced=False),
        _summary(2, "crashed", 60)]  # fmt: skip


def _runs(spark, summaries=WEEK) -> list[dict]:
    return [r.asDict() for r in run_health(_run_log(spark, summaries)).collect()]


def test_run_health_reads_status_duration_and_quality_from_the_run_log(spark):
    runs = _runs(spark)
    assert [r["run_id"] for r in runs] == ["run-2", "run-1", "run-0"]  # newest first
    assert [r["duration_s"] for r in runs] == [60.0, 420.0, 300.0]
    assert runs[1]["quarantined_share"] == 0.4 and runs[1]["unbalanced"] == 1 and runs[1]["missed_defects"] == 3
    assert runs[1]["reconciles"] is False and runs[2]["reconciles"] is True and runs[2]["silver_s"] == 2.0
    assert runs[0]["error"] == "silver.orders: OutOfMemoryError: Java heap space" and runs[2]["error"] == ""


def test_freshness_is_the_age_of_the_newest_commit_in_the_delta_history(spark, tmp_path):
    path = str(tmp_path / "fact")
    for i in range(2):  # two commits
        local_frame(spark, [(i,)], "n int").write.format("delta").mode("append").save(path)
    table = f"delta.`{path}`"
    last = last_commit_at(spark, table)
    assert abs((dt.datetime.now(dt.timezone.utc) - last).total_seconds()) < 600
    fresh, stale, missing = table_freshness(spark, [table, table, f"delta.`{tmp_path}/none`"], 26, now=last)
    assert fresh.age_hours == 0 and not fresh.stale and missing.last_commit is None and missing.stale
    later = table_freshness(spark, [table], 26, now=last + dt.timedelta(hours=30))[0]
    assert later.age_hours == 30 and later.stale


def test_alert_rules_fire_on_failure_staleness_and_quality_and_reach_every_sink(spark, tmp_path, caplog):
    runs = _runs(spark)
    fresh = [Freshness("gold.fact", T0, 50.0, 26.0), Freshness("silver.orders", T0, 2.0, 26.0)]
    alerts = evaluate_alerts(runs, fresh)
    rules = [(a["rule"], a["level"]) for a in alerts]
    assert ("run_failed", "critical") in rules and ("run_failed", "warning") in rules  # the crash, the failed checks
    assert ("stale", "critical") in rules and sum(r == "stale" for r, _ in rules) == 1  # only the 50-hour-old table
    assert {"quarantine_share", "missed_defects", "unbalanced", "not_reconciled"} <= {r for r, _ in rules}
    assert len({a["alert_id"] for a in alerts}) == len(alerts)  # stable, distinct ids
    assert evaluate_alerts(_runs(spark, WEEK[:1]), fresh[1:]) == []  # a good night, a fresh table: silence
    assert not any(
        a["rule"] == "quarantine_share" for a in evaluate_alerts(runs, [], AlertRules(max_quarantined_share=0.5))
    )

    receiver = start_alert_receiver()
    try:
        caplog.set_level(logging.WARNING, logger="globalbev.ops")
        sinks = (OpsLogSink(), JsonFileSink(str(tmp_path / "alerts")), WebhookSink(receiver.url),
                 WebhookSink("http://127.0.0.1:9/unreachable", timeout=2))  # fmt: skip
        failed = send_alerts(alerts, sinks, at=T0)
        assert receiver.wait_for(len(alerts), timeout=10)
    finally:
        receiver.stop()
    assert len(failed) == 1 and failed[0].startswith("WebhookSink")  # one broken sink, the others still got them
    assert set(receiver.alerts) == {a["alert_id"] for a in alerts}
    written = [
        json.loads(x) for x in (tmp_path / "alerts" / f"alerts-{int(T0.timestamp()):08d}.json").read_text().splitlines()
    ]
    assert written == alerts
    logged = [r for r in caplog.records if r.name == "globalbev.ops"]
    assert len(logged) == len(alerts) and any(r.levelno == logging.ERROR for r in logged)


def _chromium() -> str | None:
    return next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


def test_the_health_report_renders_its_charts_in_a_headless_browser(spark, tmp_path):
    runs = _runs(spark)
    fresh = [Freshness("gold.fact", T0, 50.0, 26.0), Freshness("gold.dim_customer", None, None, 26.0)]
    report = health_report_html(runs, fresh, evaluate_alerts(runs, fresh), tmp_path / "health.html")
    page = report.read_text()
    assert page.count("<img") == 3 and not re.search(r"(src|href)=\"https?:", page)  # self-contained
    browser = _chromium()
    if browser is None:
        pytest.skip("no chromium on PATH: install it (Debian: apt-get install -y chromium) to render the report")
    probe = tmp_path / "probe.html"  # the report plus a script that writes each image's decoded width into the DOM
    probe.write_text(page.replace("</body>", (
        "<script>window.addEventListener('load',()=>{const p=document.createElement('pre');p.id='widths';"
        "p.textContent=[...document.images].map(i=>i.complete?i.naturalWidth:-1).join(',');document.body.append(p)})"
        "</script></body>"
    )))  # fmt: skip
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", "--virtual-time-budget=10000",
           probe.as_uri()]  # fmt: skip
    dom = subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout
    widths = re.search(r'<pre id="widths">([^<]*)</pre>', dom)
    assert widths, dom[-2000:]
    assert [int(w) > 0 for w in widths.group(1).split(",")] == [True] * 3, widths.group(1)  # every chart decoded


def test_the_regression_check_reads_the_committed_baseline_and_reports_the_load():
    baseline = json.loads((ROOT / "benchmarks" / "baseline-sf1.json").read_text())
    quick = json.loads((ROOT / "benchmarks" / "results" / "sf1-jit-quick-driver8g.json").read_text())
    faster = json.loads((ROOT / "benchmarks" / "results" / "sf1-speed-2-driver8g.json").read_text())
    slow = check_regression(baseline, quick)
    assert slow.regressed and round(slow.ratio, 2) == 1.49 and not slow.conclusive  # the baseline's load: 3.28 / 2
    assert "REGRESSION" in str(slow) and "inconclusive" in str(slow) and "load per CPU 1.64 then" in str(slow)
    assert not check_regression(baseline, faster).regressed
    quiet = {**baseline, "pipeline_s": baseline["pipeline_s"] * 1.1, "load_1min": [0.4, 0.9]}
    calm = dataclasses.replace(check_regression(baseline, quiet, tolerance=0.05), baseline_load=0.5)
    assert calm.regressed and calm.conclusive and "inconclusive" not in str(calm)
    assert not check_regression(baseline, quiet, tolerance=0.25).regressed
    assert (
        figure_of(baseline, "tables_s.gold.fact") == 73.21
        and load_per_cpu({"cpus": 2, "load_1min": [1.0, None]}) == 0.5
    )
    with pytest.raises(MonitoringError, match="no figure 'layers_s.platinum'"):
        check_regression(baseline, quick, "layers_s.platinum")


def test_globalbev_status_reports_health_and_exits_1_on_an_alert(spark, test_config, tmp_path, monkeypatch, capsys):
    cfg = start_lesson(spark, "t10a_status", test_config)
    monkeypatch.setenv("GLOBALBEV_DATA_ROOT", test_config.storage_root)
    monkeypatch.setenv("GLOBALBEV_SCHEMA_PREFIX", cfg.schema_prefix)  # what `globalbev status` will load_config()
    now = dt.datetime.now(dt.timezone.utc)
    good = _summary(0, "succeeded", 120) | {
        "run_id": "good",
        "started_at": now.isoformat(),
        "finished_at": now.isoformat(),
    }
    _run_log(spark, [good]).write.format("delta").saveAsTable(table_name("ops", "run_log", cfg))
    for layer, t in [("gold", "fact_sku_market_performance"), ("gold", "dim_customer"), ("silver", "orders"),
                     ("bronze", "orders")]:  # fmt: skip
        local_frame(spark, [(1,)], "n int").write.format("delta").saveAsTable(table_name(layer, t, cfg))
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert ": healthy" in out and "succeeded" in out and "STALE" not in out and "recent failures:\n  none" in out

    later = (now + dt.timedelta(seconds=1)).isoformat()
    crashed = _summary(1, "crashed", 30) | {"run_id": "bad", "started_at": later, "finished_at": later}
    _run_log(spark, [crashed]).write.format("delta").mode("append").saveAsTable(table_name("ops", "run_log", cfg))
    html, alerts = tmp_path / "health.html", tmp_path / "alerts"
    code = main(["status", "--html", str(html), "--alerts-dir", str(alerts), "--max-age-hours", "0.0001",
                 "--bench", str(ROOT / "benchmarks/results/sf1-jit-quick-driver8g.json"),
                 "--baseline", str(ROOT / "benchmarks/baseline-sf1.json")])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1 and "ALERT critical: run bad crashed in silver.orders" in out and "STALE" in out, out
    assert (
        "performance: pipeline_s: 669.4 → 995 (1.49x" in out and html.is_file() and html.read_text().count("<img") == 3
    )
    assert {json.loads(x)["rule"] for f in alerts.glob("*.json") for x in f.read_text().splitlines()} == {
        "run_failed",
        "stale",
    }
