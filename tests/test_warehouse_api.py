"""The warehouse API fails on purpose, at the configured rates, and a patient client still gets every event once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from data_generators import GenerationConfig, generate
from data_generators.api import REQUIRED_EVENT_FIELDS, ApiFaults, load_events, serve_api


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("api") / "data"
    generate(GenerationConfig(root=str(root), scale=0.002, days=2, seed=3, small_files=True))
    return root


def landing_events(root: Path) -> dict[int, dict]:
    out = {}
    for path in sorted((root / "landing" / "inventory_events").glob("day=*/*.jsonl")):
        for line in path.read_text().splitlines():
            e = json.loads(line)
            out.setdefault(e["event_id"], e)
    return out


def patient_client(url: str, page_size: int = 200, timeout: float = 0.25, max_requests: int = 2000):
    """Follow `next` to the end; retry failed, truncated, short or incomplete pages; de-duplicate by event_id."""
    got, since, requests_made, retries = {}, None, 0, 0
    while requests_made < max_requests:
        requests_made += 1
        params = {"page_size": page_size} | ({"since": since} if since is not None else {})
        try:
            resp = requests.get(f"{url}/inventory/events", params=params, timeout=timeout)
            page = resp.json() if resp.status_code == 200 else None
        except (requests.RequestException, ValueError):
            page = None
        if (
            page is None
            or len(page["items"]) != page["count"]
            or any(any(f not in e for f in REQUIRED_EVENT_FIELDS) for e in page["items"])
        ):
            retries += 1
            continue
        for e in page["items"]:
            got.setdefault(e["event_id"], e)
        if page["next"] is None:
            return got, requests_made, retries
        since = page["next"]
    raise AssertionError(f"client gave up after {requests_made} requests")


@pytest.mark.integration
def test_reliable_api_serves_every_event_once(root):
    expected = landing_events(root)
    with serve_api(root) as api:
        assert requests.get(f"{api.url}/health", timeout=5).json()["events"] == len(expected)
        got, n, retries = patient_client(api.url, page_size=500)
    assert got == expected and retries == 0
    assert n == -(-len(expected) // 500)


@pytest.mark.integration
def test_patient_client_survives_every_fault(root):
    faults = ApiFaults(
        error_rate=0.2,
        slow_rate=0.05,
        slow_seconds=0.02,
        timeout_rate=0.08,
        timeout_seconds=0.5,
        partial_rate=0.2,
        duplicate_rate=0.15,
        out_of_order_rate=0.2,
        outage_start=4,
        outage_requests=5,
        seed=42,
    )
    expected = landing_events(root)
    with serve_api(root, faults) as api:
        got, n, retries = patient_client(api.url, page_size=100)
        stats = dict(api.stats)
    assert got == expected  # every event, exactly once, unchanged
    assert retries > 0 and stats["outage"] == 5
    for kind in (
        "error_500",
        "error_503",
        "timeout",
        "partial_truncated",
        "partial_missing_fields",
        "partial_short_page",
        "duplicate",
        "out_of_order",
    ):
        assert stats.get(kind, 0) > 0, (kind, stats)


@pytest.mark.integration
def test_failure_rate_matches_configuration(root):
    faults = ApiFaults(error_rate=0.3, seed=9)
    n = 400
    with serve_api(root, faults) as api:
        codes = [
            requests.get(f"{api.url}/inventory/events", params={"page_size": 5}, timeout=5).status_code
            for _ in range(n)
        ]
    failures = sum(c >= 500 for c in codes)
    predicted = sum(faults.fate(i)["error"] is not None for i in range(1, n + 1))
    assert failures == predicted  # seeded: the n-th request's fate is known in advance
    assert 0.24 <= failures / n <= 0.36
    assert {c for c in codes if c >= 500} == {500, 503}


@pytest.mark.integration
def test_outage_window_and_nutrition_documents(root):
    with serve_api(root, ApiFaults(outage_start=1, outage_requests=3)) as api:
        codes = [requests.get(f"{api.url}/products", timeout=5).status_code for _ in range(4)]
        assert codes == [503, 503, 503, 200]
        skus = requests.get(f"{api.url}/products", timeout=5).json()["items"]
        doc = requests.get(f"{api.url}/products/{skus[0]}/nutrition", timeout=5).json()
        assert doc["sku"] == skus[0] and doc["per_serving"]["macros"]["fat"]["total_g"] >= 0
        assert requests.get(f"{api.url}/products/NOPE/nutrition", timeout=5).status_code == 404


@pytest.mark.unit
def test_api_event_log_is_the_landing_log_without_duplicates(root):
    lines = load_events(root)
    assert len(lines) == len({json.loads(x)["event_id"] for x in lines}) == len(landing_events(root))
