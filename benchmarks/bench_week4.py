"""Week 4 benchmark: stockout-alert latency of the streaming inventory pipeline (notebook 08_streaming_inventory).

    .venv/bin/python benchmarks/bench_week4.py                       # 60 stockouts, one every 0.5 s
    .venv/bin/python benchmarks/bench_week4.py --events 200 --every 0.25 --json out.json

The generator's inventory events (a small scale) are served by the local warehouse API and run through the pipeline
once (the backlog). Then the pipeline runs continuously — the poller every `--poll` seconds, bronze and silver with a
micro-batch every `--trigger` — and `--events` updates that empty a shelf each reach the API one after the other,
`--every` seconds apart (appended to the server's live event list: the moment it is there is the moment it reached the
API). For each one: the seconds from reaching the API to its row in the alerts table (`alerted_at`) and to its arrival
at a local webhook, p50 / p95 / max. The target: p95 <= 30 s (the business asked for five minutes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=60, help="stockout events to send, one after the other")
    ap.add_argument("--every", type=float, default=0.5, help="seconds between two of them")
    ap.add_argument("--poll", type=float, default=0.5, help="seconds between two polls of the API")
    ap.add_argument("--trigger", default="1 second", help="the streams' processingTime trigger")
    ap.add_argument("--scale", type=float, default=0.001, help="the generator's scale for the backlog")
    ap.add_argument("--timeout", type=float, default=300, help="give up waiting for the alerts after this many s")
    ap.add_argument("--json", default=None, help="write the measurements to this JSON file")
    return ap.parse_args(argv)


def stockout_line(i: int, at: float) -> bytes:
    """Event i: a shelf of its own (SKU-B<i> at WH-BENCH-1) emptied at time `at` (epoch seconds)."""
    ts = dt.datetime.fromtimestamp(at, dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    event = {"event_id": 7_000_000_000 + i, "event_ts": ts, "warehouse_id": "WH-BENCH-1", "sku": f"SKU-B{i:05d}",
             "event_type": "shipment", "quantity_delta": -3, "on_hand_after": 0, "reserved": 0,
             "reorder_point": 20}  # fmt: skip
    return json.dumps(event).encode()


def percentiles(values: list[float]) -> dict:
    """p50, p95 and max of `values` (nearest rank), rounded to 0.01 s."""
    s = sorted(values)

    def rank(p: float) -> float:
        return s[min(len(s), max(1, math.ceil(p * len(s)))) - 1]

    return {"p50": round(rank(0.50), 2), "p95": round(rank(0.95), 2), "max": round(s[-1], 2), "n": len(s)}


def measure_latency(spark, cfg, api, events: int, every: float, poll: float, trigger: str, timeout: float,
                    say=print) -> dict:  # fmt: skip
    """Backlog once, then the pipeline running while `events` stockouts reach `api`: their latencies (see above)."""
    from pyspark.sql import functions as F

    from globalbev.resilient_api import ResilientApiClient, ResilientApiSource
    from globalbev.streaming_inventory import (
        Poller,
        WebhookSink,
        create_inventory_tables,
        inventory_tables,
        poll_once,
        run_available,
        start_alert_receiver,
        start_bronze,
        start_silver,
        stock_updater,
    )

    t = inventory_tables(cfg)
    create_inventory_tables(spark, t, fresh=True)
    receiver = start_alert_receiver()
    update = stock_updater(t, (WebhookSink(receiver.url),))
    fetch = ResilientApiSource(ResilientApiClient(api.url), page_size=1000).fetch
    t0 = time.perf_counter()
    backlog = poll_once(fetch, t.landing).events
    run_available(spark, t, update)
    backlog_s, before = time.perf_counter() - t0, spark.table(t.alerts).count()
    say(f"backlog: {backlog:,} events in {backlog_s:.1f} s, {before} alerts")
    receiver.wait_for(before, timeout)
    queries = [start_bronze(spark, t, available_now=False, every=trigger),
               start_silver(spark, t, update, available_now=False, every=trigger)]  # fmt: skip
    poller, sent, pace = Poller(fetch, t.landing, every=poll).start(), {}, threading.Event()
    try:
        for i in range(events):
            sent[7_000_000_000 + i] = time.time()
            api.events.append(stockout_line(i, sent[7_000_000_000 + i]))
            pace.wait(every)  # the pace of the warehouses, not a wait for the stream
        arrived = receiver.wait_for(before + events, timeout)
    finally:
        poller.stop()
        for q in queries:  # idle first: stopping a batch in the middle of its Python function makes the JVM complain
            q.processAllAvailable()
            q.stop()
        receiver.stop()
    rows = (
        spark.table(t.alerts).where(F.col("event_id") >= 7_000_000_000)
        .select("event_id", "alert_id", F.col("alerted_at").cast("double").alias("at")).collect()
    )  # fmt: skip
    to_row = [r.at - sent[r.event_id] for r in rows]
    to_hook = [
        receiver.alerts[r.alert_id]["received_at"] - sent[r.event_id] for r in rows if r.alert_id in receiver.alerts
    ]
    return {
        "events": events, "every_s": every, "poll_s": poll, "trigger": trigger, "backlog_events": backlog,
        "backlog_s": round(backlog_s, 2), "all_arrived": arrived, "alert_rows": len(rows),
        "api_to_alert_row_s": percentiles(to_row) if to_row else None,
        "api_to_webhook_s": percentiles(to_hook) if to_hook else None, "poll_errors": len(poller.errors),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    args = _args(argv)
    root = Path(tempfile.mkdtemp(prefix="globalbev-bench4-"))
    os.environ.update({"GLOBALBEV_DATA_ROOT": str(root / "data"), "GLOBALBEV_SPARK_REMOTE": ""})
    from data_generators import GenerationConfig, generate
    from data_generators.api import serve_api
    from globalbev.config import load_config
    from globalbev.runtime import get_spark

    load_before = round(os.getloadavg()[0], 2)
    try:
        generate(GenerationConfig(root=str(root / "gen"), pg_url=None, scale=args.scale, days=1, seed=7))
        cfg = load_config("local")
        spark = get_spark(cfg, app_name="globalbev-bench-week4")
        with serve_api(root / "gen") as api:
            m = measure_latency(spark, cfg, api, args.events, args.every, args.poll, args.trigger, args.timeout)
        m |= {"load_1min": [load_before, round(os.getloadavg()[0], 2)], "cpus": os.cpu_count(),
              "python": platform.python_version(), "pyspark": spark.version}  # fmt: skip
        for name in ("api_to_alert_row_s", "api_to_webhook_s"):
            p = m[name] or {}
            print(f"{name:20} p50 {p.get('p50')} s   p95 {p.get('p95')} s   max {p.get('max')} s   (n={p.get('n')})")
        ok = m["api_to_alert_row_s"] and m["api_to_alert_row_s"]["p95"] <= 30
        print(f"target p95 <= 30 s: {'met' if ok else 'NOT met'}; load {m['load_1min']} on {m['cpus']} CPUs")
        if args.json:
            Path(args.json).write_text(json.dumps(m, indent=2))
        return m
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
