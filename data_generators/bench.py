"""Benchmark: generator throughput (MB/s, rows/s, peak RSS) against a per-row Faker baseline.

Files only (operational tables as CSV instead of PostgreSQL), so the figure measures the generator itself.
"""
from __future__ import annotations

import resource
import shutil
import tempfile
import time
from pathlib import Path


def faker_per_row_rate(n: int = 20_000, seed: int = 7) -> float:
    """Rows/s of the naive way: one Faker call per field per row (name, email, phone, address)."""
    from faker import Faker
    fake = Faker("en_US")
    fake.seed_instance(seed)
    t0 = time.perf_counter()
    rows = [(fake.first_name(), fake.last_name(), fake.email(), fake.phone_number(), fake.street_address(),
             fake.city(), fake.postcode()) for _ in range(n)]
    return len(rows) / (time.perf_counter() - t0)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_bench(scale: float = 1.0, root: str | None = None, faker_sample: int = 20_000, seed: int = 7) -> dict:
    """Generate `scale` (day 0, files only), time it, and compare the customer rate with per-row Faker."""
    from .generate import generate
    from .pools import build_pools
    from .spec import GenerationConfig
    tmp = None
    if root is None:
        tmp = tempfile.mkdtemp(prefix="gb-bench-")
        root = tmp
    try:
        t0 = time.perf_counter()
        build_pools(seed)
        pools_s = time.perf_counter() - t0
        result = generate(GenerationConfig(root=root, scale=scale, days=1, seed=seed, progress=True))
        # customer rows/s from pools, measured separately on the same scale for an apples-to-apples ratio
        cust = _customer_rate(scale, seed)
        faker = faker_per_row_rate(faker_sample, seed)
        files = sum(1 for p in Path(root).rglob("*") if p.is_file())
        return {"scale": scale, "seconds": result.seconds, "pools_seconds": pools_s,
                "mb": result.total_bytes / 1e6, "mb_per_s": result.total_bytes / 1e6 / result.seconds,
                "rows": result.total_rows, "rows_per_s": result.total_rows / result.seconds,
                "customer_rows_per_s": cust, "faker_rows_per_s": faker, "ratio_vs_faker": cust / faker,
                "peak_rss_mb": peak_rss_mb(), "files": files}
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def _customer_rate(scale: float, seed: int) -> float:
    import numpy as np
    from .generate import State, customer_rows, insert_customers
    from .pools import build_pools
    from .spec import GenerationConfig
    cfg = GenerationConfig(scale=scale, seed=seed)
    pools = build_pools(seed)
    st = State()
    ids = insert_customers(cfg, st, min(cfg.rows("customers"), 250_000), 0)
    t0 = time.perf_counter()
    customer_rows(cfg, pools, st, np.asarray(ids), 0)
    return len(ids) / (time.perf_counter() - t0)


def print_bench(r: dict) -> None:
    from rich.console import Console
    from rich.table import Table
    t = Table(title=f"generator benchmark, SF {r['scale']:g}, day 0, files only")
    t.add_column("measure")
    t.add_column("value", justify="right")
    for label, value in (("raw output", f"{r['mb']:,.1f} MB in {r['files']:,} files"),
                         ("wall time", f"{r['seconds']:.1f} s (pools {r['pools_seconds']:.1f} s)"),
                         ("throughput", f"{r['mb_per_s']:,.1f} MB/s"),
                         ("rows", f"{r['rows']:,} ({r['rows_per_s']:,.0f} rows/s)"),
                         ("customers from pools", f"{r['customer_rows_per_s']:,.0f} rows/s"),
                         ("customers with per-row Faker", f"{r['faker_rows_per_s']:,.0f} rows/s"),
                         ("pools vs per-row Faker", f"{r['ratio_vs_faker']:,.0f}x"),
                         ("peak RSS", f"{r['peak_rss_mb']:,.0f} MB")):
        t.add_row(label, value)
    Console().print(t)
