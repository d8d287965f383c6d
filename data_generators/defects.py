"""Defect injection helpers and the defect manifest (TPC-DI's audit idea: the data says what is wrong with it).

Every injected defect is recorded under `<dataset>.<defect>` with the exact keys of the affected records,
so the pipeline's detection can be scored for recall and precision.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .sinks import json_pretty
from .spec import DEFECTS, DEFECTS_BY_ID, GenerationConfig, as_of, drift_schedule

_M1, _M2, _M3 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB), np.uint64(0x9E3779B97F4A7C15)


def _splitmix(x: np.ndarray) -> np.ndarray:
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def hash_uniform(seed: int, ids: np.ndarray, field_no: int, version: np.ndarray | int = 0) -> np.ndarray:
    """A uniform in [0, 1) per id that depends only on (seed, id, field, version): counter-based, order-free."""
    with np.errstate(over="ignore"):
        salt = _splitmix(np.uint64(seed) * _M3 + np.uint64(field_no) * _M1 + np.uint64(0x5DEECE66D))
        x = np.asarray(ids).astype(np.uint64) * _M3 + salt
        x = x ^ (np.asarray(version).astype(np.uint64) * _M2)
        return (_splitmix(_splitmix(x)) >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def bursts(rng: np.random.Generator, n: int, rate: float, min_len: int, max_len: int) -> np.ndarray:
    """A mask of n rows with contiguous runs of min_len..max_len rows, covering about `rate` of them."""
    mask = np.zeros(n, bool)
    if n == 0 or rate <= 0:
        return mask
    expected = rate * n / ((min_len + max_len) / 2)
    count = int(expected) + int(rng.random() < expected - int(expected))
    for start, length in zip(rng.integers(0, n, count), rng.integers(min_len, max_len + 1, count)):
        mask[start:start + length] = True
    return mask


@dataclass
class DayManifest:
    """What one day wrote and which defects it carries."""
    day: int
    cfg: GenerationConfig
    keys: dict[str, list] = field(default_factory=dict)
    details: dict[str, dict] = field(default_factory=dict)
    written: dict[str, dict] = field(default_factory=dict)
    changes: dict[str, dict] = field(default_factory=dict)
    facts: dict[str, object] = field(default_factory=dict)

    def record(self, defect_id: str, keys, details: dict | None = None) -> None:
        """Add the keys of records carrying `defect_id` (ints or 'a|b' strings)."""
        assert defect_id in DEFECTS_BY_ID, defect_id
        values = keys.tolist() if isinstance(keys, np.ndarray) else list(keys)
        self.keys.setdefault(defect_id, []).extend(values)
        if details:
            self.details.setdefault(defect_id, {}).update({str(k): v for k, v in details.items()})

    def add_written(self, dataset: str, **counts: int) -> None:
        """Accumulate counters (rows, files, bytes, insert, update, delete) for a dataset."""
        slot = self.written.setdefault(dataset, {})
        for k, v in counts.items():
            slot[k] = slot.get(k, 0) + int(v)

    def to_json(self) -> dict:
        defects = {}
        for d in DEFECTS:
            keys = self.keys.get(d.id, [])
            defects[d.id] = {"dataset": d.dataset, "defect": d.name, "key": d.key, "rate": self.cfg.rate(d.id),
                             "count": len(keys), "keys": keys, "details": self.details.get(d.id, {})}
        drift = [vars(x) for x in drift_schedule(self.cfg.customer_drift_day, self.cfg.json_drift_day)]
        return {"day": self.day, "as_of": as_of(self.day).isoformat(), "seed": self.cfg.seed,
                "scale": self.cfg.scale, "defects": defects, "written": self.written, "changes": self.changes,
                "facts": self.facts, "drift": [x for x in drift if x["day"] == self.day]}

    def write(self, manifest_dir: Path) -> Path:
        manifest_dir.mkdir(parents=True, exist_ok=True)
        path = manifest_dir / f"day={self.day:03d}.json"
        path.write_text(json_pretty(self.to_json(), indent=1, sort_keys=True, default=_plain), encoding="utf-8")
        return path


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value)}")


def load_manifest(root: str | Path, day: int) -> dict:
    """Read one day's manifest from a generated data root."""
    return json.loads((Path(root) / "manifest" / f"day={day:03d}.json").read_text(encoding="utf-8"))


def defect_keys(root: str | Path, day: int, defect_id: str) -> list:
    """The keys the manifest lists for one defect on one day."""
    return load_manifest(root, day)["defects"][defect_id]["keys"]
