"""`shop.customers`: counter-based customers with PII defects, duplicates, updates and soft deletes.

Every attribute is a hash of (seed, customer_id, field, version) (`hash_uniform`), so any customer's current
row can be rebuilt for an update or a delete without keeping rows in memory: the state is a few small
integers per customer (market, signup day, address and phone versions, duplicate kind, deleted flag).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import spec
from ..columns import UTC_US, as_text, constant_ts, join
from ..dates import day_number, load_ts, stratified_days
from ..defects import DayManifest, hash_uniform
from ..pools import Pools
from ..spec import GenerationConfig, as_of
from ..streams import Field, Stream
from ..workers import Recorder, UnitOutput, WorkContext, chunks, table_unit
from .markets import MARKET_CODES, market_weights

N_OTHER_FORMATS = len(spec.PHONE_FORMATS) - 1  # the valid notations other than E.164

if TYPE_CHECKING:
    from ..generate import Generation


class DupKind(IntEnum):
    """A customer's part in a duplicate pair: the duplicate is always the original's id + 1."""

    NONE = 0
    EXACT_DUP = 1
    NEAR_DUP = 2
    EXACT_ORIG = 3
    NEAR_ORIG = 4


@dataclass
class CustomerState:
    """Per customer id (0..n-1): what the hashes need to rebuild its current row."""

    market: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    signup: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    addr_ver: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))
    phone_ver: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))
    dup_kind: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    deleted: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))

    @property
    def n(self) -> int:
        return len(self.market)

    def slice(self, lo: int, hi: int) -> CustomerState:
        """Copies of the arrays for customers lo..hi-1 only (what a worker needs for one chunk)."""
        return CustomerState(
            self.market[lo:hi].copy(),
            self.signup[lo:hi].copy(),
            self.addr_ver[lo:hi].copy(),
            self.phone_ver[lo:hi].copy(),
            self.dup_kind[lo:hi].copy(),
            self.deleted[lo:hi].copy(),
        )


@dataclass
class _Person:
    """Whose attributes rows show: a duplicate shows its original (id - 1), at the original's versions."""

    seed: int
    id: np.ndarray
    market: np.ndarray
    addr_ver: np.ndarray
    phone_ver: np.ndarray

    def u(self, field_no: Field, version: np.ndarray | int = 0) -> np.ndarray:
        return hash_uniform(self.seed, self.id, field_no, version)


def _defect_draws(cfg: GenerationConfig, ids: np.ndarray, addr_ver: np.ndarray, phone_ver: np.ndarray) -> dict:
    """Which defect family (0 = clean) each of phone, email and street carries, and the variant within it."""
    u = lambda f, v=0: hash_uniform(cfg.seed, ids, f, v)
    r = lambda name: cfg.rate(f"shop.customers.{name}")
    up = u(Field.PHONE_GROUP, phone_ver)
    phone_group = np.where(up < r("phone_invalid"), 2, np.where(up < r("phone_invalid") + r("phone_format"), 1, 0))
    ue = u(Field.EMAIL_GROUP)
    email_group = np.where(ue < r("email_invalid"), 2, np.where(ue < r("email_invalid") + r("email_noise"), 1, 0))
    us = u(Field.STREET_GROUP, addr_ver)
    a, c, w = r("address_abbreviation"), r("address_casing"), r("address_whitespace")
    street_group = np.select([us < a, us < a + c, us < a + c + w], [1, 2, 3], 0)
    return {
        "phone_group": phone_group,
        "phone_fmt": 1 + (u(Field.PHONE_FORMAT, phone_ver) * N_OTHER_FORMATS).astype(np.int64),
        "phone_inv": u(Field.PHONE_INVALID, phone_ver),
        "email_group": email_group,
        "email_var": (u(Field.EMAIL_VARIANT) * 4).astype(np.int64),
        "street_group": street_group,
        "street_var": u(Field.STREET_VARIANT, addr_ver),
        "postal_missing": u(Field.POSTAL_CODE_MISSING, addr_ver) < r("postal_code_missing"),
        "consent": u(Field.CONSENT) < 0.6,
        "tier": np.searchsorted(np.cumsum(spec.LOYALTY_WEIGHTS), u(Field.LOYALTY_TIER), side="right"),
    }


def _row_draws(cfg: GenerationConfig, st: CustomerState, ids: np.ndarray, kind: np.ndarray, base: int) -> dict:
    """The defect draws of rows `ids`: an exact duplicate repeats its original's, a near one differs on purpose."""
    drawer = np.where(kind == DupKind.EXACT_DUP, ids - 1, ids)
    d = _defect_draws(cfg, drawer, st.addr_ver[drawer - base], st.phone_ver[drawer - base])
    # near duplicates and their originals keep a valid email (so lower(trim(email)) pairs them)
    near = (kind == DupKind.NEAR_DUP) | (kind == DupKind.NEAR_ORIG)
    d["email_group"] = np.where(near & (d["email_group"] == 2), 0, d["email_group"])
    # a near duplicate writes the phone in a format its original does not use
    is_near = kind == DupKind.NEAR_DUP
    if is_near.any():
        orig_ids = ids[is_near] - 1
        orig = _defect_draws(cfg, orig_ids, st.addr_ver[orig_ids - base], st.phone_ver[orig_ids - base])
        shift = 1 + (hash_uniform(cfg.seed, ids[is_near], Field.PHONE_FORMAT, 7) * (N_OTHER_FORMATS - 1)).astype(
            np.int64
        )
        fmt = np.where(
            orig["phone_group"] == 1, (orig["phone_fmt"] - 1 + shift) % N_OTHER_FORMATS + 1, d["phone_fmt"][is_near]
        )
        d["phone_group"][is_near] = 1
        d["phone_fmt"][is_near] = fmt
    return d


def _names_and_email(pools: Pools, who: _Person, d: dict) -> tuple[pa.Array, pa.Array, pa.Array]:
    """First name, last name and the email built from them (clean, noisy or invalid per `d`)."""
    m = who.market
    first_i = pools.first_names.pick(m, who.u(Field.FIRST_NAME))
    last_i = pools.last_names.pick(m, who.u(Field.LAST_NAME))
    first, last = pools.first_names.values.take(pa.array(first_i)), pools.last_names.values.take(pa.array(last_i))
    clean = join(
        pools.first_slugs.take(pa.array(first_i)),
        ".",
        pools.last_slugs.take(pa.array(last_i)),
        as_text(who.id),
        "@",
        pools.domains.take(m, who.u(Field.EMAIL_DOMAIN)),
    )
    eg, ev = d["email_group"], d["email_var"]
    email = pc.choose(
        pa.array(np.where(eg == 0, 0, np.where(eg == 1, 1 + ev, 5 + ev)).astype(np.int8)),
        clean,
        pc.utf8_upper(clean),
        pc.utf8_capitalize(clean),
        join("  ", clean, " "),
        pc.utf8_title(clean),
        pc.replace_substring(clean, "@", ""),
        pc.replace_substring(clean, "@", "@@"),
        pc.replace_substring(clean, ".", ""),
        pc.replace_substring(clean, "@", " at "),
    )
    return first, last, email


def _phone(pools: Pools, who: _Person, d: dict) -> pa.Array:
    """The phone: E.164, another valid format, or an invalid number, per `d`."""
    phones_all = pa.concat_arrays([f.values for f in pools.phones] + [pools.invalid_phones.values])
    n_valid = len(pools.phones[0].values)
    valid_i = pools.phones[0].pick(who.market, who.u(Field.PHONE, who.phone_ver))
    fmt = np.where(d["phone_group"] == 1, d["phone_fmt"], 0)
    inv_i = len(pools.phones) * n_valid + pools.invalid_phones.pick(who.market, d["phone_inv"])
    return phones_all.take(pa.array(np.where(d["phone_group"] == 2, inv_i, fmt * n_valid + valid_i)))


def _address(pools: Pools, who: _Person, d: dict) -> tuple[pa.Array, pa.Array, pa.Array]:
    """Street, city and postal code in the market's convention, abbreviated, re-cased or re-spaced per `d`."""
    m, ver, sg, sv = who.market, who.addr_ver, d["street_group"], d["street_var"]
    core_i = pools.street_full.pick(m, who.u(Field.STREET, ver))
    cores = pa.concat_arrays([pools.street_full.values, pools.street_abbr])
    core = cores.take(pa.array(np.where(sg == 1, core_i + len(pools.street_full.values), core_i)))
    num = as_text(1 + (who.u(Field.HOUSE_NUMBER, ver) * 198).astype(np.int64))
    before = pa.array(np.isin(m, [0, 1, 3, 5]))
    sep = pa.array(np.array([" ", " ", " ", " ", ", ", ", "])[m])
    street = join(pc.if_else(before, num, core), sep, pc.if_else(before, core, num))
    city = pools.cities.take(m, who.u(Field.CITY, ver))
    upper, lower = pa.array((sg == 2) & (sv < 0.5)), pa.array((sg == 2) & (sv >= 0.5))
    street = pc.if_else(upper, pc.utf8_upper(street), pc.if_else(lower, pc.utf8_lower(street), street))
    city = pc.if_else(upper, pc.utf8_upper(city), pc.if_else(lower, pc.utf8_lower(city), city))
    ws = sg == 3
    street = pc.if_else(pa.array(ws & (sv < 0.34)), join("  ", street), street)
    street = pc.if_else(pa.array(ws & (sv >= 0.34) & (sv < 0.67)), join(street, " "), street)
    street = pc.if_else(
        pa.array(ws & (sv >= 0.67)), pc.replace_substring(street, " ", "  ", max_replacements=1), street
    )
    postal = pools.postcodes.take(m, who.u(Field.POSTAL_CODE, ver))
    missing = d["postal_missing"]
    postal = pc.if_else(pa.array(missing & (sv < 0.5)), pa.scalar(None, pa.string()), postal)
    postal = pc.if_else(pa.array(missing & (sv >= 0.5)), "", postal)
    return street, city, postal


def _defect_masks(d: dict, kind: np.ndarray) -> dict[str, np.ndarray]:
    """Per defect name, the rows carrying it."""
    eg, sg = d["email_group"], d["street_group"]
    return {
        "phone_format": d["phone_group"] == 1,
        "phone_invalid": d["phone_group"] == 2,
        "email_noise": eg == 1,
        "email_invalid": eg == 2,
        "address_abbreviation": sg == 1,
        "address_casing": sg == 2,
        "address_whitespace": sg == 3,
        "postal_code_missing": d["postal_missing"],
        "duplicate_exact": kind == DupKind.EXACT_DUP,
        "duplicate_near": kind == DupKind.NEAR_DUP,
    }


def customer_rows(
    cfg: GenerationConfig,
    pools: Pools,
    st: CustomerState,
    ids: np.ndarray,
    day: int,
    deleted: np.ndarray | None = None,
    base: int = 0,
) -> tuple[pa.Table, dict[str, np.ndarray]]:
    """The current rows of customers `ids` and, per defect, a mask of the rows carrying it.

    `st` may hold only customers base.. (see `CustomerState.slice`): its arrays are indexed with id - base."""
    kind = st.dup_kind[ids - base]
    person = np.where((kind == DupKind.EXACT_DUP) | (kind == DupKind.NEAR_DUP), ids - 1, ids)
    m = st.market[ids - base].astype(np.int64)
    who = _Person(cfg.seed, person, m, st.addr_ver[person - base], st.phone_ver[person - base])
    d = _row_draws(cfg, st, ids, kind, base)
    first, last, email = _names_and_email(pools, who, d)
    street, city, postal = _address(pools, who, d)
    signup = np.where(kind == DupKind.EXACT_DUP, st.signup[ids - 1 - base], st.signup[ids - base])
    n = len(ids)
    cols = {
        "customer_id": pa.array(ids, pa.int64()),
        "market_code": MARKET_CODES.take(pa.array(m)),
        "first_name": first,
        "last_name": last,
        "email": email,
        "phone": _phone(pools, who, d),
        "street": street,
        "city": city,
        "postal_code": postal,
        "signup_date": pa.array(signup.astype(np.int32), pa.date32()),
        "marketing_consent": pa.array(d["consent"]),
        "updated_at": constant_ts(load_ts(day), n),
        "deleted_at": pa.array(
            np.where(deleted, load_ts(day), 0) if deleted is not None else np.zeros(n, np.int64),
            UTC_US,
            mask=~deleted if deleted is not None else np.ones(n, bool),
        ),
    }
    if day >= cfg.customer_drift_day:
        cols["loyalty_tier"] = pa.array(np.array(spec.LOYALTY_TIERS)[d["tier"]])
    return pa.table(cols), _defect_masks(d, kind)


def insert_customers(cfg: GenerationConfig, st: CustomerState, n_new: int, day: int) -> np.ndarray:
    """Extend the customer state with n_new customers (markets, signup dates, duplicate pairs); returns ids."""
    start = st.n
    ids = np.arange(start, start + n_new, dtype=np.int64)
    market = np.searchsorted(market_weights(cfg), hash_uniform(cfg.seed, ids, Field.MARKET), side="right")
    market = market.astype(np.int8)
    if day == 0:
        first = day_number(spec.HISTORY_START) - 730
        rng = np.random.default_rng([cfg.seed, Stream.CUSTOMER_SIGNUPS])
        signup = stratified_days(first, day_number(as_of(0)), 0, n_new, n_new, rng)
        signup[0] = first
    else:
        signup = np.full(n_new, day_number(as_of(day)))
    ud = hash_uniform(cfg.seed, ids, Field.DUPLICATE)
    re_, rn = cfg.rate("shop.customers.duplicate_exact"), cfg.rate("shop.customers.duplicate_near")
    odd = (ids % 2 == 1) & (ids - 1 >= start)
    kind = np.where(
        odd & (ud < 2 * re_),
        DupKind.EXACT_DUP,
        np.where(odd & (ud >= 2 * re_) & (ud < 2 * (re_ + rn)), DupKind.NEAR_DUP, DupKind.NONE),
    ).astype(np.int8)
    for dup, orig in ((DupKind.EXACT_DUP, DupKind.EXACT_ORIG), (DupKind.NEAR_DUP, DupKind.NEAR_ORIG)):
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


def customer_changes(
    cfg: GenerationConfig, st: CustomerState, day: int
) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
    """Day d's customer inserts, updates (address or phone) and soft deletes, applied to the state."""
    rng = np.random.default_rng([cfg.seed, Stream.CUSTOMER_CHANGES, day])
    n = st.n
    active = int((~st.deleted).sum())
    candidates = np.flatnonzero((~st.deleted) & (st.dup_kind == DupKind.NONE))
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


def customers_unit(
    ctx: WorkContext,
    day: int,
    op: str,
    ids: np.ndarray,
    deleted: np.ndarray | None,
    st: CustomerState,
    base: int,
    part: int,
) -> UnitOutput:
    """Work unit: one chunk of customer rows, written and recorded (duplicates with their originals)."""
    out = UnitOutput()
    tbl, masks = customer_rows(ctx.cfg, ctx.pools, st, ids, day, deleted, base)
    table_unit(ctx, "customers", day, tbl, op, part, out)
    rec = Recorder(out)
    for name, mask in masks.items():
        details = None
        if name.startswith("duplicate") and mask.any():
            details = dict(zip(ids[mask].tolist(), (ids[mask] - 1).tolist(), strict=True))
        rec.record(f"shop.customers.{name}", ids[mask], details)
    return out


def schedule_customers(gen: Generation, man: DayManifest, day: int) -> None:
    """Day 0's customers, or day d's inserts, updates and soft deletes, chunk by chunk; changed ids to the manifest."""
    cfg, st = gen.cfg, gen.customers
    if day == 0:
        changed = [("insert", insert_customers(cfg, st, cfg.rows("customers"), 0), None)]
    else:
        changed = customer_changes(cfg, st, day)
    for op, ids, deleted in changed:
        for _, i0, n in chunks(len(ids), cfg.chunk_rows):
            sel = ids[i0 : i0 + n]
            dsel = None if deleted is None else deleted[i0 : i0 + n]
            part = gen.part("customers", day)
            if sel[-1] - sel[0] + 1 == len(sel):  # a contiguous id range: ship just its slice of the state
                lo = max(0, int(sel[0]) - 1)
                gen.run(customers_unit, man, day, op, sel, dsel, st.slice(lo, int(sel[-1]) + 1), lo, part)
            else:  # scattered updates/deletes (a small share of the customers): here, on the live state
                gen.run(customers_unit, man, day, op, sel, dsel, st, 0, part, here=True)
    man.changes["shop.customers"] = {op + "_keys": ids.tolist() for op, ids, _ in changed if op != "insert"}
