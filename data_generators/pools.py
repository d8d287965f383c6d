"""Value pools built once per market with Faker and phonenumbers, then sampled with NumPy.

Faker is slow per call (~5k rows/s), so it never runs per row: each market gets a few hundred to a few
thousand names, streets, cities, postal codes and phone numbers, and rows pick from them by index. Every
pool entry is checked here (phones valid in all clean formats, street names without '.' or spaces), which
is what lets the manifest promise that clean records carry no defect.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import phonenumbers as pn
import pyarrow as pa
from faker import Faker
from phonenumbers import PhoneNumberFormat as PNF
from phonenumbers import PhoneNumberType as PNT

from .spec import MARKETS, PHONE_FORMATS, Market

NAMES_PER_MARKET = 600
STREET_NAMES_PER_MARKET = 300
CITIES_PER_MARKET = 200
POSTCODES_PER_MARKET = 800
PHONES_PER_MARKET = 250
INVALID_PHONES_PER_MARKET = 60


def ascii_slug(text: str) -> str:
    """Lower-case ASCII letters and digits only: 'Grégoire' -> 'gregoire'."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", plain.lower())


def _unique(values, n: int, keep) -> list[str]:
    out, seen = [], set()
    for v in values:
        if v not in seen and keep(v):
            seen.add(v)
            out.append(v)
            if len(out) == n:
                break
    return out


def _names(fake: Faker, method: str, n: int) -> list[str]:
    ok = lambda s: len(ascii_slug(s)) >= 2 and ascii_slug(s)[0].isalpha()  # noqa: E731
    return _unique((getattr(fake, method)() for _ in range(n * 20)), n, ok)


def _street_names(fake: Faker, n: int) -> list[str]:
    """Capitalised single words (no spaces, dots or digits), so clean streets are mixed case without '.'."""

    def ok(s: str) -> bool:
        return s.isalpha() and len(s) >= 3 and s[0].isupper() and s[1:].islower()

    return _unique((fake.last_name() for _ in range(n * 40)), n, ok)


def _idd(region: str) -> str:
    if region == "BR":  # Brazil dials out through a carrier code: 00 + 21 (Embratel)
        return "0021"
    meta = pn.PhoneMetadata.metadata_for_region(region)
    prefix = meta.preferred_international_prefix or meta.international_prefix
    return prefix if prefix and prefix.isdigit() else "00"


def phone_formats(num: pn.PhoneNumber, region: str) -> list[str]:
    """The number written in every PHONE_FORMATS format (index 0 is E.164)."""
    national = pn.format_number(num, PNF.NATIONAL)
    digits = "".join(c for c in national if c.isdigit())
    nsn = pn.national_significant_number(num)
    dotted = ".".join("".join(c if c.isdigit() else " " for c in national).split())
    return [
        pn.format_number(num, PNF.E164),
        pn.format_number(num, PNF.INTERNATIONAL),
        national,
        digits,
        f"{_idd(region)}{num.country_code}{nsn}",
        dotted,
    ]


def is_valid_phone(text: str, region: str) -> bool:
    """True when phonenumbers parses `text` for `region` into a valid number."""
    try:
        return pn.is_valid_number(pn.parse(text, region))
    except pn.NumberParseException:
        return False


def _same_valid_number(text: str, region: str, num: pn.PhoneNumber) -> bool:
    try:
        parsed = pn.parse(text, region)
    except pn.NumberParseException:
        return False
    return (parsed.country_code, parsed.national_number) == (
        num.country_code,
        num.national_number,
    ) and pn.is_valid_number(parsed)


def _phones(market: Market, rng: np.random.Generator, n: int) -> list[list[str]]:
    """`n` distinct valid mobile numbers, each as all PHONE_FORMATS strings (all checked)."""
    example = pn.national_significant_number(pn.example_number_for_type(market.code, PNT.MOBILE))
    keep = 1 if market.code == "US" else 2
    out, seen = [], set()
    for _ in range(n * 40):
        digits = rng.integers(0, 10, len(example) - keep)
        cand = example[:keep] + "".join(map(str, digits))
        if market.code == "US":
            cand = str(rng.integers(2, 10)) + cand[1:]
        if cand in seen or not is_valid_phone(cand, market.code):
            continue
        num = pn.parse(cand, market.code)
        forms = phone_formats(num, market.code)
        if len(set(forms)) != len(forms):
            continue
        if not all(_same_valid_number(f, market.code, num) for f in forms[1:]):
            continue
        seen.add(cand)
        out.append(forms)
        if len(out) == n:
            break
    if len(out) < n // 2:
        raise RuntimeError(f"could only build {len(out)} valid phone numbers for {market.code}")
    return out


def _invalid_phones(valid: list[list[str]], market: Market, rng: np.random.Generator, n: int) -> list[str]:
    """Strings that phonenumbers rejects for the market: truncated, padded or lettered numbers."""
    out = []
    for i in range(n * 10):
        national = valid[i % len(valid)][2]
        kind = i % 3
        cand = national[:-3] if kind == 0 else national + "99" if kind == 1 else national[:-4] + "CALL"
        if not is_valid_phone(cand, market.code) and cand not in out:
            out.append(cand)
        if len(out) == n:
            break
    return out


@dataclass
class MarketPools:
    """Every per-market pool, concatenated over markets: market m's values are [offset[m], offset[m]+size[m])."""

    values: pa.Array
    offset: np.ndarray
    size: np.ndarray

    def pick(self, market: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Pool indices for rows of `market` from uniforms `u` in [0, 1)."""
        return self.offset[market] + (u * self.size[market]).astype(np.int64)

    def take(self, market: np.ndarray, u: np.ndarray) -> pa.Array:
        return self.values.take(pa.array(self.pick(market, u)))


def _concat(per_market: list[list[str]]) -> MarketPools:
    sizes = np.array([len(p) for p in per_market], np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return MarketPools(pa.array([v for p in per_market for v in p], pa.string()), offsets, sizes)


@dataclass
class Pools:
    first_names: MarketPools
    last_names: MarketPools
    first_slugs: pa.Array  # aligned with first_names.values
    last_slugs: pa.Array
    cities: MarketPools
    postcodes: MarketPools
    domains: MarketPools
    street_full: MarketPools  # the street without its number: "Boone Street", "Roskothstraße", "rue Colas"
    street_abbr: pa.Array  # aligned with street_full.values: "Boone St.", "Roskothstr.", "r. Colas"
    phones: list[MarketPools]  # one per PHONE_FORMATS entry, aligned
    invalid_phones: MarketPools


def _street_cores(market: Market, names: list[str]) -> tuple[list[str], list[str]]:
    full, abbr = [], []
    for name in names:
        for suffix, short in market.street_suffixes.items():
            if market.code == "DE":
                full.append(f"{name}{suffix}")
                abbr.append(f"{name}{short}")
            elif market.code in ("FR", "BR"):
                full.append(f"{suffix} {name}")
                abbr.append(f"{short} {name}")
            else:
                full.append(f"{name} {suffix}")
                abbr.append(f"{name} {short}")
    return full, abbr


@lru_cache(maxsize=8)
def build_pools(seed: int) -> Pools:
    """Build every market's pools once (about a second); the same seed gives the same pools."""
    firsts, lasts, cities, posts, doms, sfull, sabbr, phones, invalid = [], [], [], [], [], [], [], [], []
    for i, market in enumerate(MARKETS):
        fake = Faker(market.locale)
        fake.seed_instance(seed * 1000 + i)
        rng = np.random.default_rng([seed, 1000 + i])
        firsts.append(_names(fake, "first_name", NAMES_PER_MARKET))
        lasts.append(_names(fake, "last_name", NAMES_PER_MARKET))
        cities.append(
            _unique(
                (fake.city() for _ in range(CITIES_PER_MARKET * 20)),
                CITIES_PER_MARKET,
                lambda c: c.strip() == c and c != c.lower() and c != c.upper(),
            )
        )
        posts.append(
            _unique(
                (fake.postcode() for _ in range(POSTCODES_PER_MARKET * 5)),
                POSTCODES_PER_MARKET,
                lambda p: p.strip() != "",
            )
        )
        doms.append(list(market.email_domains))
        full, abbr = _street_cores(market, _street_names(fake, STREET_NAMES_PER_MARKET))
        sfull.append(full)
        sabbr.append(abbr)
        valid = _phones(market, rng, PHONES_PER_MARKET)
        phones.append(valid)
        invalid.append(_invalid_phones(valid, market, rng, INVALID_PHONES_PER_MARKET))
    first_pool, last_pool = _concat(firsts), _concat(lasts)
    return Pools(
        first_names=first_pool,
        last_names=last_pool,
        first_slugs=pa.array([ascii_slug(v) for v in first_pool.values.to_pylist()]),
        last_slugs=pa.array([ascii_slug(v) for v in last_pool.values.to_pylist()]),
        cities=_concat(cities),
        postcodes=_concat(posts),
        domains=_concat(doms),
        street_full=_concat(sfull),
        street_abbr=pa.array([v for p in sabbr for v in p], pa.string()),
        phones=[_concat([[forms[f] for forms in p] for p in phones]) for f in range(len(PHONE_FORMATS))],
        invalid_phones=_concat(invalid),
    )
