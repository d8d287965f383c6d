"""Synthetic, messy, honest GlobalBev data: a generator with a defect manifest and a fault-injecting warehouse API."""

from .defects import defect_keys, load_manifest  # noqa: F401
from .generate import GenerationResult, generate  # noqa: F401
from .spec import DEFECTS, MARKETS, GenerationConfig, as_of, drift_schedule  # noqa: F401
