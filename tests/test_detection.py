"""The detection score: on a tiny manifest, and on silver built from a generated dataset (every injected defect caught,
with no false alarm)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pyspark.sql import functions as F
from pyspark.sql.types import StructField, StructType

from globalbev.detection import ManifestNotFound, score_detection
from globalbev.frames import union_all
from globalbev.ingestion import INVENTORY_EVENTS_SCHEMA
from globalbev.landing import PARTNER_DIALECTS
from globalbev.postgres import parse_pg_url, read_postgres
from globalbev.quality import (
    build_silver_batches,
    build_silver_customers,
    build_silver_markets,
    build_silver_products,
    build_silver_warehouses,
)
from globalbev.quality_landing import build_silver_inventory_events, build_silver_partner_orders
from globalbev.quality_sales import build_silver_order_lines, build_silver_orders, build_silver_payments

SHOP_TABLES = ["markets", "warehouses", "products", "batches", "customers", "orders", "order_lines", "payments"]
OWNED = "landing/nutrition"  # every manifest dataset but this one (the flattening module scores nutrition)


def read_partner_orders(spark, folder: Path):
    """One day's partner CSV files in their three dialects: all columns strings, names lower-cased, + _source_file."""
    frames = []
    for partner, dialect in PARTNER_DIALECTS.items():
        if (folder / f"partner={partner}").exists():
            df = spark.read.option("header", True).option("sep", dialect["sep"]).csv(str(folder / f"partner={partner}"))
            df = df.toDF(*[c.lower() for c in df.columns])
            frames.append(df.withColumn("_source_file", F.col("_metadata.file_path")))
    return union_all(frames)


def read_day(spark, pg, root: Path, day: int, as_of) -> dict:
    """Day `day`'s rows of every source as bronze-like DataFrames, materialised before the next day is generated."""
    where = None if day == 0 else f"updated_at > '{as_of(day - 1).isoformat()} 23:00:00+00'"
    batch = {t: read_postgres(spark, pg, f"shop.{t}", where=where) for t in SHOP_TABLES}
    batch["partner_orders"] = read_partner_orders(spark, root / "landing" / "partner_orders" / f"day={day:03d}")
    events = root / "landing" / "inventory_events" / f"day={day:03d}"
    known = INVENTORY_EVENTS_SCHEMA.fieldNames()
    new = [f for f in spark.read.json(str(events)).schema.fields if f.name not in known]
    batch["inventory_events"] = (
        spark.read.schema(StructType(INVENTORY_EVENTS_SCHEMA.fields + new))
        .json(str(events))
        .withColumn("_source_file", F.col("_metadata.file_path"))
    )
    return {k: v.localCheckpoint() for k, v in batch.items()}


@pytest.mark.unit
def test_score_detection_on_a_tiny_manifest(spark, tmp_path):
    def day(n, defects):
        (tmp_path / f"day={n:03d}.json").write_text(
            json.dumps(
                {
                    "day": n,
                    "defects": {
                        f"{ds}.{d}": {"dataset": ds, "defect": d, "keys": keys} for (ds, d), keys in defects.items()
                    },
                }
            )
        )

    day(
        0,
        {
            ("shop.orders", "orphan_customer"): [1, 2],
            ("shop.order_lines", "quantity_nonpositive"): ["5|1"],
            ("landing/x", "null_burst"): [],
        },
    )
    day(
        1,
        {
            ("shop.orders", "orphan_customer"): [2, 3],
            ("shop.order_lines", "quantity_nonpositive"): [],
            ("landing/x", "null_burst"): [],
        },
    )
    findings = spark.createDataFrame(
        [
            ("shop.orders", "1", "orphan_customer"),
            ("shop.orders", "2", "orphan_customer"),
            ("shop.orders", "2", "orphan_customer"),
            ("shop.orders", "7", "orphan_customer"),
            ("shop.order_lines", "5|1", "quantity_nonpositive"),
            ("shop.order_lines", "6|1", "parent_quarantined"),
        ],
        "dataset string, record_key string, defect string",
    )
    got = {
        r.defect_id: (r.injected, r.caught, r.missed, r.false_alarms)
        for r in score_detection(findings, tmp_path).collect()
    }
    assert got == {
        "shop.orders.orphan_customer": (3, 2, 1, 1),
        "shop.order_lines.quantity_nonpositive": (1, 1, 0, 0),
        "landing/x.null_burst": (0, 0, 0, 0),
    }
    with pytest.raises(FileNotFoundError) as e:
        score_detection(findings, tmp_path / "nowhere")
    assert isinstance(e.value, ManifestNotFound) and "nowhere" in str(e.value)


def _silver_day(batch: dict, known: dict, run_id: str, first_load: str) -> dict:
    """Every shop and landing silver table of one generated day, built from that day's rows."""
    run = {"run_id": run_id}
    results = {
        "markets": build_silver_markets(batch["markets"], **run),
        "warehouses": build_silver_warehouses(batch["warehouses"], markets=known["markets"], **run),
        "products": build_silver_products(batch["products"], **run),
        "batches": build_silver_batches(batch["batches"], products=known["products"], **run),
        "customers": build_silver_customers(batch["customers"], **run),
        "orders": build_silver_orders(batch["orders"], customers=known["customers"], initial_load_at=first_load, **run),
    }
    rejected = (
        results["orders"].quarantined.select(F.col("record_key").cast("long").alias("order_id")).localCheckpoint()
    )
    results["order_lines"] = build_silver_order_lines(
        batch["order_lines"],
        orders=known["orders"],
        products=known["products"],
        batches=known["batches"],
        markets=known["markets"],
        quarantined_orders=rejected,
        **run,
    )
    results["payments"] = build_silver_payments(
        batch["payments"], orders=known["orders"], quarantined_orders=rejected, **run
    )
    results["partner_orders"] = build_silver_partner_orders(
        batch["partner_orders"], products=known["products"], markets=known["markets"], **run
    )
    results["inventory_events"] = build_silver_inventory_events(
        batch["inventory_events"], products=known["products"], warehouses=known["warehouses"], **run
    )
    return results


@pytest.fixture(scope="module")
def detection(spark, pg_url, tmp_path_factory):
    """Three days at scale 0.005 (seed 7), each read after it was generated, built into silver day by day."""
    from data_generators import GenerationConfig, generate
    from data_generators.spec import as_of

    root = tmp_path_factory.mktemp("detection") / "data"
    pg = parse_pg_url(pg_url)
    first_load = f"{as_of(0).isoformat()} 23:00:00+00"
    known, findings, accounting = {}, [], []
    for day in range(3):
        generate(GenerationConfig(root=str(root), pg_url=pg_url, scale=0.005, days=day + 1, seed=7))
        batch = read_day(spark, pg, root, day, as_of)
        for t in ("markets", "warehouses", "products", "batches", "customers", "orders"):
            known[t] = batch[t] if t not in known else known[t].unionByName(batch[t], allowMissingColumns=True)
        results = _silver_day(batch, known, f"test-day-{day}", first_load)
        for name, r in results.items():
            r.hold()
            accounting.append((day, name, batch[name].count(), r.clean.count(), r.quarantined.count()))
            findings += r.findings.collect()
            r.release()
        schema = results["customers"].findings.schema
    all_findings = spark.createDataFrame(findings, StructType([StructField(f.name, f.dataType) for f in schema]))
    assert {r._run_id for r in findings} == {"test-day-0", "test-day-1", "test-day-2"}
    score = score_detection(all_findings, root / "manifest").collect()
    print(
        "\n"
        + "\n".join(
            f"{s.defect_id:<46} injected {s.injected:>4}  caught {s.caught:>4}  missed {s.missed}  "
            f"false alarms {s.false_alarms}"
            for s in score
        )
    )
    return {"accounting": accounting, "findings": all_findings, "score": score}


@pytest.mark.integration
def test_every_row_accounted_for(detection):
    for day, entity, rows_in, clean, quarantined in detection["accounting"]:
        assert rows_in == clean + quarantined, (day, entity)
    assert sum(a[2] for a in detection["accounting"]) > 50_000


@pytest.mark.integration
def test_every_injected_defect_caught_without_false_alarms(detection):
    owned = [s for s in detection["score"] if s.dataset != OWNED]
    assert len(owned) == 24
    report = {s.defect_id: (s.injected, s.caught, s.missed, s.false_alarms) for s in owned}
    assert all(s.injected > 0 for s in owned), report  # the dataset really carries every defect type
    assert all(s.recall == 1.0 and s.missed == 0 for s in owned), report
    assert all(s.false_alarms == 0 for s in owned), report


@pytest.mark.integration
def test_consequences_are_not_defects(detection):
    """Lines and payments of rejected orders are quarantined as parent_quarantined, never as a manifest defect."""
    f = detection["findings"]
    parents = f.where("defect = 'parent_quarantined'")
    assert parents.count() > 0
    assert {r.dataset for r in parents.select("dataset").distinct().collect()} == {"shop.order_lines", "shop.payments"}
