"""Week 3 benchmark: the figures of notebooks 05_naive_vs_optimised, 05c_skew_spill, 05a_file_layout and 06_cost, at a
scale you choose, with ratios.

    .venv/bin/python benchmarks/bench_week3.py                        # a scale-0.1 day; 2,000,000 events in 1,000 files
    .venv/bin/python benchmarks/bench_week3.py --rows 200000 --files 100 --naive-scale 0.02 --json out.json

0. Naive against optimised (05): the generator's day at `--naive-scale` as bronze tables, then the naive and the
   optimised silver + gold on it, in one run (`compare`): wall time, the ratio, MB/s of raw input, files and commits.
0b. Skew and spill (05c): the join with a hot SKU with AQE's skew join off, on, and salted, and the window that spills
    under a tight buffer, its fix and Spark's default, at `--skew-rows` order lines (`measure_skew`, `measure_spill`).
1. File layout (05a): inventory events written as `--files` small files, then the same selective query (one SKU in one
   market) on the small files, after OPTIMIZE, after OPTIMIZE ZORDER BY (sku, market_code), and on a liquid-clustered
   copy (CLUSTER BY, then OPTIMIZE): the table's files, the files the query reads after Delta's data skipping, the share
   skipped, its best time of three, and the speed-up over the small files. OPTIMIZE's target file size is capped
   (`--max-file-kb`) so that a table of this size is split the way a large one would be.
2. Cost (06): for each `--sizes` GB a night, the naive all-purpose set-up and the recommended job cluster, priced from
   conf/prices.toml and the throughput of `--throughput` (a bench_pipeline.py JSON), and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

QUERY = "sku = 'SKU-042' AND market_code = 'DE'"
THROUGHPUT = "benchmarks/results/sf1-2026-12-03-driver8g.json"


def _args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=2_000_000, help="inventory events to write")
    ap.add_argument("--files", type=int, default=1_000, help="small files to write them as")
    ap.add_argument("--max-file-kb", type=int, default=512, help="OPTIMIZE's target file size for this table, in KB")
    ap.add_argument("--sizes", default="20:60,500:120", help="GB a night:deadline minutes, comma-separated")
    ap.add_argument("--throughput", default=THROUGHPUT, help="a bench_pipeline.py JSON: the measured throughput")
    ap.add_argument("--json", default=None, help="write the measurements to this JSON file")
    ap.add_argument("--naive-scale", type=float, default=0.1, help="the generated day's scale for naive vs optimised")
    ap.add_argument("--skip-naive", action="store_true", help="leave out naive vs optimised")
    ap.add_argument("--skew-rows", type=int, default=1_500_000, help="order lines for the skew and spill section")
    ap.add_argument("--skip-skew", action="store_true", help="leave out skew and spill")
    ap.add_argument("--skip-layout", action="store_true", help="leave out the file layout section")
    return ap.parse_args(argv)


def measure_naive(spark, mine, scale: float, root: Path, say=print) -> dict:
    """A generated day at `scale` as bronze tables, then the naive and the optimised pipeline on it (`compare`)."""
    from data_generators import GenerationConfig, generate
    from globalbev.naive_vs_optimised import bronze_day, compare, raw_bytes

    day_root = str(root / "day")
    generate(GenerationConfig(root=day_root, pg_url=None, scale=scale, days=1, seed=7))
    t0 = time.perf_counter()
    day = bronze_day(spark, day_root, mine)
    say(f"the scale-{scale:g} day's bronze tables in {time.perf_counter() - t0:.1f} s")
    return {"scale": scale, **compare(spark, day, mine, raw_bytes(day_root), warm_up=True)}


def measure_layout(spark, mine, rows: int, files: int, max_file_kb: int, say=print) -> dict:
    """Write the events as `files` files and measure the selective query after each layout step."""
    from globalbev.config import table_name
    from globalbev.file_layout import inventory_events, skipping

    events, liquid = (table_name("silver", t, mine) for t in ("inventory_events", "inventory_events_liquid"))
    t0 = time.perf_counter()
    inventory_events(spark, rows).repartition(files).write.format("delta").mode("overwrite").saveAsTable(events)
    say(f"wrote {rows:,} events as {files:,} files in {time.perf_counter() - t0:.1f} s")
    spark.conf.set("spark.databricks.delta.optimize.maxFileSize", str(max_file_kb * 1024))
    steps = {f"{files} small files": skipping(spark, events, QUERY)}
    spark.sql(f"OPTIMIZE {events}").collect()
    steps["OPTIMIZE"] = skipping(spark, events, QUERY)
    spark.sql(f"OPTIMIZE {events} ZORDER BY (sku, market_code)").collect()
    steps["ZORDER BY (sku, market_code)"] = skipping(spark, events, QUERY)
    columns = ", ".join(f"{f.name} {f.dataType.simpleString()}" for f in spark.table(events).schema)
    spark.sql(f"CREATE TABLE {liquid} ({columns}) USING delta CLUSTER BY (sku, market_code)")
    spark.sql(f"INSERT INTO {liquid} SELECT * FROM {events} VERSION AS OF 0").collect()
    spark.sql(f"OPTIMIZE {liquid}").collect()
    steps["CLUSTER BY (sku, market_code)"] = skipping(spark, liquid, QUERY)
    spark.conf.unset("spark.databricks.delta.optimize.maxFileSize")
    base = next(iter(steps.values()))["seconds"]
    for m in steps.values():
        m["speedup"] = round(base / m["seconds"], 2) if m["seconds"] else None
    return steps


def measure_cost(sizes: str, throughput_json: str) -> dict:
    """The naive and the recommended set-up's cost per night for each size, and their ratio."""
    from globalbev.cost import NAIVE, estimate_run, load_prices, measured_throughput, recommend

    prices, throughput = load_prices(), measured_throughput(throughput_json)
    out = {"prices_as_of": prices["as_of"], "throughput": throughput.source, "nights": []}
    for item in sizes.split(","):
        gb, deadline = (float(x) for x in item.split(":"))
        setup, est = recommend(gb, deadline, throughput, prices)
        naive = estimate_run(gb, replace(NAIVE, workers=max(NAIVE.workers, setup.workers)), throughput, prices)
        out["nights"].append({"gb": gb, "deadline_minutes": deadline, "recommended": est, "naive": naive,
                              "ratio": round(est["total_usd"] / naive["total_usd"], 3)})  # fmt: skip
    return out


def print_report(m: dict, console) -> None:
    from rich.table import Table

    from globalbev.naive_vs_optimised import comparison_rows

    if m.get("naive"):
        r = m["naive"]
        t = Table(title=f"Naive against optimised: the scale-{r['scale']:g} day, {r['raw_mb']} MB of raw input")
        for c in ("", "naive", "optimised"):
            t.add_column(c, justify="left" if not c else "right")
        for row in comparison_rows(r):
            t.add_row(*row)
        console.print(t)
        console.print(f"the optimised version is {r['ratio']}x faster")
    if m.get("skew"):
        k, p = m["skew"], m["spill"]
        t = Table(title=f"Skew: {k['rows']:,} order lines, {k['hot_share']:.0%} one SKU; spill: a tight window buffer")
        for c in ("variant", "seconds", "max/median task", "max/median shuffle read", "slowest task ms", "spilled MB"):
            t.add_column(c, justify="left" if c == "variant" else "right")
        for name, label in (("off", "skew join off"), ("aqe", "AQE skew join"), ("salted", f"salted, {k['buckets']}")):
            t.add_row(label, f"{k[name + '_s']:.2f}", f"{k[name + '_task_ratio']}", f"{k[name + '_read_ratio']}",
                      f"{k[name + '_task_ms_max']:,}", "")  # fmt: skip
        for name, label in (("tight", "window, tight buffer"), ("fixed", "aggregation broadcast back"),
                            ("roomy", "window, default buffer")):  # fmt: skip
            mb = (p[name + "_memory_bytes_spilled"] or 0) / 1e6
            t.add_row(
                label,
                f"{p[name + '_s']:.2f}",
                "",
                "",
                "",
                f"{mb:,.1f} (disk {p[name + '_disk_bytes_spilled'] / 1e6:,.2f})",
            )
        console.print(t)
        console.print(f"skew: the same result each way: {k['same_result']}; spill fix {p['speedup']}x")
    if m.get("layout"):
        t = Table(title=f"File layout: {m['rows']:,} events, the query {QUERY}")
        for c in ("layout", "files", "read", "skipped", "seconds", "faster"):
            t.add_column(c, justify="left" if c == "layout" else "right")
        for name, s in m["layout"].items():
            t.add_row(name, f"{s['files']:,}", f"{s['files_read']:,}", f"{s['skipped']:.1%}", f"{s['seconds']:.3f}",
                      f"{s['speedup']:.1f}x")  # fmt: skip
        console.print(t)
    t = Table(title=f"Cost per night (prices as of {m['cost']['prices_as_of']}; {m['cost']['throughput']})")
    for c in ("GB", "deadline", "recommended", "min", "USD", "naive USD", "ratio"):
        t.add_column(c, justify="left" if c == "recommended" else "right")
    for n in m["cost"]["nights"]:
        r = n["recommended"]
        t.add_row(f"{n['gb']:g}", f"{n['deadline_minutes']:g} min", r["setup"].split(": ", 1)[1],
                  f"{r['minutes_working']}", f"{r['total_usd']:.2f}", f"{n['naive']['total_usd']:.2f}",
                  f"{n['ratio']:.0%}")  # fmt: skip
    console.print(t)


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    from rich.console import Console

    console = Console(width=120)
    m = {"measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cpus": os.cpu_count(), "rows": args.rows,
         "files": args.files, "max_file_kb": args.max_file_kb, "load_1min": [os.getloadavg()[0]]}  # fmt: skip
    if not (args.skip_layout and args.skip_naive and args.skip_skew):
        from globalbev.classroom import start_lesson
        from globalbev.config import load_config
        from globalbev.runtime import get_spark

        root = Path(tempfile.mkdtemp(prefix="globalbev-bench-week3-"))
        cfg = replace(load_config("local"), storage_root=str(root))
        spark = get_spark(cfg, app_name="globalbev-bench-week3")
        say = lambda s: console.print(s, style="dim")  # noqa: E731
        try:
            mine = start_lesson(spark, "bench_week3", cfg)
            if not args.skip_naive:
                m["naive"] = measure_naive(spark, mine, args.naive_scale, root, say)
            if not args.skip_skew:
                from globalbev.skew_spill import measure_skew, measure_spill

                m["skew"], m["spill"] = measure_skew(spark, args.skew_rows), measure_spill(spark, args.skew_rows)
            if not args.skip_layout:
                m["layout"] = measure_layout(spark, mine, args.rows, args.files, args.max_file_kb, say)
        finally:
            spark.stop()
            shutil.rmtree(root, ignore_errors=True)
    m["cost"] = measure_cost(args.sizes, args.throughput)
    m["load_1min"].append(os.getloadavg()[0])
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(m, indent=1) + "\n")
    print_report(m, console)
    return 0


if __name__ == "__main__":
    sys.exit(main())
