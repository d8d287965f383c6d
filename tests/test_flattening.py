"""globalbev.flattening: the generic flatten and the nutrition silver builders, on tiny frames and a generated batch."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from globalbev.bronze import add_ingestion_metadata
from globalbev.expectations import FINDING_COLUMNS, QUARANTINE_COLUMNS
from globalbev.flattening import (
    build_silver_nutrition,
    build_silver_nutrition_ingredients,
    flatten,
    ingredient_percent_total,
)
from globalbev.frames import union_all

NESTED = "id string, doc struct<x:int, items:array<struct<k:string, tags:array<string>, inner:struct<z:double>>>>"
DOC = (
    "sku string, doc_version long, published_on string, product struct<brand:string>, "
    "per_serving struct<energy:struct<kcal:long>>, ingredients array<struct<name:string, percent:double>>"
)


@pytest.fixture
def nested(spark):
    """Structs in arrays in structs, with an empty array and a null document."""
    return spark.createDataFrame(
        [
            (
                "a",
                {
                    "x": 1,
                    "items": [
                        {"k": "p", "tags": ["t1", "t2"], "inner": {"z": 1.5}},
                        {"k": "q", "tags": [], "inner": None},
                    ],
                },
            ),
            ("b", {"x": 2, "items": []}),
            ("c", None),
        ],
        NESTED,
    )


def _docs(spark, rows):
    return add_ingestion_metadata(spark.createDataFrame(rows, DOC), "file:landing/nutrition", "b1", "r1")


@pytest.mark.unit
def test_flatten_structs_in_arrays_in_structs(spark, nested):
    flat = flatten(nested)
    assert flat.columns == [
        "id",
        "doc__x",
        "doc__items__pos",
        "doc__items__k",
        "doc__items__tags__pos",
        "doc__items__tags",
        "doc__items__inner__z",
    ]
    expected = spark.createDataFrame(
        [
            ("a", 1, 0, "p", 0, "t1", 1.5),
            ("a", 1, 0, "p", 1, "t2", 1.5),
            ("a", 1, 1, "q", None, None, None),
            ("b", 2, None, None, None, None, None),
            ("c", None, None, None, None, None, None),
        ],
        flat.schema,
    )
    assertDataFrameEqual(flat, expected)


@pytest.mark.unit
def test_row_count_is_the_exploded_count(spark, nested):
    one = lambda c: F.greatest(F.coalesce(F.size(c), F.lit(0)), F.lit(1))
    items = nested.select("id", F.explode_outer("doc.items").alias("item"))
    predicted = items.select(F.sum(one("item.tags"))).first()[0]
    assert flatten(nested).count() == predicted == 5


@pytest.mark.unit
def test_new_field_adds_a_column_and_leaves_the_others_alone(spark, nested):
    grown = spark.createDataFrame(
        [("a", {"x": 1, "w": "new", "items": [{"k": "p", "tags": ["t1"], "inner": {"z": 1.5, "y": 7}}]})],
        "id string, doc struct<x:int, w:string, items:array<struct<k:string, tags:array<string>, "
        "inner:struct<z:double, y:int>>>>",
    )
    old, new = dict(flatten(nested).dtypes), dict(flatten(grown).dtypes)
    assert {c: t for c, t in new.items() if c in old} == old
    assert sorted(set(new) - set(old)) == ["doc__items__inner__y", "doc__w"]
    assert flatten(grown).select("doc__items__k", "doc__items__inner__z").first() == ("p", 1.5)


@pytest.mark.unit
def test_names_are_deterministic(spark, nested):
    assert flatten(nested).columns == flatten(nested.limit(0)).columns == flatten(nested.orderBy("id")).columns
    assert flatten(nested, sep=".").columns[:3] == ["id", "doc.x", "doc.items.pos"]
    assert flatten(nested, explode_arrays=False).columns == ["id", "doc__x", "doc__items"]


@pytest.mark.unit
def test_a_name_collision_is_an_error(spark):
    with pytest.raises(ValueError, match="doc__x"):
        flatten(spark.createDataFrame([(1, (2,))], "doc__x int, doc struct<x:int>"))


@pytest.mark.unit
def test_ingredient_percent_total_is_exact(spark):
    clean = [69.9, 10.8, 8.4, 8.2, 2.7]  # a real clean document: as doubles this sums to 100.00000000000001
    assert sum(clean) > 100
    df = spark.createDataFrame(
        [([(str(i), p) for i, p in enumerate(clean)],), ([("a", 90.0), ("b", 23.3)],), (None,)],
        "ingredients array<struct<name:string, percent:double>>",
    )
    got = [r[0] for r in df.select(ingredient_percent_total(F.col("ingredients")).cast("string")).collect()]
    assert got == ["100.000", "113.300", None]


@pytest.mark.unit
def test_silver_nutrition_latest_valid_version_and_quarantine(spark):
    docs = _docs(
        spark,
        [
            ("SKU-A", 1, "2025-06-30", ("FizzUp",), ((139,),), [("water", 89.4), ("sugar", 10.6)]),
            ("SKU-A", 2, "2025-07-02", ("FizzUp",), ((120,),), [("water", 90.8), ("sugar", 9.2)]),
            ("SKU-C", 1, "2025-06-30", ("Solbrew",), ((60,),), [("tea", 100.0)]),
            ("SKU-C", 2, "2025-07-02", ("Solbrew",), ((61,),), [("tea", 95.0), ("lemon", 10.0)]),  # bad: older v1 stays
            ("SKU-B", 1, "2025-06-30", ("Solbrew",), ((80,),), [("tea", 90.0), ("lemon", 23.3)]),
        ],
    )
    r = build_silver_nutrition(docs)
    assert r.quarantined.columns == QUARANTINE_COLUMNS and r.findings.columns == FINDING_COLUMNS
    got = r.clean.select(
        "sku", "doc_version", "published_on", "product__brand", "per_serving__energy__kcal", "ingredient_count"
    )
    assertDataFrameEqual(
        got,
        spark.createDataFrame(
            [("SKU-A", 2, dt.date(2025, 7, 2), "FizzUp", 120, 2), ("SKU-C", 1, dt.date(2025, 6, 30), "Solbrew", 60, 1)],
            got.schema,
        ),
    )
    assert sorted((q.dataset, q.record_key, q.rule) for q in r.quarantined.collect()) == [
        ("landing/nutrition", "SKU-A", "superseded"),
        ("landing/nutrition", "SKU-B", "ingredient_percent_over_100"),
        ("landing/nutrition", "SKU-C", "ingredient_percent_over_100"),
    ]
    over = r.findings.where("defect = 'ingredient_percent_over_100'").orderBy("record_key").collect()
    assert [(f.record_key, f.action, f.reason) for f in over] == [
        ("SKU-B", "quarantined", "ingredients[].percent add up to 113.300; expected at most 100"),
        ("SKU-C", "quarantined", "ingredients[].percent add up to 105.000; expected at most 100"),
    ]
    assert docs.count() == r.clean.count() + r.quarantined.count()


@pytest.mark.unit
def test_builders_take_no_unknown_arguments(spark):
    """Nutrition looks nothing up: a reference passed to it is a wiring mistake, not something to ignore."""
    docs = spark.createDataFrame([("SKU-A", 1)], "sku string, doc_version long")
    with pytest.raises(TypeError, match="products"):
        build_silver_nutrition(docs, products=docs)
    with pytest.raises(TypeError, match="products"):
        build_silver_nutrition_ingredients(docs, run_id="r1", products=docs)


@pytest.mark.unit
def test_silver_nutrition_ingredients_accounts_for_every_line(spark):
    docs = _docs(
        spark,
        [
            ("SKU-A", 1, "2025-06-30", ("FizzUp",), ((139,),), [("water", 89.4), ("sugar", 10.6)]),
            ("SKU-A", 2, "2025-07-02", ("FizzUp",), ((120,),), [("water", 90.8), ("sugar", 9.2)]),
            ("SKU-B", 1, "2025-06-30", ("Solbrew",), ((80,),), [("tea", 90.0), ("lemon", 23.3)]),
            ("SKU-D", 1, "2025-06-30", ("Solbrew",), ((0,),), []),
        ],
    )
    r = build_silver_nutrition_ingredients(docs)
    got = r.clean.select("sku", "ingredient_no", "doc_version", "ingredient_name", "ingredient_percent")
    assertDataFrameEqual(
        got, spark.createDataFrame([("SKU-A", 1, 2, "water", 90.8), ("SKU-A", 2, 2, "sugar", 9.2)], got.schema)
    )
    assert sorted((q.record_key, q.rule) for q in r.quarantined.collect()) == [
        ("SKU-A|1", "parent_quarantined"),
        ("SKU-A|2", "parent_quarantined"),
        ("SKU-B|1", "parent_quarantined"),
        ("SKU-B|2", "parent_quarantined"),
        ("SKU-D", "ingredients_missing"),
    ]
    assert flatten(docs.select("sku", "ingredients")).count() == r.clean.count() + r.quarantined.count()


@pytest.mark.integration
def test_generated_nutrition_drift_and_detection(spark, data_root):
    from data_generators import GenerationConfig, as_of, generate
    from globalbev.detection import score_detection

    res = generate(
        GenerationConfig(
            root=str(data_root),
            pg_url=None,
            write_operational_files=False,
            scale=0.002,
            days=3,
            seed=7,
            defect_rates={"landing/nutrition.ingredient_percent_over_100": 0.1},
        )
    )

    def day(d):
        raw = spark.read.option("multiLine", True).json(str(data_root / "landing" / "nutrition" / f"day={d:03d}"))
        return add_ingestion_metadata(raw, "file:landing/nutrition", f"nutrition@{as_of(d)}", "test")

    docs = [day(d) for d in range(3)]
    fields = lambda df: df.select(*[c for c in df.columns if not c.startswith("_")])
    old, new = dict(flatten(fields(docs[0])).dtypes), dict(flatten(fields(docs[2])).dtypes)
    assert {c: t for c, t in new.items() if c in old} == old
    assert {"sustainability__carbon_g_per_unit", "per_serving__micronutrients__amount"} <= set(new) - set(old)

    batch = union_all(docs, allow_missing_columns=True)
    r = build_silver_nutrition(batch)
    assert batch.count() == r.clean.count() + r.quarantined.count()
    assert r.clean.count() == r.clean.select("sku").distinct().count()
    s = (
        score_detection(r.findings, res.manifest_dir)
        .where("defect_id = 'landing/nutrition.ingredient_percent_over_100'")
        .first()
    )
    assert s.injected > 0 and (s.caught, s.missed, s.false_alarms) == (s.injected, 0, 0)
    ri = build_silver_nutrition_ingredients(batch)
    assert flatten(batch.select("sku", "ingredients")).count() == ri.clean.count() + ri.quarantined.count()
