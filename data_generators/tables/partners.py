"""`landing/partner_orders`: marketplace orders as CSV exports, one dialect per partner.

The generator stands for the outside world, so it keeps its own copy of the partner contract: the columns
(in the order `_partner_lines` builds them), the dialects and the declared date formats (`spec.PARTNERS`).
globalbev's ingestion and quality modules repeat them on purpose, as a reader of someone else's export
would: if the two drift apart, the tests notice.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .. import spec
from ..columns import as_text, cents, iso_text, join
from ..dates import DAY_SECONDS, daily_count, day_number, stratified_days
from ..defects import DayManifest
from ..sinks import csv_bytes, write_file
from ..spec import MARKETS, GenerationConfig, as_of
from ..streams import Stream
from ..workers import Recorder, UnitOutput, WorkContext, chunks
from .lines import draw_quantities, explode_lines
from .markets import CURRENCIES, MARKET_CODES, market_weights
from .products import Products

if TYPE_CHECKING:
    from ..generate import Generation

PARTNER_OF_MARKET = np.array([next(i for i, p in enumerate(spec.PARTNERS) if mk.code in p.markets) for mk in MARKETS])
PARTNER_PREFIX = pa.array([p.name[:2].upper() + "-" for p in spec.PARTNERS])
PARTNER_NAMES = pa.array([p.name for p in spec.PARTNERS])
QUANTITIES = [1, 1, 2, 3, 6]
TIME_DIRECTIVES = ("%H", "%M", "%S", "%T", "%I", "%p")


def format_seconds(secs: np.ndarray, fmt_i: np.ndarray, formats: list[str]) -> pa.Array:
    """Row i is UTC epoch second secs[i] written with formats[fmt_i[i]] (pc.strftime's text, computed cheaply):
    date-only formats are formatted once per distinct day and looked up; the time format through `iso_text`."""
    days, inv = np.unique(secs // DAY_SECONDS, return_inverse=True)
    midnight = pa.array(days * DAY_SECONDS, pa.timestamp("s", tz="UTC"))
    timed = [i for i, fm in enumerate(formats) if any(x in fm for x in TIME_DIRECTIVES)]
    table = [
        pc.strftime(midnight, format=fm) if i not in timed else pa.nulls(len(days), pa.string())
        for i, fm in enumerate(formats)
    ]
    out = pa.concat_arrays(table).take(pa.array(np.asarray(fmt_i, np.int64) * len(days) + inv.ravel()))
    for i in timed:
        mask = np.asarray(fmt_i) == i
        if mask.any():
            text = (
                iso_text(secs[mask], "s")
                if formats[i] == "%Y-%m-%dT%H:%M:%S"
                else pc.strftime(pa.array(secs[mask], pa.timestamp("s", tz="UTC")), format=formats[i])
            )
            out = pc.replace_with_mask(out, pa.array(mask), text)
    return out


def _partner_lines(
    cfg: GenerationConfig, rng, products: Products, first: int, dates: np.ndarray
) -> tuple[pa.Table, np.ndarray, dict[str, np.ndarray]]:
    """One chunk's partner order lines, each line's partner index, and per defect (but duplicates) its mask."""
    n = len(dates)
    m = np.searchsorted(market_weights(cfg), rng.random(n), side="right")
    pos, line_no = explode_lines(rng.choice([1, 2, 3], n, p=[0.6, 0.3, 0.1]))
    nl = len(pos)
    lp, lm = PARTNER_OF_MARKET[m][pos], m[pos]
    secs = dates[pos].astype(np.int64) * DAY_SECONDS + rng.integers(0, DAY_SECONDS, n)[pos]
    mixed = rng.random(nl) < cfg.rate("landing/partner_orders.date_format_mixed")
    fmt_i = np.where(mixed, len(spec.PARTNERS) + rng.integers(0, len(spec.ALT_DATE_FORMATS), nl), lp)
    formats = [p.date_format for p in spec.PARTNERS] + list(spec.ALT_DATE_FORMATS)
    prod = products.draw(rng, nl, cfg.hot_sku_share)
    orphan = rng.random(nl) < cfg.rate("landing/partner_orders.orphan_product")
    sku = products.skus(prod, orphan, rng)
    qneg, qty = draw_quantities(rng, nl, cfg.rate("landing/partner_orders.quantity_nonpositive"), QUANTITIES)
    price = cents(products.price_cents[prod, lm], 12).cast(pa.string())
    comma = pa.array(np.array([p.decimal_comma for p in spec.PARTNERS])[lp])
    table = pa.table(  # the contract's columns, in its order
        {
            "partner": PARTNER_NAMES.take(pa.array(lp)),
            "partner_order_id": join(PARTNER_PREFIX.take(pa.array(lp)), pc.utf8_lpad(as_text(first + pos), 9, "0")),
            "line_no": pa.array(line_no, pa.int32()),
            "order_date": format_seconds(secs, fmt_i, formats),
            "market": MARKET_CODES.take(pa.array(lm)),
            "sku": sku,
            "quantity": pa.array(qty, pa.int32()),
            "unit_price": pc.if_else(comma, pc.replace_substring(price, ".", ","), price),
            "currency": CURRENCIES.take(pa.array(lm)),
        }
    )
    return table, lp, {"date_format_mixed": mixed, "orphan_product": orphan, "quantity_nonpositive": qneg}


def _header(partner: spec.Partner, columns: list[str]) -> list[str]:
    """The partner's header: the contract's column names in the partner's case."""
    case = {"upper": str.upper, "title": str.title}.get(partner.header_case, str)
    return [case(c) for c in columns]


def partner_files(
    cfg: GenerationConfig, products: Products, day: int, chunk: int, first: int, dates: np.ndarray, man, root: Path
) -> tuple[int, int, int]:
    """Write one chunk of partner orders (one file per partner; numbers from `first`); returns (rows, files, bytes)."""
    rng = np.random.default_rng([cfg.seed, Stream.PARTNER_ORDERS, day, chunk])
    table, lp, defects = _partner_lines(cfg, rng, products, first, dates)
    dup = rng.random(len(lp)) < cfg.rate("landing/partner_orders.duplicate_exact")
    line_no = pc.cast(table["line_no"], pa.string())
    keys = pc.binary_join_element_wise(table["partner"], table["partner_order_id"], line_no, "|")
    keys = keys.to_numpy(zero_copy_only=False)
    for name, mask in {**defects, "duplicate_exact": dup}.items():
        man.record(f"landing/partner_orders.{name}", keys[mask])
    rows = files = nbytes = 0
    for i, p in enumerate(spec.PARTNERS):
        sel = np.flatnonzero(lp == i)
        if len(sel) == 0:
            continue
        order = np.concatenate([sel, sel[dup[sel]]])
        data = csv_bytes(
            table.take(pa.array(order)),
            delimiter=p.delimiter,
            quoting=p.quoting,
            eol=p.eol,
            header_names=_header(p, table.column_names),
        )
        folder = root / "landing" / "partner_orders" / f"day={day:03d}" / f"partner={p.name}"
        nbytes += write_file(folder / f"partner_orders-d{day:03d}-c{chunk:04d}.csv", data)
        rows += len(order)
        files += 1
    return rows, files, nbytes


def partner_unit(ctx: WorkContext, day: int, chunk: int, first: int, dates: np.ndarray) -> UnitOutput:
    """Work unit: one chunk of partner order files."""
    out = UnitOutput()
    counts = partner_files(ctx.cfg, ctx.products, day, chunk, first, dates, Recorder(out), ctx.root)
    return out.land("landing/partner_orders", counts)


def schedule_partner_orders(gen: Generation, man: DayManifest, day: int) -> None:
    """Day 0's two years of partner orders (seasonal), or day d's, chunk by chunk (about 1.5 lines per order)."""
    cfg = gen.cfg
    today = day_number(as_of(day))
    n_lines = cfg.rows("partner_order_lines") if day == 0 else daily_count(cfg.rows("partner_order_lines"), day)
    n_orders = max(1, int(n_lines / 1.5))
    for c, i0, n in chunks(n_orders, cfg.chunk_rows):
        rng = np.random.default_rng([cfg.seed, Stream.PARTNER_DATES, day, c])
        if day == 0:
            dates = stratified_days(day_number(spec.HISTORY_START), today, i0, n, n_orders, rng)
        else:
            dates = np.full(n, today)
        first, gen.next_partner_order = gen.next_partner_order, gen.next_partner_order + n
        gen.run(partner_unit, man, day, c, first, dates)
