"""`shop.markets`, and the per-market arrays and weights every other entity draws with."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from .. import spec
from ..columns import constant_ts
from ..dates import load_ts
from ..spec import MARKETS, GenerationConfig

FX = np.array([m.fx_to_usd for m in MARKETS])
MARKET_CODES = pa.array(spec.MARKET_CODES)
CURRENCIES = pa.array([m.currency for m in MARKETS])


def market_weights(cfg: GenerationConfig) -> np.ndarray:
    """Cumulative market shares after the hot market's boost (for `np.searchsorted` on a uniform)."""
    w = np.array([m.weight for m in MARKETS], float)
    hot = spec.MARKET_CODES.index(cfg.hot_market)
    others = np.delete(w, hot)
    w[np.arange(len(MARKETS)) != hot] = others / others.sum() * (1 - cfg.hot_market_share)
    w[hot] = cfg.hot_market_share
    return np.cumsum(w)


def markets_table() -> pa.Table:
    """The markets as written on day 0."""
    return pa.table(
        {
            "market_code": [m.code for m in MARKETS],
            "market_name": [m.name for m in MARKETS],
            "currency": [m.currency for m in MARKETS],
            "fx_to_usd": pa.array([m.fx_to_usd for m in MARKETS]).cast(pa.decimal128(12, 6)),
            "calling_code": pa.array([m.calling_code for m in MARKETS], pa.int32()),
            "timezone": [m.timezone for m in MARKETS],
            "updated_at": constant_ts(load_ts(0), len(MARKETS)),
        }
    )
