"""`globalbev stream inventory` (notebook 08_streaming_inventory's `register_cli`), run in-process through
`globalbev.cli.main` as a job's task runs it: against the local warehouse API (data_generators.api, with duplicated and
reordered pages), `--once` lands the events and bronze, silver and the alerts hold them; a second `--once` adds
nothing; the API down is said and exits 1; `--every` runs until Ctrl-C or SIGTERM, then ends its batch and reports."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest

from globalbev.classroom import start_lesson
from globalbev.cli import build_parser, main
from globalbev.streaming_inventory import _interval, start_alert_receiver

pytestmark = pytest.mark.integration

TS = dt.datetime(2025, 7, 1, 12, 0, tzinfo=dt.timezone.utc)


def event(event_id: int, sku: str, warehouse: str, on_hand: int, minutes: int) -> bytes:
    """One inventory event as the API serves it (a JSON line)."""
    ts = (TS + dt.timedelta(minutes=minutes)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return json.dumps(
        {
            "event_id": event_id,
            "event_ts": ts,
            "warehouse_id": warehouse,
            "sku": sku,
            "event_type": "shipment",
            "quantity_delta": -1,
            "on_hand_after": on_hand,
            "reserved": 0,
            "reorder_point": 20,
        }  # fmt: skip
    ).encode()


# SKU-A at WH-1: ok, low (an alert), out (an alert); SKU-B: ok; SKU-C at WH-2: out (an alert)
EVENTS = [event(1, "SKU-A", "WH-1", 30, 0), event(2, "SKU-B", "WH-1", 50, 1), event(3, "SKU-A", "WH-1", 10, 2),
          event(4, "SKU-A", "WH-1", 0, 3), event(5, "SKU-C", "WH-2", 0, 4)]  # fmt: skip


@pytest.fixture
def stream_cfg(spark, test_config, tmp_path, monkeypatch):
    """What `globalbev stream inventory` will load_config(): a fresh data root (landing, checkpoints) and this test's
    own schemas in the run's session."""
    cfg = start_lesson(spark, f"t08cli_{uuid.uuid4().hex[:6]}", test_config)
    monkeypatch.setenv("GLOBALBEV_ENV", "local")
    monkeypatch.setenv("GLOBALBEV_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("GLOBALBEV_SCHEMA_PREFIX", cfg.schema_prefix)
    monkeypatch.setenv("GLOBALBEV_SPARK_REMOTE", "")
    monkeypatch.delenv("GLOBALBEV_API_URL", raising=False)
    return cfg


def rows(out: str) -> dict[str, tuple[int, int]]:
    """The summary's table lines: layer -> (rows, new)."""
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0] in ("bronze", "silver", "quarantine", "alerts") and len(parts) == 4:
            found[parts[0]] = (int(parts[2]), int(parts[3]))
    return found


def test_the_command_parses_as_a_job_passes_it():
    args = build_parser().parse_args(["--conf-dir", "/x/conf", "stream", "inventory", "--once", "--env", "prod"])
    assert args.once and args.env == "prod" and args.func.__name__ == "_stream_inventory"
    assert build_parser().parse_args(["stream", "inventory", "--every", "1m"]).every == 60.0
    assert [_interval(x) for x in ("10s", "2", "0.5h")] == [10.0, 2.0, 1800.0]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["stream", "inventory", "--once", "--every", "10s"])


def test_once_lands_the_api_events_exactly_once_and_says_when_the_api_is_down(spark, stream_cfg, tmp_path, capsys):
    from data_generators.api import ApiFaults, serve_api
    from globalbev.config import table_name

    receiver = start_alert_receiver()
    alerts_dir = tmp_path / "alerts"
    faults = ApiFaults(duplicate_rate=0.5, out_of_order_rate=0.5, seed=11)  # the API repeats and reorders events
    try:
        with serve_api(tmp_path / "no-generator-data", faults) as api:
            api.events[:] = EVENTS
            argv = ["stream", "inventory", "--once", "--api-url", api.url, "--alerts-dir", str(alerts_dir),
                    "--webhook", receiver.url]  # fmt: skip
            assert main(argv) == 0
            out = capsys.readouterr().out
            assert "5 events polled into 1 landing file(s)" in out, out
            assert rows(out) == {"bronze": (5, 5), "silver": (3, 3), "quarantine": (0, 0), "alerts": (3, 3)}, out
            assert "alerts   3 sent to LogSink, JsonFileSink, WebhookSink" in out
            landing = tmp_path / "data" / "landing" / "inventory_events"
            assert [p.name for p in landing.glob("events-*.json")] == ["events-00000001.json"]
            stock = spark.table(table_name("silver", "inventory_stock", stream_cfg)).collect()
            assert {r.sku: (r.on_hand, r.event_id) for r in stock} == {
                "SKU-A": (0, 4),
                "SKU-B": (50, 2),
                "SKU-C": (0, 5),
            }
            alerts = spark.table(table_name("gold", "stockout_alerts", stream_cfg)).collect()
            assert sorted((a.event_id, a.level) for a in alerts) == [(3, "low_stock"), (4, "out_of_stock"),
                                                                     (5, "out_of_stock")]  # fmt: skip
            assert receiver.wait_for(3, timeout=10) and set(receiver.alerts) == {"stock:3", "stock:4", "stock:5"}
            in_files = [
                json.loads(x)["alert_id"] for p in alerts_dir.glob("*.json") for x in p.read_text().splitlines()
            ]
            assert sorted(in_files) == ["stock:3", "stock:4", "stock:5"]

            assert main(argv) == 0  # again, nothing new behind the API: nothing added anywhere
            out = capsys.readouterr().out
            assert "0 events polled into 0 landing file(s)" in out, out
            assert rows(out) == {"bronze": (5, 0), "silver": (3, 0), "quarantine": (0, 0), "alerts": (3, 0)}, out

        # the API down: said, exit 1 — and the landing folder still processed (nothing new in it: nothing added)
        down = ["stream", "inventory", "--once", "--api-url", "http://127.0.0.1:9", "--api-retries", "0"]
        assert main(down) == 1  # nothing listens on port 9
        captured = capsys.readouterr()
        assert "API      DOWN at http://127.0.0.1:9: nothing read" in captured.out, captured.out
        assert "error: the warehouse API at http://127.0.0.1:9 is down: nothing could be read from it" in captured.err
        assert rows(captured.out)["bronze"] == (5, 0) and rows(captured.out)["alerts"] == (3, 0)
    finally:
        receiver.stop()


@pytest.mark.parametrize("stop, code", [("SIGINT", 0), ("SIGTERM", 143)])
def test_every_runs_until_stopped_then_ends_its_batch_and_reports(spark, stream_cfg, tmp_path, capsys, stop, code):
    """`--every 1s`: the poller and both streams on a processing-time trigger until Ctrl-C (SIGINT) or a job runner's
    SIGTERM, sent here from a thread once the webhook has the three alerts (a wait on the receiver, no sleep). The run
    stops its streams after their batch, prints its summary and exits 0 (Ctrl-C) or 143 (SIGTERM), and leaves no stream
    running; `--once` after it finds nothing new: the continuous run's checkpoints hold everything it did."""
    import os
    import signal
    import threading

    from data_generators.api import serve_api

    receiver = start_alert_receiver()
    try:
        with serve_api(tmp_path / "no-generator-data") as api:
            api.events[:] = EVENTS

            def send_stop() -> None:  # whatever arrived: a run that never alerts fails below instead of hanging
                receiver.wait_for(3, timeout=180)
                os.kill(os.getpid(), getattr(signal, stop))

            watcher = threading.Thread(target=send_stop, daemon=True)
            watcher.start()
            argv = ["stream", "inventory", "--every", "1s", "--api-url", api.url, "--webhook", receiver.url]
            assert main(argv) == code
            watcher.join(timeout=10)
            out = capsys.readouterr().out
            assert "globalbev stream inventory: continuous" in out and "5 events polled" in out, out
            assert rows(out) == {"bronze": (5, 5), "silver": (3, 3), "quarantine": (0, 0), "alerts": (3, 3)}, out
            assert set(receiver.alerts) == {"stock:3", "stock:4", "stock:5"}
            assert not spark.streams.active  # both streams stopped, none left behind in the session
            assert main(["stream", "inventory", "--once", "--api-url", api.url]) == 0
            out = capsys.readouterr().out
            assert rows(out) == {"bronze": (5, 0), "silver": (3, 0), "quarantine": (0, 0), "alerts": (3, 0)}, out
    finally:
        receiver.stop()
