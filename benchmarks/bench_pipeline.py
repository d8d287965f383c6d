"""Pipeline benchmark: generate one day at a scale factor, run the medallion pipeline once, print where the time goes.

    .venv/bin/python benchmarks/bench_pipeline.py --scale 1            # SF 1: ~1.2 GB of raw input, ~11 M rows
    .venv/bin/python benchmarks/bench_pipeline.py --scale 0.01 --keep  # small; keep the data under --root

It prints the raw input (MB and rows the generator wrote into PostgreSQL and the landing zone), the pipeline's wall
time and MB/s of raw input, the seconds and share of each layer (bronze = ingestion + bronze writes, silver, gold) and
of each step, the detection score and whether gold reconciles — the numbers in docs/runbooks/pipeline.md come from it.
Run it on a quiet machine: it measures wall time, and prints the load average before and after so you can tell.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="generator scale factor (1 = about 1 GB of raw data)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--root", default=None, help="where data, PostgreSQL and the warehouse go (default: a temporary folder)"
    )
    ap.add_argument(
        "--keep", action="store_true", help="keep --root afterwards (a temporary folder is removed otherwise)"
    )
    return ap.parse_args(argv)


def _measure(args: argparse.Namespace, root: Path, console) -> dict:
    """Generate one day, run the pipeline and its report once; the raw figures of the run."""
    from dataclasses import replace

    from data_generators import GenerationConfig, generate
    from globalbev.config import load_config
    from globalbev.demo import reset_local_lakehouse
    from globalbev.pipeline import run_pipeline
    from globalbev.postgres import start_embedded_postgres
    from globalbev.report import report_run
    from globalbev.runtime import get_spark

    cfg = replace(load_config("local"), storage_root=str(root))
    load_before = os.getloadavg()[0]
    t = time.perf_counter()
    spark = get_spark(cfg, app_name="globalbev-bench-pipeline")
    session_s = time.perf_counter() - t
    reset_local_lakehouse(spark, cfg)
    server = start_embedded_postgres(root / "postgres")
    marks: list[tuple[str, float]] = []
    try:
        gen = generate(GenerationConfig(root=str(root), pg_url=server.url, scale=args.scale, days=1, seed=args.seed))
        console.print(
            f"generated {gen.total_bytes / 1e6:,.1f} MB, {sum(gen.rows.values()):,} rows in {gen.seconds:.1f} s; "
            "running the pipeline",
            style="dim",
        )
        t0 = time.perf_counter()
        result = run_pipeline(
            spark,
            cfg,
            server,
            manifest_dir=str(gen.manifest_dir),
            progress=lambda s: (marks.append((s, time.perf_counter())), console.print(f"  {s}", style="dim")),
        )
        result = report_run(spark, cfg, result)  # KPIs and charts, as `globalbev run` does: timed with the checks
        total = time.perf_counter() - t0
    finally:
        server.stop()
        spark.stop()
    steps = [
        (name, end - start) for (name, start), (_, end) in zip(marks, marks[1:] + [("end", t0 + total)], strict=True)
    ]
    if steps:  # the last mark ("gold") runs on through the checks, the report and the run log
        steps[-1] = (steps[-1][0] + " + checks, report, run log", steps[-1][1])
    return {"gen": gen, "summary": result.summary, "total": total, "steps": steps, "session_s": session_s,
            "load": (load_before, os.getloadavg()[0])}  # fmt: skip


def _print_tables(args: argparse.Namespace, m: dict, console) -> None:
    """The run's headline, per-layer and per-step tables."""
    from rich.table import Table

    s, gen, total = m["summary"], m["gen"], m["total"]
    mb = gen.total_bytes / 1e6
    layers = dict(s["timings"])
    layers["checks, report, run log"] = round(total - sum(layers.values()), 1)
    head = Table(title=f"pipeline benchmark, SF {args.scale:g}, one day (day 0), {os.cpu_count()} CPUs, local Spark")
    head.add_column("measure"), head.add_column("value", justify="right")
    for k, v in (
        ("raw input", f"{mb:,.1f} MB, {sum(gen.rows.values()):,} rows"),
        ("Spark session start", f"{m['session_s']:.1f} s"),
        ("pipeline wall time", f"{total:.1f} s"),
        ("throughput", f"{mb / total:.2f} MB/s of raw input, {sum(gen.rows.values()) / total:,.0f} rows/s"),
        ("status", f"{s['status']}; all balanced: {s['all_balanced']}; gold reconciles: {s['reconciliation_matches']}"),
        ("load average (1 min)", f"{m['load'][0]:.1f} before, {m['load'][1]:.1f} after"),
    ):
        head.add_row(k, v)
    if s["detection"]:
        inj = sum(d["injected"] for d in s["detection"])
        caught = sum(d["caught"] for d in s["detection"])
        fa = sum(d["false_alarms"] for d in s["detection"])
        head.add_row("detection", f"recall {caught:,}/{inj:,} = {caught / max(inj, 1):.4f}; false alarms {fa:,}")
    console.print(head)
    lt = Table(title="where the time goes, per layer")
    for c in ("layer", "seconds", "share", "MB/s of raw input"):
        lt.add_column(c, justify="left" if c == "layer" else "right")
    for k, v in layers.items():
        lt.add_row(
            k.removesuffix("_s"), f"{v:.1f}", f"{v / total:.0%}", f"{mb / v:.1f}" if k.endswith("_s") and v else ""
        )
    console.print(lt)
    st = Table(title="per step (from the pipeline's progress marks)")
    for c in ("step", "seconds", "share"):
        st.add_column(c, justify="left" if c == "step" else "right")
    for name, sec in m["steps"]:
        st.add_row(name, f"{sec:.1f}", f"{sec / total:.0%}")
    console.print(st)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    from rich.console import Console

    console = Console(width=120)
    temporary = args.root is None
    root = Path(args.root or tempfile.mkdtemp(prefix="globalbev-bench-")).resolve()
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)  # the embedded PostgreSQL runs as another user when this runs as root
    m = _measure(args, root, console)
    _print_tables(args, m, console)
    if temporary and not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    else:
        console.print(f"data kept under {root}")
    return 0 if m["summary"]["status"] == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
