"""Arrow columns the entity tables share: exact decimals from integer cents, UTC timestamps, text joins."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

UTC_US = pa.timestamp("us", tz="UTC")


def constant_ts(value_us: int, n: int) -> pa.Array:
    """n copies of one UTC timestamp (microseconds since epoch)."""
    return pa.array(np.full(n, value_us, np.int64), UTC_US)


def cents(values: np.ndarray, precision: int = 14) -> pa.Array:
    """Integer cents as an exact decimal(precision, 2) Arrow array."""
    values = np.ascontiguousarray(values, np.int64)
    buf = np.empty((len(values), 2), np.int64)
    buf[:, 0] = values
    buf[:, 1] = np.where(values < 0, -1, 0)
    return pa.Array.from_buffers(pa.decimal128(precision, 2), len(values), [None, pa.py_buffer(buf)])


def round_div(num: np.ndarray, den: int) -> np.ndarray:
    """num / den rounded half away from zero, in integers."""
    return np.sign(num) * ((np.abs(num) + den // 2) // den)


def join(*parts) -> pa.Array:
    """Row-wise concatenation of string arrays and literals."""
    return pc.binary_join_element_wise(*parts, "")


def as_text(values: np.ndarray) -> pa.Array:
    """Numbers as their decimal text."""
    return pc.cast(pa.array(values), pa.string())


def iso_text(values: np.ndarray, unit: str) -> pa.Array:
    """pc.strftime(<UTC timestamps>, "%Y-%m-%dT%H:%M:%S") (sub-second digits included), via the fast naive cast."""
    return pc.replace_substring(
        pc.cast(pa.array(values, pa.timestamp(unit)), pa.string()), " ", "T", max_replacements=1
    )
