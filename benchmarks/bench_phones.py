"""Phone standardisation benchmark (issue #18): rows/s of the native expression (`standardize_phone`) against the
row-at-a-time Python UDF with the same rules (`phone_udf`, notebook 05) and against a pandas UDF that calls phonenumbers
itself (lesson 03a's "why not just call phonenumbers?"), on every phone the generator writes.

    .venv/bin/python benchmarks/bench_phones.py [--copies 40] [--repeat 3] [--json out.json]

Every valid phone of every market in every notation, and the invalid ones, copied `--copies` times. Each variant
writes to Spark's `noop` sink (all the work, no output) once per round, in turns. A first round warms the JVM up (its
compiler would otherwise favour whichever runs last) and is not counted; then `--repeat` rounds, and the best time
counts. The load average is printed beside the numbers: on a busy machine they are not comparable with a quiet one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def phonenumbers_e164(phone: str | None, market: str | None) -> str | None:
    """E.164 by phonenumbers' own parser, or None when it cannot parse the text or the number is invalid."""
    import phonenumbers

    try:
        n = phonenumbers.parse(phone, market)
    except (phonenumbers.NumberParseException, TypeError):
        return None
    return (
        phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164) if phonenumbers.is_valid_number(n) else None
    )


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    from pyspark.sql.functions import pandas_udf

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

    def timed(column) -> float:
        start = time.perf_counter()
        many.select(column.alias("e164")).write.format("noop").mode("overwrite").save()
        return time.perf_counter() - start

    @pandas_udf("string")
    def phonenumbers_udf(phone: pd.Series, market: pd.Series) -> pd.Series:
        return pd.Series([phonenumbers_e164(p, m) for p, m in zip(phone, market, strict=True)])

    load_before = os.getloadavg()
    variants = {
        "native": standardize_phone("phone", "market_code"),
        "udf": phone_udf("phone", "market_code"),
        "oracle": phonenumbers_udf("phone", "market_code"),
    }
    seconds = {name: [] for name in variants}
    for _ in range(args.repeat + 1):  # rounds, each variant once per round; the first warms the JVM up and is not kept
        for name, column in variants.items():
            seconds[name].append(timed(column))
    native, udf, oracle = (min(seconds[name][1:]) for name in variants)
    out = {
        "rows": n,
        "distinct_phones": len(rows),
        "native_s": round(native, 3),
        "udf_s": round(udf, 3),
        "native_rows_per_s": round(n / native),
        "udf_rows_per_s": round(n / udf),
        "native_speedup": round(udf / native, 2),
        "phonenumbers_udf_s": round(oracle, 3),
        "phonenumbers_udf_rows_per_s": round(n / oracle),
        "native_speedup_over_phonenumbers": round(oracle / native, 2),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }
    uncache(many)
    print(
        f"{n:,} phones ({len(rows):,} distinct): native {out['native_rows_per_s']:,} rows/s ({native:.2f} s), "
        f"Python UDF {out['udf_rows_per_s']:,} rows/s ({udf:.2f} s) -> native {out['native_speedup']}x; "
        f"phonenumbers pandas UDF {out['phonenumbers_udf_rows_per_s']:,} rows/s ({oracle:.2f} s) -> native "
        f"{out['native_speedup_over_phonenumbers']}x; "
        f"load {out['load_before']} -> {out['load_after']}"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    return out


if __name__ == "__main__":
    main()
