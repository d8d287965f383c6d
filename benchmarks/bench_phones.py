"""Phone standardisation benchmark (issue #18): rows/s of the native expression (`standardize_phone`) against the
row-at-a-time Python UDF with the same rules (`phone_udf`, notebook 05) on every phone the generator writes.

    .venv/bin/python benchmarks/bench_phones.py [--copies 40] [--repeat 3] [--json out.json]

Every valid phone of every market in every notation, and the invalid ones, copied `--copies` times; each variant
writes to Spark's `noop` sink (all the work, no output) `--repeat` times and the best time counts. The load average
is printed beside the numbers: on a busy machine they are not comparable with a quiet one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    from data_generators.pools import build_pools
    from globalbev.cleaning import standardize_phone
    from globalbev.config import load_config
    from globalbev.naive_vs_optimised import phone_udf
    from globalbev.runtime import cached, get_spark, uncache

    spark = get_spark(load_config())
    rows = build_pools(7).every_phone()
    base = spark.createDataFrame(rows, "market_code string, phone string")
    many = cached(base.crossJoin(spark.range(args.copies).withColumnRenamed("id", "copy")).repartition(2))
    n = many.count()

    def best(column) -> float:
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            many.select(column.alias("e164")).write.format("noop").mode("overwrite").save()
            times.append(time.perf_counter() - start)
        return min(times)

    load_before = os.getloadavg()
    native = best(standardize_phone("phone", "market_code"))
    udf = best(phone_udf("phone", "market_code"))
    out = {
        "rows": n,
        "distinct_phones": len(rows),
        "native_s": round(native, 3),
        "udf_s": round(udf, 3),
        "native_rows_per_s": round(n / native),
        "udf_rows_per_s": round(n / udf),
        "native_speedup": round(udf / native, 2),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }
    uncache(many)
    print(
        f"{n:,} phones ({len(rows):,} distinct): native {out['native_rows_per_s']:,} rows/s ({native:.2f} s), "
        f"Python UDF {out['udf_rows_per_s']:,} rows/s ({udf:.2f} s) -> native {out['native_speedup']}x; "
        f"load {out['load_before']} -> {out['load_after']}"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    return out


if __name__ == "__main__":
    main()
