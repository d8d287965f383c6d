"""`shop.warehouses`: `spec.WAREHOUSES_PER_MARKET` per market, in the market's first cities."""

from __future__ import annotations

import pyarrow as pa

from .. import spec
from ..columns import constant_ts
from ..dates import load_ts
from ..pools import Pools
from ..spec import MARKETS

WAREHOUSE_IDS = [f"WH-{m.code}-{w + 1}" for m in MARKETS for w in range(spec.WAREHOUSES_PER_MARKET)]


def warehouses_table(pools: Pools) -> pa.Table:
    """The warehouses as written on day 0 (ids as `WAREHOUSE_IDS`: market by market)."""
    slots = [(i, m.code, w) for i, m in enumerate(MARKETS) for w in range(spec.WAREHOUSES_PER_MARKET)]
    return pa.table(
        {
            "warehouse_id": WAREHOUSE_IDS,
            "market_code": [code for _, code, _ in slots],
            "city": [pools.cities.values[int(pools.cities.offset[i]) + w].as_py() for i, _, w in slots],
            "capacity_units": pa.array([50_000 * (2 + (i + w) % 3) for i, _, w in slots], pa.int32()),
            "updated_at": constant_ts(load_ts(0), len(slots)),
        }
    )
