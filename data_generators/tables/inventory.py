"""`landing/inventory_events` (JSON lines; the warehouse API serves the same events) and `shop.inventory`.

The stock walk carries over from chunk to chunk, so it runs in the parent (`inventory_walk`, `carry_inventory`);
rendering and writing the events runs in the workers (`inventory_files`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import spec
from ..columns import as_text, constant_ts, iso_text, join
from ..dates import DAY_SECONDS, day_number, load_ts
from ..defects import DayManifest, bursts, hash_uniform
from ..sinks import lines_bytes, write_file
from ..spec import GenerationConfig, as_of
from ..streams import Field, Stream
from ..workers import Recorder, UnitOutput, WorkContext, chunks
from .markets import market_weights
from .products import Products
from .warehouses import WAREHOUSE_IDS

if TYPE_CHECKING:
    from ..generate import Generation

EVENT_ID_DAY = 10**9  # event_id = day * EVENT_ID_DAY + n


@dataclass
class Stock:
    """On hand and reserved units per (warehouse, product) pair (index warehouse * products + product)."""

    on_hand: np.ndarray
    reserved: np.ndarray

    @classmethod
    def opening(cls, cfg: GenerationConfig, products: Products) -> Stock:
        n_pairs = len(WAREHOUSE_IDS) * products.n
        on_hand = np.random.default_rng([cfg.seed, Stream.INITIAL_STOCK]).integers(100, 400, n_pairs)
        return cls(on_hand.astype(np.int64), np.zeros(n_pairs, np.int64))


def reorder_points(seed: int, pair: np.ndarray) -> np.ndarray:
    """The reorder point of each (warehouse, product) pair: fixed for the whole dataset."""
    return 20 + (hash_uniform(seed, pair, Field.REORDER_POINT) * 60).astype(np.int64)


def _grouped_reflected_walk(pair: np.ndarray, delta: np.ndarray, start: np.ndarray) -> np.ndarray:
    """on_hand after each event: x_t = max(0, x_{t-1} + delta_t) per pair, vectorised (Lindley's recursion)."""
    order = np.argsort(pair, kind="stable")
    p, d = pair[order], delta[order].astype(np.int64)
    first = np.r_[True, p[1:] != p[:-1]]
    gid = np.cumsum(first) - 1
    cs = np.cumsum(d)
    base = np.repeat(cs[first] - d[first], np.diff(np.r_[np.flatnonzero(first), len(p)]))
    s = start[p] + cs - base
    big = 2 * (int(np.abs(s).max(initial=0)) + int(start.max(initial=0)) + 1)
    run_min = np.minimum.accumulate(s - gid * big) + gid * big
    x = s - np.minimum(run_min, 0)
    out = np.empty_like(x)
    out[order] = x
    return out


@dataclass
class InventoryWalk:
    """An inventory chunk's draws and stock walk: the part that must run chunk after chunk (stock carries over)."""

    ts_ms: np.ndarray
    event_id: np.ndarray
    wh: np.ndarray
    prod: np.ndarray
    etype: np.ndarray
    delta: np.ndarray
    pair: np.ndarray
    on_hand: np.ndarray
    reserved: np.ndarray
    rng: np.random.Generator  # positioned after the walk's draws; `inventory_files` continues with it


def inventory_walk(
    cfg: GenerationConfig,
    products: Products,
    day: int,
    chunk: int,
    i0: int,
    n: int,
    n_total: int,
    window: tuple[int, int],
    on_hand_start: np.ndarray,
) -> InventoryWalk:
    """Draw one chunk of inventory events and walk the stock from `on_hand_start` (per warehouse x product)."""
    rng = np.random.default_rng([cfg.seed, Stream.INVENTORY_EVENTS, day, chunk])
    lo_ms, hi_ms = window
    ts_ms = lo_ms + ((np.arange(i0, i0 + n) + rng.random(n)) / n_total * (hi_ms - lo_ms)).astype(np.int64)
    event_id = day * EVENT_ID_DAY + np.arange(i0, i0 + n, dtype=np.int64)
    m = np.searchsorted(market_weights(cfg), rng.random(n), side="right")
    wh = m * spec.WAREHOUSES_PER_MARKET + rng.integers(0, spec.WAREHOUSES_PER_MARKET, n)
    prod = products.draw(rng, n, cfg.hot_sku_share)
    etype = rng.choice(len(spec.INVENTORY_EVENT_TYPES), n, p=spec.INVENTORY_EVENT_WEIGHTS)
    delta = np.select(
        [etype == 0, etype == 1, etype == 2],
        [
            -rng.integers(1, 13, n),
            rng.integers(20, 81, n),
            rng.integers(1, 6, n) * np.where(rng.random(n) < 0.5, -1, 1),
        ],
        0,
    )
    pair = wh * products.n + prod
    on_hand = _grouped_reflected_walk(pair, delta, on_hand_start)
    reserved = np.minimum(on_hand, rng.integers(0, 15, n))
    return InventoryWalk(ts_ms, event_id, wh, prod, etype, delta, pair, on_hand, reserved, rng)


def carry_inventory(stock: Stock, walk: InventoryWalk, man: DayManifest) -> None:
    """Carry the chunk's closing stock into `stock` and note its stockouts and event ids in the manifest."""
    pair, on_hand, event_id = walk.pair, walk.on_hand, walk.event_id
    order = np.argsort(pair, kind="stable")
    ends = np.r_[pair[order][1:] != pair[order][:-1], True]
    stock.on_hand[pair[order][ends]] = on_hand[order][ends]
    stock.reserved[pair[order][ends]] = walk.reserved[order][ends]
    stockouts = man.facts.setdefault("stockouts", {"count": 0, "keys": []})
    stockouts["keys"].extend(event_id[on_hand == 0].tolist())
    stockouts["count"] = len(stockouts["keys"])
    ids = man.facts.setdefault("inventory_event_ids", {"count": 0, "min": None, "max": None})
    ids["count"] += len(event_id)
    ids["min"] = int(event_id[0]) if ids["min"] is None else ids["min"]
    ids["max"] = int(event_id[-1])


def _event_lines(
    cfg: GenerationConfig, products: Products, day: int, walk: InventoryWalk, null_wh: np.ndarray
) -> pa.Array:
    """The walked events as JSON lines (built column-wise), with the drift fields from the JSON drift day."""
    rng, n = walk.rng, len(walk.event_id)
    wh_json = pc.if_else(pa.array(null_wh), "null", join('"', pa.array(WAREHOUSE_IDS).take(pa.array(walk.wh)), '"'))
    parts = [
        '{"event_id":',
        as_text(walk.event_id),
        ',"event_ts":"',
        iso_text(walk.ts_ms, "ms"),
        'Z","warehouse_id":',
        wh_json,
        ',"sku":"',
        products.sku.take(pa.array(walk.prod)),
        '","event_type":"',
        pa.array(spec.INVENTORY_EVENT_TYPES).take(pa.array(walk.etype)),
        '","quantity_delta":',
        as_text(walk.delta),
        ',"on_hand_after":',
        as_text(walk.on_hand),
        ',"reserved":',
        as_text(walk.reserved),
        ',"reorder_point":',
        as_text(reorder_points(cfg.seed, walk.pair)),
    ]
    if day >= cfg.json_drift_day:
        temp = np.round(rng.normal(6.0, 2.5, n), 1)
        source = np.where(rng.random(n) < 0.7, "wms-v2", "wms-legacy")
        parts += [',"temperature_c":', as_text(temp), ',"source_system":"', pa.array(source), '"']
    return join(*parts, "}\n")


def inventory_files(
    cfg: GenerationConfig, products: Products, day: int, chunk: int, i0: int, n: int, walk: InventoryWalk, man, root
) -> tuple[int, int, int]:
    """Write one walked chunk of inventory events as JSON lines; returns (rows, files, bytes)."""
    null_wh = bursts(walk.rng, n, cfg.rate("landing/inventory_events.null_burst"), 10, 100)
    dup = walk.rng.random(n) < cfg.rate("landing/inventory_events.duplicate_exact")
    lines = _event_lines(cfg, products, day, walk, null_wh)
    man.record("landing/inventory_events.duplicate_exact", walk.event_id[dup])
    man.record("landing/inventory_events.null_burst", walk.event_id[null_wh])
    per_file = cfg.small_file_rows if cfg.small_files else n
    files = nbytes = rows = 0
    for f0 in range(0, n, per_file):
        sel = np.arange(f0, min(n, f0 + per_file))
        order = np.concatenate([sel, sel[dup[sel]]])
        file_no = (i0 + f0) // per_file if cfg.small_files else chunk
        path = Path(root) / "landing" / "inventory_events" / f"day={day:03d}" / f"events-d{day:03d}-{file_no:05d}.jsonl"
        nbytes += write_file(path, lines_bytes(lines.take(pa.array(order))))
        files += 1
        rows += len(order)
    return rows, files, nbytes


def inventory_unit(ctx: WorkContext, day: int, chunk: int, i0: int, n: int, walk: InventoryWalk) -> UnitOutput:
    """Work unit: one walked chunk of inventory event files."""
    out = UnitOutput()
    counts = inventory_files(ctx.cfg, ctx.products, day, chunk, i0, n, walk, Recorder(out), ctx.root)
    return out.land("landing/inventory_events", counts)


def schedule_inventory_events(gen: Generation, man: DayManifest, day: int) -> None:
    """Day 0's last `INVENTORY_HISTORY_DAYS` days of events, or day d's: walked here, rendered by the workers."""
    cfg, today = gen.cfg, day_number(as_of(day))
    day_ms = DAY_SECONDS * 1000
    if day == 0:
        n_events = cfg.rows("inventory_events")
        window = ((today - spec.INVENTORY_HISTORY_DAYS + 1) * day_ms, (today + 1) * day_ms)
    else:
        n_events = max(1, cfg.rows("inventory_events") // spec.INVENTORY_HISTORY_DAYS)
        window = (today * day_ms, (today + 1) * day_ms)
    for c, i0, n in chunks(n_events, cfg.chunk_rows):
        walk = inventory_walk(cfg, gen.products, day, c, i0, n, n_events, window, gen.stock.on_hand)
        carry_inventory(gen.stock, walk, man)
        gen.run(inventory_unit, man, day, c, i0, n, walk)


def inventory_snapshot(cfg: GenerationConfig, products: Products, stock: Stock, day: int) -> pa.Table:
    """`shop.inventory`: the end-of-day stock of every (warehouse, product) pair."""
    wh = np.repeat(np.arange(len(WAREHOUSE_IDS)), products.n)
    pr = np.tile(np.arange(products.n), len(WAREHOUSE_IDS))
    return pa.table(
        {
            "warehouse_id": pa.array(WAREHOUSE_IDS).take(pa.array(wh)),
            "sku": products.sku.take(pa.array(pr)),
            "on_hand": pa.array(stock.on_hand, pa.int32()),
            "reserved": pa.array(stock.reserved, pa.int32()),
            "reorder_point": pa.array(reorder_points(cfg.seed, wh * products.n + pr), pa.int32()),
            "updated_at": constant_ts(load_ts(day), len(wh)),
        }
    )
