"""Hostile landing files: the classic defects of files from outside, written for each landing dataset's real schema,
each with what the pipeline must do with it (the reliability contract, asserted file by file in test_reliability.py).

Every good row uses product `SKU-000001` and market `US`/`DE` (present in any generated GlobalBev) and ids that no
generated file uses (`HX…`, event ids from 9·10¹⁵), so a test can put these files next to a generated landing zone.
"""

# ruff: noqa: E501  (one hostile file per line, as written)
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

PARTNER_HEADER = [
    "partner", "partner_order_id", "line_no", "order_date", "market", "sku", "quantity", "unit_price", "currency",
]  # fmt: skip
EVENT_ID0 = 9 * 10**15


@dataclass(frozen=True)
class Hostile:
    """One hostile file and the contract for it."""

    name: str  # the defect family
    dataset: str  # partner_orders | inventory_events | nutrition
    path: str  # relative to <root>/landing/<dataset>/
    data: bytes
    file_reason: str | None = None  # the file goes whole to the file quarantine with a reason containing this
    good: tuple[str, ...] = ()  # keys of the rows that must reach silver
    bad: tuple[str, ...] = ()  # reason fragments, one per row that must be quarantined

    def write(self, root: str | Path) -> Path:
        p = Path(root) / "landing" / self.dataset / self.path
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(self.data)
        return p


# ---- partner orders (shelfly's dialect: comma, every value quoted, lower-case header, LF) --------------------------
def _q(v: str) -> str:
    return '"' + v.replace('"', '""') + '"'


def _line(values: list[str], sep: str = ",") -> str:
    return sep.join(_q(v) for v in values)


def _order(oid: str, sku: str = "SKU-000001", qty: str = "2", price: str = "1.09") -> list[str]:
    return ["shelfly", oid, "1", "07/01/2025", "US", sku, qty, price, "USD"]


def _csv(*lines: str, end: str = "\n", header: list[str] = PARTNER_HEADER, sep: str = ",") -> bytes:
    return (end.join([_line(header, sep), *lines]) + end).encode()


def _partner(name: str, data: bytes, **contract) -> Hostile:
    return Hostile(name, "partner_orders", f"day=000/partner=shelfly/hostile-{name}.csv", data, **contract)


def partner_files() -> list[Hostile]:
    ok = lambda oid: _line(_order(oid))  # noqa: E731
    return [
        _partner("good", _csv(ok("HX-P1"), ok("HX-P2")), good=("HX-P1", "HX-P2")),
        _partner("wrong_delimiter", _csv(_line(_order("HX-WD1"), ";"), sep=";"), file_reason="header"),
        _partner("extra_column", _csv(ok("HX-EC1") + ',"x"', header=PARTNER_HEADER + ["note"]), file_reason="header"),
        _partner(
            "missing_column", _csv(_line(_order("HX-MC1")[:-1]), header=PARTNER_HEADER[:-1]), file_reason="header"
        ),
        _partner("empty_file", b"", file_reason="empty"),
        _partner("utf16_file", _csv(ok("HX-U16")).decode().encode("utf-16"), file_reason="header"),
        _partner(
            "duplicated_header",
            _csv(ok("HX-DH1"), _line(PARTNER_HEADER), ok("HX-DH2")),
            good=("HX-DH1", "HX-DH2"),
            bad=("header",),
        ),  # fmt: skip
        _partner(
            "quoted_newline",
            _csv(_line(_order("HX-QN1", sku="SKU-0\n00001")), ok("HX-QN2")),
            good=("HX-QN2",),
            bad=("malformed", "malformed"),
        ),  # fmt: skip
        _partner(
            "unbalanced_quote",
            _csv(ok("HX-UQ1").replace('"SKU-000001"', '"SKU-000001'), ok("HX-UQ2")),
            good=("HX-UQ2",),
            bad=("malformed",),
        ),  # fmt: skip
        _partner("bom", b"\xef\xbb\xbf" + _csv(ok("HX-BOM1")), good=("HX-BOM1",)),
        _partner("crlf", _csv(ok("HX-CR1"), ok("HX-CR2"), end="\r\n"), good=("HX-CR1", "HX-CR2")),
        _partner(
            "nul_byte",
            _csv(_line(_order("HX-NUL1", sku="SKU-00\x000001")), ok("HX-NUL2")),
            good=("HX-NUL2",),
            bad=("control character",),
        ),  # fmt: skip
        _partner(
            "invalid_utf8",
            _csv(ok("HX-IU1")).replace(b"HX-IU1", b"HX-\xff\xfe1") + _line(_order("HX-IU2")).encode() + b"\n",
            good=("HX-IU2",),
            bad=("invalid",),
        ),  # fmt: skip
        _partner(
            "mixed_encodings",
            _csv(ok("HX-MÉ1")) + _line(_order("HX-MÉ2")).encode("latin-1") + b"\n",
            good=("HX-MÉ1",),
            bad=("invalid",),
        ),  # fmt: skip
        _partner(
            "huge_field", _csv(_line(_order("HX-HF1", sku="S" * 200_000)), ok("HX-HF2")), good=("HX-HF2",), bad=("sku",)
        ),  # fmt: skip
        _partner(
            "huge_integer",
            _csv(_line(_order("HX-HI1", qty="99999999999999999999")), ok("HX-HI2")),
            good=("HX-HI2",),
            bad=("quantity",),
        ),  # fmt: skip
        _partner(
            "nan_number",
            _csv(_line(_order("HX-NAN1", qty="NaN")), _line(_order("HX-NAN2", price="Infinity"))),
            bad=("quantity", "unit_price"),
        ),  # fmt: skip
        _partner(
            "unquoted_decimal_comma",
            _csv(_line(_order("HX-DC1")).replace('"1.09"', "1,09"), ok("HX-DC2")),
            good=("HX-DC2",),
            bad=("malformed",),
        ),  # fmt: skip
        _partner(
            "truncated_line", _csv(ok("HX-TL1")) + b'"shelfly","HX-TL2","1","07/0', good=("HX-TL1",), bad=("malformed",)
        ),
        _partner(
            "sql_text",
            _csv(
                _line(_order("HX-SQL1'); DROP TABLE silver.partner_orders; --")),
                _line(_order("HX-SQL2", sku="x' OR '1'='1")),
            ),
            good=("HX-SQL1'); DROP TABLE silver.partner_orders; --",),
            bad=("sku",),
        ),  # fmt: skip
    ]


# ---- inventory events (JSON lines) -------------------------------------------------------------------------------
def _event(n: int, **fields) -> dict:
    return {"event_id": EVENT_ID0 + n, "event_ts": "2025-07-01T08:15:02.000Z", "warehouse_id": "WH-US-1",
            "sku": "SKU-000001", "event_type": "receipt", "quantity_delta": 5, "on_hand_after": 120, "reserved": 0,
            "reorder_point": 50, **fields}  # fmt: skip


def _jl(*lines: str, end: str = "\n") -> bytes:
    return "".join(line + end for line in lines).encode()


def _events(name: str, data: bytes, **contract) -> Hostile:
    return Hostile(name, "inventory_events", f"day=000/hostile-{name}.jsonl", data, **contract)


def _deep(levels: int) -> dict:
    d: dict = {"x": 1}
    for _ in range(levels):
        d = {"n": d}
    return d


def event_files() -> list[Hostile]:
    ev = lambda n, **f: json.dumps(_event(n, **f))  # noqa: E731
    key = lambda n: str(EVENT_ID0 + n)  # noqa: E731
    return [
        _events("good", _jl(ev(1), ev(2)), good=(key(1), key(2))),
        _events("duplicate_key", _jl(ev(3), ev(4)[:-1] + ', "sku": "SKU-000002"}'), file_reason="duplicate"),
        _events("not_json", b"event_id,sku\n1,SKU-000001\n", file_reason="JSON"),
        _events("array_line", _jl("[1, 2, 3]", ev(5)), good=(key(5),), bad=("malformed",)),
        _events("nan_number", _jl(ev(6, quantity_delta=float("nan")), ev(7)), good=(key(7),), bad=("quantity_delta",)),
        _events("number_as_string", _jl(ev(8, quantity_delta="5"), ev(9)), good=(key(9),), bad=("quantity_delta",)),
        _events("huge_integer", _jl(ev(10, on_hand_after=10**30), ev(11)), good=(key(11),), bad=("on_hand_after",)),
        _events("truncated_line", _jl(ev(12)) + ev(13)[:40].encode(), good=(key(12),), bad=("malformed",)),
        _events("bom", b"\xef\xbb\xbf" + _jl(ev(14)), good=(key(14),)),
        _events("crlf", _jl(ev(15), ev(16), end="\r\n"), good=(key(15), key(16))),
        _events("deep_nesting", _jl(ev(17, payload=_deep(100)), ev(18)), good=(key(18),), bad=("payload",)),
        _events("long_field_name", _jl(ev(19, **{"f" * 300: 1}), ev(20)), good=(key(20),), bad=("fff",)),
        _events(
            "invalid_utf8",
            _jl(ev(21)).replace(b"SKU-000001", b"SKU-\xff\xfe0001") + _jl(ev(22)),
            good=(key(22),),
            bad=("invalid",),
        ),  # fmt: skip
        _events(
            "nul_in_string", _jl(ev(23, sku="SKU-00\u00000001"), ev(24)), good=(key(24),), bad=("control character",)
        ),
        _events(
            "sql_text",
            _jl(ev(25, sku="'; DELETE FROM silver.inventory_events; --"), ev(26)),
            good=(key(26),),
            bad=("sku",),
        ),  # fmt: skip
    ]


# ---- nutrition (one nested JSON document per file) -------------------------------------------------------------------
def _doc(sku: str = "SKU-000001", version: int = 900, **fields) -> dict:
    return {"sku": sku, "doc_version": version, "published_on": "2025-07-01",
            "product": {"brand": "Hostile", "name": "Test", "category": "water"},
            "serving": {"size_ml": 330, "servings_per_container": 1},
            "per_serving": {"energy": {"kcal": 0, "kj": 0},
                            "macros": {"fat": {"total_g": 0.0, "saturated_g": 0.0, "trans_g": 0.0},
                                       "carbohydrates": {"total_g": 0.0, "sugars_g": 0.0}, "protein_g": 0.0},
                            "salt_g": 0.01},
            "allergens": [], "ingredients": [{"name": "water", "percent": 100.0, "origin": "DE"}], **fields}  # fmt: skip


def _nutrition(name: str, data: bytes, **contract) -> Hostile:
    return Hostile(name, "nutrition", f"day=000/hostile-{name}.json", data, **contract)


def nutrition_files() -> list[Hostile]:
    js = lambda d: json.dumps(d, indent=2).encode()  # noqa: E731
    return [
        _nutrition("truncated_document", js(_doc())[:-40], file_reason="JSON"),
        _nutrition("array_of_documents", js([_doc(version=901), _doc(version=902)]), file_reason="one JSON object"),
        _nutrition("duplicate_key", js(_doc())[:-2] + b',\n  "sku": "SKU-000002"\n}', file_reason="duplicate"),
        _nutrition(
            "number_as_string",
            js(_doc(version=903, serving={"size_ml": "330 ml", "servings_per_container": 1})),
            bad=("size_ml",),
        ),  # fmt: skip
        _nutrition("deep_nesting", js(_doc(version=904, extra=_deep(100))), bad=("extra",)),
        _nutrition(
            "deep_nesting_inside",
            js(
                _doc(version=905, product={"brand": "Hostile", "name": "Test", "category": "water", "deep": _deep(100)})
            ),
            bad=("product.deep",),
        ),  # fmt: skip
        _nutrition(
            "long_name_inside",
            js(_doc(version=906, serving={"size_ml": 330, "servings_per_container": 1, "s" * 100: 1})),
            bad=("serving.sss",),
        ),  # fmt: skip
    ]


def hostile_files() -> list[Hostile]:
    """Every hostile file of every landing dataset."""
    return partner_files() + event_files() + nutrition_files()
