"""The streaming inventory pipeline (notebook 08_streaming_inventory): landing files written exactly once whatever
point a poll dies at, alerts as transitions, rejected and late rows with reasons, sinks at least once — and the whole
pipeline killed with SIGKILL mid-batch three times in a row, ending exactly-once against the API's record of events."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from globalbev.config import write_atomically
from globalbev.frames import local_frame
from globalbev.streaming_inventory import (
    STOCK_DDL,
    JsonFileSink,
    Poll,
    WebhookSink,
    notify,
    poll_once,
    split_batch,
    start_alert_receiver,
    stockout_alerts,
)

ROOT = Path(__file__).resolve().parents[1]
TS = dt.datetime(2025, 7, 1, 12, 0)
EVENT = "event_id long, event_ts timestamp, warehouse_id string, sku string, on_hand_after int, reorder_point int"


@pytest.mark.unit
def test_a_poll_lands_its_events_once_wherever_it_dies(tmp_path):
    pages = {None: ([{"event_id": 1}, {"event_id": 2}], "c1"), "c1": ([{"event_id": 3}], "c2"), "c2": ([], "c2")}
    assert poll_once(lambda s: pages[s], tmp_path) == Poll("events-00000001.json", 2, "c1")
    # died after the temp file, before the cursor: the temp is rewritten by the next poll, never read by Spark
    (tmp_path / ".events-00000002.json.tmp").write_bytes(b'{"event_id": 3')
    assert poll_once(lambda s: pages[s], tmp_path) == Poll("events-00000002.json", 1, "c2")
    # died after the cursor, before the rename: the next poll renames first and fetches nothing twice
    os.replace(tmp_path / "events-00000002.json", tmp_path / ".events-00000002.json.tmp")
    assert poll_once(lambda s: pages[s], tmp_path) == Poll(None, 0, "c2")
    lines = [json.loads(x) for p in sorted(tmp_path.glob("events-*.json")) for x in p.read_text().splitlines()]
    assert [e["event_id"] for e in lines] == [1, 2, 3] and not list(tmp_path.glob(".*.tmp"))

    def down(state):
        raise ConnectionError("HTTP 503 at cursor c2")

    with pytest.raises(ConnectionError):
        poll_once(down, tmp_path)
    assert json.loads((tmp_path / "_poller" / "state.json").read_text())["cursor"] == "c2"
    write_atomically(tmp_path / "x.json", b"{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "_poller",
        "events-00000001.json",
        "events-00000002.json",
        "x.json",
    ]


def events(spark, rows):
    return local_frame(spark, [(i, TS + dt.timedelta(minutes=i), w, s, n, 20) for i, w, s, n in rows], EVENT)


@pytest.mark.unit
def test_an_alert_is_a_transition_to_a_worse_level(spark):
    day = events(spark, [(1, "W1", "A", 30), (2, "W1", "A", 12), (3, "W1", "A", 0), (4, "W1", "A", 0),
                         (5, "W1", "A", 60), (6, "W1", "A", 0), (7, "W2", "A", 0), (8, "W1", "B", 50)])  # fmt: skip
    empty = spark.createDataFrame([], STOCK_DDL)
    got = [(r.alert_id, r.level, r.threshold) for r in stockout_alerts(day, empty).orderBy("event_id").collect()]
    assert got == [("stock:2", "low_stock", 20), ("stock:3", "out_of_stock", 20), ("stock:6", "out_of_stock", 20),
                   ("stock:7", "out_of_stock", 20)]  # fmt: skip
    assert [r.event_id for r in stockout_alerts(day, empty, threshold=5).collect()] == [3, 6, 7]
    # the stock before the batch: W1/A out at event 9 (newer than the batch) → every event of W1/A is stale
    newer = local_frame(spark, [("A", "W1", 0, 0, 20, 9, TS + dt.timedelta(minutes=9), TS, 0)], STOCK_DDL)
    assert [r.event_id for r in stockout_alerts(day, newer).collect()] == [7]


@pytest.mark.unit
def test_rejected_rows_say_why(spark):
    rows = local_frame(
        spark,
        [(1, TS, "W", "S", 5, None, "f1"), (1, TS, "W", "S", 5, None, "f2"), (2, TS, None, None, 5, None, "f1"),
         (None, None, None, None, None, "{oops", "f1"), (3, TS - dt.timedelta(hours=2), "W", "T", 5, None, "f1")],
        "event_id long, event_ts timestamp, warehouse_id string, sku string, on_hand_after int, "
        "_corrupt_record string, _source_file string",
    ).withColumn("_ingested_at", F.current_timestamp())  # fmt: skip
    good, bad = split_batch(rows, F.lit(TS - dt.timedelta(hours=1)))
    assert good.count() == 1 and good.count() + bad.count() == rows.count()  # every row accounted for
    assert sorted((r.reason, r.event_id) for r in bad.collect()) == [
        ("duplicate event_id in the batch", 1),
        ("late: 3600 s before the watermark 2025-07-01 11:00:00", 3),
        ("missing sku, warehouse_id", 2),
        ("unreadable JSON line", None),
    ]
    assert split_batch(rows, F.lit(None).cast("timestamp"))[1].where("reason LIKE 'late%'").count() == 0


@pytest.mark.integration
def test_sinks_deliver_at_least_once_and_a_broken_one_stops_nothing(tmp_path):
    receiver = start_alert_receiver()
    try:
        alert = {"alert_id": "stock:1", "sku": "S", "warehouse_id": "W", "level": "out_of_stock", "on_hand": 0}
        sinks = (
            WebhookSink("http://127.0.0.1:9/nowhere", timeout=1),
            JsonFileSink(str(tmp_path)),
            WebhookSink(receiver.url),
        )
        for _ in range(2):
            failed = notify(sinks, [alert], 4)
        assert len(failed) == 1 and failed[0].startswith("WebhookSink: ConnectionError")
        assert receiver.wait_for(1, timeout=10) and list(receiver.alerts) == ["stock:1"]  # sent twice, kept once
        assert [json.loads(x)["alert_id"] for x in (tmp_path / "alerts-00000004.json").read_text().splitlines()] == [
            "stock:1"
        ]
    finally:
        receiver.stop()


# --- SIGKILL ---------------------------------------------------------------------------------------------------------


def expected_alerts(record: list[dict]) -> set[int]:
    """The alerts a pipeline that saw every event once, in order, raises: per pair, each step to a worse level."""
    last, out = {}, set()
    for e in sorted(record, key=lambda e: (e["event_ts"], e["event_id"])):
        level = 2 if e["on_hand_after"] <= 0 else 1 if e["on_hand_after"] < e["reorder_point"] else 0
        key = (e["sku"], e["warehouse_id"])
        if level > last.get(key, 0):
            out.add(e["event_id"])
        last[key] = level
    return out


def stockouts(after: dict, n: int, first_id: int) -> list[bytes]:
    """`n` events that empty a shelf each, just after the event `after` (in event time)."""
    ts = dt.datetime.fromisoformat(after["event_ts"].replace("Z", "+00:00"))

    def at(i: int) -> str:
        return (ts + dt.timedelta(seconds=i + 1)).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    return [
        json.dumps(
            {**after, "event_id": first_id + i, "on_hand_after": 0, "quantity_delta": -1, "event_ts": at(i)}
        ).encode()
        for i in range(n)
    ]


def run_worker(data_root: Path, api_url: str, pause_at: str, summary: Path) -> list[str]:
    """The worker in a process group of its own; at `PAUSED` the whole group (Python and its JVM) gets SIGKILL."""
    env = {**os.environ, "GLOBALBEV_DATA_ROOT": str(data_root), "GLOBALBEV_SPARK_REMOTE": "",
           "GLOBALBEV_SPARK_MASTER": "local[2]", "GLOBALBEV_JIT": "quick", "GLOBALBEV_SPARK_UI": "false",
           "GLOBALBEV_DRIVER_MEMORY": "1g"}  # fmt: skip
    cmd = [sys.executable, str(ROOT / "tests" / "inventory_stream_worker.py"), api_url, pause_at, str(summary)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            start_new_session=True)  # fmt: skip
    lines = []
    for line in proc.stdout:  # blocks on the worker's output: no sleeps
        lines.append(line.strip())
        if line.startswith("PAUSED"):
            os.killpg(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=120)
    proc.stdout.close()
    return lines


@pytest.mark.integration
def test_killed_mid_batch_three_times_the_tables_end_exactly_once(generated, tmp_path):
    from data_generators.api import load_events, serve_api

    record_lines = load_events(generated)
    record = [json.loads(x) for x in record_lines]
    third = len(record) // 3
    data_root = tmp_path / "data"
    summary = tmp_path / "summary.json"
    with serve_api(generated) as api:
        api.events[:] = record_lines[:third] + stockouts(record[third - 1], 3, 8_000_000_000)
        runs = [run_worker(data_root, api.url, "bronze", summary)]  # killed in bronze's first batch
        api.events.extend(record_lines[third : 2 * third] + stockouts(record[2 * third - 1], 3, 8_000_000_100))
        runs.append(run_worker(data_root, api.url, "alerts:0", summary))  # alerts written, stock not merged
        api.events.extend(record_lines[2 * third :] + stockouts(record[-1], 3, 8_000_000_200))
        runs.append(run_worker(data_root, api.url, "stock:1", summary))  # merged, the checkpoint not committed
        runs.append(run_worker(data_root, api.url, "none", summary))
        served = [json.loads(x) for x in api.events]
    assert [r[-1].split()[0] for r in runs] == ["PAUSED", "PAUSED", "PAUSED", "DONE"], runs
    out = json.loads(summary.read_text())
    ids = [e["event_id"] for e in served]
    assert sorted(out["bronze_ids"]) == sorted(ids) and len(set(ids)) == len(ids)  # bronze: every event, once
    newest = {}
    for e in sorted(served, key=lambda e: (e["event_ts"], e["event_id"])):
        newest[(e["sku"], e["warehouse_id"])] = [e["sku"], e["warehouse_id"], e["on_hand_after"], e["event_id"]]
    assert out["stock"] == sorted(newest.values())  # silver: the newest event of every pair
    assert sorted(out["alerts"]) == sorted(expected_alerts(served))  # alerts: each transition, once
    assert {8_000_000_000, 8_000_000_100, 8_000_000_200} <= set(out["alerts"]) and out["quarantine"] == 0
    sent = {
        json.loads(x)["event_id"]
        for p in (data_root / "alerts_sent").glob("*.json")
        for x in p.read_text().splitlines()
    }
    assert sent == set(out["alerts"])  # the sink got every alert (some twice: at least once)


@pytest.mark.integration
def test_the_latency_benchmark_measures_every_alert(spark, test_config, generated):
    """benchmarks/bench_week4.py's measurement with tiny numbers, on this run's session: not timed (the figures come
    from the benchmark, with the machine's load), only complete."""
    import importlib.util

    from data_generators.api import serve_api

    spec = importlib.util.spec_from_file_location("bench_week4", ROOT / "benchmarks" / "bench_week4.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    with serve_api(generated) as api:
        m = bench.measure_latency(spark, test_config, api, events=3, every=0.1, poll=0.2, trigger="0.5 seconds",
                                  timeout=180, say=lambda s: None)  # fmt: skip
    assert m["all_arrived"] and m["alert_rows"] == 3 and m["backlog_events"] > 300
    for name in ("api_to_alert_row_s", "api_to_webhook_s"):
        p = m[name]
        assert p["n"] == 3 and 0 < p["p50"] <= p["p95"] <= p["max"]
    assert bench.percentiles([1.0, 2.0, 3.0, 4.0]) == {"p50": 2.0, "p95": 4.0, "max": 4.0, "n": 4}


@pytest.mark.integration
def test_landing_keeps_what_does_not_fit_in_rescued_data(spark, test_config):
    from globalbev.classroom import start_lesson
    from globalbev.streaming_inventory import create_inventory_tables, events_jsonl, inventory_tables, start_bronze

    t = inventory_tables(start_lesson(spark, "test08r", test_config))
    create_inventory_tables(spark, t, fresh=True)
    ev = {"event_id": 1, "event_ts": "2025-07-01T12:00:00.000Z", "warehouse_id": "W", "sku": "S"}
    ev |= {"event_type": "shipment", "quantity_delta": -1, "on_hand_after": 5, "reserved": 0, "reorder_point": 2}
    drift = {**ev, "event_id": 2, "temperature_c": 4.5}  # a field the API added
    wrong = {**ev, "event_id": 3, "on_hand_after": "five"}  # a value of the wrong type
    write_atomically(Path(t.landing) / "events-00000001.json", events_jsonl([ev, drift, wrong]) + b"{oops\n\n")
    start_bronze(spark, t).awaitTermination()
    rows = sorted(spark.table(t.bronze).collect(), key=lambda r: r.event_id or 0)
    assert [r.event_id for r in rows] == [None, 1, 2, 3]  # every line a row (the blank one is no record)
    oops, whole, new, bad = rows
    assert oops._corrupt_record == "{oops" and whole._rescued_data is None and whole._corrupt_record is None
    assert json.loads(new._rescued_data)["temperature_c"] == "4.5" and new.on_hand_after == 5
    assert bad.on_hand_after is None and json.loads(bad._rescued_data)["on_hand_after"] == "five"
    assert all(r._source_file.endswith("events-00000001.json") for r in rows)
