"""Command line: `globalbev generate`, `globalbev api serve`, `globalbev bench generate`.

`register_cli(subparsers)` is wired into `globalbev/cli.py`; `python -m data_generators.cli ...` runs the
same commands without it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path


def _default_root() -> str:
    try:
        from globalbev.config import data_root

        return str(data_root())
    except Exception:  # the config layer is optional for this package
        return "./data"


def register_cli(subparsers) -> None:
    """Add `generate`, `api serve` and `bench generate`."""
    _add_generate(subparsers)
    _add_api_serve(subparsers)
    _add_bench(subparsers)


def _add_generate(subparsers) -> None:
    g = subparsers.add_parser(
        "generate",
        help="synthetic messy GlobalBev data into PostgreSQL + landing zone",
        description="Generate day-by-day GlobalBev data with a defect manifest.",
    )
    g.add_argument("--scale", type=float, default=0.01, help="scale factor: 1 = about 1 GB of raw data")
    g.add_argument("--days", type=int, default=1, help="number of days (day 0 = initial load)")
    g.add_argument("--seed", type=int, default=7)
    g.add_argument("--root", default=None, help="storage root (default: the environment's data root)")
    g.add_argument(
        "--pg-url", default=None, help="PostgreSQL libpq URL (default: embedded server under <root>/postgres)"
    )
    g.add_argument("--no-pg", action="store_true", help="write operational tables as CSV under <root>/operational")
    g.add_argument(
        "--upload-to",
        default=None,
        metavar="/Volumes/CATALOG/SCHEMA/VOLUME",
        help="then copy landing/, manifest/ and operational/ into this Unity Catalog Volume through the Databricks "
        "Files API (from a laptop, e.g. with Databricks Connect); generates into a temporary folder unless --root",
    )
    g.add_argument(
        "--replace-shop-schema",
        action="store_true",
        help="drop the server's schema shop even though the generator did not make it (and everything in it)",
    )
    g.add_argument("--small-files", action="store_true", help="inventory events in many small files")
    g.add_argument("--small-file-rows", type=int, default=200)
    g.add_argument("--hot-sku-share", type=float, default=0.25)
    g.add_argument("--hot-market", default="US")
    g.add_argument("--hot-market-share", type=float, default=0.40)
    g.add_argument("--customer-drift-day", type=int, default=2)
    g.add_argument("--json-drift-day", type=int, default=2)
    g.add_argument("--defect-multiplier", type=float, default=1.0, help="scale every defect rate (0 = clean)")
    g.add_argument(
        "--defect-rate",
        action="append",
        default=[],
        metavar="ID=RATE",
        help="override one rate, e.g. shop.customers.phone_invalid=0.1 (repeatable)",
    )
    g.add_argument("--no-progress", action="store_true")
    g.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes that render and write chunks (default: usable CPUs, at most 4; 1 for small scales)",
    )
    g.set_defaults(func=_generate)


def _add_api_serve(subparsers) -> None:
    api = subparsers.add_parser("api", help="the warehouse inventory API").add_subparsers(dest="api_command")
    s = api.add_parser("serve", help="serve inventory events and nutrition documents with injected faults")
    s.add_argument("--root", default=None)
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8765)
    for name, default in (
        ("error-rate", 0.0),
        ("slow-rate", 0.0),
        ("slow-seconds", 0.2),
        ("timeout-rate", 0.0),
        ("timeout-seconds", 2.0),
        ("partial-rate", 0.0),
        ("duplicate-rate", 0.0),
        ("out-of-order-rate", 0.0),
    ):
        s.add_argument(f"--{name}", type=float, default=default)
    s.add_argument("--outage-start", type=int, default=None, help="first request number of a full outage")
    s.add_argument("--outage-requests", type=int, default=0)
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=_serve)


def _add_bench(subparsers) -> None:
    bench = subparsers.add_parser("bench", help="benchmarks").add_subparsers(dest="bench_command")
    b = bench.add_parser("generate", help="generator throughput (MB/s, rows/s, peak RSS) vs per-row Faker")
    b.add_argument("--scale", type=float, default=1.0)
    b.add_argument("--root", default=None, help="where to write (default: a temporary folder, removed after)")
    b.add_argument("--faker-sample", type=int, default=20_000)
    b.add_argument("--workers", type=int, default=None, help="worker processes (default: as `generate`)")
    b.set_defaults(func=_bench)


def _generate(args) -> int:
    from .generate import generate
    from .sinks import ForeignSchemaError
    from .spec import GenerationConfig

    if args.upload_to and not (args.no_pg or args.pg_url):
        print(
            "error: --upload-to needs --no-pg (shop's tables as files, Databricks' default) or --pg-url",
            file=sys.stderr,
        )
        return 2
    staging = args.upload_to and not args.root  # a temporary local copy, removed once uploaded
    root = Path(tempfile.mkdtemp(prefix="globalbev-volume-") if staging else (args.root or _default_root()))
    rates = {}
    for item in args.defect_rate:
        key, _, value = item.partition("=")
        rates[key] = float(value)
    cfg = GenerationConfig(
        root=str(root),
        scale=args.scale,
        days=args.days,
        seed=args.seed,
        small_files=args.small_files,
        small_file_rows=args.small_file_rows,
        hot_sku_share=args.hot_sku_share,
        hot_market=args.hot_market,
        hot_market_share=args.hot_market_share,
        customer_drift_day=args.customer_drift_day,
        json_drift_day=args.json_drift_day,
        defect_rates=rates,
        defect_multiplier=args.defect_multiplier,
        progress=not args.no_progress,
        workers=args.workers,
    )
    if args.no_pg:
        result = generate(cfg)
    elif args.pg_url:
        cfg.pg_url, cfg.replace_shop_schema = args.pg_url, args.replace_shop_schema
        try:
            result = generate(cfg)
        except ForeignSchemaError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    else:
        from globalbev.postgres import embedded_postgres

        with embedded_postgres(root / "postgres") as server:  # stopped afterwards; the data stays under <root>/postgres
            cfg.pg_url = server.url
            result = generate(cfg)
    print_summary(result)
    if args.upload_to:
        return _upload(root, args.upload_to, staging)
    return 0


def _upload(root: Path, volume_root: str, staging: bool) -> int:
    from . import volume

    try:
        done = volume.mirror_to_volume(root, volume_root)
    except Exception as e:  # no credentials, no such Volume, no permission, the network
        print(f"error: could not copy {root} into {volume_root}: {type(e).__name__}: {e}", file=sys.stderr)
        print(f"the generated data stays in {root}; fix the cause and run again", file=sys.stderr)
        return 2
    print(
        f"{volume_root}: {done['uploaded']:,} files uploaded ({done['bytes'] / 1e6:.1f} MB), "
        f"{done['deleted']:,} left by an earlier generation deleted"
    )
    if staging:
        shutil.rmtree(root, ignore_errors=True)
    return 0


def print_summary(result) -> None:
    """A rich table of what was written and which defects were injected."""
    from rich.console import Console
    from rich.table import Table

    from .spec import DEFECTS

    console = Console()
    t = Table(
        title=f"GlobalBev data: {result.days} day(s) in {result.seconds:.1f}s with {result.workers} "
        f"worker process(es) → {result.root}"
    )
    for col in ("dataset", "rows", "files", "MB"):
        t.add_column(col, justify="right" if col != "dataset" else "left")
    for ds in sorted(result.rows):
        t.add_row(
            ds, f"{result.rows[ds]:,}", str(result.files.get(ds, "")), f"{result.bytes_written.get(ds, 0) / 1e6:.2f}"
        )
    t.add_row("[bold]total", f"[bold]{result.total_rows:,}", "", f"[bold]{result.total_bytes / 1e6:.2f}")
    console.print(t)
    d = Table(title=f"Injected defects (manifest: {result.manifest_dir})")
    for col in ("defect", "rate", "count"):
        d.add_column(col, justify="right" if col != "defect" else "left")
    for x in DEFECTS:
        d.add_row(x.id, f"{x.rate:g}", f"{result.defects.get(x.id, 0):,}")
    console.print(d)
    if result.pg_url:
        from urllib.parse import urlsplit

        u = urlsplit(result.pg_url)
        console.print(f"PostgreSQL schema shop at {u.hostname}:{u.port}")


def _serve(args) -> int:
    from .api import ApiFaults, start_api

    faults = ApiFaults(
        error_rate=args.error_rate,
        slow_rate=args.slow_rate,
        slow_seconds=args.slow_seconds,
        timeout_rate=args.timeout_rate,
        timeout_seconds=args.timeout_seconds,
        partial_rate=args.partial_rate,
        duplicate_rate=args.duplicate_rate,
        out_of_order_rate=args.out_of_order_rate,
        outage_start=args.outage_start,
        outage_requests=args.outage_requests,
        seed=args.seed,
    )
    server = start_api(args.root or _default_root(), faults, args.host, args.port)
    print(f"warehouse API on {server.url} ({len(server.events):,} events); Ctrl-C to stop", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        print(f"stopped; requests and injected faults: {server.stats}")
    return 0


def _bench(args) -> int:
    from .bench import print_bench, run_bench

    print_bench(run_bench(scale=args.scale, root=args.root, faker_sample=args.faker_sample, workers=args.workers))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m data_generators.cli")
    register_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
