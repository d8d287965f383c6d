"""Defect injection helpers and the defect manifest (TPC-DI's audit idea: the data says what is wrong with it).

Every injected defect is recorded under `<dataset>.<defect>` with the exact keys of the affected records,
so the pipeline's detection can be scored for recall and precision.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

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
    for start, length in zip(rng.integers(0, n, count), rng.integers(min_len, max_len + 1, count), strict=True):
        mask[start : start + length] = True
    return mask


@dataclass
class DayManifest:
    """What one day wrote and which defects it carries.

    Keys are kept as the NumPy/Arrow arrays they were recorded as (8 bytes per integer key, ~20 per string key, not
    a Python object each) and streamed into the JSON file, so the manifest of an SF 20 day does not need gigabytes.
    """

    day: int
    cfg: GenerationConfig
    keys: dict[str, list] = field(default_factory=dict)  # defect id -> recorded parts, in recording order
    details: dict[str, dict] = field(default_factory=dict)
    written: dict[str, dict] = field(default_factory=dict)
    changes: dict[str, dict] = field(default_factory=dict)
    facts: dict[str, object] = field(default_factory=dict)

    def record(self, defect_id: str, keys, details: dict | None = None) -> None:
        """Add the keys of records carrying `defect_id` (integers, or 'a|b' strings)."""
        assert defect_id in DEFECTS_BY_ID, defect_id
        part, parts = compact_keys(keys), self.keys.setdefault(defect_id, [])
        if len(part):
            parts.append(part)
        if details:
            self.details.setdefault(defect_id, {}).update({str(k): v for k, v in details.items()})

    def count(self, defect_id: str) -> int:
        """How many keys carry `defect_id`."""
        return sum(len(p) for p in self.keys.get(defect_id, ()))

    def add_written(self, dataset: str, **counts: int) -> None:
        """Accumulate counters (rows, files, bytes, insert, update, delete) for a dataset."""
        slot = self.written.setdefault(dataset, {})
        for k, v in counts.items():
            slot[k] = slot.get(k, 0) + int(v)

    def _skeleton(self) -> dict:
        """The manifest as a dict, with a placeholder where each defect's key list goes (`write` streams the keys)."""
        defects = {}
        for d in DEFECTS:
            defects[d.id] = {
                "dataset": d.dataset,
                "defect": d.name,
                "key": d.key,
                "rate": self.cfg.rate(d.id),
                "count": self.count(d.id),
                "keys": _KEYS_AT + d.id,
                "details": self.details.get(d.id, {}),
            }
        drift = [vars(x) for x in drift_schedule(self.cfg.customer_drift_day, self.cfg.json_drift_day)]
        return {
            "day": self.day,
            "as_of": as_of(self.day).isoformat(),
            "seed": self.cfg.seed,
            "scale": self.cfg.scale,
            "defects": defects,
            "written": self.written,
            "changes": self.changes,
            "facts": self.facts,
            "drift": [x for x in drift if x["day"] == self.day],
        }

    def write(self, manifest_dir: Path) -> Path:
        """Write `day=NNN.json` (the text json.dumps(indent=1, sort_keys=True) gives), key lists streamed."""
        manifest_dir.mkdir(parents=True, exist_ok=True)
        path = manifest_dir / f"day={self.day:03d}.json"
        text = json_pretty(self._skeleton(), indent=1, sort_keys=True, default=_plain)
        with open(path, "w", encoding="utf-8") as f:
            pos = 0
            for d in sorted(DEFECTS, key=lambda d: d.id):  # the order sort_keys gives them in `text`
                marker = json_pretty(_KEYS_AT + d.id)
                at = text.index(marker, pos)
                line_start = text.rindex("\n", 0, at) + 1
                pad = "\n" + " " * (len(text[line_start:at]) - len(text[line_start:at].lstrip(" ")) + 1)
                f.write(text[pos:at])
                parts = self.keys.get(d.id, ())
                if not parts:
                    f.write("[]")
                else:
                    f.write("[")
                    first = True
                    for p in parts:
                        for lo in range(0, len(p), 100_000):
                            chunk = _as_list(p[lo : lo + 100_000])
                            rendered = map(_encode_str, chunk) if isinstance(chunk[0], str) else map(str, chunk)
                            f.write(("" if first else ",") + pad + ("," + pad).join(rendered))
                            first = False
                    f.write(pad[:-1] + "]")
                pos = at + len(marker)
            f.write(text[pos:])
        return path


_KEYS_AT = "\x00keys of "
_encode_str = json.encoder.encode_basestring  # as json_pretty (ensure_ascii=False)


def compact_keys(keys) -> np.ndarray | pa.Array:
    """Keys as an int64 NumPy array or an Arrow string array: compact in memory and in pickles between processes."""
    if isinstance(keys, pa.ChunkedArray):
        keys = keys.combine_chunks()
    if isinstance(keys, pa.Array):
        return keys.cast(pa.string()) if len(keys) else np.zeros(0, np.int64)
    arr = np.asarray(keys) if not isinstance(keys, np.ndarray) else keys
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64, copy=False)
    if len(arr) == 0:
        return np.zeros(0, np.int64)
    return pa.array(arr.tolist() if arr.dtype.kind == "O" else arr.astype(str).tolist(), pa.string())


def _as_list(part) -> list:
    return part.to_pylist() if isinstance(part, pa.Array) else part.tolist()


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
