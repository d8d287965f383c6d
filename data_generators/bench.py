"""Benchmark: generator throughput (MB/s, rows/s, peak RSS) against a per-row Faker baseline.

Files only (operational tables as CSV instead of PostgreSQL), so the figure measures the generator itself.
"""

from __future__ import annotations

import dataclasses
import os
import resource
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from .generate import generate
from .pools import build_pools
from .spec import GenerationConfig
from .tables.customers import CustomerState, customer_rows, insert_customers
from .workers import resolve_workers


def faker_per_row_rate(n: int = 20_000, seed: int = 7) -> float:
    """Rows/s of the naive way: one Faker call per field per row (name, email, phone, address)."""
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(seed)
    t0 = time.perf_counter()
    rows = [
        (
            fake.first_name(),
            fake.last_name(),
            fake.email(),
            fake.phone_number(),
            fake.street_address(),
            fake.city(),
            fake.postcode(),
        )
        for _ in range(n)
    ]
    return len(rows) / (time.perf_counter() - t0)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _process_memory_kb(pid: int) -> int:
    """Proportional set size (shared pages split between the processes sharing them; forked workers share the
    parent's pools copy-on-write, so summed RSS would count those pages once per process), else RSS."""
    for name, field in ((f"/proc/{pid}/smaps_rollup", "Pss:"), (f"/proc/{pid}/status", "VmRSS:")):
        try:
            with open(name) as f:
                return next(int(line.split()[1]) for line in f if line.startswith(field))
        except (OSError, StopIteration, ValueError):
            continue
    return 0


def _tree_rss_mb(pid: int) -> float:
    """Current memory (PSS where Linux has it, else RSS) of a process and all its descendants, MB (0 without /proc)."""
    total, todo, seen = 0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            total += _process_memory_kb(p)
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total / 1024


class _TreeRssSampler:
    """Samples the summed memory (PSS) of this process and its worker processes every `every` seconds (peak kept)."""

    def __init__(self, every: float = 0.1):
        self.pid, self.every, self.peak = os.getpid(), every, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _tree_rss_mb(self.pid))
            self._stop.wait(self.every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def run_bench(
    scale: float = 1.0, root: str | None = None, faker_sample: int = 20_000, seed: int = 7, workers: int | None = None
) -> dict:
    """Generate `scale` (day 0, files only), time it, and compare the customer rate with per-row Faker."""
    tmp = None
    if root is None:
        tmp = tempfile.mkdtemp(prefix="gb-bench-")
        root = tmp
    try:
        load_before = os.getloadavg()
        t0 = time.perf_counter()
        build_pools(seed)
        pools_s = time.perf_counter() - t0
        cfg = GenerationConfig(root=root, scale=scale, days=1, seed=seed, progress=True, workers=workers)
        self0, kids0 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        with _TreeRssSampler() as sampler:
            result = generate(cfg)
        self1, kids1 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        load_after = os.getloadavg()
        cpu_parent = self1.ru_utime + self1.ru_stime - self0.ru_utime - self0.ru_stime
        cpu_workers = kids1.ru_utime + kids1.ru_stime - kids0.ru_utime - kids0.ru_stime
        # customer rows/s from pools, measured separately on the same scale for an apples-to-apples ratio
        cust = _customer_rate(scale, seed)
        faker = faker_per_row_rate(faker_sample, seed)
        files = sum(1 for p in Path(root).rglob("*") if p.is_file())
        mb = result.total_bytes / 1e6
        return {
            "scale": scale,
            "workers": result.workers,
            "workers_default": resolve_workers(dataclasses.replace(cfg, workers=None)),
            "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "seconds": result.seconds,
            "pools_seconds": pools_s,
            "mb": mb,
            "mb_per_s": mb / result.seconds,
            "rows": result.total_rows,
            "rows_per_s": result.total_rows / result.seconds,
            "cpu_seconds": cpu_parent + cpu_workers,
            "cpu_parent_seconds": cpu_parent,
            "cpu_workers_seconds": cpu_workers,
            "mb_per_cpu_second": mb / max(cpu_parent + cpu_workers, 1e-9),
            "customer_rows_per_s": cust,
            "faker_rows_per_s": faker,
            "ratio_vs_faker": cust / faker,
            "peak_rss_mb": peak_rss_mb(),
            "peak_rss_worker_mb": kids1.ru_maxrss / 1024,
            "peak_rss_tree_mb": sampler.peak,
            "load_before": load_before[0],
            "load_after": load_after[0],
            "files": files,
        }
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def _customer_rate(scale: float, seed: int) -> float:
    """Customer rows/s built from the pools (up to 250k customers of day 0)."""
    cfg = GenerationConfig(scale=scale, seed=seed)
    pools = build_pools(seed)
    st = CustomerState()
    ids = insert_customers(cfg, st, min(cfg.rows("customers"), 250_000), 0)
    t0 = time.perf_counter()
    customer_rows(cfg, pools, st, np.asarray(ids), 0)
    return len(ids) / (time.perf_counter() - t0)


def print_bench(r: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"generator benchmark, SF {r['scale']:g}, day 0, files only, {r['workers']} worker process(es)")
    t.add_column("measure")
    t.add_column("value", justify="right")
    for label, value in (
        ("raw output", f"{r['mb']:,.1f} MB in {r['files']:,} files"),
        ("workers", f"{r['workers']} (default here: {r['workers_default']}; {r['cpus']} CPUs)"),
        ("wall time", f"{r['seconds']:.1f} s (pools {r['pools_seconds']:.1f} s)"),
        ("throughput", f"{r['mb_per_s']:,.1f} MB/s"),
        ("rows", f"{r['rows']:,} ({r['rows_per_s']:,.0f} rows/s)"),
        (
            "CPU time",
            f"{r['cpu_seconds']:.1f} s (parent {r['cpu_parent_seconds']:.1f} s, workers "
            f"{r['cpu_workers_seconds']:.1f} s) = {r['mb_per_cpu_second']:,.1f} MB per CPU-s",
        ),
        ("load average (1 min)", f"{r['load_before']:.1f} before, {r['load_after']:.1f} after"),
        ("customers from pools", f"{r['customer_rows_per_s']:,.0f} rows/s"),
        ("customers with per-row Faker", f"{r['faker_rows_per_s']:,.0f} rows/s"),
        ("pools vs per-row Faker", f"{r['ratio_vs_faker']:,.0f}x"),
        (
            "peak RSS",
            f"parent {r['peak_rss_mb']:,.0f} MB, largest worker {r['peak_rss_worker_mb']:,.0f} MB, "
            f"all processes together {r['peak_rss_tree_mb']:,.0f} MB (PSS, sampled)",
        ),
    ):
        t.add_row(label, value)
    Console().print(t)
