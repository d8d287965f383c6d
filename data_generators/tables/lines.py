"""What order lines and partner order lines share: lines per order and quantities."""

from __future__ import annotations

import numpy as np


def explode_lines(k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For orders with k[i] lines each: every line's order position and its line number (from 1)."""
    pos = np.repeat(np.arange(len(k)), k)
    line_no = np.arange(len(pos)) - np.repeat(np.cumsum(k) - k, k) + 1
    return pos, line_no


def draw_quantities(
    rng: np.random.Generator, n: int, nonpositive_rate: float, sizes: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """n quantities drawn from `sizes`, and the mask of those made <= 0 (the `quantity_nonpositive` defect)."""
    nonpositive = rng.random(n) < nonpositive_rate
    return nonpositive, np.where(nonpositive, -rng.integers(0, 4, n), rng.choice(sizes, n))
