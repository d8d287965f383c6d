"""Silver cleaning: native standardisation on tiny frames, and phonenumbers as the oracle over every generated phone."""

from __future__ import annotations

import datetime as dt

import phonenumbers
import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from globalbev.cleaning import (
    PHONE_PLANS,
    e164_pattern,
    has_single_case,
    mark_exact_duplicates,
    mark_latest,
    mark_near_duplicates,
    parse_date,
    phone_rewrite_pattern,
    squeeze_whitespace,
    standardize_city,
    standardize_email,
    standardize_phone,
    standardize_postal_code,
    standardize_street,
)


def oracle(text: str, region: str) -> str | None:
    """E.164 by phonenumbers, or None when it cannot parse the text or the number is invalid."""
    try:
        n = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    return (
        phonenumbers.format_number(n, phonenumbers.PhoneNumberFormat.E164) if phonenumbers.is_valid_number(n) else None
    )


@pytest.mark.unit
def test_patterns_are_built_from_the_plans():
    import re

    assert re.match(e164_pattern(), "4915661962193") and not re.match(e164_pattern(), "49156619621")

    def digits(market, phone):
        m = re.match(phone_rewrite_pattern(market), f"{PHONE_PLANS[market].calling_code}:{phone}")
        return "".join(g for g in m.groups() if g) if m else None

    assert digits("BR", "00215511984774669") == digits("BR", "11984774669") == "5511984774669"
    assert digits("US", "14105122588") == digits("US", "+14105122588") == "14105122588"
    assert digits("FR", "33616092471") == digits("FR", "0616092471") == "33616092471"
    assert digits("US", "447416324062") is None and digits("US", "+4474163240") is None
    assert digits("GB", "+14105122588") == "14105122588"  # any market's number, written internationally


@pytest.mark.unit
def test_standardize_phone_every_way_of_writing_a_number(spark):
    rows = [
        ("US", "(410) 512-2588", "+14105122588"),
        ("US", "+1 410-512-2588", "+14105122588"),
        ("US", "01114105122588", "+14105122588"),
        ("US", "410.512.2588", "+14105122588"),
        ("GB", "07416 324062", "+447416324062"),
        ("GB", "+44 (0)7416 324062", "+447416324062"),
        ("GB", "00447416324062", "+447416324062"),
        ("DE", "015661 962193", "+4915661962193"),
        ("FR", "06 16 09 24 71", "+33616092471"),
        ("BR", "00215511984774669", "+5511984774669"),
        ("BR", "(11) 98477-4669", "+5511984774669"),
        ("IN", "081792 15169", "+918179215169"),
        ("US", "+447416324062", "+447416324062"),  # a foreign number stays valid (phonenumbers agrees)
        ("US", "(410) 512-2", None),
        ("FR", "06 19 18 4CALL", None),
        ("DE", "01528 745050199", None),
        ("GB", None, None),
    ]
    df = spark.createDataFrame(rows, "market string, phone string, expected string")
    got = df.select(standardize_phone("phone", "market").alias("e164"))
    assertDataFrameEqual(got, df.select(F.col("expected").alias("e164")), checkRowOrder=True)
    assert all(oracle(p, m) == e for m, p, e in rows if p is not None)


@pytest.mark.unit
def test_standardize_phone_agrees_with_phonenumbers_on_every_generated_phone(spark):
    """Every phone the generator can write (all pools, all formats, the invalid ones) for seed 7."""
    from data_generators.pools import build_pools

    pools = build_pools(7)
    df = spark.createDataFrame(pools.every_phone(), "market string, phone string")
    got = {
        (r.market, r.phone): r.e164
        for r in df.select("market", "phone", standardize_phone("phone", "market").alias("e164")).collect()
    }
    wrong = [(k, v, oracle(k[1], k[0])) for k, v in got.items() if v != oracle(k[1], k[0])]
    assert len(got) > 9000 and wrong == []
    assert sum(v is None for v in got.values()) == sum(pools.invalid_phones.size)  # every invalid one, and only those


@pytest.mark.unit
def test_standardize_email(spark):
    df = spark.createDataFrame(
        [
            (" Ana.Silva12@GMAIL.com  ", "ana.silva12@gmail.com"),
            ("ana.silva12gmail.com", None),
            ("ana@@gmail.com", None),
            ("ana at gmail.com", None),
            ("a@b.co", "a@b.co"),
        ],
        "email string, expected string",
    )
    assertDataFrameEqual(
        df.select(standardize_email("email").alias("e")), df.select(F.col("expected").alias("e")), checkRowOrder=True
    )


@pytest.mark.unit
def test_standardize_street_city_postal(spark):
    df = spark.createDataFrame(
        [
            ("US", "12 Boone St.", "12 Boone Street"),
            ("GB", "12 Pearce Cl.", "12 Pearce Close"),
            ("DE", "Roskothal. 12", "Roskothallee 12"),
            ("FR", "12 bd. Colas", "12 boulevard Colas"),
            ("BR", "Tv. Nunes, 12", "Travessa Nunes, 12"),
            ("IN", "12, Bhatnagar Mg.", "12, Bhatnagar Marg"),
            ("FR", "12 rue colas", "12 rue Colas"),
            ("FR", "12 RUE COLAS", "12 rue Colas"),
            ("BR", "RUA NUNES, 12", "Rua Nunes, 12"),
            ("US", "  12 Boone  Street", "12 Boone Street"),
            ("GB", "12 Pearce Road", "12 Pearce Road"),
            ("US", None, None),
        ],
        "market string, street string, expected string",
    )
    assertDataFrameEqual(
        df.select(standardize_street("street", "market").alias("s")),
        df.select(F.col("expected").alias("s")),
        checkRowOrder=True,
    )
    cities = spark.createDataFrame([("LEEDS",), ("rio de janeiro",), ("Saint-Denis",)], "c string")
    assert [r[0] for r in cities.select(standardize_city("c")).collect()] == ["Leeds", "Rio De Janeiro", "Saint-Denis"]
    codes = spark.createDataFrame([(" 75001 ",), ("",), ("  ",), (None,), ("sw1a 1aa",)], "p string")
    assert [r[0] for r in codes.select(standardize_postal_code("p")).collect()] == [
        "75001",
        None,
        None,
        None,
        "SW1A 1AA",
    ]


@pytest.mark.unit
def test_whitespace_and_single_case(spark):
    df = spark.createDataFrame(
        [(" a  b ",), ("ROSKOTHSTRAẞE 12",), ("roskothstraße 12",), ("Roskothstraße 12",), ("12",)], "s string"
    )
    assert [r[0] for r in df.select(squeeze_whitespace("s")).collect()][0] == "a b"
    assert [r[0] for r in df.select(has_single_case("s")).collect()] == [True, True, True, False, False]


@pytest.mark.unit
def test_parse_date_any_known_format(spark):
    df = spark.createDataFrame(
        [
            ("07/01/2025",),
            ("01.07.2025",),
            ("2025-07-01T23:59:59",),
            ("20250701",),
            ("01 Jul 2025",),
            ("Jul 01, 2025",),
            ("2025/07/01",),
            ("2025-07-01",),
            ("31/31/2025",),
            (None,),
        ],
        "d string",
    )
    assert [r[0] for r in df.select(parse_date("d")).collect()] == [dt.date(2025, 7, 1)] * 8 + [None, None]


@pytest.mark.unit
def test_duplicate_marks(spark):
    df = spark.createDataFrame(
        [(1, "a@x.com", "v1"), (2, "a@x.com", "v1"), (3, " A@X.com", "v1"), (3, "c@x.com", "v2"), (4, None, "v1")],
        "id long, email string, version string",
    )
    exact = mark_exact_duplicates(df, ["email", "version"], order_by=["id"])
    assert sorted((r.id, r.email, r._exact_dup_rank) for r in exact.collect() if r.email == "a@x.com") == [
        (1, "a@x.com", 1),
        (2, "a@x.com", 2),
    ]
    latest = mark_latest(df, ["id"], [F.col("version").desc()])
    assert {(r.id, r.version) for r in latest.where("_version_rank = 1").collect()} == {
        (1, "v1"),
        (2, "v1"),
        (3, "v2"),
        (4, "v1"),
    }
    near = mark_near_duplicates(df, standardize_email("email"), "id")
    assert sorted((r.id, r.version, r._near_dup_of) for r in near.collect()) == [
        (1, "v1", None),
        (2, "v1", 1),
        (3, "v1", 1),
        (3, "v2", None),
        (4, "v1", None),
    ]


EXAMPLE_MARKETS = ("US", "GB", "DE", "FR", "BR", "IN")
MARKET_IDD = {"US": "011", "GB": "00", "DE": "00", "FR": "00", "BR": "0021", "IN": "00"}  # BR: 00 + carrier 21


def written_every_way(num: phonenumbers.PhoneNumber, region: str) -> list[tuple[str, str, str]]:
    """(notation, market, text): the number as people write it — in its market unless the notation names another."""
    fmt = phonenumbers.PhoneNumberFormat
    cc, nsn = num.country_code, phonenumbers.national_significant_number(num)
    national, intl = phonenumbers.format_number(num, fmt.NATIONAL), phonenumbers.format_number(num, fmt.INTERNATIONAL)
    words = "".join(c if c.isdigit() else " " for c in national).split()
    return [
        ("e164", region, phonenumbers.format_number(num, fmt.E164)),
        ("international", region, intl),
        ("national", region, national),
        ("digits", region, "".join(words)),
        ("dotted", region, ".".join(words)),
        ("dashed", region, "-".join(words)),
        ("slashed", region, words[0] + "/" + "".join(words[1:])),
        ("idd_of_the_market", region, f"{MARKET_IDD[region]} {cc} {nsn}"),
        ("00_from_the_us", "US", f"00{cc}{nsn}"),  # phonenumbers rejects it: the US dials out with 011
        ("011_from_the_us", "US", f"011 {cc} {nsn}"),
        ("tel_uri", region, phonenumbers.format_number(num, fmt.RFC3966)),
        ("plus_cc_0", region, intl.replace(f"+{cc} ", f"+{cc} (0)", 1)),
        ("calling_code_digits", region, f"{cc}{nsn}"),
        ("international_abroad", "FR" if region != "FR" else "GB", intl),
    ]


def broken_every_way(num: phonenumbers.PhoneNumber, region: str) -> list[tuple[str, str, str]]:
    """Invalid variants of the number: truncated, padded, lettered (phonenumbers still accepts a few of them)."""
    national = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.NATIONAL)
    e164 = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
    return [
        ("truncated", region, national[:-1]),
        ("padded", region, national + "9"),
        ("lettered", region, national[:-1] + "A"),
        ("vanity", region, national[:-4] + "CALL"),
        ("e164_truncated", region, e164[:-1]),
        ("e164_padded", region, e164 + "9"),
    ]


@pytest.mark.unit
def test_standardize_phone_equals_phonenumbers_on_every_example_number_in_every_notation(spark):
    """libphonenumber's example number of every type each market has, written every common way: the native
    standardiser gives exactly phonenumbers' E.164 (or null with it); on invalid variants it never accepts what
    phonenumbers rejects, and rejects letters even where phonenumbers reads past them."""
    numbers = {
        (region, phonenumbers.national_significant_number(n)): n
        for region in EXAMPLE_MARKETS
        for t in phonenumbers.PhoneNumberType.values()
        if (n := phonenumbers.example_number_for_type(region, t)) is not None
    }
    rows = [
        (kind, notation, market, text)
        for (region, _), n in numbers.items()
        for kind, way in (("valid", written_every_way), ("broken", broken_every_way))
        for notation, market, text in way(n, region)
    ]
    df = spark.createDataFrame(rows, "kind string, notation string, market string, phone string")
    got = df.select("*", standardize_phone("phone", "market").alias("e164")).collect()
    judged = [(r, oracle(r.phone, r.market)) for r in got]
    written = [(r, o) for r, o in judged if r.kind == "valid"]
    assert len(numbers) >= 35 and len(written) == 14 * len(numbers)
    assert sum(o is not None for _, o in written) >= 12 * len(numbers)  # all but 00-from-the-US (and one DE number)
    assert [(r.notation, r.phone, r.e164, o) for r, o in written if r.e164 != o] == []
    assert [(r.notation, r.phone, r.e164, o) for r, o in judged if r.e164 is not None and r.e164 != o] == []
    assert all(r.e164 is None for r, _ in judged if any(c.isalpha() for c in r.phone.removeprefix("tel:")))
