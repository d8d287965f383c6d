"""The process pool: work units run in worker processes (or inline), the parent applies their outputs in order.

A work unit is a module-level function `unit(ctx, *args) -> UnitOutput`: it draws and renders one chunk and
writes its files, and returns what the parent must do with the rest (load PostgreSQL, count rows and bytes,
replay the manifest records). Because the parent applies outputs in submission order, file names, PostgreSQL
loads and the manifest come out exactly as in a single process.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from .defects import compact_keys
from .pools import Pools
from .sinks import FileSink, PostgresSink, write_file
from .spec import GenerationConfig

if TYPE_CHECKING:
    from .tables.products import Products


@dataclass
class WorkContext:
    """What every work unit may read: sent once to each worker process."""

    cfg: GenerationConfig
    pools: Pools
    products: Products
    root: Path
    files: bool  # operational tables as CSV files (written by the unit)
    pg: bool  # operational tables to PostgreSQL (the unit renders the COPY payload, the parent loads it)


@dataclass
class UnitOutput:
    """What a work unit hands back to the parent."""

    tables: list = field(default_factory=list)  # (table, day, op, rows, file bytes | None, payload | None, columns)
    landed: list = field(default_factory=list)  # (dataset, rows, files, bytes)
    records: list = field(default_factory=list)  # (defect id, keys, details), replayed into the day's manifest

    def land(self, dataset: str, counts: tuple[int, int, int]) -> UnitOutput:
        """Note a landing dataset's (rows, files, bytes)."""
        self.landed.append((dataset, *counts))
        return self


class Recorder:
    """Stands in for the DayManifest inside a work unit: keeps the `record` calls to replay them in order."""

    def __init__(self, out: UnitOutput):
        self.out = out

    def record(self, defect_id: str, keys, details: dict | None = None) -> None:
        self.out.records.append((defect_id, compact_keys(keys), details))


def table_unit(
    ctx: WorkContext, table: str, day: int, data: pa.Table, op: str, part: int, out: UnitOutput | None = None
) -> UnitOutput:
    """Write an operational table's file (file mode) and/or render its COPY payload (PostgreSQL mode)."""
    out = out if out is not None else UnitOutput()
    file_bytes = payload = None
    if ctx.files:
        file_bytes = write_file(FileSink(ctx.root).path(table, day, part), FileSink.render(table, day, data, op))
    if ctx.pg:
        payload = PostgresSink.render(table, day, data, op)
    out.tables.append((table, day, op, len(data), file_bytes, payload, data.column_names))
    return out


def chunks(n: int, size: int):
    """(chunk number, first row, rows) of n rows cut into chunks of `size`."""
    for c, i0 in enumerate(range(0, n, size)):
        yield c, i0, min(size, n - i0)


def split_evenly(n: int, workers: int) -> list[np.ndarray]:
    """Positions 0..n-1 in one piece, or in up to 2 pieces per worker when there are several."""
    pieces = 1 if workers == 1 else max(1, min(n, 2 * workers))
    return np.array_split(np.arange(n), pieces)


def resolve_workers(cfg: GenerationConfig) -> int:
    """`cfg.workers`, or by default the usable CPUs capped at 4 (1 when the data is too small to pay for processes)."""
    if cfg.workers is not None:
        return max(1, int(cfg.workers))
    import os

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    day0 = sum(cfg.rows(e) for e in ("customers", "orders", "partner_order_lines", "inventory_events"))
    return 1 if day0 < 2 * cfg.chunk_rows else max(1, min(cpus, 4))


_WORKER_CONTEXT: WorkContext | None = None


def _init_worker(ctx: WorkContext) -> None:
    global _WORKER_CONTEXT
    _WORKER_CONTEXT = ctx
    _keep_freed_memory()


def _keep_freed_memory() -> None:
    """In a worker: let glibc malloc reuse freed chunk buffers instead of unmapping them and faulting fresh pages
    for the next chunk (page faults were ~40% of the CPU time). Only worker processes, which end with the run."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 256 << 20)  # M_MMAP_THRESHOLD: serve allocations up to 256 MB from the heap
        libc.mallopt(-1, 512 << 20)  # M_TRIM_THRESHOLD: keep up to 512 MB of free heap
    except (OSError, AttributeError):  # not glibc: nothing to tune
        pass


def _in_worker(fn, args: tuple) -> UnitOutput:
    return fn(_WORKER_CONTEXT, *args)


class Runner:
    """Runs work units in `workers` processes (inline when 1) and applies their outputs in submission order."""

    def __init__(self, ctx: WorkContext, workers: int, apply):
        self.ctx, self.apply, self.pending, self.pool = ctx, apply, deque(), None
        self.limit = 2 * workers if workers > 1 else 0
        if workers > 1:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            # fork where there is one: no re-import of the caller's __main__ (scripts and notebooks need no
            # `if __name__ == "__main__"` guard) and the pools are shared copy-on-write. Workers end through
            # os._exit, so they never touch the parent's PostgreSQL connection.
            method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
            self.pool = ProcessPoolExecutor(
                workers, mp_context=mp.get_context(method), initializer=_init_worker, initargs=(ctx,)
            )

    def run(self, fn, man, *args, here: bool = False) -> None:
        """Run `fn(ctx, *args)`; `here` keeps it in this process (its arguments are live state)."""
        if self.pool is None or here:
            self.pending.append((fn(self.ctx, *args), man))
        else:
            self.pending.append((self.pool.submit(_in_worker, fn, args), man))
        while len(self.pending) > self.limit:
            self._apply_next()

    def _apply_next(self) -> None:
        item, man = self.pending.popleft()
        self.apply(item if isinstance(item, UnitOutput) else item.result(), man)

    def drain(self) -> None:
        """Apply every pending output."""
        while self.pending:
            self._apply_next()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
