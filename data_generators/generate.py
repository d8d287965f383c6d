"""Generate GlobalBev's data day by day: NumPy samples from the pools, Arrow tables out, defects recorded.

Customers are counter-based (every attribute is a hash of seed, customer_id, field and version), so any
customer's current row can be rebuilt for an update or a delete without keeping rows in memory. Orders,
partner orders and inventory events are drawn chunk by chunk from a generator seeded by
(seed, dataset, day, chunk), so memory stays bounded and the output is the same on every run.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import spec
from .defects import DayManifest, bursts, compact_keys, hash_uniform
from .pools import Pools, build_pools
from .sinks import FileSink, PostgresSink, csv_bytes, json_pretty, lines_bytes, write_file
from .spec import MARKETS, GenerationConfig, as_of

EPOCH = dt.date(1970, 1, 1)
DAY_SECONDS = 86_400
M = len(MARKETS)
FX = np.array([m.fx_to_usd for m in MARKETS])
ORPHAN_CUSTOMER_BASE = 10**12
ORPHAN_BATCH_BASE = 9 * 10**9
EVENT_ID_DAY = 10**9

# customer hash fields
(
    F_MARKET,
    F_FIRST,
    F_LAST,
    F_DOMAIN,
    F_PHONE,
    F_PHONE_GROUP,
    F_PHONE_FMT,
    F_PHONE_INV,
    F_EMAIL_GROUP,
    F_EMAIL_VAR,
    F_STREET,
    F_NUM,
    F_STREET_GROUP,
    F_STREET_VAR,
    F_CITY,
    F_POSTAL,
    F_POSTAL_MISSING,
    F_CONSENT,
    F_TIER,
    F_DUP,
    F_SIGNUP,
) = range(21)
# dup_kind values
NONE, EXACT_DUP, NEAR_DUP, EXACT_ORIG, NEAR_ORIG = range(5)


def day_number(d: dt.date) -> int:
    return (d - EPOCH).days


def _ts(day: int, hour: int = spec.LOAD_HOUR_UTC) -> int:
    """Microseconds since epoch of `as_of(day)` at `hour`:00 UTC."""
    return (day_number(as_of(day)) * DAY_SECONDS + hour * 3600) * 1_000_000


def _ts_col(value_us: int, n: int) -> pa.Array:
    return pa.array(np.full(n, value_us, np.int64), pa.timestamp("us", tz="UTC"))


def _cents(cents: np.ndarray, precision: int = 14) -> pa.Array:
    """Integer cents as an exact decimal(precision, 2) Arrow array."""
    cents = np.ascontiguousarray(cents, np.int64)
    buf = np.empty((len(cents), 2), np.int64)
    buf[:, 0] = cents
    buf[:, 1] = np.where(cents < 0, -1, 0)
    return pa.Array.from_buffers(pa.decimal128(precision, 2), len(cents), [None, pa.py_buffer(buf)])


def _round_div(num: np.ndarray, den: int) -> np.ndarray:
    """num / den rounded half away from zero, in integers."""
    return np.sign(num) * ((np.abs(num) + den // 2) // den)


def _join(*parts) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _str(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(values), pa.string())


def _market_weights(cfg: GenerationConfig) -> np.ndarray:
    w = np.array([m.weight for m in MARKETS], float)
    hot = spec.MARKET_CODES.index(cfg.hot_market)
    others = np.delete(w, hot)
    w[np.arange(M) != hot] = others / others.sum() * (1 - cfg.hot_market_share)
    w[hot] = cfg.hot_market_share
    return np.cumsum(w)


def seasonal_weight(days: np.ndarray) -> np.ndarray:
    """Orders per calendar day (day numbers): 3x growth over the history, a July peak and a December bump."""
    start = day_number(spec.HISTORY_START)
    frac = (days - start) / 730.0
    doy = np.array([(EPOCH + dt.timedelta(days=int(d))).timetuple().tm_yday for d in days])
    season = 1 + 0.35 * np.cos(2 * np.pi * (doy - 196) / 365.0) + 0.25 * np.exp(-(((doy - 352) / 8.0) ** 2))
    return np.exp(np.log(3.0) * frac) * season


def _stratified_days(first: int, last: int, i0: int, n_chunk: int, n_total: int, rng) -> np.ndarray:
    """Day numbers for rows i0..i0+n_chunk of n_total, following the seasonal curve, non-decreasing in i."""
    days = np.arange(first, last + 1)
    cdf = np.cumsum(seasonal_weight(days))
    cdf /= cdf[-1]
    u = (np.arange(i0, i0 + n_chunk) + rng.random(n_chunk)) / n_total
    return days[np.minimum(np.searchsorted(cdf, u, side="right"), len(days) - 1)]


# ----------------------------------------------------------------------------------------------------
# State carried from day to day
# ----------------------------------------------------------------------------------------------------
@dataclass
class State:
    market: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    signup: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    addr_ver: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))
    phone_ver: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))
    dup_kind: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    deleted: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    next_order_id: int = 1
    next_partner_order: int = 1
    on_hand: np.ndarray | None = None
    reserved: np.ndarray | None = None
    doc_version: np.ndarray | None = None

    @property
    def n_customers(self) -> int:
        return len(self.market)

    def slice(self, lo: int, hi: int) -> State:
        """Copies of the per-customer arrays for customers lo..hi-1 only (what a worker needs for one chunk)."""
        return State(
            self.market[lo:hi].copy(),
            self.signup[lo:hi].copy(),
            self.addr_ver[lo:hi].copy(),
            self.phone_ver[lo:hi].copy(),
            self.dup_kind[lo:hi].copy(),
            self.deleted[lo:hi].copy(),
        )


@dataclass
class Products:
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
        return day_number(spec.BATCH_FIRST) + self.batch_offset[p] + spec.BATCH_INTERVAL_DAYS * j

    def batch_index(self, p: np.ndarray, day: np.ndarray) -> np.ndarray:
        """The latest production run of product p made on or before `day`."""
        return (day - day_number(spec.BATCH_FIRST) - self.batch_offset[p]) // spec.BATCH_INTERVAL_DAYS


# ----------------------------------------------------------------------------------------------------
# Reference data
# ----------------------------------------------------------------------------------------------------
FLAVOURS = {
    "soft_drink": ("Cola", "Lemon", "Orange", "Ginger"),
    "water": ("Still", "Sparkling", "Lime"),
    "juice": ("Apple", "Orange", "Mango", "Multivitamin"),
    "energy_drink": ("Original", "Zero", "Berry"),
    "iced_tea": ("Peach", "Lemon", "Green"),
    "cold_brew": ("Black", "Vanilla", "Oat"),
}
PLANTS = ("Atlanta", "Leeds", "Hamburg", "Lyon", "Campinas", "Pune")


def build_products(cfg: GenerationConfig) -> Products:
    rng = np.random.default_rng([cfg.seed, 11])
    n = cfg.rows("products")
    cats = list(spec.CATEGORIES)
    cat = rng.integers(0, len(cats), n)
    skus, brands, names, cat_names, sizes, packs, cents, launched = [], [], [], [], [], [], [], []
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
        cents.append(int(round(rng.uniform(lo, hi) * pack * 100)))
        launched.append(day_number(spec.HISTORY_START) - int(rng.integers(100, 1500)))
    list_cents = np.array(cents, np.int64)
    price = np.rint(list_cents[:, None] / FX[None, :]).astype(np.int64)
    table = pa.table(
        {
            "sku": pa.array(skus),
            "brand": pa.array(brands),
            "product_name": pa.array(names),
            "category": pa.array(cat_names),
            "size_ml": pa.array(sizes, pa.int32()),
            "pack_size": pa.array(packs, pa.int32()),
            "list_price_usd": _cents(list_cents, 10),
            "launched_on": pa.array(np.array(launched, np.int32), pa.date32()),
            "updated_at": _ts_col(_ts(0), n),
        }
    )
    return Products(
        pa.array(skus),
        list_cents,
        price,
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
            "updated_at": _ts_col(_ts(day), len(p)),
        }
    )


def markets_table() -> pa.Table:
    return pa.table(
        {
            "market_code": [m.code for m in MARKETS],
            "market_name": [m.name for m in MARKETS],
            "currency": [m.currency for m in MARKETS],
            "fx_to_usd": pa.array([m.fx_to_usd for m in MARKETS]).cast(pa.decimal128(12, 6)),
            "calling_code": pa.array([m.calling_code for m in MARKETS], pa.int32()),
            "timezone": [m.timezone for m in MARKETS],
            "updated_at": _ts_col(_ts(0), M),
        }
    )


def warehouses_table(pools: Pools) -> pa.Table:
    ids, mk, city, cap = [], [], [], []
    for i, m in enumerate(MARKETS):
        for w in range(spec.WAREHOUSES_PER_MARKET):
            ids.append(f"WH-{m.code}-{w + 1}")
            mk.append(m.code)
            city.append(pools.cities.values[int(pools.cities.offset[i]) + w].as_py())
            cap.append(50_000 * (2 + (i + w) % 3))
    return pa.table(
        {
            "warehouse_id": ids,
            "market_code": mk,
            "city": city,
            "capacity_units": pa.array(cap, pa.int32()),
            "updated_at": _ts_col(_ts(0), len(ids)),
        }
    )


WAREHOUSE_IDS = [f"WH-{m.code}-{w + 1}" for m in MARKETS for w in range(spec.WAREHOUSES_PER_MARKET)]
MARKET_CODE_ARR = pa.array(spec.MARKET_CODES)
CURRENCY_ARR = pa.array([m.currency for m in MARKETS])


# ----------------------------------------------------------------------------------------------------
# Customers (counter-based)
# ----------------------------------------------------------------------------------------------------
def _customer_draws(cfg: GenerationConfig, ids: np.ndarray, addr_ver: np.ndarray, phone_ver: np.ndarray) -> dict:
    s = cfg.seed
    u = lambda f, v=0: hash_uniform(s, ids, f, v)  # noqa: E731
    r = lambda name: cfg.rate(f"shop.customers.{name}")  # noqa: E731
    up = u(F_PHONE_GROUP, phone_ver)
    phone_group = np.where(up < r("phone_invalid"), 2, np.where(up < r("phone_invalid") + r("phone_format"), 1, 0))
    ue = u(F_EMAIL_GROUP)
    email_group = np.where(ue < r("email_invalid"), 2, np.where(ue < r("email_invalid") + r("email_noise"), 1, 0))
    us = u(F_STREET_GROUP, addr_ver)
    a, c, w = r("address_abbreviation"), r("address_casing"), r("address_whitespace")
    street_group = np.select([us < a, us < a + c, us < a + c + w], [1, 2, 3], 0)
    return {
        "phone_group": phone_group,
        "phone_fmt": 1 + (u(F_PHONE_FMT, phone_ver) * 5).astype(np.int64),
        "phone_inv": u(F_PHONE_INV, phone_ver),
        "email_group": email_group,
        "email_var": (u(F_EMAIL_VAR) * 4).astype(np.int64),
        "street_group": street_group,
        "street_var": u(F_STREET_VAR, addr_ver),
        "postal_missing": u(F_POSTAL_MISSING, addr_ver) < r("postal_code_missing"),
        "consent": u(F_CONSENT) < 0.6,
        "tier": np.searchsorted(np.cumsum(spec.LOYALTY_WEIGHTS), u(F_TIER), side="right"),
    }


def customer_rows(
    cfg: GenerationConfig,
    pools: Pools,
    st: State,
    ids: np.ndarray,
    day: int,
    deleted: np.ndarray | None = None,
    base: int = 0,
) -> tuple[pa.Table, dict[str, np.ndarray]]:
    """The current rows of customers `ids` and, per defect, a mask of the rows carrying it.

    `st` may hold only customers base.. (see `State.slice`): its arrays are indexed with id - base."""
    s = cfg.seed
    kind = st.dup_kind[ids - base]
    person = np.where((kind == EXACT_DUP) | (kind == NEAR_DUP), ids - 1, ids)
    drawer = np.where(kind == EXACT_DUP, ids - 1, ids)
    m = st.market[ids - base].astype(np.int64)
    pa_ver, pp_ver = st.addr_ver[person - base], st.phone_ver[person - base]
    d = _customer_draws(cfg, drawer, st.addr_ver[drawer - base], st.phone_ver[drawer - base])
    # near duplicates and their originals keep a valid email (so lower(trim(email)) pairs them)
    near = (kind == NEAR_DUP) | (kind == NEAR_ORIG)
    d["email_group"] = np.where(near & (d["email_group"] == 2), 0, d["email_group"])
    # a near duplicate writes the phone in a format its original does not use
    is_near = kind == NEAR_DUP
    if is_near.any():
        orig = _customer_draws(
            cfg, ids[is_near] - 1, st.addr_ver[ids[is_near] - 1 - base], st.phone_ver[ids[is_near] - 1 - base]
        )
        shift = 1 + (hash_uniform(s, ids[is_near], F_PHONE_FMT, 7) * 4).astype(np.int64)
        fmt = np.where(orig["phone_group"] == 1, (orig["phone_fmt"] - 1 + shift) % 5 + 1, d["phone_fmt"][is_near])
        d["phone_group"][is_near] = 1
        d["phone_fmt"][is_near] = fmt
    up = lambda f, v=0: hash_uniform(s, person, f, v)  # noqa: E731

    first_i = pools.first_names.pick(m, up(F_FIRST))
    last_i = pools.last_names.pick(m, up(F_LAST))
    first, last = pools.first_names.values.take(pa.array(first_i)), pools.last_names.values.take(pa.array(last_i))
    clean_email = _join(
        pools.first_slugs.take(pa.array(first_i)),
        ".",
        pools.last_slugs.take(pa.array(last_i)),
        _str(person),
        "@",
        pools.domains.take(m, up(F_DOMAIN)),
    )
    eg, ev = d["email_group"], d["email_var"]
    email = pc.choose(
        pa.array(np.where(eg == 0, 0, np.where(eg == 1, 1 + ev, 5 + ev)).astype(np.int8)),
        clean_email,
        pc.utf8_upper(clean_email),
        pc.utf8_capitalize(clean_email),
        _join("  ", clean_email, " "),
        pc.utf8_title(clean_email),
        pc.replace_substring(clean_email, "@", ""),
        pc.replace_substring(clean_email, "@", "@@"),
        pc.replace_substring(clean_email, ".", ""),
        pc.replace_substring(clean_email, "@", " at "),
    )

    phones_all = pa.concat_arrays([f.values for f in pools.phones] + [pools.invalid_phones.values])
    n_valid = len(pools.phones[0].values)
    valid_i = pools.phones[0].pick(m, up(F_PHONE, pp_ver))
    fmt = np.where(d["phone_group"] == 1, d["phone_fmt"], 0)
    inv_i = len(pools.phones) * n_valid + pools.invalid_phones.pick(m, d["phone_inv"])
    phone = phones_all.take(pa.array(np.where(d["phone_group"] == 2, inv_i, fmt * n_valid + valid_i)))

    sg, sv = d["street_group"], d["street_var"]
    core_i = pools.street_full.pick(m, up(F_STREET, pa_ver))
    cores = pa.concat_arrays([pools.street_full.values, pools.street_abbr])
    core = cores.take(pa.array(np.where(sg == 1, core_i + len(pools.street_full.values), core_i)))
    num = _str(1 + (up(F_NUM, pa_ver) * 198).astype(np.int64))
    before = pa.array(np.isin(m, [0, 1, 3, 5]))
    sep = pa.array(np.array([" ", " ", " ", " ", ", ", ", "])[m])
    street = _join(pc.if_else(before, num, core), sep, pc.if_else(before, core, num))
    city = pools.cities.take(m, up(F_CITY, pa_ver))
    casing = sg == 2
    upper = pa.array(casing & (sv < 0.5))
    lower = pa.array(casing & (sv >= 0.5))
    street = pc.if_else(upper, pc.utf8_upper(street), pc.if_else(lower, pc.utf8_lower(street), street))
    city = pc.if_else(upper, pc.utf8_upper(city), pc.if_else(lower, pc.utf8_lower(city), city))
    ws = sg == 3
    street = pc.if_else(pa.array(ws & (sv < 0.34)), _join("  ", street), street)
    street = pc.if_else(pa.array(ws & (sv >= 0.34) & (sv < 0.67)), _join(street, " "), street)
    street = pc.if_else(
        pa.array(ws & (sv >= 0.67)), pc.replace_substring(street, " ", "  ", max_replacements=1), street
    )
    postal = pools.postcodes.take(m, up(F_POSTAL, pa_ver))
    missing = d["postal_missing"]
    postal = pc.if_else(pa.array(missing & (sv < 0.5)), pa.scalar(None, pa.string()), postal)
    postal = pc.if_else(pa.array(missing & (sv >= 0.5)), "", postal)

    signup = np.where(kind == EXACT_DUP, st.signup[ids - 1 - base], st.signup[ids - base])
    n = len(ids)
    cols = {
        "customer_id": pa.array(ids, pa.int64()),
        "market_code": MARKET_CODE_ARR.take(pa.array(m)),
        "first_name": first,
        "last_name": last,
        "email": email,
        "phone": phone,
        "street": street,
        "city": city,
        "postal_code": postal,
        "signup_date": pa.array(signup.astype(np.int32), pa.date32()),
        "marketing_consent": pa.array(d["consent"]),
        "updated_at": _ts_col(_ts(day), n),
        "deleted_at": pa.array(
            np.where(deleted, _ts(day), 0) if deleted is not None else np.zeros(n, np.int64),
            pa.timestamp("us", tz="UTC"),
            mask=~deleted if deleted is not None else np.ones(n, bool),
        ),
    }
    if day >= cfg.customer_drift_day:
        cols["loyalty_tier"] = pa.array(np.array(spec.LOYALTY_TIERS)[d["tier"]])
    masks = {
        "phone_format": d["phone_group"] == 1,
        "phone_invalid": d["phone_group"] == 2,
        "email_noise": eg == 1,
        "email_invalid": eg == 2,
        "address_abbreviation": sg == 1,
        "address_casing": casing,
        "address_whitespace": ws,
        "postal_code_missing": missing,
        "duplicate_exact": kind == EXACT_DUP,
        "duplicate_near": kind == NEAR_DUP,
    }
    return pa.table(cols), masks


def insert_customers(cfg: GenerationConfig, st: State, n_new: int, day: int) -> np.ndarray:
    """Extend the customer state with n_new customers (markets, signup dates, duplicate pairs); returns ids."""
    start = st.n_customers
    ids = np.arange(start, start + n_new, dtype=np.int64)
    market = np.searchsorted(_market_weights(cfg), hash_uniform(cfg.seed, ids, F_MARKET), side="right").astype(np.int8)
    if day == 0:
        first = day_number(spec.HISTORY_START) - 730
        rng = np.random.default_rng([cfg.seed, 21])
        signup = _stratified_days(first, day_number(as_of(0)), 0, n_new, n_new, rng)
        signup[0] = first
    else:
        signup = np.full(n_new, day_number(as_of(day)))
    ud = hash_uniform(cfg.seed, ids, F_DUP)
    re_, rn = cfg.rate("shop.customers.duplicate_exact"), cfg.rate("shop.customers.duplicate_near")
    odd = (ids % 2 == 1) & (ids - 1 >= start)
    kind = np.where(
        odd & (ud < 2 * re_), EXACT_DUP, np.where(odd & (ud >= 2 * re_) & (ud < 2 * (re_ + rn)), NEAR_DUP, NONE)
    ).astype(np.int8)
    for dup, orig in ((EXACT_DUP, EXACT_ORIG), (NEAR_DUP, NEAR_ORIG)):
        pos = np.flatnonzero(kind == dup)
        kind[pos - 1] = orig
        market[pos] = market[pos - 1]
    st.market = np.concatenate([st.market, market])
    st.signup = np.concatenate([st.signup, signup.astype(np.int32)])
    st.addr_ver = np.concatenate([st.addr_ver, np.zeros(n_new, np.int16)])
    st.phone_ver = np.concatenate([st.phone_ver, np.zeros(n_new, np.int16)])
    st.dup_kind = np.concatenate([st.dup_kind, kind])
    st.deleted = np.concatenate([st.deleted, np.zeros(n_new, bool)])
    return ids


# ----------------------------------------------------------------------------------------------------
# Orders, lines, payments
# ----------------------------------------------------------------------------------------------------
def order_chunk(
    cfg: GenerationConfig,
    st: State,
    products: Products,
    day: int,
    chunk: int,
    dates: np.ndarray,
    customers: np.ndarray,
    man: DayManifest,
) -> dict[str, pa.Table]:
    """Orders placed on `dates` (day numbers) by `customers`, with their lines and payments."""
    market = st.market[np.minimum(customers, st.n_customers - 1)]
    first_id = st.next_order_id
    st.next_order_id += len(dates)
    return order_tables(cfg, products, day, chunk, first_id, dates, customers, market, man)


def order_tables(
    cfg: GenerationConfig,
    products: Products,
    day: int,
    chunk: int,
    first_id: int,
    dates: np.ndarray,
    customers: np.ndarray,
    market: np.ndarray,
    man,
) -> dict[str, pa.Table]:
    """`order_chunk` without the state: order ids from `first_id`, `market` = each customer's market."""
    rng = np.random.default_rng([cfg.seed, 31, day, chunk])
    n = len(dates)
    r = lambda name: cfg.rate(name)  # noqa: E731
    order_id = np.arange(first_id, first_id + n, dtype=np.int64)
    today = day_number(as_of(day))
    m = np.asarray(market).astype(np.int64)
    # order date defects: future (any day) or late arriving (days >= 1), exclusive
    ud = rng.random(n)
    future = ud < r("shop.orders.future_order_date")
    late = (
        (ud >= r("shop.orders.future_order_date"))
        & (ud < r("shop.orders.future_order_date") + r("shop.orders.late_arriving"))
        & (day >= 1)
    )
    dates = np.where(future, today + 1 + (rng.random(n) * 365).astype(np.int64), dates)
    dates = np.where(late, today - 2 - (rng.random(n) * 8).astype(np.int64), dates)
    secs = rng.integers(0, DAY_SECONDS, n)
    order_ts = (dates.astype(np.int64) * DAY_SECONDS + secs) * 1_000_000
    orphan = rng.random(n) < r("shop.orders.orphan_customer")
    cust = np.where(orphan, ORPHAN_CUSTOMER_BASE + order_id, customers)
    null_channel = bursts(rng, n, r("shop.orders.null_burst"), 20, 200)
    channel = pa.array(np.array(spec.CHANNELS)[rng.choice(3, n, p=[0.5, 0.4, 0.1])], mask=null_channel)
    status_i = rng.choice(len(spec.ORDER_STATUSES), n, p=spec.ORDER_STATUS_WEIGHTS)

    # lines
    k = rng.choice(spec.LINES_PER_ORDER, n, p=spec.LINES_PER_ORDER_WEIGHTS)
    pos = np.repeat(np.arange(n), k)
    nl = len(pos)
    line_no = np.arange(nl) - np.repeat(np.cumsum(k) - k, k) + 1
    hot = rng.random(nl) < cfg.hot_sku_share
    prod = np.where(hot, 0, 1 + (rng.random(nl) * (products.n - 1)).astype(np.int64))
    lm = m[pos]
    ldate = dates[pos]
    batch_day = np.minimum(ldate, today)  # future-dated orders ship stock made by today
    jf = products.batch_index(prod, batch_day)
    j = np.maximum(jf - (rng.random(nl) < 0.4), 0)
    uref = rng.random(nl)
    r_orph, r_mas = r("shop.order_lines.orphan_product"), r("shop.order_lines.manufactured_after_sold")
    l_orphan = uref < r_orph
    eligible = (~future[pos]) & (products.batch_mfg(prod, jf + 1) <= today)
    mas = (uref >= r_orph) & (uref < r_orph + r_mas) & eligible
    j = np.where(mas, jf + 1, j)
    batch_id = np.where(l_orphan, ORPHAN_BATCH_BASE + order_id[pos] * 10 + line_no, (prod + 1) * 10_000 + j)
    sku = products.sku.take(pa.array(prod))
    if l_orphan.any():
        orphan_skus = pa.array([f"SKU-9{x:05d}" for x in rng.integers(0, 100_000, int(l_orphan.sum()))])
        sku = pc.replace_with_mask(sku, pa.array(l_orphan), orphan_skus)
    qneg = rng.random(nl) < r("shop.order_lines.quantity_nonpositive")
    qty = np.where(qneg, -rng.integers(0, 4, nl), rng.choice([1, 1, 1, 2, 2, 3, 4, 6, 12], nl))
    unit = products.price_cents[prod, lm]
    # a price is an outlier against the product's list price: a line of an unknown product has none, so it gets none
    outlier = (rng.random(nl) < r("shop.order_lines.price_outlier")) & ~l_orphan
    unit = np.where(outlier, np.where(rng.random(nl) < 0.5, unit * 100, _round_div(unit, 100)), unit)
    disc = np.array(spec.DISCOUNTS_PCT)[rng.integers(0, len(spec.DISCOUNTS_PCT), nl)]
    amount = _round_div(qty * unit * (100 - disc), 100)
    total = np.bincount(pos, weights=amount, minlength=n).astype(np.int64)

    upd = _ts_col(_ts(day), n)
    orders = pa.table(
        {
            "order_id": pa.array(order_id),
            "customer_id": pa.array(cust, pa.int64()),
            "market_code": MARKET_CODE_ARR.take(pa.array(m)),
            "order_ts": pa.array(order_ts, pa.timestamp("us", tz="UTC")),
            "channel": channel,
            "status": pa.array(np.array(spec.ORDER_STATUSES)[status_i]),
            "currency": CURRENCY_ARR.take(pa.array(m)),
            "order_total": _cents(total),
            "updated_at": upd,
        }
    )
    lines = pa.table(
        {
            "order_id": pa.array(order_id[pos]),
            "line_no": pa.array(line_no, pa.int32()),
            "sku": sku,
            "batch_id": pa.array(batch_id, pa.int64()),
            "quantity": pa.array(qty, pa.int32()),
            "unit_price": _cents(unit, 12),
            "discount_pct": _cents(disc * 100, 5),
            "line_amount": _cents(amount),
            "updated_at": _ts_col(_ts(day), nl),
        }
    )
    paid = np.isin(status_i, [1, 2, 3, 5])
    pm = m[paid]
    np_ = int(paid.sum())
    meth_i = np.where(rng.random(np_) < 0.55, 0, 1 + (rng.random(np_) * 2).astype(np.int64))
    methods = np.array([mk.payment_methods for mk in MARKETS])[pm, meth_i]
    card = meth_i == 0
    brand = np.array(spec.CARD_BRANDS)[
        np.where(rng.random(np_) < 0.8, rng.integers(0, 2, np_), np.where(pm == 4, 3, np.where(pm == 5, 4, 2)))
    ]
    last4 = pc.utf8_lpad(_str(rng.integers(0, 10_000, np_)), 4, "0")
    payments = pa.table(
        {
            "payment_id": pa.array(order_id[paid]),
            "order_id": pa.array(order_id[paid]),
            "method": pa.array(methods),
            "amount": _cents(total[paid]),
            "currency": CURRENCY_ARR.take(pa.array(pm)),
            "card_brand": pa.array(brand, mask=~card),
            "card_last4": pc.if_else(pa.array(card), last4, None),
            "paid_at": pa.array(order_ts[paid] + rng.integers(60, 3600, np_) * 1_000_000, pa.timestamp("us", tz="UTC")),
            "updated_at": _ts_col(_ts(day), np_),
        }
    )
    man.record("shop.orders.orphan_customer", order_id[orphan])
    man.record("shop.orders.future_order_date", order_id[future])
    man.record("shop.orders.late_arriving", order_id[late])
    man.record("shop.orders.null_burst", order_id[null_channel])
    key = lambda mask: [f"{o}|{ln}" for o, ln in zip(order_id[pos][mask], line_no[mask])]  # noqa: E731
    man.record("shop.order_lines.quantity_nonpositive", key(qneg))
    man.record("shop.order_lines.price_outlier", key(outlier))
    man.record("shop.order_lines.orphan_product", key(l_orphan))
    man.record("shop.order_lines.manufactured_after_sold", key(mas))
    return {"orders": orders, "order_lines": lines, "payments": payments}


# ----------------------------------------------------------------------------------------------------
# Partner orders (landing CSV)
# ----------------------------------------------------------------------------------------------------
def _iso_t(values: np.ndarray, unit: str) -> pa.Array:
    """pc.strftime(<UTC timestamps>, "%Y-%m-%dT%H:%M:%S") (sub-second digits included), via the fast naive cast."""
    return pc.replace_substring(
        pc.cast(pa.array(values, pa.timestamp(unit)), pa.string()), " ", "T", max_replacements=1
    )


def _format_seconds(secs: np.ndarray, fmt_i: np.ndarray, formats: list[str]) -> pa.Array:
    """Row i is UTC epoch second secs[i] written with formats[fmt_i[i]] (pc.strftime's text, computed cheaply):
    date-only formats are formatted once per distinct day and looked up; the time format through `_iso_t`."""
    days, inv = np.unique(secs // DAY_SECONDS, return_inverse=True)
    midnight = pa.array(days * DAY_SECONDS, pa.timestamp("s", tz="UTC"))
    timed = [i for i, fm in enumerate(formats) if any(x in fm for x in ("%H", "%M", "%S", "%T", "%I", "%p"))]
    table = [
        pc.strftime(midnight, format=fm) if i not in timed else pa.nulls(len(days), pa.string())
        for i, fm in enumerate(formats)
    ]
    out = pa.concat_arrays(table).take(pa.array(np.asarray(fmt_i, np.int64) * len(days) + inv.ravel()))
    for i in timed:
        mask = np.asarray(fmt_i) == i
        if mask.any():
            text = (
                _iso_t(secs[mask], "s")
                if formats[i] == "%Y-%m-%dT%H:%M:%S"
                else pc.strftime(pa.array(secs[mask], pa.timestamp("s", tz="UTC")), format=formats[i])
            )
            out = pc.replace_with_mask(out, pa.array(mask), text)
    return out


PARTNER_OF_MARKET = np.array([next(i for i, p in enumerate(spec.PARTNERS) if mk.code in p.markets) for mk in MARKETS])
PARTNER_PREFIX = pa.array([p.name[:2].upper() + "-" for p in spec.PARTNERS])
PARTNER_NAMES = pa.array([p.name for p in spec.PARTNERS])
PARTNER_COLUMNS = [
    "partner",
    "partner_order_id",
    "line_no",
    "order_date",
    "market",
    "sku",
    "quantity",
    "unit_price",
    "currency",
]


def partner_chunk(
    cfg: GenerationConfig,
    st: State,
    products: Products,
    day: int,
    chunk: int,
    dates: np.ndarray,
    man: DayManifest,
    root: Path,
) -> tuple[int, int, int]:
    """Write one chunk of partner orders (one file per partner); returns (rows, files, bytes)."""
    first = st.next_partner_order
    st.next_partner_order += len(dates)
    return partner_files(cfg, products, day, chunk, first, dates, man, root)


def partner_files(
    cfg: GenerationConfig, products: Products, day: int, chunk: int, first: int, dates: np.ndarray, man, root: Path
) -> tuple[int, int, int]:
    """`partner_chunk` without the state: partner order numbers from `first`."""
    rng = np.random.default_rng([cfg.seed, 41, day, chunk])
    n = len(dates)
    num = np.arange(first, first + n)
    m = np.searchsorted(_market_weights(cfg), rng.random(n), side="right")
    partner = PARTNER_OF_MARKET[m]
    k = rng.choice([1, 2, 3], n, p=[0.6, 0.3, 0.1])
    pos = np.repeat(np.arange(n), k)
    nl = len(pos)
    line_no = np.arange(nl) - np.repeat(np.cumsum(k) - k, k) + 1
    lp, lm = partner[pos], m[pos]
    secs = dates[pos].astype(np.int64) * DAY_SECONDS + rng.integers(0, DAY_SECONDS, n)[pos]
    mixed = rng.random(nl) < cfg.rate("landing/partner_orders.date_format_mixed")
    fmt_i = np.where(mixed, len(spec.PARTNERS) + rng.integers(0, len(spec.ALT_DATE_FORMATS), nl), lp)
    formats = [p.date_format for p in spec.PARTNERS] + list(spec.ALT_DATE_FORMATS)
    order_date = _format_seconds(secs, fmt_i, formats)
    hot = rng.random(nl) < cfg.hot_sku_share
    prod = np.where(hot, 0, 1 + (rng.random(nl) * (products.n - 1)).astype(np.int64))
    orphan = rng.random(nl) < cfg.rate("landing/partner_orders.orphan_product")
    sku = products.sku.take(pa.array(prod))
    if orphan.any():
        sku = pc.replace_with_mask(
            sku, pa.array(orphan), pa.array([f"SKU-9{x:05d}" for x in rng.integers(0, 100_000, int(orphan.sum()))])
        )
    qneg = rng.random(nl) < cfg.rate("landing/partner_orders.quantity_nonpositive")
    qty = np.where(qneg, -rng.integers(0, 4, nl), rng.choice([1, 1, 2, 3, 6], nl))
    price = _cents(products.price_cents[prod, lm], 12).cast(pa.string())
    comma = pa.array(np.array([p.decimal_comma for p in spec.PARTNERS])[lp])
    price = pc.if_else(comma, pc.replace_substring(price, ".", ","), price)
    poid = _join(PARTNER_PREFIX.take(pa.array(lp)), pc.utf8_lpad(_str(num[pos]), 9, "0"))
    table = pa.table(
        {
            "partner": PARTNER_NAMES.take(pa.array(lp)),
            "partner_order_id": poid,
            "line_no": pa.array(line_no, pa.int32()),
            "order_date": order_date,
            "market": MARKET_CODE_ARR.take(pa.array(lm)),
            "sku": sku,
            "quantity": pa.array(qty, pa.int32()),
            "unit_price": price,
            "currency": CURRENCY_ARR.take(pa.array(lm)),
        }
    )
    dup = rng.random(nl) < cfg.rate("landing/partner_orders.duplicate_exact")
    keys = pc.binary_join_element_wise(table["partner"], poid, _str(line_no), "|").to_numpy(zero_copy_only=False)
    man.record("landing/partner_orders.date_format_mixed", keys[mixed])
    man.record("landing/partner_orders.duplicate_exact", keys[dup])
    man.record("landing/partner_orders.orphan_product", keys[orphan])
    man.record("landing/partner_orders.quantity_nonpositive", keys[qneg])
    rows = files = nbytes = 0
    for i, p in enumerate(spec.PARTNERS):
        sel = np.flatnonzero(lp == i)
        if len(sel) == 0:
            continue
        order = np.concatenate([sel, sel[dup[sel]]])
        names = [
            c.upper() if p.header_case == "upper" else c.title() if p.header_case == "title" else c
            for c in PARTNER_COLUMNS
        ]
        data = csv_bytes(
            table.take(pa.array(order)), delimiter=p.delimiter, quoting=p.quoting, eol=p.eol, header_names=names
        )
        path = (
            root
            / "landing"
            / "partner_orders"
            / f"day={day:03d}"
            / f"partner={p.name}"
            / f"partner_orders-d{day:03d}-c{chunk:04d}.csv"
        )
        nbytes += write_file(path, data)
        rows += len(order)
        files += 1
    return rows, files, nbytes


# ----------------------------------------------------------------------------------------------------
# Inventory events (landing JSON lines; the API serves the same events)
# ----------------------------------------------------------------------------------------------------
def _grouped_reflected_walk(pair: np.ndarray, delta: np.ndarray, start: np.ndarray) -> np.ndarray:
    """on_hand after each event: x_t = max(0, x_{t-1} + delta_t) per pair, vectorised (Lindley's recursion)."""
    order = np.argsort(pair, kind="stable")
    p, d = pair[order], delta[order].astype(np.int64)
    first = np.r_[True, p[1:] != p[:-1]]
    gid = np.cumsum(first) - 1
    cs = np.cumsum(d)
    base = np.repeat(cs[first] - d[first], np.diff(np.r_[np.flatnonzero(first), len(p)]))
    s = start[p] + cs - base
    big = 2 * (int(np.abs(s).max(initial=0)) + int(start.max(initial=0)) + 1)
    run_min = np.minimum.accumulate(s - gid * big) + gid * big
    x = s - np.minimum(run_min, 0)
    out = np.empty_like(x)
    out[order] = x
    return out


def inventory_chunk(
    cfg: GenerationConfig,
    st: State,
    products: Products,
    day: int,
    chunk: int,
    i0: int,
    n: int,
    n_total: int,
    window: tuple[int, int],
    man: DayManifest,
    root: Path,
) -> tuple[int, int, int]:
    """Write one chunk of inventory events; returns (rows, files, bytes)."""
    walk = inventory_walk(cfg, products, day, chunk, i0, n, n_total, window, st.on_hand)
    carry_inventory(st, walk, man)
    return inventory_files(cfg, products, day, chunk, i0, n, walk, man, root)


@dataclass
class InventoryWalk:
    """An inventory chunk's draws and stock walk: the part that must run chunk after chunk (stock carries over)."""

    ts_ms: np.ndarray
    event_id: np.ndarray
    wh: np.ndarray
    prod: np.ndarray
    etype: np.ndarray
    delta: np.ndarray
    pair: np.ndarray
    on_hand: np.ndarray
    reserved: np.ndarray
    rng: np.random.Generator  # positioned after the walk's draws; `inventory_files` continues with it


def inventory_walk(
    cfg: GenerationConfig,
    products: Products,
    day: int,
    chunk: int,
    i0: int,
    n: int,
    n_total: int,
    window: tuple[int, int],
    on_hand_start: np.ndarray,
) -> InventoryWalk:
    """Draw one chunk of inventory events and walk the stock from `on_hand_start` (per warehouse x product)."""
    rng = np.random.default_rng([cfg.seed, 51, day, chunk])
    lo_ms, hi_ms = window
    ts_ms = lo_ms + ((np.arange(i0, i0 + n) + rng.random(n)) / n_total * (hi_ms - lo_ms)).astype(np.int64)
    event_id = day * EVENT_ID_DAY + np.arange(i0, i0 + n, dtype=np.int64)
    m = np.searchsorted(_market_weights(cfg), rng.random(n), side="right")
    wh = m * spec.WAREHOUSES_PER_MARKET + rng.integers(0, spec.WAREHOUSES_PER_MARKET, n)
    prod = np.where(rng.random(n) < cfg.hot_sku_share, 0, 1 + (rng.random(n) * (products.n - 1)).astype(np.int64))
    etype = rng.choice(len(spec.INVENTORY_EVENT_TYPES), n, p=spec.INVENTORY_EVENT_WEIGHTS)
    delta = np.select(
        [etype == 0, etype == 1, etype == 2],
        [
            -rng.integers(1, 13, n),
            rng.integers(20, 81, n),
            rng.integers(1, 6, n) * np.where(rng.random(n) < 0.5, -1, 1),
        ],
        0,
    )
    pair = wh * products.n + prod
    on_hand = _grouped_reflected_walk(pair, delta, on_hand_start)
    reserved = np.minimum(on_hand, rng.integers(0, 15, n))
    return InventoryWalk(ts_ms, event_id, wh, prod, etype, delta, pair, on_hand, reserved, rng)


def carry_inventory(st: State, walk: InventoryWalk, man: DayManifest) -> None:
    """Carry the chunk's closing stock into the state and note its stockouts and event ids in the manifest."""
    pair, on_hand, event_id = walk.pair, walk.on_hand, walk.event_id
    order = np.argsort(pair, kind="stable")
    ends = np.r_[pair[order][1:] != pair[order][:-1], True]
    st.on_hand[pair[order][ends]] = on_hand[order][ends]
    st.reserved[pair[order][ends]] = walk.reserved[order][ends]
    stock = man.facts.setdefault("stockouts", {"count": 0, "keys": []})
    stock["keys"].extend(event_id[on_hand == 0].tolist())
    stock["count"] = len(stock["keys"])
    ids = man.facts.setdefault("inventory_event_ids", {"count": 0, "min": None, "max": None})
    ids["count"] += len(event_id)
    ids["min"] = int(event_id[0]) if ids["min"] is None else ids["min"]
    ids["max"] = int(event_id[-1])


def inventory_files(
    cfg: GenerationConfig,
    products: Products,
    day: int,
    chunk: int,
    i0: int,
    n: int,
    walk: InventoryWalk,
    man,
    root: Path,
) -> tuple[int, int, int]:
    """Write one walked chunk of inventory events as JSON lines; returns (rows, files, bytes)."""
    rng, event_id, ts_ms, wh, prod, etype = walk.rng, walk.event_id, walk.ts_ms, walk.wh, walk.prod, walk.etype
    delta, pair, on_hand, reserved = walk.delta, walk.pair, walk.on_hand, walk.reserved
    reorder = 20 + (hash_uniform(cfg.seed, pair, 99) * 60).astype(np.int64)
    null_wh = bursts(rng, n, cfg.rate("landing/inventory_events.null_burst"), 10, 100)
    dup = rng.random(n) < cfg.rate("landing/inventory_events.duplicate_exact")

    wh_json = pc.if_else(pa.array(null_wh), "null", _join('"', pa.array(WAREHOUSE_IDS).take(pa.array(wh)), '"'))
    parts = [
        '{"event_id":',
        _str(event_id),
        ',"event_ts":"',
        _iso_t(ts_ms, "ms"),
        'Z","warehouse_id":',
        wh_json,
        ',"sku":"',
        products.sku.take(pa.array(prod)),
        '","event_type":"',
        pa.array(spec.INVENTORY_EVENT_TYPES).take(pa.array(etype)),
        '","quantity_delta":',
        _str(delta),
        ',"on_hand_after":',
        _str(on_hand),
        ',"reserved":',
        _str(reserved),
        ',"reorder_point":',
        _str(reorder),
    ]
    if day >= cfg.json_drift_day:
        temp = np.round(rng.normal(6.0, 2.5, n), 1)
        parts += [
            ',"temperature_c":',
            _str(temp),
            ',"source_system":"',
            pa.array(np.where(rng.random(n) < 0.7, "wms-v2", "wms-legacy")),
            '"',
        ]
    lines = _join(*parts, "}\n")
    man.record("landing/inventory_events.duplicate_exact", event_id[dup])
    man.record("landing/inventory_events.null_burst", event_id[null_wh])

    per_file = cfg.small_file_rows if cfg.small_files else n
    files = nbytes = rows = 0
    for f0 in range(0, n, per_file):
        sel = np.arange(f0, min(n, f0 + per_file))
        order = np.concatenate([sel, sel[dup[sel]]])
        data = lines_bytes(lines.take(pa.array(order)))
        file_no = (i0 + f0) // per_file if cfg.small_files else chunk
        path = root / "landing" / "inventory_events" / f"day={day:03d}" / f"events-d{day:03d}-{file_no:05d}.jsonl"
        nbytes += write_file(path, data)
        files += 1
        rows += len(order)
    return rows, files, nbytes


# ----------------------------------------------------------------------------------------------------
# Nutrition documents (landing nested JSON)
# ----------------------------------------------------------------------------------------------------
INGREDIENTS = {
    "soft_drink": ("carbonated water", "sugar", "citric acid", "natural flavouring", "caffeine"),
    "water": ("mineral water", "carbon dioxide", "lime extract"),
    "juice": ("fruit juice", "fruit puree", "ascorbic acid", "water"),
    "energy_drink": ("carbonated water", "sucrose", "taurine", "caffeine", "b vitamins"),
    "iced_tea": ("water", "sugar", "black tea extract", "lemon juice", "citric acid"),
    "cold_brew": ("water", "coffee extract", "oat drink", "vanilla"),
}
ORIGINS = ("DE", "BR", "IN", "FR", "US", "GB", "ES", "CO")


def nutrition_doc(cfg: GenerationConfig, products: Products, p: int, version: int, day: int, over_100: bool) -> dict:
    """One product's nested nutrition document (three levels deep, arrays)."""
    rng = np.random.default_rng([cfg.seed, 61, p, version])
    row = {c: products.table[c][p].as_py() for c in ("sku", "brand", "product_name", "category", "size_ml")}
    cat = row["category"]
    kcal100 = float(rng.uniform(*spec.CATEGORIES[cat][3]))
    size = row["size_ml"]
    kcal = round(kcal100 * size / 100)
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
            for nm, t in zip(names, parts)
        ],
    }
    if day >= cfg.json_drift_day:
        doc["per_serving"]["micronutrients"] = [
            {
                "name": nm,
                "amount": round(float(rng.uniform(0.1, 40)), 1),
                "unit": unit,
                "pct_daily_value": int(rng.integers(1, 60)),
            }
            for nm, unit in (("vitamin_c", "mg"), ("potassium", "mg"), ("magnesium", "mg"))[: int(rng.integers(1, 4))]
        ]
        doc["sustainability"] = {
            "recyclable_pack": bool(rng.random() < 0.8),
            "carbon_g_per_unit": int(rng.integers(40, 400)),
        }
    return doc


def write_nutrition(
    cfg: GenerationConfig, st: State, products: Products, day: int, man: DayManifest, root: Path
) -> tuple[int, int, int]:
    """Write the day's nutrition documents; returns (rows, files, bytes)."""
    which, versions, overs = nutrition_plan(cfg, st, products, day, man)
    return nutrition_files(cfg, products, day, which, versions, overs, root)


def nutrition_plan(
    cfg: GenerationConfig, st: State, products: Products, day: int, man: DayManifest
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The products that get a new document on `day`, their new versions and over-100 flags (recorded)."""
    rng = np.random.default_rng([cfg.seed, 62, day])
    if day == 0:
        which = np.arange(products.n)
    else:
        share = 0.10 if day == cfg.json_drift_day else 0.03
        which = np.sort(rng.choice(products.n, max(1, int(round(products.n * share))), replace=False))
    st.doc_version[which] += 1
    versions = st.doc_version[which].copy()
    overs = hash_uniform(cfg.seed, which, 63, versions) < cfg.rate("landing/nutrition.ingredient_percent_over_100")
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
    for p, version, over in zip(which.tolist(), versions.tolist(), overs.tolist()):
        doc = nutrition_doc(cfg, products, p, version, day, over)
        data = (json_pretty(doc, indent=2) + "\n").encode()
        (folder / f"{doc['sku']}.json").write_bytes(data)
        nbytes += len(data)
    return len(which), len(which), nbytes


# ----------------------------------------------------------------------------------------------------
# Work units: run in a worker process (or inline); the parent applies their outputs in submission order,
# so file names, PostgreSQL loads and the manifest come out exactly as in a single process.
# ----------------------------------------------------------------------------------------------------
@dataclass
class _Context:
    cfg: GenerationConfig
    pools: Pools
    products: Products
    root: Path
    files: bool  # operational tables as CSV files (written by the unit)
    pg: bool  # operational tables to PostgreSQL (the unit renders the COPY payload, the parent loads it)


@dataclass
class _Output:
    tables: list = field(default_factory=list)  # (table, day, op, rows, file bytes | None, payload | None, columns)
    landed: list = field(default_factory=list)  # (dataset, rows, files, bytes)
    records: list = field(default_factory=list)  # (defect id, keys, details), replayed into the day's manifest


class _Recorder:
    """Stands in for the DayManifest inside a work unit: keeps the `record` calls to replay them in order."""

    def __init__(self, out: _Output):
        self.out = out

    def record(self, defect_id: str, keys, details: dict | None = None) -> None:
        self.out.records.append((defect_id, compact_keys(keys), details))


def _table_unit(
    ctx: _Context, table: str, day: int, data: pa.Table, op: str, part: int, out: _Output | None = None
) -> _Output:
    out = out if out is not None else _Output()
    file_bytes = payload = None
    if ctx.files:
        file_bytes = write_file(FileSink(ctx.root).path(table, day, part), FileSink.render(table, day, data, op))
    if ctx.pg:
        payload = PostgresSink.render(table, day, data, op)
    out.tables.append((table, day, op, len(data), file_bytes, payload, data.column_names))
    return out


def _customers_unit(
    ctx: _Context, day: int, op: str, ids: np.ndarray, deleted: np.ndarray | None, st: State, base: int, part: int
) -> _Output:
    out = _Output()
    tbl, masks = customer_rows(ctx.cfg, ctx.pools, st, ids, day, deleted, base)
    _table_unit(ctx, "customers", day, tbl, op, part, out)
    rec = _Recorder(out)
    for name, mask in masks.items():
        details = None
        if name.startswith("duplicate") and mask.any():
            details = dict(zip(ids[mask].tolist(), (ids[mask] - 1).tolist()))
        rec.record(f"shop.customers.{name}", ids[mask], details)
    return out


def _orders_unit(
    ctx: _Context,
    day: int,
    chunk: int,
    first_id: int,
    dates: np.ndarray,
    customers: np.ndarray,
    market: np.ndarray,
    parts: dict[str, int],
) -> _Output:
    out = _Output()
    tables = order_tables(ctx.cfg, ctx.products, day, chunk, first_id, dates, customers, market, _Recorder(out))
    for table, data in tables.items():
        _table_unit(ctx, table, day, data, "insert", parts[table], out)
    return out


def _partner_unit(ctx: _Context, day: int, chunk: int, first: int, dates: np.ndarray) -> _Output:
    out = _Output()
    out.landed.append(
        (
            "landing/partner_orders",
            *partner_files(ctx.cfg, ctx.products, day, chunk, first, dates, _Recorder(out), ctx.root),
        )
    )
    return out


def _inventory_unit(ctx: _Context, day: int, chunk: int, i0: int, n: int, walk: InventoryWalk) -> _Output:
    out = _Output()
    out.landed.append(
        (
            "landing/inventory_events",
            *inventory_files(ctx.cfg, ctx.products, day, chunk, i0, n, walk, _Recorder(out), ctx.root),
        )
    )
    return out


def _nutrition_unit(ctx: _Context, day: int, which: np.ndarray, versions: np.ndarray, overs: np.ndarray) -> _Output:
    out = _Output()
    out.landed.append(
        ("landing/nutrition", *nutrition_files(ctx.cfg, ctx.products, day, which, versions, overs, ctx.root))
    )
    return out


_WORKER_CONTEXT: _Context | None = None


def _init_worker(ctx: _Context) -> None:
    global _WORKER_CONTEXT
    _WORKER_CONTEXT = ctx
    _keep_freed_memory()


def _keep_freed_memory() -> None:
    """In a worker: let glibc malloc reuse freed chunk buffers instead of unmapping them and faulting fresh pages
    for the next chunk (page faults were ~40% of the CPU time). Only worker processes, which end with the run."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 256 << 20)  # M_MMAP_THRESHOLD: serve allocations up to 256 MB from the heap
        libc.mallopt(-1, 512 << 20)  # M_TRIM_THRESHOLD: keep up to 512 MB of free heap
    except (OSError, AttributeError):  # not glibc: nothing to tune
        pass


def _in_worker(fn, args: tuple) -> _Output:
    return fn(_WORKER_CONTEXT, *args)


class _Runner:
    """Runs work units in `workers` processes (inline when 1) and applies their outputs in submission order."""

    def __init__(self, ctx: _Context, workers: int, apply):
        self.ctx, self.apply, self.pending, self.pool = ctx, apply, deque(), None
        self.limit = 2 * workers if workers > 1 else 0
        if workers > 1:
            import multiprocessing as mp
            from concurrent.futures import ProcessPoolExecutor

            # fork where there is one: no re-import of the caller's __main__ (scripts and notebooks need no
            # `if __name__ == "__main__"` guard) and the pools are shared copy-on-write. Workers end through
            # os._exit, so they never touch the parent's PostgreSQL connection.
            method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
            self.pool = ProcessPoolExecutor(
                workers, mp_context=mp.get_context(method), initializer=_init_worker, initargs=(ctx,)
            )

    def run(self, fn, man: DayManifest, *args, here: bool = False) -> None:
        """Run `fn(ctx, *args)`; `here` keeps it in this process (its arguments are live state)."""
        if self.pool is None or here:
            self.pending.append((fn(self.ctx, *args), man))
        else:
            self.pending.append((self.pool.submit(_in_worker, fn, args), man))
        while len(self.pending) > self.limit:
            self._apply_next()

    def _apply_next(self) -> None:
        item, man = self.pending.popleft()
        self.apply(item if isinstance(item, _Output) else item.result(), man)

    def drain(self) -> None:
        while self.pending:
            self._apply_next()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


def resolve_workers(cfg: GenerationConfig) -> int:
    """`cfg.workers`, or by default the usable CPUs capped at 4 (1 when the data is too small to pay for processes)."""
    if cfg.workers is not None:
        return max(1, int(cfg.workers))
    import os

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    day0 = sum(cfg.rows(e) for e in ("customers", "orders", "partner_order_lines", "inventory_events"))
    return 1 if day0 < 2 * cfg.chunk_rows else max(1, min(cpus, 4))


# ----------------------------------------------------------------------------------------------------
# Orchestration
# ----------------------------------------------------------------------------------------------------
@dataclass
class GenerationResult:
    root: Path
    manifest_dir: Path
    days: int
    rows: dict[str, int]
    files: dict[str, int]
    bytes_written: dict[str, int]
    defects: dict[str, int]
    seconds: float
    pg_url: str | None = None
    workers: int = 1  # processes that rendered and wrote the chunks

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes_written.values())

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


class _Progress:
    def __init__(self, enabled: bool, total_rows: int):
        self.enabled, self.rows, self.bytes = enabled, 0, 0
        if enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self.p = Progress(
                TextColumn("[bold]generate"), BarColumn(), TextColumn("{task.fields[info]}"), TimeElapsedColumn()
            )
            self.task = self.p.add_task("gen", total=total_rows, info="")
            self.p.start()

    def add(self, rows: int, nbytes: int, label: str) -> None:
        self.rows += rows
        self.bytes += nbytes
        if self.enabled:
            self.p.update(
                self.task, completed=self.rows, info=f"{label:<28} {self.rows:>12,} rows {self.bytes / 1e6:>9.1f} MB"
            )

    def close(self) -> None:
        if self.enabled:
            self.p.stop()


def _chunks(n: int, size: int):
    for c, i0 in enumerate(range(0, n, size)):
        yield c, i0, min(size, n - i0)


def generate(cfg: GenerationConfig) -> GenerationResult:
    """Generate `cfg.days` days of GlobalBev data into PostgreSQL (or operational CSVs) and the landing zone."""
    t0 = time.perf_counter()
    if cfg.small_files and cfg.chunk_rows % cfg.small_file_rows and cfg.rows("inventory_events") > cfg.chunk_rows:
        raise ValueError(
            f"small-files mode over several chunks needs chunk_rows ({cfg.chunk_rows}) to be a multiple of small_file_rows "
            f"({cfg.small_file_rows}): otherwise the files of consecutive chunks share numbers and events "
            "would be overwritten"
        )
    root = Path(cfg.root)
    root.mkdir(parents=True, exist_ok=True)
    for sub in ("landing", "manifest", "operational"):
        _clear(root / sub)
    pools = build_pools(cfg.seed)
    products = build_products(cfg)
    pg_sink = PostgresSink(cfg.pg_url) if cfg.pg_url else None
    file_sink = (
        FileSink(root)
        if cfg.write_operational_files or (cfg.write_operational_files is None and not cfg.pg_url)
        else None
    )
    sinks = [s for s in (pg_sink, file_sink) if s is not None]
    st = State()
    n_pairs = len(WAREHOUSE_IDS) * products.n
    init = np.random.default_rng([cfg.seed, 71])
    st.on_hand = init.integers(100, 400, n_pairs).astype(np.int64)
    st.reserved = np.zeros(n_pairs, np.int64)
    st.doc_version = np.zeros(products.n, np.int64)
    rows, files, nbytes, defects = {}, {}, {}, {}
    n_orders0, n_partner0, n_events0 = cfg.rows("orders"), cfg.rows("partner_order_lines"), cfg.rows("inventory_events")
    hist = np.arange(day_number(spec.HISTORY_START), day_number(as_of(0)) + 1)
    hist_weight = seasonal_weight(hist).sum()
    progress = _Progress(
        cfg.progress, int((cfg.rows("customers") + n_orders0 * 4.3 + n_partner0 + n_events0) * (1 + 0.01 * cfg.days))
    )
    manifest_dir = root / "manifest"
    workers = resolve_workers(cfg)

    def apply(out: _Output, man: DayManifest) -> None:
        """Load/count what a work unit produced and replay its manifest records (in submission order)."""
        for table, day, op, n, file_bytes, payload, columns in out.tables:
            b = 0
            if pg_sink is not None:
                b = pg_sink.load(table, day, payload, columns, op)
            if file_sink is not None:
                b = file_bytes
            ds = f"shop.{table}"
            rows[ds] = rows.get(ds, 0) + n
            nbytes[ds] = nbytes.get(ds, 0) + b
            man.add_written(ds, **{op: n}, bytes=b)
            progress.add(n, b, ds)
        for ds, r, f, b in out.landed:
            rows[ds] = rows.get(ds, 0) + r
            files[ds] = files.get(ds, 0) + f
            nbytes[ds] = nbytes.get(ds, 0) + b
            man.add_written(ds, rows=r, files=f, bytes=b)
            progress.add(r, b, ds)
        for defect_id, keys, details in out.records:
            man.record(defect_id, keys, details)

    def part(table: str, day: int) -> int:
        return file_sink.next_part(table, day) if file_sink is not None else 0

    def emit(table: str, day: int, data: pa.Table, man: DayManifest, op: str = "insert") -> None:
        runner.run(_table_unit, man, table, day, data, op, part(table, day), here=True)

    ctx = _Context(cfg, pools, products, root, file_sink is not None, pg_sink is not None)
    runner = _Runner(ctx, workers, apply)
    try:
        for day in range(cfg.days):
            man = DayManifest(day, cfg)
            man.facts.update({"hot_sku": "SKU-000001", "hot_market": cfg.hot_market, "as_of": as_of(day).isoformat()})
            drift = {"customers": [("loyalty_tier", "text")]} if day >= cfg.customer_drift_day else {}
            for sink in sinks:
                sink.begin_day(day, drift)
            today = day_number(as_of(day))
            if day == 0:
                for name, tbl in (
                    ("markets", markets_table()),
                    ("warehouses", warehouses_table(pools)),
                    ("products", products.table),
                    ("batches", batches_table(products, None, today, 0)),
                ):
                    emit(name, 0, tbl, man)
                ids_new = insert_customers(cfg, st, cfg.rows("customers"), 0)
                changed = [("insert", ids_new, None)]
            else:
                emit("batches", day, batches_table(products, today - 1, today, day), man)
                changed = _customer_changes(cfg, st, day)
            for op, ids, deleted in changed:
                for c, i0, n in _chunks(len(ids), cfg.chunk_rows):
                    sel = ids[i0 : i0 + n]
                    dsel = None if deleted is None else deleted[i0 : i0 + n]
                    if sel[-1] - sel[0] + 1 == len(sel):  # a contiguous id range: ship just its slice of the state
                        lo = max(0, int(sel[0]) - 1)
                        runner.run(
                            _customers_unit,
                            man,
                            day,
                            op,
                            sel,
                            dsel,
                            st.slice(lo, int(sel[-1]) + 1),
                            lo,
                            part("customers", day),
                        )
                    else:  # scattered updates/deletes (a small share of the customers): here, on the live state
                        runner.run(_customers_unit, man, day, op, sel, dsel, st, 0, part("customers", day), here=True)
            man.changes["shop.customers"] = {op + "_keys": ids.tolist() for op, ids, _ in changed if op != "insert"}
            # orders
            if day == 0:
                n_orders = n_orders0
            else:
                n_orders = max(1, int(round(n_orders0 * seasonal_weight(np.array([today]))[0] / hist_weight)))
            active = np.flatnonzero(~st.deleted[: st.n_customers])
            for c, i0, n in _chunks(n_orders, cfg.chunk_rows):
                rng = np.random.default_rng([cfg.seed, 30, day, c])
                if day == 0:
                    dates = _stratified_days(int(hist[0]), today, i0, n, n_orders, rng)
                    eligible = np.searchsorted(st.signup, dates, side="right")
                    cust = (rng.random(n) * eligible).astype(np.int64)
                else:
                    dates = np.full(n, today)
                    cust = active[(rng.random(n) * len(active)).astype(np.int64)]
                market = st.market[np.minimum(cust, st.n_customers - 1)]
                first_id = st.next_order_id
                st.next_order_id += n
                parts = {t: part(t, day) for t in ("orders", "order_lines", "payments")}
                runner.run(_orders_unit, man, day, c, first_id, dates, cust, market, parts)
            # partner orders
            n_partner = (
                n_partner0
                if day == 0
                else max(1, int(round(n_partner0 * seasonal_weight(np.array([today]))[0] / hist_weight)))
            )
            n_porders = max(1, int(n_partner / 1.5))
            for c, i0, n in _chunks(n_porders, cfg.chunk_rows):
                rng = np.random.default_rng([cfg.seed, 40, day, c])
                dates = _stratified_days(int(hist[0]), today, i0, n, n_porders, rng) if day == 0 else np.full(n, today)
                first = st.next_partner_order
                st.next_partner_order += n
                runner.run(_partner_unit, man, day, c, first, dates)
            # inventory events: the stock walk runs here chunk after chunk, the rendering in the workers
            if day == 0:
                n_events = n_events0
                window = (
                    (today - spec.INVENTORY_HISTORY_DAYS + 1) * DAY_SECONDS * 1000,
                    (today + 1) * DAY_SECONDS * 1000,
                )
            else:
                n_events = max(1, n_events0 // spec.INVENTORY_HISTORY_DAYS)
                window = (today * DAY_SECONDS * 1000, (today + 1) * DAY_SECONDS * 1000)
            for c, i0, n in _chunks(n_events, cfg.chunk_rows):
                walk = inventory_walk(cfg, products, day, c, i0, n, n_events, window, st.on_hand)
                carry_inventory(st, walk, man)
                runner.run(_inventory_unit, man, day, c, i0, n, walk)
            # inventory snapshot, nutrition
            wh = np.repeat(np.arange(len(WAREHOUSE_IDS)), products.n)
            pr = np.tile(np.arange(products.n), len(WAREHOUSE_IDS))
            snap = pa.table(
                {
                    "warehouse_id": pa.array(WAREHOUSE_IDS).take(pa.array(wh)),
                    "sku": products.sku.take(pa.array(pr)),
                    "on_hand": pa.array(st.on_hand, pa.int32()),
                    "reserved": pa.array(st.reserved, pa.int32()),
                    "reorder_point": pa.array(
                        20 + (hash_uniform(cfg.seed, wh * products.n + pr, 99) * 60).astype(np.int32)
                    ),
                    "updated_at": _ts_col(_ts(day), len(wh)),
                }
            )
            emit("inventory", day, snap, man, "insert" if day == 0 else "update")
            which, versions, overs = nutrition_plan(cfg, st, products, day, man)
            pieces = 1 if workers == 1 else max(1, min(len(which), 2 * workers))
            for sel in np.array_split(np.arange(len(which)), pieces):
                runner.run(_nutrition_unit, man, day, which[sel], versions[sel], overs[sel])
            runner.drain()
            for sink in sinks:
                sink.end_day(day)
            man.write(manifest_dir)
            for did in man.keys:
                defects[did] = defects.get(did, 0) + man.count(did)
    finally:
        runner.close()
        progress.close()
        for sink in sinks:
            sink.close()
    result = GenerationResult(
        root, manifest_dir, cfg.days, rows, files, nbytes, defects, time.perf_counter() - t0, cfg.pg_url, workers
    )
    summary = {
        "config": {k: v for k, v in vars(cfg).items() if k not in ("pg_url", "progress", "root", "workers")},
        "days": cfg.days,
        "rows": rows,
        "files": files,
        "bytes": nbytes,
        "defects": defects,
        "drift": [vars(x) for x in spec.drift_schedule(cfg.customer_drift_day, cfg.json_drift_day) if x.day < cfg.days],
        "postgres": bool(cfg.pg_url),
    }
    (manifest_dir / "summary.json").write_text(json.dumps(summary, indent=1, sort_keys=True), encoding="utf-8")
    return result


def _customer_changes(cfg: GenerationConfig, st: State, day: int) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
    """Day d's customer inserts, updates (address or phone) and soft deletes."""
    rng = np.random.default_rng([cfg.seed, 22, day])
    n = st.n_customers
    active = int((~st.deleted).sum())
    candidates = np.flatnonzero((~st.deleted) & (st.dup_kind == NONE))
    n_upd = min(len(candidates), max(1, int(round(active * spec.DAILY_CUSTOMER_UPDATES))))
    n_del = min(len(candidates) - n_upd, max(1, int(round(active * spec.DAILY_CUSTOMER_DELETES))))
    pick = rng.choice(candidates, n_upd + n_del, replace=False)
    upd, dele = np.sort(pick[:n_upd]), np.sort(pick[n_upd:])
    addr = rng.random(n_upd) < 0.5
    st.addr_ver[upd[addr]] += 1
    st.phone_ver[upd[~addr]] += 1
    st.deleted[dele] = True
    new = insert_customers(cfg, st, max(1, int(round(n * spec.DAILY_CUSTOMER_INSERTS))), day)
    return [("insert", new, None), ("update", upd, None), ("delete", dele, np.ones(len(dele), bool))]


def _clear(path: Path) -> None:
    import shutil

    if path.exists():
        shutil.rmtree(path)
