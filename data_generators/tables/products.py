"""`shop.products` and `shop.batches`: the catalogue, its prices per market and its production runs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import spec
from ..columns import cents, constant_ts
from ..dates import day_number, load_ts
from ..spec import GenerationConfig
from ..streams import Stream
from .markets import FX

FLAVOURS = {
    "soft_drink": ("Cola", "Lemon", "Orange", "Ginger"),
    "water": ("Still", "Sparkling", "Lime"),
    "juice": ("Apple", "Orange", "Mango", "Multivitamin"),
    "energy_drink": ("Original", "Zero", "Berry"),
    "iced_tea": ("Peach", "Lemon", "Green"),
    "cold_brew": ("Black", "Vanilla", "Oat"),
}
PLANTS = ("Atlanta", "Leeds", "Hamburg", "Lyon", "Campinas", "Pune")


@dataclass
class Products:
    """The catalogue as the other entities use it: skus, prices and the batch calendar, by product index."""

    sku: pa.Array
    list_cents: np.ndarray
    price_cents: np.ndarray  # [product, market] unit price in local cents
    batch_offset: np.ndarray
    shelf_life: np.ndarray
    table: pa.Table

    @property
    def n(self) -> int:
        return len(self.list_cents)

    def batch_mfg(self, p: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Manufacture day number of product p's j-th production run."""
        return day_number(spec.BATCH_FIRST) + self.batch_offset[p] + spec.BATCH_INTERVAL_DAYS * j

    def batch_index(self, p: np.ndarray, day: np.ndarray) -> np.ndarray:
        """The latest production run of product p made on or before `day`."""
        return (day - day_number(spec.BATCH_FIRST) - self.batch_offset[p]) // spec.BATCH_INTERVAL_DAYS

    def draw(self, rng: np.random.Generator, n: int, hot_share: float) -> np.ndarray:
        """n product indexes: the hot SKU (index 0) with probability `hot_share`, else uniform over the others."""
        hot = rng.random(n) < hot_share
        return np.where(hot, 0, 1 + (rng.random(n) * (self.n - 1)).astype(np.int64))

    def skus(self, prod: np.ndarray, orphan: np.ndarray, rng: np.random.Generator) -> pa.Array:
        """The skus of products `prod`, with an unknown `SKU-9nnnnn` (drawn from `rng`) where `orphan`."""
        sku = self.sku.take(pa.array(prod))
        if orphan.any():
            unknown = pa.array([f"SKU-9{x:05d}" for x in rng.integers(0, 100_000, int(orphan.sum()))])
            sku = pc.replace_with_mask(sku, pa.array(orphan), unknown)
        return sku


def build_products(cfg: GenerationConfig) -> Products:
    """The catalogue: `cfg.rows("products")` products, each a brand, a flavour, a size and a pack."""
    rng = np.random.default_rng([cfg.seed, Stream.PRODUCTS])
    n = cfg.rows("products")
    cats = list(spec.CATEGORIES)
    cat = rng.integers(0, len(cats), n)
    skus, brands, names, cat_names, sizes, packs, list_cents, launched = [], [], [], [], [], [], [], []
    for p in range(n):
        c = cats[cat[p]]
        sizes_ml, pack_sizes, (lo, hi), _ = spec.CATEGORIES[c]
        size, pack = int(rng.choice(sizes_ml)), int(rng.choice(pack_sizes))
        brand = spec.BRANDS[int(rng.integers(0, len(spec.BRANDS)))]
        flavour = FLAVOURS[c][int(rng.integers(0, len(FLAVOURS[c])))]
        skus.append(f"SKU-{p + 1:06d}")
        brands.append(brand)
        names.append(f"{brand} {flavour} {size} ml" + (f" x{pack}" if pack > 1 else ""))
        cat_names.append(c)
        sizes.append(size)
        packs.append(pack)
        list_cents.append(int(round(rng.uniform(lo, hi) * pack * 100)))
        launched.append(day_number(spec.HISTORY_START) - int(rng.integers(100, 1500)))
    list_cents = np.array(list_cents, np.int64)
    table = pa.table(
        {
            "sku": pa.array(skus),
            "brand": pa.array(brands),
            "product_name": pa.array(names),
            "category": pa.array(cat_names),
            "size_ml": pa.array(sizes, pa.int32()),
            "pack_size": pa.array(packs, pa.int32()),
            "list_price_usd": cents(list_cents, 10),
            "launched_on": pa.array(np.array(launched, np.int32), pa.date32()),
            "updated_at": constant_ts(load_ts(0), n),
        }
    )
    return Products(
        pa.array(skus),
        list_cents,
        np.rint(list_cents[:, None] / FX[None, :]).astype(np.int64),
        rng.integers(0, spec.BATCH_INTERVAL_DAYS, n),
        rng.integers(spec.SHELF_LIFE_DAYS[0], spec.SHELF_LIFE_DAYS[1] + 1, n),
        table,
    )


def batches_table(products: Products, first_day: int | None, last_day: int, day: int) -> pa.Table:
    """Production runs made in (first_day, last_day] (day numbers), i.e. the batches known by `day`."""
    jmax = int(products.batch_index(np.arange(products.n), np.full(products.n, last_day)).max()) + 1
    p, j = np.meshgrid(np.arange(products.n), np.arange(jmax), indexing="ij")
    p, j = p.ravel(), j.ravel()
    mfg = products.batch_mfg(p, j)
    keep = (mfg <= last_day) & ((mfg > first_day) if first_day is not None else True)
    p, j, mfg = p[keep], j[keep], mfg[keep]
    return pa.table(
        {
            "batch_id": pa.array((p + 1) * 10_000 + j, pa.int64()),
            "sku": products.sku.take(pa.array(p)),
            "plant": pa.array(np.array(PLANTS, object)[(p + j) % len(PLANTS)].astype(str)),
            "manufacture_date": pa.array(mfg.astype(np.int32), pa.date32()),
            "expiry_date": pa.array((mfg + products.shelf_life[p]).astype(np.int32), pa.date32()),
            "updated_at": constant_ts(load_ts(day), len(p)),
        }
    )
