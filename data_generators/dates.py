"""The generator's dates: day numbers, the load timestamp of a day, and the seasonal curve orders follow."""

from __future__ import annotations

import datetime as dt

import numpy as np

from . import spec
from .spec import as_of

EPOCH = dt.date(1970, 1, 1)
DAY_SECONDS = 86_400


def day_number(d: dt.date) -> int:
    """Days since 1970-01-01."""
    return (d - EPOCH).days


def load_ts(day: int, hour: int = spec.LOAD_HOUR_UTC) -> int:
    """Microseconds since epoch of `as_of(day)` at `hour`:00 UTC (every row's `updated_at` on that day)."""
    return (day_number(as_of(day)) * DAY_SECONDS + hour * 3600) * 1_000_000


def seasonal_weight(days: np.ndarray) -> np.ndarray:
    """Orders per calendar day (day numbers): 3x growth over the history, a July peak and a December bump."""
    start = day_number(spec.HISTORY_START)
    frac = (days - start) / 730.0
    doy = np.array([(EPOCH + dt.timedelta(days=int(d))).timetuple().tm_yday for d in days])
    season = 1 + 0.35 * np.cos(2 * np.pi * (doy - 196) / 365.0) + 0.25 * np.exp(-(((doy - 352) / 8.0) ** 2))
    return np.exp(np.log(3.0) * frac) * season


def history_days() -> np.ndarray:
    """The day numbers of the day-0 order history."""
    return np.arange(day_number(spec.HISTORY_START), day_number(as_of(0)) + 1)


def daily_count(day0_rows: int, day: int) -> int:
    """Rows a later day carries when `day0_rows` rows spread over the history: that day's share of the curve."""
    today = day_number(as_of(day))
    return max(1, int(round(day0_rows * seasonal_weight(np.array([today]))[0] / seasonal_weight(history_days()).sum())))


def stratified_days(first: int, last: int, i0: int, n_chunk: int, n_total: int, rng) -> np.ndarray:
    """Day numbers for rows i0..i0+n_chunk of n_total, following the seasonal curve, non-decreasing in i."""
    days = np.arange(first, last + 1)
    cdf = np.cumsum(seasonal_weight(days))
    cdf /= cdf[-1]
    u = (np.arange(i0, i0 + n_chunk) + rng.random(n_chunk)) / n_total
    return days[np.minimum(np.searchsorted(cdf, u, side="right"), len(days) - 1)]
