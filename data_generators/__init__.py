"""Synthetic, messy, honest GlobalBev data: a generator with a defect manifest and a fault-injecting warehouse API."""
from .spec import GenerationConfig, DEFECTS, MARKETS, as_of, drift_schedule  # noqa: F401
from .generate import GenerationResult, generate  # noqa: F401
from .defects import load_manifest, defect_keys  # noqa: F401
