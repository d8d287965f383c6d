"""`landing/nutrition`: one nested JSON document per product (three levels deep, arrays), new or revised ones daily."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from .. import spec
from ..defects import DayManifest, hash_uniform
from ..sinks import json_pretty
from ..spec import GenerationConfig, as_of
from ..streams import Field, Stream
from ..workers import UnitOutput, WorkContext, split_evenly
from .products import Products

if TYPE_CHECKING:
    from ..generate import Generation

INGREDIENTS = {
    "soft_drink": ("carbonated water", "sugar", "citric acid", "natural flavouring", "caffeine"),
    "water": ("mineral water", "carbon dioxide", "lime extract"),
    "juice": ("fruit juice", "fruit puree", "ascorbic acid", "water"),
    "energy_drink": ("carbonated water", "sucrose", "taurine", "caffeine", "b vitamins"),
    "iced_tea": ("water", "sugar", "black tea extract", "lemon juice", "citric acid"),
    "cold_brew": ("water", "coffee extract", "oat drink", "vanilla"),
}
ORIGINS = ("DE", "BR", "IN", "FR", "US", "GB", "ES", "CO")
MICRONUTRIENTS = (("vitamin_c", "mg"), ("potassium", "mg"), ("magnesium", "mg"))


def _drift_fields(rng: np.random.Generator, doc: dict) -> None:
    """The fields documents carry from the JSON drift day: micronutrients and sustainability."""
    doc["per_serving"]["micronutrients"] = [
        {
            "name": nm,
            "amount": round(float(rng.uniform(0.1, 40)), 1),
            "unit": unit,
            "pct_daily_value": int(rng.integers(1, 60)),
        }
        for nm, unit in MICRONUTRIENTS[: int(rng.integers(1, 4))]
    ]
    doc["sustainability"] = {
        "recyclable_pack": bool(rng.random() < 0.8),
        "carbon_g_per_unit": int(rng.integers(40, 400)),
    }


def nutrition_doc(cfg: GenerationConfig, products: Products, p: int, version: int, day: int, over_100: bool) -> dict:
    """One product's nested nutrition document (three levels deep, arrays)."""
    rng = np.random.default_rng([cfg.seed, Stream.NUTRITION_DOC, p, version])
    row = {c: products.table[c][p].as_py() for c in ("sku", "brand", "product_name", "category", "size_ml")}
    cat, size = row["category"], row["size_ml"]
    kcal = round(float(rng.uniform(*spec.CATEGORIES[cat][3])) * size / 100)
    sugar = round(kcal * 0.95 / 4, 1)
    fat_total = round(float(rng.uniform(0, 3.5 if cat == "cold_brew" else 0.3)), 1)
    names = INGREDIENTS[cat]
    tenths = np.sort(rng.integers(1, 120, len(names) - 1))[::-1]
    parts = [1000 - int(tenths.sum())] + [int(t) for t in tenths]
    if over_100:
        parts[1] += int(rng.integers(10, 150))
    allergens = ["none"] if rng.random() < 0.7 else sorted(set(rng.choice(spec.ALLERGENS[1:], 2).tolist()))
    doc = {
        "sku": row["sku"],
        "doc_version": version,
        "published_on": as_of(day).isoformat(),
        "product": {"brand": row["brand"], "name": row["product_name"], "category": cat},
        "serving": {"size_ml": size, "servings_per_container": 1},
        "per_serving": {
            "energy": {"kcal": kcal, "kj": round(kcal * 4.184)},
            "macros": {
                "fat": {"total_g": fat_total, "saturated_g": round(fat_total * 0.6, 1), "trans_g": 0.0},
                "carbohydrates": {"total_g": round(sugar * 1.02, 1), "sugars_g": sugar},
                "protein_g": round(float(rng.uniform(0, 1.5)), 1),
            },
            "salt_g": round(float(rng.uniform(0, 0.2)), 2),
        },
        "allergens": allergens,
        "ingredients": [
            {"name": nm, "percent": t / 10, "origin": ORIGINS[int(rng.integers(0, len(ORIGINS)))]}
            for nm, t in zip(names, parts, strict=True)
        ],
    }
    if day >= cfg.json_drift_day:
        _drift_fields(rng, doc)
    return doc


def nutrition_plan(
    cfg: GenerationConfig, doc_version: np.ndarray, products: Products, day: int, man: DayManifest
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The products that get a new document on `day`, their new versions (counted up in `doc_version`) and their
    over-100 flags (recorded)."""
    rng = np.random.default_rng([cfg.seed, Stream.NUTRITION_PLAN, day])
    if day == 0:
        which = np.arange(products.n)
    else:
        share = 0.10 if day == cfg.json_drift_day else 0.03
        which = np.sort(rng.choice(products.n, max(1, int(round(products.n * share))), replace=False))
    doc_version[which] += 1
    versions = doc_version[which].copy()
    rate = cfg.rate("landing/nutrition.ingredient_percent_over_100")
    overs = hash_uniform(cfg.seed, which, Field.NUTRITION_OVER_100, versions) < rate
    if overs.any():
        man.record(
            "landing/nutrition.ingredient_percent_over_100", products.sku.take(pa.array(which[overs])).to_pylist()
        )
    return which, versions, overs


def nutrition_files(
    cfg: GenerationConfig,
    products: Products,
    day: int,
    which: np.ndarray,
    versions: np.ndarray,
    overs: np.ndarray,
    root: Path,
) -> tuple[int, int, int]:
    """Write one nested JSON document per product in `which`; returns (rows, files, bytes)."""
    nbytes = 0
    folder = root / "landing" / "nutrition" / f"day={day:03d}"
    folder.mkdir(parents=True, exist_ok=True)
    for p, version, over in zip(which.tolist(), versions.tolist(), overs.tolist(), strict=True):
        doc = nutrition_doc(cfg, products, p, version, day, over)
        data = (json_pretty(doc, indent=2) + "\n").encode()
        (folder / f"{doc['sku']}.json").write_bytes(data)
        nbytes += len(data)
    return len(which), len(which), nbytes


def nutrition_unit(
    ctx: WorkContext, day: int, which: np.ndarray, versions: np.ndarray, overs: np.ndarray
) -> UnitOutput:
    """Work unit: a share of the day's nutrition documents."""
    counts = nutrition_files(ctx.cfg, ctx.products, day, which, versions, overs, ctx.root)
    return UnitOutput().land("landing/nutrition", counts)


def schedule_nutrition(gen: Generation, man: DayManifest, day: int) -> None:
    """The day's nutrition documents, in up to two pieces per worker."""
    which, versions, overs = nutrition_plan(gen.cfg, gen.doc_version, gen.products, day, man)
    for sel in split_evenly(len(which), gen.workers):
        gen.run(nutrition_unit, man, day, which[sel], versions[sel], overs[sel])
