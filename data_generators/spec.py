"""The declarative spec of GlobalBev's synthetic data: markets, entities, sizes, defects and drift.

The generator, the defect manifest, the README and the workshop all read this one file, so reading it
tells you what the data looks like (dbldatagen's idea: the spec is the documentation).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

# ----------------------------------------------------------------------------------------------------
# Calendar
# ----------------------------------------------------------------------------------------------------
HISTORY_START = dt.date(2023, 7, 1)  # first order date in the day-0 history
DAY0_AS_OF = dt.date(2025, 6, 30)  # day 0 is the state at the end of this date; day d is DAY0_AS_OF + d
INVENTORY_HISTORY_DAYS = 30  # day 0 carries this many days of inventory events
BATCH_INTERVAL_DAYS = 30  # each product is produced every 30 days
BATCH_FIRST = HISTORY_START - dt.timedelta(days=90)  # first production run (before the first order)
LOAD_HOUR_UTC = 23  # every row written on day d gets updated_at = (DAY0_AS_OF + d) 23:00:00+00


def as_of(day: int) -> dt.date:
    """The business date of generation day `day` (day 0 is the initial load)."""
    return DAY0_AS_OF + dt.timedelta(days=day)


# ----------------------------------------------------------------------------------------------------
# Markets: currency, phone numbering plan, address conventions
# ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Market:
    code: str  # ISO 3166-1 alpha-2, also the phonenumbers region
    name: str
    currency: str
    fx_to_usd: float  # 1 unit of local currency in USD (fixed for the whole dataset)
    locale: str  # Faker locale used to build the value pools
    calling_code: int
    timezone: str
    street_template: str  # {num} {name} {suffix}; DE glues the suffix to the name
    street_suffixes: dict[str, str]  # full word -> abbreviation (every abbreviation contains a '.')
    email_domains: tuple[str, ...]
    payment_methods: tuple[str, ...]  # card is always first
    weight: float  # share of customers before the hot-market boost


MARKETS: tuple[Market, ...] = (
    Market(
        "US",
        "United States",
        "USD",
        1.0,
        "en_US",
        1,
        "America/New_York",
        "{num} {name} {suffix}",
        {"Street": "St.", "Avenue": "Ave.", "Boulevard": "Blvd.", "Drive": "Dr.", "Road": "Rd."},
        ("gmail.com", "yahoo.com", "outlook.com", "icloud.com"),
        ("card", "paypal", "apple_pay"),
        0.30,
    ),
    Market(
        "GB",
        "United Kingdom",
        "GBP",
        1.27,
        "en_GB",
        44,
        "Europe/London",
        "{num} {name} {suffix}",
        {"Road": "Rd.", "Street": "St.", "Lane": "Ln.", "Avenue": "Ave.", "Close": "Cl."},
        ("gmail.com", "btinternet.com", "outlook.co.uk", "yahoo.co.uk"),
        ("card", "paypal", "bank_transfer"),
        0.15,
    ),
    Market(
        "DE",
        "Germany",
        "EUR",
        1.08,
        "de_DE",
        49,
        "Europe/Berlin",
        "{name}{suffix} {num}",
        {"straße": "str.", "platz": "pl.", "allee": "al."},
        ("web.de", "gmx.de", "t-online.de", "gmail.com"),
        ("card", "paypal", "sepa_debit"),
        0.15,
    ),
    Market(
        "FR",
        "France",
        "EUR",
        1.08,
        "fr_FR",
        33,
        "Europe/Paris",
        "{num} {suffix} {name}",
        {"rue": "r.", "avenue": "av.", "boulevard": "bd.", "place": "pl."},
        ("orange.fr", "free.fr", "laposte.net", "gmail.com"),
        ("card", "paypal", "bank_transfer"),
        0.12,
    ),
    Market(
        "BR",
        "Brazil",
        "BRL",
        0.18,
        "pt_BR",
        55,
        "America/Sao_Paulo",
        "{suffix} {name}, {num}",
        {"Rua": "R.", "Avenida": "Av.", "Travessa": "Tv."},
        ("gmail.com", "uol.com.br", "bol.com.br", "hotmail.com"),
        ("card", "pix", "boleto"),
        0.14,
    ),
    Market(
        "IN",
        "India",
        "INR",
        0.012,
        "en_IN",
        91,
        "Asia/Kolkata",
        "{num}, {name} {suffix}",
        {"Road": "Rd.", "Street": "St.", "Marg": "Mg."},
        ("gmail.com", "rediffmail.com", "yahoo.co.in", "outlook.com"),
        ("card", "upi", "cash_on_delivery"),
        0.14,
    ),
)
MARKET_CODES = tuple(m.code for m in MARKETS)

# Phone formats. Index 0 is the clean form (E.164); all others are valid numbers written differently.
PHONE_FORMATS = (
    "e164",  # +447416324062
    "international",  # +44 7416 324062
    "national",  # 07416 324062
    "digits_national",  # 07416324062
    "00_prefix",  # 00447416324062: the market's international prefix (011 in the US, 00 + carrier in Brazil)
    "dotted_national",  # 07416.324062
    "tel_uri",  # tel:+44-7416-324062 (RFC 3966)
    "local_habit",  # +44 (0)7416 324062; 1 (410) 512-2588 in the US, 030/123456 in DE, 0 21 (11) 98477-4669 in BR
)

# ----------------------------------------------------------------------------------------------------
# Products
# ----------------------------------------------------------------------------------------------------
BRANDS = ("FizzUp", "Aquaverde", "Solbrew", "Nordic Spring", "Mango Tango", "KoffeeKick", "Leaf & Co", "Vitalyte")
CATEGORIES = {  # category -> (sizes in ml, pack sizes, list price per unit USD range, kcal per 100 ml range)
    "soft_drink": ((330, 500, 1500), (1, 6, 12), (0.9, 2.5), (20, 45)),
    "water": ((500, 750, 1500), (1, 6, 24), (0.5, 1.6), (0, 0)),
    "juice": ((250, 1000), (1, 4), (1.5, 4.5), (40, 60)),
    "energy_drink": ((250, 500), (1, 4, 12), (1.8, 3.5), (45, 50)),
    "iced_tea": ((330, 500, 1500), (1, 6), (1.0, 2.8), (15, 35)),
    "cold_brew": ((250, 330), (1, 4), (2.5, 5.0), (2, 15)),
}
ALLERGENS = ("none", "milk", "soy", "nuts", "gluten", "sulphites")
SHELF_LIFE_DAYS = (180, 365)

# ----------------------------------------------------------------------------------------------------
# Orders, payments, partners
# ----------------------------------------------------------------------------------------------------
CHANNELS = ("web", "app", "call_center")
ORDER_STATUSES = ("placed", "paid", "shipped", "delivered", "cancelled", "returned")
ORDER_STATUS_WEIGHTS = (0.05, 0.10, 0.15, 0.62, 0.05, 0.03)
CARD_BRANDS = ("visa", "mastercard", "amex", "elo", "rupay")
DISCOUNTS_PCT = (0, 0, 0, 0, 5, 10, 15, 20)  # drawn uniformly: 50% of lines undiscounted


@dataclass(frozen=True)
class Partner:
    """A marketplace partner that sends its orders as a CSV export, each in its own dialect."""

    name: str
    markets: tuple[str, ...]
    delimiter: str
    quoting: str  # pyarrow quoting_style: "needed" | "all_valid" | "none"
    date_format: str  # the partner's declared order_date format (strftime)
    decimal_comma: bool
    header_case: str  # "lower" | "upper" | "title"
    eol: str


PARTNERS: tuple[Partner, ...] = (
    Partner("shelfly", ("US", "GB", "IN"), ",", "all_valid", "%m/%d/%Y", False, "lower", "\n"),
    Partner("marktplatz", ("DE", "FR"), ";", "needed", "%d.%m.%Y", True, "title", "\r\n"),
    Partner("bazar_sul", ("BR",), "|", "none", "%Y-%m-%dT%H:%M:%S", False, "upper", "\n"),
)
# Unambiguous alternative formats used by the `date_format_mixed` defect (never a partner's declared one).
ALT_DATE_FORMATS = ("%Y%m%d", "%d %b %Y", "%b %d, %Y", "%Y/%m/%d")

# ----------------------------------------------------------------------------------------------------
# Inventory
# ----------------------------------------------------------------------------------------------------
WAREHOUSES_PER_MARKET = 2
INVENTORY_EVENT_TYPES = ("shipment", "receipt", "adjustment", "reservation")
INVENTORY_EVENT_WEIGHTS = (0.70, 0.08, 0.07, 0.15)

# ----------------------------------------------------------------------------------------------------
# Sizes at scale factor 1 (≈ 1 GB of raw output); every count scales linearly, products with sqrt.
# ----------------------------------------------------------------------------------------------------
ROWS_AT_SF1 = {
    "customers": 400_000,
    "products": 2_000,  # scaled with sqrt(scale), at least 40
    "orders": 1_800_000,
    "partner_order_lines": 900_000,
    "inventory_events": 1_700_000,
}
LINES_PER_ORDER = (1, 2, 3, 4, 5)
LINES_PER_ORDER_WEIGHTS = (0.30, 0.28, 0.20, 0.14, 0.08)
CHUNK_ROWS = 250_000  # rows per generated chunk (bounded memory)

# Day-to-day change volumes, as a share of the current customer count (later days).
DAILY_CUSTOMER_INSERTS = 0.003
DAILY_CUSTOMER_UPDATES = 0.004
DAILY_CUSTOMER_DELETES = 0.0008


# ----------------------------------------------------------------------------------------------------
# Defects: every one is injected at a rate and recorded in the manifest under "<dataset>.<defect>"
# ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Defect:
    dataset: str  # manifest dataset: a PostgreSQL table (shop.x) or a landing dataset (landing/x)
    name: str
    rate: float  # share of eligible records
    key: str  # the key columns the manifest lists
    where: str  # the column(s) carrying it
    rule: str  # how to detect it (the independent check the tests run)

    @property
    def id(self) -> str:
        return f"{self.dataset}.{self.name}"


DEFECTS: tuple[Defect, ...] = (
    # shop.customers ------------------------------------------------------------------------------
    Defect(
        "shop.customers",
        "phone_format",
        0.30,
        "customer_id",
        "phone",
        "a valid number for the market, not written in E.164 (national, international, digits, 00-prefix, dotted)",
    ),
    Defect(
        "shop.customers",
        "phone_invalid",
        0.03,
        "customer_id",
        "phone",
        "phonenumbers.parse(phone, market) fails or is_valid_number is False",
    ),
    Defect(
        "shop.customers", "email_noise", 0.08, "customer_id", "email", "valid address, but email != lower(trim(email))"
    ),
    Defect(
        "shop.customers",
        "email_invalid",
        0.02,
        "customer_id",
        "email",
        "lower(trim(email)) does not match ^[a-z0-9._+-]+@[a-z0-9-]+(\\.[a-z0-9-]+)*\\.[a-z]{2,}$",
    ),
    Defect(
        "shop.customers",
        "address_abbreviation",
        0.10,
        "customer_id",
        "street",
        "the street uses an abbreviated suffix (every abbreviation contains '.', clean streets never do)",
    ),
    Defect(
        "shop.customers",
        "address_casing",
        0.05,
        "customer_id",
        "street, city",
        "street (and city) all upper case or all lower case",
    ),
    Defect(
        "shop.customers",
        "address_whitespace",
        0.05,
        "customer_id",
        "street",
        "street != trim(street) or street contains two consecutive spaces",
    ),
    Defect("shop.customers", "postal_code_missing", 0.03, "customer_id", "postal_code", "postal_code is NULL or blank"),
    Defect(
        "shop.customers",
        "duplicate_exact",
        0.01,
        "customer_id",
        "all business columns",
        "identical to an earlier customer in every column except customer_id and updated_at; "
        "details maps duplicate -> original",
    ),
    Defect(
        "shop.customers",
        "duplicate_near",
        0.01,
        "customer_id",
        "phone, email, street",
        "the same person as an earlier customer (same lower(trim(email))) written differently; "
        "details maps duplicate -> original",
    ),
    # shop.orders ---------------------------------------------------------------------------------
    Defect("shop.orders", "orphan_customer", 0.005, "order_id", "customer_id", "customer_id not in shop.customers"),
    Defect(
        "shop.orders",
        "future_order_date",
        0.002,
        "order_id",
        "order_ts",
        "order_ts date (UTC) is after the business date of the day that wrote it",
    ),
    Defect(
        "shop.orders",
        "late_arriving",
        0.10,
        "order_id",
        "order_ts",
        "days >= 1 only: written on day d with an order_ts date at least 2 days before as_of(d)",
    ),
    Defect(
        "shop.orders",
        "null_burst",
        0.004,
        "order_id",
        "channel",
        "channel is NULL (in contiguous bursts of 20-200 orders)",
    ),
    # shop.order_lines ----------------------------------------------------------------------------
    Defect("shop.order_lines", "quantity_nonpositive", 0.004, "order_id|line_no", "quantity", "quantity <= 0"),
    Defect(
        "shop.order_lines",
        "price_outlier",
        0.002,
        "order_id|line_no",
        "unit_price",
        "unit_price is 100x or 1/100 of the product's list price in the order currency",
    ),
    Defect(
        "shop.order_lines",
        "orphan_product",
        0.003,
        "order_id|line_no",
        "sku, batch_id",
        "sku not in shop.products (and batch_id not in shop.batches)",
    ),
    Defect(
        "shop.order_lines",
        "manufactured_after_sold",
        0.004,
        "order_id|line_no",
        "batch_id",
        "the shipped batch's manufacture_date is after the order_ts date (UTC)",
    ),
    # landing/partner_orders ----------------------------------------------------------------------
    Defect(
        "landing/partner_orders",
        "date_format_mixed",
        0.06,
        "partner|partner_order_id|line_no",
        "order_date",
        "order_date does not parse with the partner's declared date format",
    ),
    Defect(
        "landing/partner_orders",
        "duplicate_exact",
        0.01,
        "partner|partner_order_id|line_no",
        "whole row",
        "the row appears twice in the day's files (the key is listed once; one extra copy each)",
    ),
    Defect(
        "landing/partner_orders",
        "orphan_product",
        0.003,
        "partner|partner_order_id|line_no",
        "sku",
        "sku not in shop.products",
    ),
    Defect(
        "landing/partner_orders",
        "quantity_nonpositive",
        0.003,
        "partner|partner_order_id|line_no",
        "quantity",
        "quantity <= 0",
    ),
    # landing/inventory_events --------------------------------------------------------------------
    Defect(
        "landing/inventory_events",
        "duplicate_exact",
        0.01,
        "event_id",
        "whole line",
        "the event line appears twice in the day's files (one extra copy each)",
    ),
    Defect(
        "landing/inventory_events",
        "null_burst",
        0.003,
        "event_id",
        "warehouse_id",
        "warehouse_id is null (in contiguous bursts of 10-100 events)",
    ),
    # landing/nutrition ---------------------------------------------------------------------------
    Defect(
        "landing/nutrition",
        "ingredient_percent_over_100",
        0.03,
        "sku",
        "ingredients[].percent",
        "the ingredient percentages add up to more than 100",
    ),
)
DEFECTS_BY_ID = {d.id: d for d in DEFECTS}


# ----------------------------------------------------------------------------------------------------
# Schema drift schedule
# ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Drift:
    day: int
    dataset: str
    change: str


def drift_schedule(customer_drift_day: int = 2, json_drift_day: int = 2) -> tuple[Drift, ...]:
    """The schema changes and the day each appears on."""
    return (
        Drift(
            customer_drift_day,
            "shop.customers",
            "ALTER TABLE shop.customers ADD COLUMN loyalty_tier text (bronze/silver/gold/platinum); "
            "customers inserted or updated from that day carry it, older rows stay NULL",
        ),
        Drift(
            json_drift_day,
            "landing/nutrition",
            "new fields per_serving.micronutrients (array of {name, amount, unit, pct_daily_value}) "
            "and sustainability {recyclable_pack, carbon_g_per_unit}",
        ),
        Drift(
            json_drift_day, "landing/inventory_events", "new fields temperature_c (double) and source_system (string)"
        ),
    )


LOYALTY_TIERS = ("bronze", "silver", "gold", "platinum")
LOYALTY_WEIGHTS = (0.55, 0.28, 0.13, 0.04)


@dataclass
class GenerationConfig:
    """What to generate and where: the one object the CLI, the tests and the pipeline pass around."""

    root: str = "./data"
    pg_url: str | None = None  # None: operational tables are written as CSV under <root>/operational/
    replace_shop_schema: bool = False  # drop a `shop` schema the generator did not make (never by default)
    scale: float = 0.01
    days: int = 1  # number of days: day 0 (initial load) .. days-1
    seed: int = 7
    small_files: bool = False  # inventory events in many small files
    small_file_rows: int = 200  # rows per inventory-event file in small-files mode
    hot_sku_share: float = 0.25  # share of order lines that go to the hot SKU (SKU-000001)
    hot_market: str = "US"
    hot_market_share: float = 0.40  # share of customers in the hot market
    customer_drift_day: int = 2
    json_drift_day: int = 2
    defect_rates: dict[str, float] = field(default_factory=dict)  # "<dataset>.<defect>" -> rate override
    defect_multiplier: float = 1.0  # scales every rate (0 = clean data)
    write_operational_files: bool | None = None  # default: True when pg_url is None
    progress: bool = False
    chunk_rows: int = CHUNK_ROWS
    workers: int | None = None  # processes that render and write chunks (None: usable CPUs, at most 4)

    def rate(self, defect_id: str) -> float:
        """The injection rate of one defect after overrides and the multiplier."""
        base = self.defect_rates.get(defect_id, DEFECTS_BY_ID[defect_id].rate)
        return min(1.0, max(0.0, base * self.defect_multiplier))

    def rows(self, entity: str) -> int:
        """How many day-0 rows of `entity` this scale produces."""
        if entity == "products":
            return max(40, int(round(ROWS_AT_SF1["products"] * self.scale**0.5)))
        return max(20, int(round(ROWS_AT_SF1[entity] * self.scale)))
