"""Pipeline benchmark: generate one day at a scale factor, run the medallion pipeline on it, then once more with nothing
new, and print (and write as JSON) where the time goes.

    .venv/bin/python benchmarks/bench_pipeline.py --scale 1                 # SF 1: ~1.2 GB of raw input, ~11 M rows
    .venv/bin/python benchmarks/bench_pipeline.py --scale 1 --compare benchmarks/baseline-sf1.json
    .venv/bin/python benchmarks/bench_pipeline.py --scale 0.005 --json out.json --keep --root /tmp/b

It prints the raw input (MB and rows the generator wrote into PostgreSQL and the landing zone), the pipeline's wall time
and MB/s of raw input, the seconds of each layer (bronze = ingestion + bronze writes, silver, gold, then the checks and
the run log) and of each table (the tables of a layer run side by side, so their seconds overlap), the detection score,
whether every layer balanced and gold reconciles, and what a second run with nothing new cost and changed (it must
change no silver or gold table), then the peer: the same gold fact computed by DuckDB from the same raw input
(`duckdb_peer.py`), its seconds, the Spark / DuckDB ratio and whether its totals per market equal gold's (`--no-peer`
skips it). `--json` writes all of it with the machine it ran on; `--compare BASELINE.json`
prints baseline / now per layer and per table (above 1: faster now). The projection to SF 20 assumes time grows
linearly with the raw input from this run — measure a larger scale to see whether it does.
Run it on a quiet machine: it measures wall time, and records the load average before and after.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # duckdb_peer

LAYERS = ("bronze", "silver", "gold", "checks")


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
    ap.add_argument("--json", default=None, help="write the measurements to this JSON file")
    ap.add_argument("--compare", default=None, help="a JSON file written by --json: print baseline / now ratios")
    ap.add_argument("--no-peer", action="store_true", help="skip the DuckDB peer")
    ap.add_argument(
        "--jit",
        choices=("quick", "full"),
        default=None,
        help="the driver JVM's compilers (default: conf/local.toml's, i.e. GLOBALBEV_JIT, else full — C2 pays on long "
        "runs over big data; quick, C1 only, on short sessions)",
    )
    ap.add_argument(
        "--projections",
        choices=("interpreted", "compiled"),
        default=None,
        help="how tasks build row projections (default: conf/local.toml's, i.e. GLOBALBEV_PROJECTIONS, else "
        "interpreted; the baselines before 2026-12-05 ran compiled, Spark's default)",
    )
    return ap.parse_args(argv)


def machine() -> dict:
    """What the figures were measured on."""
    from importlib.metadata import version

    mem = next((ln.split()[1] for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal")), 0)
    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(int(mem) / 1e6, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "pyspark": version("pyspark"),
        "delta_spark": version("delta-spark"),
    }


def _versions(spark, cfg) -> dict[str, int]:
    """The latest version of every silver and gold table."""
    from globalbev.config import schema_name
    from globalbev.delta_ops import latest_version

    out = {}
    for layer in ("silver", "gold"):
        for t in spark.catalog.listTables(schema_name(layer, cfg)):
            out[f"{schema_name(layer, cfg)}.{t.name}"] = latest_version(spark, f"{schema_name(layer, cfg)}.{t.name}")
    return out


MERGED = ("numTargetRowsInserted", "numTargetRowsUpdated", "numTargetRowsDeleted")  # a MERGE's logical changes


def _rows_changed(spark, before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """Per table whose version moved, the rows its new commits inserted, updated or deleted (Delta's operation metrics;
    rows a write added); only tables where that is not 0 — a MERGE that finds nothing to change still commits a
    version that rewrites the files it matched (`numTargetRowsCopied`), with the same rows."""
    from delta.tables import DeltaTable

    out = {}
    for table, version in after.items():
        since = before.get(table, -1)
        if version == since:
            continue
        history = DeltaTable.forName(spark, table).history().where(f"version > {since}").collect()
        n = sum(
            int((h.operationMetrics or {}).get(k, 0))
            for h in history
            for k in (MERGED if h.operation == "MERGE" else ("numOutputRows",))
        )
        if n:
            out[table] = n
    return out


def _layers(summary: dict, total: float) -> dict[str, float]:
    t = summary["timings"]
    layers = {k: t[f"{k}_s"] for k in ("bronze", "silver", "gold")}
    layers["checks"] = round(total - sum(layers.values()), 1)  # reconciliation, detection score, run log, report
    return layers


def measure(args: argparse.Namespace, root: Path, say=print) -> dict:
    """Generate one day, run the pipeline and its report once, then once more with nothing new; the figures."""
    from dataclasses import replace
    from importlib.metadata import version

    from data_generators import GenerationConfig, generate
    from globalbev.config import load_config, table_name
    from globalbev.demo import reset_local_lakehouse
    from globalbev.pipeline import run_pipeline
    from globalbev.postgres import start_embedded_postgres
    from globalbev.report import report_run
    from globalbev.runtime import class_cache_options, get_spark

    cfg = load_config("local")
    cfg = replace(
        cfg,
        storage_root=str(root),
        spark={
            **cfg.spark,
            **({"jit": args.jit} if args.jit else {}),
            **({"projections": args.projections} if args.projections else {}),
        },
    )
    load_before = os.getloadavg()[0]
    t = time.perf_counter()
    spark = get_spark(cfg, app_name="globalbev-bench-pipeline")
    session_s = time.perf_counter() - t
    reset_local_lakehouse(spark, cfg)
    server = start_embedded_postgres(root / "postgres")
    try:
        gen = generate(GenerationConfig(root=str(root), pg_url=server.url, scale=args.scale, days=1, seed=args.seed))
        mb, rows = gen.total_bytes / 1e6, sum(gen.rows.values())
        say(f"generated {mb:,.1f} MB, {rows:,} rows in {gen.seconds:.1f} s; running the pipeline")
        t0 = time.perf_counter()
        result = run_pipeline(spark, cfg, server, manifest_dir=str(gen.manifest_dir))
        result = report_run(spark, cfg, result)  # KPIs and charts, as `globalbev run` does: timed with the checks
        total = time.perf_counter() - t0
        say(f"pipeline: {total:.1f} s; once more with nothing new")
        before = _versions(spark, cfg)
        t1 = time.perf_counter()
        again = run_pipeline(spark, cfg, server, manifest_dir=str(gen.manifest_dir))
        again_s = time.perf_counter() - t1
        changed = _rows_changed(spark, before, _versions(spark, cfg))
        peer = None
        if not args.no_peer:
            say("the DuckDB peer: the same fact from the same raw input")
            from duckdb_peer import compare, run_peer, spark_per_market

            peer = run_peer(root, server.url)
            spark_totals = spark_per_market(spark, table_name("gold", "fact_sku_market_performance", cfg))
            peer["differences"] = compare(peer.pop("per_market"), spark_totals)
    finally:
        server.stop()
        spark.stop()
    s = result.summary
    det = s["detection"] or []
    return {
        "measured_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "scale": args.scale,
        "seed": args.seed,
        "driver_memory": cfg.spark.get("driver_memory"),
        "jit": cfg.spark.get("jit", "full"),
        "projections": cfg.spark.get("projections", "compiled"),
        "class_cache": bool(class_cache_options(cfg)),  # ./dev setup's class cache was there for the JVM to map
        "raw_mb": round(mb, 1),
        "raw_rows": rows,
        "generate_s": round(gen.seconds, 1),
        "session_s": round(session_s, 1),
        "pipeline_s": round(total, 1),
        "mb_per_s": round(mb / total, 2),
        "rows_per_s": round(rows / total),
        "layers_s": _layers(s, total),
        "tables_s": s["timings"].get("tables_s", {}),
        "status": s["status"],
        "all_balanced": s["all_balanced"],
        "reconciles": s["reconciliation_matches"],
        "injected": sum(d["injected"] for d in det),
        "caught": sum(d["caught"] for d in det),
        "false_alarms": sum(d["false_alarms"] for d in det),
        "nothing_new_s": round(again_s, 1),
        "nothing_new_status": again.summary["status"],
        "nothing_new_rows_in": sum(r["rows_in"] for r in again.summary["accounting"]),
        "nothing_new_changed_tables": changed,
        "load_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "duckdb": peer
        and {
            "seconds": peer["seconds"],
            "extract_s": peer["extract_s"],
            "memory_limit": peer["memory_limit"],
            "spark_over_duckdb": round(total / peer["seconds"], 1) if peer["seconds"] else None,
            "same_totals": not peer["differences"],
            "differences": peer["differences"][:20],
            "version": version("duckdb"),
        },
    }


def _table(title: str, columns: list[str], rows: list[list], console) -> None:
    from rich.table import Table

    t = Table(title=title)
    for i, c in enumerate(columns):
        t.add_column(c, justify="left" if i == 0 else "right")
    for r in rows:
        t.add_row(*[str(x) for x in r])
    console.print(t)


def _peer_line(peer: dict | None) -> list[str]:
    if not peer:
        return ["DuckDB peer", "not run (--no-peer)"]
    same = "the same totals per market as gold" if peer["same_totals"] else f"DIFFERENT: {peer['differences'][:3]}"
    return [
        f"DuckDB {peer['version']} peer",
        f"{peer['seconds']:.1f} s (PostgreSQL extract {peer['extract_s']:.1f} s, memory limit "
        f"{peer.get('memory_limit', 'default')}): Spark / DuckDB "
        f"{peer['spark_over_duckdb']}x; {same}",
    ]


def print_report(m: dict, console, baseline: dict | None = None) -> None:
    """The headline, per-layer and per-table tables (with baseline / now ratios when a baseline is given)."""
    total, mb = m["pipeline_s"], m["raw_mb"]
    recall = f"{m['caught']:,}/{m['injected']:,}" if m["injected"] else "no manifest"
    head = [
        ["raw input", f"{mb:,.1f} MB, {m['raw_rows']:,} rows (generated in {m['generate_s']:.1f} s)"],
        ["Spark session start", f"{m['session_s']:.1f} s"],
        ["pipeline wall time", f"{total:.1f} s"],
        ["throughput", f"{m['mb_per_s']:.2f} MB/s of raw input, {m['rows_per_s']:,} rows/s"],
        ["projection to SF 20", f"{total * 20 / m['scale'] / 60:,.0f} min (linear in the raw input)"],
        ["status", f"{m['status']}; all balanced: {m['all_balanced']}; gold reconciles: {m['reconciles']}"],
        ["detection", f"caught {recall}; false alarms {m['false_alarms']:,}"],
        [
            "run with nothing new",
            f"{m['nothing_new_s']:.1f} s, {m['nothing_new_rows_in']} rows in, "
            f"rows changed in silver/gold: {m['nothing_new_changed_tables'] or 'none'}",
        ],
        _peer_line(m.get("duckdb")),
        ["load average (1 min)", f"{m['load_1min'][0]:.1f} before, {m['load_1min'][1]:.1f} after"],
    ]
    if baseline:
        ratio = baseline["pipeline_s"] / total
        head.append(["vs baseline", f"{baseline['pipeline_s']:.1f} s then ({baseline['measured_at']}): {ratio:.2f}x"])
    cpus = m["machine"]["cpus"]
    title = (
        f"pipeline benchmark, SF {m['scale']:g}, one day, {cpus} CPUs, local Spark ({m.get('driver_memory')} driver, "
        f"{m.get('jit', 'full')} JIT, {m.get('projections', 'compiled')} projections"
        f"{', class cache' if m.get('class_cache') else ''})"
    )
    _table(title, ["measure", "value"], head, console)
    cols = ["layer", "seconds", "share", "MB/s"] + (["baseline s", "baseline/now"] if baseline else [])
    rows = []
    for k, v in m["layers_s"].items():
        row = [k, f"{v:.1f}", f"{v / total:.0%}", f"{mb / v:.1f}" if v else ""]
        if baseline:
            b = baseline["layers_s"].get(k)
            row += [f"{b:.1f}" if b is not None else "", f"{b / v:.2f}" if b and v else ""]
        rows.append(row)
    _table("where the time goes, per layer", cols, rows, console)
    tables = sorted(m["tables_s"].items(), key=lambda kv: -kv[1])
    cols = ["table (overlapping within a layer)", "seconds"] + (["baseline s", "baseline/now"] if baseline else [])
    rows = []
    for k, v in tables:
        row = [k, f"{v:.1f}"]
        if baseline:
            b = baseline.get("tables_s", {}).get(k)
            row += [f"{b:.1f}" if b is not None else "", f"{b / v:.2f}" if b and v else ""]
        rows.append(row)
    _table("per table, slowest first", cols, rows, console)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    from rich.console import Console

    console = Console(width=120)
    baseline = json.loads(Path(args.compare).read_text()) if args.compare else None
    temporary = args.root is None
    root = Path(args.root or tempfile.mkdtemp(prefix="globalbev-bench-")).resolve()
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)  # the embedded PostgreSQL runs as another user when this runs as root
    m = measure(args, root, lambda s: console.print(s, style="dim"))
    if args.json:  # first: a long run's measurements outlive a report that fails
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(m, indent=1) + "\n")
    print_report(m, console, baseline)
    if args.json:
        console.print(f"measurements written to {args.json}")
    if temporary and not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    else:
        console.print(f"data kept under {root}")
    ok = m["status"] == "succeeded" and m["nothing_new_status"] == "succeeded" and not m["nothing_new_changed_tables"]
    ok = ok and (m["duckdb"] is None or m["duckdb"]["same_totals"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
