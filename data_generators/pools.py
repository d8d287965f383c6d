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


def _local_habit(num: pn.PhoneNumber, region: str, national: str, intl: str) -> str:
    """The way the market's own people often write it: `1 (410) 512-2588` in the US, `030/123456` in Germany, the
    carrier code in Brazil (`0 21 (11) 98477-4669`), `+44 (0)7416 324062` elsewhere."""
    if region == "US":
        return f"1 {national}"
    if region == "DE":
        return national.replace(" ", "/", 1).replace(" ", "")
    if region == "BR":  # long distance through carrier 21 (a toll-free 0800 number has no carrier: dashes)
        return f"0 21 {national}" if national.startswith("(") else national.replace(" ", "-")
    return intl.replace(f"+{num.country_code} ", f"+{num.country_code} (0)", 1)


def phone_formats(num: pn.PhoneNumber, region: str) -> list[str]:
    """The number written in every PHONE_FORMATS format (index 0 is E.164)."""
    national = pn.format_number(num, PNF.NATIONAL)
    intl = pn.format_number(num, PNF.INTERNATIONAL)
    digits = "".join(c for c in national if c.isdigit())
    nsn = pn.national_significant_number(num)
    dotted = ".".join("".join(c if c.isdigit() else " " for c in national).split())
    return [
        pn.format_number(num, PNF.E164),
        intl,
        national,
        digits,
        f"{_idd(region)}{num.country_code}{nsn}",
        dotted,
        pn.format_number(num, PNF.RFC3966),
        _local_habit(num, region, national, intl),
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


def _parse_key(text: str) -> tuple[bool, str]:
    """What phonenumbers reads from a plain notation: whether it starts with '+' (after 'tel:'), and its digits."""
    return text.removeprefix("tel:").startswith("+"), "".join(c for c in text if c.isdigit())


# Of every 20 valid numbers of a market: 11 mobiles, 6 fixed lines, 3 toll-free numbers.
PHONE_TYPE_MIX = ((PNT.MOBILE, 11), (PNT.FIXED_LINE, 6), (PNT.TOLL_FREE, 3))


def _candidate(market: Market, example: str, number_type: int, rng: np.random.Generator) -> str:
    """Random digits after the example number's leading digits (its area code, mobile or toll-free prefix); German
    numbers also get a random length around the example's (fixed lines of 6 to 11 digits, toll-free of 11 to 15)."""
    keep = 4 if number_type == PNT.TOLL_FREE and market.code == "IN" else 3 if number_type == PNT.TOLL_FREE else 2
    if market.code == "US" and number_type != PNT.TOLL_FREE:
        keep = 1
    length = len(example)
    if market.code == "DE":
        length += int(rng.integers(-2, 3))
    cand = example[:keep] + "".join(map(str, rng.integers(0, 10, length - keep)))
    if market.code == "US" and number_type != PNT.TOLL_FREE:
        cand = str(rng.integers(2, 10)) + cand[1:]
    return cand


def _phones(market: Market, rng: np.random.Generator, n: int) -> list[list[str]]:
    """`n` distinct valid numbers (mobiles, fixed lines, toll-free: PHONE_TYPE_MIX), each as all PHONE_FORMATS strings;
    every notation that phonenumbers could read differently is parsed back and checked."""
    cc = int(market.calling_code)
    out, seen = [], set()
    for number_type, share in PHONE_TYPE_MIX:
        want = n * share // 20 if number_type != PHONE_TYPE_MIX[-1][0] else n - len(out)
        example = pn.national_significant_number(pn.example_number_for_type(market.code, number_type))
        got = 0
        for _ in range(want * 40):
            cand = _candidate(market, example, number_type, rng)
            num = pn.PhoneNumber(country_code=cc, national_number=int(cand))
            if cand in seen or not pn.is_valid_number_for_region(num, market.code):
                continue
            forms = phone_formats(num, market.code)
            if len(set(forms)) != len(forms):
                continue
            to_check = {_parse_key(f): f for f in forms[1:]}  # same '+' and digits: phonenumbers reads them alike
            if not all(_same_valid_number(f, market.code, num) for f in to_check.values()):
                continue
            seen.add(cand)
            out.append(forms)
            got += 1
            if got == want:
                break
    if len(out) < n // 2:
        raise RuntimeError(f"could only build {len(out)} valid phone numbers for {market.code}")
    return out


def _invalid_phones(valid: list[list[str]], market: Market, rng: np.random.Generator, n: int) -> list[str]:
    """Strings that phonenumbers rejects for the market: truncated, padded or lettered numbers, and in the US the
    international prefix '00' that visitors bring from home (the US dials out with 011)."""
    out = []
    kinds = 4 if market.code == "US" else 3
    for i in range(n * 10):
        national, kind = valid[i % len(valid)][2], i % kinds
        if kind == 3:
            cand = "00" + valid[i % len(valid)][0].removeprefix("+")
        else:
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

    def market_values(self, m: int) -> list[str]:
        """Market m's values (m: the market's index in spec.MARKETS)."""
        start = int(self.offset[m])
        return self.values[start : start + int(self.size[m])].to_pylist()


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

    def every_phone(self) -> list[tuple[str, str]]:
        """(market code, phone) for every phone the pools hold: each valid number in every PHONE_FORMATS notation, and
        the invalid ones; market by market in spec.MARKETS order."""
        pools = [*self.phones, self.invalid_phones]
        return [(m.code, v) for i, m in enumerate(MARKETS) for pool in pools for v in pool.market_values(i)]


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
