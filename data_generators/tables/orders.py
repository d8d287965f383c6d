"""`shop.orders`, `shop.order_lines` and `shop.payments`, drawn chunk by chunk with their defects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import spec
from ..columns import UTC_US, as_text, cents, constant_ts, round_div
from ..dates import DAY_SECONDS, daily_count, day_number, load_ts, stratified_days
from ..defects import DayManifest, bursts
from ..spec import MARKETS, GenerationConfig, as_of
from ..streams import Stream
from ..workers import Recorder, UnitOutput, WorkContext, chunks, table_unit
from .lines import draw_quantities, explode_lines
from .markets import CURRENCIES, MARKET_CODES
from .products import Products

if TYPE_CHECKING:
    from ..generate import Generation

ORPHAN_CUSTOMER_BASE = 10**12  # customer_id of an orphan order: never a real customer
ORPHAN_BATCH_BASE = 9 * 10**9  # batch_id of an orphan line: never a real batch
QUANTITIES = [1, 1, 1, 2, 2, 3, 4, 6, 12]
PAID_STATUSES = [1, 2, 3, 5]  # paid, shipped, delivered, returned: these orders have a payment


@dataclass
class OrderChunk:
    """One chunk of orders to draw: placed on `dates` (day numbers) by `customers`, whose markets are `market`;
    order ids from `first_id`."""

    day: int
    chunk: int
    first_id: int
    dates: np.ndarray
    customers: np.ndarray
    market: np.ndarray


@dataclass
class _Orders:
    order_id: np.ndarray
    dates: np.ndarray  # day numbers, after the date defects
    order_ts: np.ndarray  # microseconds
    customer_id: np.ndarray
    status: np.ndarray
    channel: pa.Array
    defects: dict[str, np.ndarray]  # shop.orders defect name -> mask


@dataclass
class _Lines:
    order_id: np.ndarray
    pos: np.ndarray  # the line's order position in the chunk
    line_no: np.ndarray
    sku: pa.Array
    batch_id: np.ndarray
    quantity: np.ndarray
    unit_cents: np.ndarray
    discount_pct: np.ndarray
    amount_cents: np.ndarray
    defects: dict[str, np.ndarray]  # shop.order_lines defect name -> mask


def _draw_orders(cfg: GenerationConfig, rng, day: int, first_id: int, dates: np.ndarray, customers) -> _Orders:
    """Order headers: dates moved into the future or back (late arriving), orphan customers, null channel bursts."""
    n, r = len(dates), cfg.rate
    order_id = np.arange(first_id, first_id + n, dtype=np.int64)
    today = day_number(as_of(day))
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
    order_ts = (dates.astype(np.int64) * DAY_SECONDS + rng.integers(0, DAY_SECONDS, n)) * 1_000_000
    orphan = rng.random(n) < r("shop.orders.orphan_customer")
    null_channel = bursts(rng, n, r("shop.orders.null_burst"), 20, 200)
    channel = pa.array(np.array(spec.CHANNELS)[rng.choice(3, n, p=[0.5, 0.4, 0.1])], mask=null_channel)
    status = rng.choice(len(spec.ORDER_STATUSES), n, p=spec.ORDER_STATUS_WEIGHTS)
    defects = {"orphan_customer": orphan, "future_order_date": future, "late_arriving": late}
    return _Orders(
        order_id,
        dates,
        order_ts,
        np.where(orphan, ORPHAN_CUSTOMER_BASE + order_id, customers),
        status,
        channel,
        defects | {"null_burst": null_channel},
    )


def _draw_lines(cfg: GenerationConfig, rng, products: Products, day: int, o: _Orders, m: np.ndarray) -> _Lines:
    """Order lines: the shipped batch, orphan products, batches made after the sale, bad quantities and prices."""
    r, today = cfg.rate, day_number(as_of(day))
    pos, line_no = explode_lines(rng.choice(spec.LINES_PER_ORDER, len(o.order_id), p=spec.LINES_PER_ORDER_WEIGHTS))
    nl = len(pos)
    prod = products.draw(rng, nl, cfg.hot_sku_share)
    jf = products.batch_index(prod, np.minimum(o.dates[pos], today))  # future-dated orders ship stock made by today
    j = np.maximum(jf - (rng.random(nl) < 0.4), 0)
    uref = rng.random(nl)
    r_orph, r_mas = r("shop.order_lines.orphan_product"), r("shop.order_lines.manufactured_after_sold")
    orphan = uref < r_orph
    eligible = (~o.defects["future_order_date"][pos]) & (products.batch_mfg(prod, jf + 1) <= today)
    mas = (uref >= r_orph) & (uref < r_orph + r_mas) & eligible
    j = np.where(mas, jf + 1, j)
    order_id = o.order_id[pos]
    batch_id = np.where(orphan, ORPHAN_BATCH_BASE + order_id * 10 + line_no, (prod + 1) * 10_000 + j)
    sku = products.skus(prod, orphan, rng)
    qneg, qty = draw_quantities(rng, nl, r("shop.order_lines.quantity_nonpositive"), QUANTITIES)
    unit = products.price_cents[prod, m[pos]]
    # a price is an outlier against the product's list price: a line of an unknown product has none, so it gets none
    outlier = (rng.random(nl) < r("shop.order_lines.price_outlier")) & ~orphan
    unit = np.where(outlier, np.where(rng.random(nl) < 0.5, unit * 100, round_div(unit, 100)), unit)
    disc = np.array(spec.DISCOUNTS_PCT)[rng.integers(0, len(spec.DISCOUNTS_PCT), nl)]
    amount = round_div(qty * unit * (100 - disc), 100)
    defects = {"quantity_nonpositive": qneg, "price_outlier": outlier, "orphan_product": orphan}
    defects["manufactured_after_sold"] = mas
    return _Lines(order_id, pos, line_no, sku, batch_id, qty, unit, disc, amount, defects)


def _orders_table(o: _Orders, m: np.ndarray, total: np.ndarray, day: int) -> pa.Table:
    return pa.table(
        {
            "order_id": pa.array(o.order_id),
            "customer_id": pa.array(o.customer_id, pa.int64()),
            "market_code": MARKET_CODES.take(pa.array(m)),
            "order_ts": pa.array(o.order_ts, UTC_US),
            "channel": o.channel,
            "status": pa.array(np.array(spec.ORDER_STATUSES)[o.status]),
            "currency": CURRENCIES.take(pa.array(m)),
            "order_total": cents(total),
            "updated_at": constant_ts(load_ts(day), len(o.order_id)),
        }
    )


def _lines_table(ln: _Lines, day: int) -> pa.Table:
    return pa.table(
        {
            "order_id": pa.array(ln.order_id),
            "line_no": pa.array(ln.line_no, pa.int32()),
            "sku": ln.sku,
            "batch_id": pa.array(ln.batch_id, pa.int64()),
            "quantity": pa.array(ln.quantity, pa.int32()),
            "unit_price": cents(ln.unit_cents, 12),
            "discount_pct": cents(ln.discount_pct * 100, 5),
            "line_amount": cents(ln.amount_cents),
            "updated_at": constant_ts(load_ts(day), len(ln.pos)),
        }
    )


def _payments_table(rng, o: _Orders, m: np.ndarray, total: np.ndarray, day: int) -> pa.Table:
    """One payment per paid order (payment_id = order_id); card brand and last 4 digits only for cards."""
    paid = np.isin(o.status, PAID_STATUSES)
    pm = m[paid]
    n = int(paid.sum())
    meth_i = np.where(rng.random(n) < 0.55, 0, 1 + (rng.random(n) * 2).astype(np.int64))
    card = meth_i == 0
    brand = np.array(spec.CARD_BRANDS)[
        np.where(rng.random(n) < 0.8, rng.integers(0, 2, n), np.where(pm == 4, 3, np.where(pm == 5, 4, 2)))
    ]
    last4 = pc.utf8_lpad(as_text(rng.integers(0, 10_000, n)), 4, "0")
    return pa.table(
        {
            "payment_id": pa.array(o.order_id[paid]),
            "order_id": pa.array(o.order_id[paid]),
            "method": pa.array(np.array([mk.payment_methods for mk in MARKETS])[pm, meth_i]),
            "amount": cents(total[paid]),
            "currency": CURRENCIES.take(pa.array(pm)),
            "card_brand": pa.array(brand, mask=~card),
            "card_last4": pc.if_else(pa.array(card), last4, None),
            "paid_at": pa.array(o.order_ts[paid] + rng.integers(60, 3600, n) * 1_000_000, UTC_US),
            "updated_at": constant_ts(load_ts(day), n),
        }
    )


def order_tables(cfg: GenerationConfig, products: Products, batch: OrderChunk, man) -> dict[str, pa.Table]:
    """One chunk of orders with their lines and payments; the defects are recorded in `man`."""
    day = batch.day
    rng = np.random.default_rng([cfg.seed, Stream.ORDERS, day, batch.chunk])
    m = np.asarray(batch.market).astype(np.int64)
    o = _draw_orders(cfg, rng, day, batch.first_id, batch.dates, batch.customers)
    ln = _draw_lines(cfg, rng, products, day, o, m)
    total = np.bincount(ln.pos, weights=ln.amount_cents, minlength=len(o.order_id)).astype(np.int64)
    tables = {"orders": _orders_table(o, m, total, day), "order_lines": _lines_table(ln, day)}
    tables["payments"] = _payments_table(rng, o, m, total, day)
    for name, mask in o.defects.items():
        man.record(f"shop.orders.{name}", o.order_id[mask])
    for name, mask in ln.defects.items():
        man.record(
            f"shop.order_lines.{name}", [f"{i}|{n}" for i, n in zip(ln.order_id[mask], ln.line_no[mask], strict=True)]
        )
    return tables


def orders_unit(ctx: WorkContext, batch: OrderChunk, parts: dict[str, int]) -> UnitOutput:
    """Work unit: one chunk of orders with their lines and payments (`parts`: each table's file number)."""
    out = UnitOutput()
    for table, data in order_tables(ctx.cfg, ctx.products, batch, Recorder(out)).items():
        table_unit(ctx, table, batch.day, data, "insert", parts[table], out)
    return out


def schedule_orders(gen: Generation, man: DayManifest, day: int) -> None:
    """Day 0's two years of history (seasonal, by customers signed up by then), or day d's orders, chunk by chunk."""
    cfg, st = gen.cfg, gen.customers
    today = day_number(as_of(day))
    n_orders = cfg.rows("orders") if day == 0 else daily_count(cfg.rows("orders"), day)
    active = np.flatnonzero(~st.deleted)
    for c, i0, n in chunks(n_orders, cfg.chunk_rows):
        rng = np.random.default_rng([cfg.seed, Stream.ORDER_DATES, day, c])
        if day == 0:
            dates = stratified_days(day_number(spec.HISTORY_START), today, i0, n, n_orders, rng)
            cust = (rng.random(n) * np.searchsorted(st.signup, dates, side="right")).astype(np.int64)
        else:
            dates = np.full(n, today)
            cust = active[(rng.random(n) * len(active)).astype(np.int64)]
        market = st.market[np.minimum(cust, st.n - 1)]
        first_id, gen.next_order_id = gen.next_order_id, gen.next_order_id + n
        parts = {t: gen.part(t, day) for t in ("orders", "order_lines", "payments")}
        gen.run(orders_unit, man, OrderChunk(day, c, first_id, dates, cust, market), parts)
