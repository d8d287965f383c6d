"""One run of the streaming inventory pipeline (notebook 08) in a process of its own, for the SIGKILL test in
tests/test_streaming_inventory.py: `globalbev.streaming_inventory.run_inventory_stream` as `globalbev stream inventory
--once` runs it (poll the API once into landing, then bronze and silver with `availableNow`), one landing file / bronze
commit per micro-batch. With a pause point it prints `PAUSED <point>` there and blocks, for the
test to kill the whole process group (Python and its JVM) with SIGKILL; without one it writes what the tables hold.

    python tests/inventory_stream_worker.py API_URL PAUSE_AT SUMMARY_JSON

PAUSE_AT: `none`, `bronze` (just after the bronze stream started: most likely inside its first batch) or
`<step>:<batch>` with a step of `stock_updater` (quarantine, alerts, sinks, stock). The data root comes from
GLOBALBEV_DATA_ROOT.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from globalbev.config import load_config  # noqa: E402
from globalbev.resilient_api import ResilientApiClient, ResilientApiSource  # noqa: E402
from globalbev.runtime import get_spark  # noqa: E402
from globalbev.streaming_inventory import (  # noqa: E402
    JsonFileSink,
    create_inventory_tables,
    inventory_tables,
    poll_once,
    run_inventory_stream,
    start_bronze,
)


def pause(point: str) -> None:
    print(f"PAUSED {point}", flush=True)
    threading.Event().wait()  # until the test kills this process


def main(api_url: str, pause_at: str, summary: str) -> None:
    cfg = load_config("local")
    spark = get_spark(cfg)
    t = inventory_tables(cfg)
    if pause_at == "bronze":  # poll, then die inside bronze's first batch
        create_inventory_tables(spark, t)
        print("POLLED", poll_once(ResilientApiSource(ResilientApiClient(api_url), page_size=1000).fetch, t.landing))
        start_bronze(spark, t, max_files_per_trigger=1)
        pause("bronze")

    def on_step(step: str, batch_id: int) -> None:
        if f"{step}:{batch_id}" == pause_at:
            pause(pause_at)

    # what `globalbev stream inventory --once --api-url API_URL` runs, one landing file per micro-batch
    sink = JsonFileSink(str(Path(cfg.storage_root) / "alerts_sent"))
    run = run_inventory_stream(spark, t, api_url, sinks=(sink,), on_step=on_step, max_files_per_trigger=1)
    print("RAN", run.events, run.errors, run.batches, flush=True)
    out = {
        "bronze_ids": [r[0] for r in spark.table(t.bronze).select("event_id").collect()],
        "stock": sorted(
            [r.sku, r.warehouse_id, r.on_hand, r.event_id]
            for r in spark.table(t.stock).select("sku", "warehouse_id", "on_hand", "event_id").collect()
        ),
        "alerts": [r[0] for r in spark.table(t.alerts).select("event_id").collect()],
        "quarantine": spark.table(t.quarantine).count(),
    }
    Path(summary).write_text(json.dumps(out))
    print("DONE", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
