"""The warehouse inventory API: a real HTTP server that is unreliable on purpose (seeded faults).

It serves the inventory events the generator wrote to `<root>/landing/inventory_events` (all days, in
arrival order, each event once) through a cursor, and the latest nutrition document per product. Faults are
decided per request number from the seed, so a test can predict them and a patient client can still
collect every event exactly once.
"""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np

REQUIRED_EVENT_FIELDS = ("event_id", "event_ts", "warehouse_id", "sku", "event_type", "quantity_delta", "on_hand_after")
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 500, 5000


@dataclass
class ApiFaults:
    """How unreliable the API is. Rates are per request; the n-th request's fate depends only on (seed, n)."""

    error_rate: float = 0.0  # HTTP 500 or 503
    slow_rate: float = 0.0
    slow_seconds: float = 0.2
    timeout_rate: float = 0.0  # hold the request for timeout_seconds, then close without answering
    timeout_seconds: float = 2.0
    partial_rate: float = 0.0  # truncated JSON | items missing fields | fewer items than announced
    duplicate_rate: float = 0.0  # repeat events the client already has (or within the page)
    out_of_order_rate: float = 0.0  # shuffle the page's items
    outage_start: int | None = None  # requests outage_start .. outage_start + outage_requests - 1 get 503
    outage_requests: int = 0
    seed: int = 0

    def fate(self, n: int) -> dict:
        """What happens to request number n (1-based)."""
        rng = np.random.default_rng([self.seed, n])
        u = rng.random(7)
        out = {
            "outage": self.outage_start is not None
            and self.outage_start <= n < self.outage_start + self.outage_requests
        }
        out["error"] = (500 if u[1] < 0.5 else 503) if u[0] < self.error_rate else None
        out["timeout"] = u[2] < self.timeout_rate
        out["slow"] = u[3] < self.slow_rate
        out["partial"] = (
            ("truncated", "missing_fields", "short_page")[int(u[5] * 3)] if u[4] < self.partial_rate else None
        )
        out["duplicate"] = u[6] < self.duplicate_rate
        out["out_of_order"] = rng.random() < self.out_of_order_rate
        out["rng_seed"] = int(rng.integers(0, 2**31))
        return out


def load_events(root: str | Path) -> list[bytes]:
    """Every distinct inventory event line under <root>/landing/inventory_events, in arrival order."""
    base = Path(root) / "landing" / "inventory_events"
    seen, out = set(), []
    for path in sorted(base.glob("day=*/*.jsonl")):
        for line in path.read_bytes().splitlines():
            if not line:
                continue
            eid = int(line[len(b'{"event_id":') : line.index(b",")])
            if eid not in seen:
                seen.add(eid)
                out.append(line)
    return out


def latest_nutrition(root: str | Path) -> dict[str, Path]:
    """sku -> the path of its latest nutrition document."""
    docs = {}
    for path in sorted((Path(root) / "landing" / "nutrition").glob("day=*/*.json")):
        docs[path.stem] = path
    return docs


@dataclass
class ApiServer:
    """A running API server (see `serve_api`)."""

    httpd: ThreadingHTTPServer
    thread: threading.Thread
    events: list[bytes]
    faults: ApiFaults
    stats: dict = field(default_factory=dict)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


class _ApiHandler(BaseHTTPRequestHandler):
    """The API's routes and faults; `_handler` binds it to one server's state (faults, events, stats, documents)."""

    protocol_version = "HTTP/1.1"
    state: dict
    lock: threading.Lock

    def log_message(self, fmt, *args):  # quiet: tests and the demo print their own summaries
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, obj) -> None:
        self._send(status, json.dumps(obj).encode())

    def _count(self, name: str) -> int:
        with self.lock:
            stats = self.state["stats"]
            stats[name] = stats.get(name, 0) + 1
            return stats[name]

    def do_GET(self):  # noqa: N802
        url = urlsplit(self.path)
        if url.path == "/health":
            return self._json(200, {"status": "ok", "events": len(self.state["events"])})
        fate = self.state["faults"].fate(self._count("requests"))
        if self._failed(fate):
            return None
        if url.path == "/inventory/events":
            return self._events(parse_qs(url.query), fate)
        if url.path == "/products":
            return self._json(200, {"items": sorted(self.state["nutrition"])})
        parts = url.path.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "products" and parts[2] == "nutrition":
            path = self.state["nutrition"].get(parts[1])
            if path is None:
                return self._json(404, {"error": f"unknown sku {parts[1]}"})
            return self._send(200, path.read_bytes())
        return self._json(404, {"error": f"no route {url.path}"})

    def _failed(self, fate: dict) -> bool:
        """Apply the request's outage, error, timeout or slowness; True when the request got no normal answer."""
        faults: ApiFaults = self.state["faults"]
        if fate["outage"]:
            self._count("outage")
            self._json(503, {"error": "service unavailable (outage)"})
        elif fate["error"]:
            self._count(f"error_{fate['error']}")
            self._json(fate["error"], {"error": "injected failure"})
        elif fate["timeout"]:
            self._count("timeout")
            time.sleep(faults.timeout_seconds)
            self.close_connection = True
        else:
            if fate["slow"]:
                self._count("slow")
                time.sleep(faults.slow_seconds)
            return False
        return True

    def _events(self, query: dict, fate: dict) -> None:
        events = self.state["events"]
        try:
            since = int(query.get("since", ["0"])[0] or 0)
            size = min(MAX_PAGE_SIZE, max(1, int(query.get("page_size", [DEFAULT_PAGE_SIZE])[0])))
        except ValueError:
            return self._json(400, {"error": "since must be a cursor from 'next', page_size an integer"})
        since = max(0, min(since, len(events)))
        items = [json.loads(x) for x in events[since : since + size]]
        end = since + len(items)
        nxt = str(end) if end < len(events) else None
        rng = np.random.default_rng(fate["rng_seed"])
        if fate["duplicate"] and items:
            self._count("duplicate")
            pool = [json.loads(x) for x in events[max(0, since - size) : since]] or items
            items = items + [pool[i] for i in rng.integers(0, len(pool), min(5, len(pool)))]
        if fate["out_of_order"] and len(items) > 1:
            self._count("out_of_order")
            items = [items[i] for i in rng.permutation(len(items))]
        announced = len(items)
        kind, items = self._partial(fate["partial"], items, rng)
        body = json.dumps({"items": items, "count": announced, "since": str(since), "next": nxt}).encode()
        if kind == "truncated":
            body = body[: max(1, len(body) // 2)]
        self._count("pages")
        return self._send(200, body)

    def _partial(self, kind: str | None, items: list[dict], rng: np.random.Generator) -> tuple[str | None, list]:
        """A partial page: fewer items than announced, items missing fields, or (as a fallback) a truncated body."""
        if kind == "short_page" and len(items) < 2:
            kind = "truncated"
        if kind == "missing_fields" and not items:
            kind = "truncated"
        if kind:
            self._count(f"partial_{kind}")
        if kind == "short_page":
            items = items[: max(1, int(len(items) * 0.7))]
        elif kind == "missing_fields":
            for i in rng.choice(len(items), max(1, len(items) // 3), replace=False):
                items[i] = {k: v for k, v in items[i].items() if k not in ("sku", "on_hand_after")}
        return kind, items


def _handler(state: dict) -> type[_ApiHandler]:
    """The request handler class of one server."""
    return type("Handler", (_ApiHandler,), {"state": state, "lock": threading.Lock()})


@contextmanager
def serve_api(root: str | Path, faults: ApiFaults | None = None, host: str = "127.0.0.1", port: int = 0):
    """`with serve_api(root, ApiFaults(...)) as api: api.url` — the API in a background thread on a free port."""
    server = start_api(root, faults, host, port)
    try:
        yield server
    finally:
        server.stop()


def start_api(root: str | Path, faults: ApiFaults | None = None, host: str = "127.0.0.1", port: int = 0) -> ApiServer:
    """Start the API server in a background thread; call `.stop()` when done."""
    faults = faults or ApiFaults()
    state = {"faults": faults, "events": load_events(root), "stats": {}, "nutrition": latest_nutrition(root)}
    httpd = ThreadingHTTPServer((host, port), _handler(state))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, name="globalbev-warehouse-api", daemon=True)
    thread.start()
    return ApiServer(httpd, thread, state["events"], faults, state["stats"])
