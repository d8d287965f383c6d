"""The resilient warehouse-API client (notebook 07_resilient_api) against the generator's real, fault-injecting HTTP
API: the circuit breaker's states on a manual clock, retries that never sleep for real, partial pages read as far as
they can be trusted, and a chaos night (30 % 5xx, 10 % partial pages, time-outs, an outage) that ends with every event
of the generator's record in the table exactly once."""

from __future__ import annotations

import json

import pytest

from data_generators.api import ApiFaults, load_events, serve_api
from globalbev.classroom import start_lesson
from globalbev.ingestion import ApiPageError, Batch, commit_batch
from globalbev.resilient_api import (
    REQUIRED_FIELDS,
    CircuitBreaker,
    CircuitOpen,
    ManualClock,
    ResilientApiClient,
    ResilientApiSource,
    TransientApiError,
    api_state,
    api_tables,
    read_page,
    source_status,
    unrecovered,
)

EVENT = {k: 1 for k in REQUIRED_FIELDS}


def page(items: list, count: int | None = None, nxt: str | None = "9") -> bytes:
    return json.dumps({"items": items, "count": len(items) if count is None else count, "next": nxt}).encode()


def client(url: str, clock: ManualClock, threshold: int = 50, **kw) -> ResilientApiClient:
    opts = dict(timeout=0.25, attempts=6, backoff=0.05, max_backoff=1.0, jitter=0.05) | kw
    return ResilientApiClient(url, breaker=CircuitBreaker(threshold, 30.0, clock), sleep=clock.sleep, **opts)


def chaos_night(seed: int) -> ApiFaults:
    """A bad night: 30 % 5xx, 10 % partial pages, time-outs, an outage, repeated and reordered pages."""
    return ApiFaults(error_rate=0.3, partial_rate=0.1, timeout_rate=0.05, timeout_seconds=0.3, outage_start=6,
                     outage_requests=4, duplicate_rate=0.15, out_of_order_rate=0.2, seed=seed)  # fmt: skip


def event_ids(generated) -> list[int]:
    """The generator's record of the API's events: their ids."""
    return [json.loads(line)["event_id"] for line in load_events(generated)]


@pytest.mark.unit
def test_breaker_opens_after_n_failures_probes_after_the_cool_down_and_closes_on_success():
    clock = ManualClock()
    b = CircuitBreaker(failure_threshold=3, cool_down=10.0, clock=clock)
    for outcome in (b.record_failure, b.record_failure, b.record_success, b.record_failure, b.record_failure):
        outcome()
    assert (b.state, b.failures) == ("closed", 2) and b.allow()  # a success in between starts the count again
    b.record_failure()
    assert (b.state, b.opens, b.seconds_to_probe()) == ("open", 1, 10.0) and not b.allow()
    clock.advance(9.99)
    assert not b.allow() and b.state == "open"
    clock.advance(0.01)
    assert b.allow() and b.state == "half_open" and not b.allow()  # one probe at a time
    b.record_failure()  # the probe failed: open again, for a whole new cool-down
    assert (b.state, b.opens, b.seconds_to_probe()) == ("open", 2, 10.0)
    clock.advance(10)
    assert b.allow()
    b.record_success()
    assert (b.state, b.failures, b.seconds_to_probe()) == ("closed", 0, 0.0) and b.allow()


@pytest.mark.unit
def test_read_page_keeps_whole_items_and_names_the_broken_ones():
    items = [{**EVENT, "event_id": i} for i in (1, 2, 3)]
    assert read_page(page(items)) == (items, [], True, "9", None)
    body = page(items)
    cut = read_page(body[: body.index(b'"event_id": 3') + 20])  # cut inside the third item
    assert [i["event_id"] for i in cut.items] == [1, 2] and not cut.complete and cut.next is None
    assert [b[:2] for b in cut.broken] == [(3, "truncated JSON: the item was cut off")]
    assert read_page(body[:5]).items == [] and not read_page(body[:5]).complete  # cut before the first item
    missing = read_page(page([items[0], {"event_id": 2, "sku": "x"}, {**EVENT, "event_id": "7"}]))
    assert [i["event_id"] for i in missing.items] == [1] and not missing.complete
    assert [b[:2] for b in missing.broken] == [
        (2, "missing event_ts, warehouse_id, event_type, quantity_delta, on_hand_after, reserved, reorder_point"),
        (None, "event_id '7' is not an integer"),  # a key MERGE could not match: never inserted
    ]
    short = read_page(page(items[:2], count=3))
    assert short.items == items[:2] and short.broken == [] and short.problem == "short page: 3 announced, 2 received"
    with pytest.raises(ApiPageError, match="not an events page"):
        read_page(b'{"error": "nope"}')


@pytest.mark.unit
def test_client_retries_5xx_and_time_outs_with_growing_waits_and_never_sleeps(generated):
    clock = ManualClock()
    with serve_api(generated, ApiFaults(error_rate=0.5, seed=1)) as api:
        c = client(api.url, clock, attempts=8, backoff=0.5, max_backoff=4.0, jitter=0.5)
        for _ in range(8):
            assert json.loads(c.get("/inventory/events", {"page_size": 3}))["count"] == 3
        assert c.counts["retries"] == c.counts["http_500"] + c.counts["http_503"] == api.stats["requests"] - 8 > 0
        assert all(0.5 <= s <= 4.5 for s in clock.slept) and max(clock.slept) > 1.0  # exponential, capped, jittered
        with pytest.raises(ApiPageError, match="HTTP 404") as refused:
            c.get("/no/such/route")
        assert not isinstance(refused.value, TransientApiError) and c.counts["requests"] == api.stats["requests"]
    # the server hangs 1 s, well past the client's 0.25 s: a loaded machine cannot turn a time-out into a closed socket
    with serve_api(generated, ApiFaults(timeout_rate=1.0, timeout_seconds=1.0)) as api:
        c = client(api.url, clock, attempts=2)
        with pytest.raises(TransientApiError, match="no answer"):
            c.get("/inventory/events")
        assert (c.counts["timeouts"], c.counts["retries"]) == (2, 1)


@pytest.mark.unit
def test_an_api_that_stays_down_opens_the_circuit_and_gets_no_more_load(generated):
    clock = ManualClock()
    with serve_api(generated, ApiFaults(outage_start=1, outage_requests=5)) as api:
        c = client(api.url, clock, threshold=3, attempts=10)
        with pytest.raises(CircuitOpen, match="degraded"):
            c.get("/inventory/events")
        assert api.stats["requests"] == 3 and c.counts["refused"] == 1
        with pytest.raises(CircuitOpen):  # still cooling down: refused without a request
            c.get("/inventory/events")
        clock.advance(30)
        with pytest.raises(CircuitOpen):  # the probe meets the outage (request 4): open again
            c.get("/inventory/events")
        assert api.stats["requests"] == 4 and c.breaker.opens == 2
        clock.advance(30)
        with pytest.raises(CircuitOpen):  # request 5: the outage's last
            c.get("/inventory/events")
        clock.advance(30)
        assert json.loads(c.get("/inventory/events", {"page_size": 1}))["count"] == 1  # request 6: the probe answers
        assert (c.breaker.state, c.breaker.opens, api.stats["requests"]) == ("closed", 3, 6)


@pytest.mark.integration
def test_chaos_night_loses_no_event_and_duplicates_none(spark, test_config, generated):
    cfg = start_lesson(spark, "test07", test_config)
    record = event_ids(generated)
    night = chaos_night(seed=44)
    clock, runs = ManualClock(), []
    with serve_api(generated, night) as api:
        source = ResilientApiSource(client(api.url, clock, threshold=4), page_size=100, commit_every=50)
        for n in range(6):
            runs.append(source.ingest(spark, cfg, f"night-{n}"))
            if n == 0:  # degraded, and its cursor never runs ahead of its rows
                state = api_state(spark, cfg, source.name)
                table = {r.event_id for r in spark.table(api_tables(cfg)["events"]).select("event_id").collect()}
                assert state["degraded"] and set(record[: int(state["since"] or 0)]) <= table
            if runs[-1].status == "ok":
                break
            clock.advance(30)
        faults, counts = dict(api.stats), dict(source.client.counts)
    print("\nfaults injected:", faults, "\nclient:", counts)
    print("runs:", [(r.status, r.pages, r.inserted, r.quarantined, r.re_requests, round(r.seconds, 1)) for r in runs])
    assert runs[0].status == "degraded" and "CircuitOpen" in runs[0].alert and runs[-1].status == "ok"
    assert source.client.breaker.opens >= 1 and faults["outage"] >= 1
    for kind in ("error_500", "error_503", "timeout", "partial_truncated", "partial_missing_fields", "duplicate"):
        assert faults.get(kind, 0) > 0, (kind, faults)
    assert counts["retries"] > 0 and sum(r.re_requests for r in runs) > 0 and sum(r.quarantined for r in runs) > 0

    events = spark.table(api_tables(cfg)["events"])
    got = [r.event_id for r in events.select("event_id").collect()]
    assert sorted(got) == sorted(record)  # every event of the generator's record, none twice
    assert {"temperature_c", "source_system"} <= set(events.columns)  # the drift day's new fields, added by the MERGE
    assert unrecovered(spark, cfg, source.name).count() == 0 and source_status(spark, cfg, source.name) == "ok"
    alerts = [r.status for r in spark.table(api_tables(cfg)["alerts"]).orderBy("raised_at").collect()]
    assert alerts[0] == "degraded" and alerts[-1] == "recovered"

    rewound = json.dumps({"since": "800", "degraded": None})  # the rows committed, the cursor not: read them again
    commit_batch(spark, cfg, source, Batch(events.limit(0), rewound, "rewind"), "rewind")
    with serve_api(generated) as api:
        again = ResilientApiSource(ResilientApiClient(api.url), page_size=1000).ingest(spark, cfg, "again")
    assert (again.status, again.inserted) == ("ok", 0) and events.count() == len(record)


@pytest.mark.unit
def test_the_streaming_pollers_fetch_lands_every_event_once_through_a_chaos_night(generated, tmp_path):
    from globalbev.streaming_inventory import poll_once

    record = event_ids(generated)
    night = chaos_night(seed=45)
    clock, polls, failed = ManualClock(), [], 0
    with serve_api(generated, night) as api:
        source = ResilientApiSource(client(api.url, clock, threshold=4), page_size=100)
        for _ in range(60):
            try:
                polls.append(poll_once(source.fetch, tmp_path))
            except (CircuitOpen, TransientApiError):
                failed += 1  # nothing landed, the stored state did not move
                clock.advance(30)
                continue
            if polls[-1].events == 0:
                break
        faults = dict(api.stats)
    assert polls[-1].events == 0 and failed >= 1 and faults["outage"] >= 1 and faults.get("partial_truncated", 0) > 0
    assert sum(p.events for p in polls) > 0 and len([p for p in polls if p.events]) >= 2  # served in parts
    landed = [json.loads(line)["event_id"] for f in sorted(tmp_path.glob("events-*.json")) for line in f.open()]
    assert sorted(landed) == sorted(record)  # every event of the generator's record, none twice


@pytest.mark.unit
def test_fetch_returns_the_pages_read_whole_when_the_api_goes_down_mid_way(generated):
    clock = ManualClock()
    with serve_api(generated, ApiFaults(outage_start=4, outage_requests=1000)) as api:
        source = ResilientApiSource(client(api.url, clock, threshold=3), page_size=100)
        items, state = source.fetch(None)
        assert 0 < len(items) < len(load_events(generated)) and json.loads(state)["since"] is not None
        with pytest.raises(CircuitOpen):  # nothing read whole this time: the caller's state stays
            source.fetch(state)


@pytest.mark.unit
def test_as_a_pipeline_source_it_brings_a_chaos_night_into_bronze_once(spark, test_config, generated):
    from globalbev.config import table_name
    from globalbev.pipeline import ingest_to_bronze
    from globalbev.run_state import StepFailed

    cfg = start_lesson(spark, "test07s", test_config)
    record = event_ids(generated)
    night = chaos_night(seed=46)
    clock, runs, failed = ManualClock(), [], 0
    with serve_api(generated, night) as api:
        source = ResilientApiSource(client(api.url, clock, threshold=4), page_size=100, name="api:test07s/events")
        for n in range(12):
            try:
                (row,) = ingest_to_bronze(spark, cfg, {"inventory_api": source}, f"run-{n}")
            except StepFailed:  # the API down from the start of the read: nothing committed, the state stayed
                failed += 1
                clock.advance(30)
                continue
            runs.append(row)
            if row["rows_out"] == 0:
                break
    assert runs[-1]["rows_out"] == 0 and all(r["balanced"] for r in runs) and len(runs) >= 2
    got = [r.event_id for r in spark.table(table_name("bronze", "inventory_api", cfg)).select("event_id").collect()]
    assert sorted(got) == sorted(record) and sum(r["rows_out"] for r in runs) == len(record)
