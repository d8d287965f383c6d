"""Generate GlobalBev's data day by day: NumPy samples from the pools, Arrow tables out, defects recorded.

This module is the orchestrator: `generate` sets up a `Generation` (config, carried state, sinks, worker
processes) and runs `generate_day` for each day; what each entity looks like lives in `tables/` (one module
per entity), the process pool in `workers.py`, the random stream ids in `streams.py`. Every draw comes from
a generator seeded by (seed, stream, day, chunk) or a counter-based hash, so memory stays bounded and the
output is the same on every run and with any number of workers.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from . import spec
from .dates import day_number
from .defects import DayManifest
from .pools import build_pools
from .sinks import FileSink, PostgresSink
from .spec import GenerationConfig, as_of
from .tables.customers import CustomerState, schedule_customers
from .tables.inventory import Stock, inventory_snapshot, schedule_inventory_events
from .tables.markets import markets_table
from .tables.nutrition import schedule_nutrition
from .tables.orders import schedule_orders
from .tables.partners import schedule_partner_orders
from .tables.products import batches_table, build_products
from .tables.warehouses import warehouses_table
from .workers import Runner, UnitOutput, WorkContext, resolve_workers, table_unit


@dataclass
class GenerationResult:
    """What a run wrote: per dataset rows, files and bytes, and per defect the injected count."""

    root: Path
    manifest_dir: Path
    days: int
    rows: dict[str, int]
    files: dict[str, int]
    bytes_written: dict[str, int]
    defects: dict[str, int]
    seconds: float
    pg_url: str | None = None
    workers: int = 1  # processes that rendered and wrote the chunks

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes_written.values())

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


class _Progress:
    """A rich progress bar of rows and MB written (or nothing)."""

    def __init__(self, enabled: bool, total_rows: int):
        self.enabled, self.rows, self.bytes = enabled, 0, 0
        if enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.p = Progress(
                TextColumn("[bold]generate"), BarColumn(), TextColumn("{task.fields[info]}"), TimeElapsedColumn()
            )
            self.task = self.p.add_task("gen", total=total_rows, info="")
            self.p.start()

    def add(self, rows: int, nbytes: int, label: str) -> None:
        self.rows += rows
        self.bytes += nbytes
        if self.enabled:
            self.p.update(
                self.task, completed=self.rows, info=f"{label:<28} {self.rows:>12,} rows {self.bytes / 1e6:>9.1f} MB"
            )

    def close(self) -> None:
        if self.enabled:
            self.p.stop()


def _expected_rows(cfg: GenerationConfig) -> int:
    """About how many rows the run writes (the progress bar's total)."""
    day0 = cfg.rows("customers") + cfg.rows("orders") * 4.3 + cfg.rows("partner_order_lines")
    return int((day0 + cfg.rows("inventory_events")) * (1 + 0.01 * cfg.days))


class Generation:
    """One run, in the parent process: the config, what carries from day to day, the sinks, the worker processes
    and the running totals. The `tables/` schedulers read it and hand work units to `run`."""

    def __init__(self, cfg: GenerationConfig, root: Path):
        self.cfg, self.root = cfg, root
        self.pools = build_pools(cfg.seed)
        self.products = build_products(cfg)
        self.pg_sink = PostgresSink(cfg.pg_url, cfg.replace_shop_schema) if cfg.pg_url else None
        files = cfg.write_operational_files or (cfg.write_operational_files is None and not cfg.pg_url)
        self.file_sink = FileSink(root) if files else None
        self.sinks = [s for s in (self.pg_sink, self.file_sink) if s is not None]
        self.customers = CustomerState()
        self.next_order_id = self.next_partner_order = 1
        self.stock = Stock.opening(cfg, self.products)
        self.doc_version = np.zeros(self.products.n, np.int64)
        self.rows, self.files, self.nbytes, self.defects = {}, {}, {}, {}
        self.progress = _Progress(cfg.progress, _expected_rows(cfg))
        self.workers = resolve_workers(cfg)
        ctx = WorkContext(cfg, self.pools, self.products, root, self.file_sink is not None, self.pg_sink is not None)
        self.runner = Runner(ctx, self.workers, self.apply)

    def run(self, fn, man: DayManifest, *args, here: bool = False) -> None:
        """Hand the work unit `fn(ctx, *args)` to the workers (`here`: in this process, on live state)."""
        self.runner.run(fn, man, *args, here=here)

    def part(self, table: str, day: int) -> int:
        """The number of the next operational file of `table` on `day` (0 without files)."""
        return self.file_sink.next_part(table, day) if self.file_sink is not None else 0

    def emit(self, man: DayManifest, table: str, day: int, data: pa.Table, op: str = "insert") -> None:
        """Write a whole operational table built here."""
        self.run(table_unit, man, table, day, data, op, self.part(table, day), here=True)

    def _count(self, ds: str, rows: int, nbytes: int, files: int | None = None) -> None:
        self.rows[ds] = self.rows.get(ds, 0) + rows
        self.nbytes[ds] = self.nbytes.get(ds, 0) + nbytes
        if files is not None:  # landing datasets count files; operational tables do not
            self.files[ds] = self.files.get(ds, 0) + files
        self.progress.add(rows, nbytes, ds)

    def apply(self, out: UnitOutput, man: DayManifest) -> None:
        """Load/count what a work unit produced and replay its manifest records (in submission order)."""
        for table, day, op, n, file_bytes, payload, columns in out.tables:
            b = 0
            if self.pg_sink is not None:
                b = self.pg_sink.load(table, day, payload, columns, op)
            if self.file_sink is not None:
                b = file_bytes
            man.add_written(f"shop.{table}", **{op: n}, bytes=b)
            self._count(f"shop.{table}", n, b)
        for ds, r, f, b in out.landed:
            man.add_written(ds, rows=r, files=f, bytes=b)
            self._count(ds, r, b, f)
        for defect_id, keys, details in out.records:
            man.record(defect_id, keys, details)

    def close(self) -> None:
        self.runner.close()
        self.progress.close()
        for sink in self.sinks:
            sink.close()


def generate_day(gen: Generation, day: int) -> None:
    """One day: reference tables (day 0) or new batches, customers, orders, partner orders, inventory events, the
    inventory snapshot and nutrition documents; then that day's manifest."""
    cfg, products = gen.cfg, gen.products
    man = DayManifest(day, cfg)
    man.facts.update({"hot_sku": "SKU-000001", "hot_market": cfg.hot_market, "as_of": as_of(day).isoformat()})
    drift = {"customers": [("loyalty_tier", "text")]} if day >= cfg.customer_drift_day else {}
    for sink in gen.sinks:
        sink.begin_day(day, drift)
    today = day_number(as_of(day))
    if day == 0:
        gen.emit(man, "markets", 0, markets_table())
        gen.emit(man, "warehouses", 0, warehouses_table(gen.pools))
        gen.emit(man, "products", 0, products.table)
        gen.emit(man, "batches", 0, batches_table(products, None, today, 0))
    else:
        gen.emit(man, "batches", day, batches_table(products, today - 1, today, day))
    schedule_customers(gen, man, day)
    schedule_orders(gen, man, day)
    schedule_partner_orders(gen, man, day)
    schedule_inventory_events(gen, man, day)
    snapshot = inventory_snapshot(cfg, products, gen.stock, day)
    gen.emit(man, "inventory", day, snapshot, "insert" if day == 0 else "update")
    schedule_nutrition(gen, man, day)
    gen.runner.drain()
    for sink in gen.sinks:
        sink.end_day(day)
    man.write(gen.root / "manifest")
    for did in man.keys:
        gen.defects[did] = gen.defects.get(did, 0) + man.count(did)


def _check_small_files(cfg: GenerationConfig) -> None:
    """Refuse a small-files setup whose chunks would write files with the same numbers."""
    if cfg.small_files and cfg.chunk_rows % cfg.small_file_rows and cfg.rows("inventory_events") > cfg.chunk_rows:
        raise ValueError(
            f"small-files mode over several chunks needs chunk_rows ({cfg.chunk_rows}) to be a multiple of "
            f"small_file_rows ({cfg.small_file_rows}): otherwise the files of consecutive chunks share numbers "
            "and events would be overwritten"
        )


def _write_summary(gen: Generation) -> None:
    """`manifest/summary.json`: totals over the days, the config (without paths and secrets), the drift."""
    cfg = gen.cfg
    drift = spec.drift_schedule(cfg.customer_drift_day, cfg.json_drift_day)
    summary = {
        "config": {
            k: v
            for k, v in vars(cfg).items()
            if k not in ("pg_url", "replace_shop_schema", "progress", "root", "workers")
        },
        "days": cfg.days,
        "rows": gen.rows,
        "files": gen.files,
        "bytes": gen.nbytes,
        "defects": gen.defects,
        "drift": [vars(x) for x in drift if x.day < cfg.days],
        "postgres": bool(cfg.pg_url),
    }
    path = gen.root / "manifest" / "summary.json"
    path.write_text(json.dumps(summary, indent=1, sort_keys=True), encoding="utf-8")


def generate(cfg: GenerationConfig) -> GenerationResult:
    """Generate `cfg.days` days of GlobalBev data into PostgreSQL (or operational CSVs) and the landing zone."""
    t0 = time.perf_counter()
    _check_small_files(cfg)
    root = Path(cfg.root)
    root.mkdir(parents=True, exist_ok=True)
    for sub in ("landing", "manifest", "operational"):
        if (root / sub).exists():
            shutil.rmtree(root / sub)
    gen = Generation(cfg, root)
    try:
        for day in range(cfg.days):
            generate_day(gen, day)
    finally:
        gen.close()
    result = GenerationResult(
        root,
        root / "manifest",
        cfg.days,
        gen.rows,
        gen.files,
        gen.nbytes,
        gen.defects,
        time.perf_counter() - t0,
        cfg.pg_url,
        gen.workers,
    )
    _write_summary(gen)
    return result
