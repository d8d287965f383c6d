"""Silver data quality: the expectation engine, one-pass evaluation, row accounting per builder, loud wiring errors."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pyspark.sql import functions as F

from globalbev.errors import GlobalBevError
from globalbev.expectations import (
    FINDING_COLUMNS,
    QUARANTINE_COLUMNS,
    Expectation,
    ExpectationError,
    MissingReferenceError,
    apply_expectations,
    business_rule,
    in_range,
    in_set,
    is_rejected,
    lookup,
    matches,
    not_null,
    references,
)
from globalbev.quality import (
    build_silver_batches,
    build_silver_customers,
    build_silver_markets,
    build_silver_products,
    build_silver_warehouses,
)
from globalbev.quality_landing import build_silver_inventory_events, build_silver_partner_orders
from globalbev.quality_sales import build_silver_order_lines, build_silver_orders, build_silver_payments

DAY0, DAY1 = dt.datetime(2025, 6, 30, 23), dt.datetime(2025, 7, 1, 23)
CUSTOMER_SCHEMA = (
    "customer_id long, market_code string, first_name string, last_name string, email string, phone string, "
    "street string, city string, postal_code string, signup_date date, marketing_consent boolean, "
    "updated_at timestamp, deleted_at timestamp"
)
ORDER_SCHEMA = (
    "order_id long, customer_id long, market_code string, order_ts timestamp, channel string, status string, "
    "currency string, order_total int, updated_at timestamp"
)
LINE_SCHEMA = (
    "order_id long, line_no int, sku string, batch_id long, quantity int, unit_price double, "
    "discount_pct int, line_amount double, updated_at timestamp"
)


def accounted(bronze, result) -> tuple[int, int, int]:
    """(rows in, clean, quarantined), asserting rows in = clean + quarantined and the output schemas."""
    n_in, n_clean, n_q = bronze.count(), result.clean.count(), result.quarantined.count()
    assert n_in == n_clean + n_q
    assert result.quarantined.columns == QUARANTINE_COLUMNS and result.findings.columns == FINDING_COLUMNS
    return n_in, n_clean, n_q


def rules_of(result) -> list[tuple[str, str]]:
    return sorted((r.record_key, r.rule) for r in result.quarantined.collect())


@pytest.fixture(scope="module")
def customers(spark):
    d = dt.date(2024, 1, 5)
    # fmt: off
    rows = [
        (1, "GB", "Ana", "Reed", "ana.reed1@gmail.com", "+447416324062", "12 Pearce Road", "Leeds", "LS1 4AP", d, True,
         DAY0, None),
        (2, "GB", "Ana", "Reed", "ana.reed1@gmail.com", "+447416324062", "12 Pearce Road", "Leeds", "LS1 4AP", d, True,
         DAY0, None),
        (3, "GB", "Ana", "Reed", "ANA.REED1@gmail.com", "07416.324062", "12 Pearce  Road", "Leeds", "LS1 4AP", d, True,
         DAY0, None),
        (4, "US", "Bo", "Li", "bo.li4yahoo.com", "(410) 512-2", "12 boone street", "boston", None, d, False, DAY0,
         None),
        (5, "FR", "Cé", "Roy", "ce.roy5@free.fr", "+33616092471", "12 rue Colas", "Lyon", "69001", d, True, DAY0, None),
        (5, "FR", "Cé", "Roy", "ce.roy5@free.fr", "+33616092471", "3 r. Colas", "Lyon", "69002", d, True, DAY1, DAY1),
    ]
    # fmt: on
    return spark.createDataFrame(rows, CUSTOMER_SCHEMA)


@pytest.fixture(scope="module")
def orders(spark):
    return spark.createDataFrame(
        [
            (10, 1, "GB", dt.datetime(2025, 7, 1, 9), "web", "paid", "GBP", 5, DAY1),
            (11, 2, "GB", dt.datetime(2025, 7, 1, 23, 59), "app", "paid", "GBP", 5, DAY1),
            (12, 10**12, "GB", dt.datetime(2025, 7, 1, 9), "web", "paid", "GBP", 5, DAY1),
            (13, 1, "GB", dt.datetime(2025, 7, 2, 0, 1), "web", "placed", "GBP", 5, DAY1),
            (14, 1, "GB", dt.datetime(2025, 6, 29, 9), None, "paid", "GBP", 5, DAY1),
            (15, 1, "GB", dt.datetime(2025, 6, 30, 9), "web", "paid", "GBP", 5, DAY1),  # one day behind: not late
        ],
        ORDER_SCHEMA,
    )


@pytest.mark.unit
def test_constructors_say_which_column_which_value(spark):
    df = spark.createDataFrame(
        [(1, "US", 5, "SKU-000001"), (2, "XX", -1, "bad"), (3, None, None, None)],
        "id int, market string, qty int, sku string",
    )
    rules = [
        not_null("market"),
        in_set("market", ("US", "GB")),
        in_range("qty", 1, 99),
        matches("sku", r"^SKU-\d{6}$"),
        business_rule("qty_odd", F.col("qty") % 2 != 0, "odd", action="flagged"),
    ]
    checked = {r.id: [(h.rule, h.action, h.reason) for h in r._dq] for r in apply_expectations(df, rules).collect()}
    assert checked[1] == [("qty_odd", "flagged", "odd")]
    assert checked[2] == [
        ("market_unknown", "quarantined", "market = XX; expected one of US, GB"),
        ("qty_out_of_range", "quarantined", "qty = -1; expected between 1 and 99"),
        ("sku_malformed", "quarantined", r"sku = bad does not match ^SKU-\d{6}$"),
        ("qty_odd", "flagged", "odd"),
    ]
    assert [h[0] for h in checked[3]] == ["market_not_null"]  # NULL passes every rule but not_null
    assert [r.id for r in apply_expectations(df, rules).where(~is_rejected()).collect()] == [1]


@pytest.mark.unit
def test_all_rules_in_one_pass(spark):
    """However many rules, the check is one projection over the input: no extra scan, join or shuffle."""
    df = spark.range(10).withColumn("q", F.col("id") - 3)
    rules = [in_range("q", 0, None, rule=f"rule_{i}") for i in range(25)]
    plan = apply_expectations(df, rules).where(is_rejected())._jdf.queryExecution().executedPlan().toString()
    assert plan.count("Range") == 1 and "Exchange" not in plan and "Join" not in plan
    assert apply_expectations(df, rules).where(is_rejected()).count() == 3


@pytest.mark.unit
def test_references_through_lookup(spark):
    df = spark.createDataFrame([(1, "a"), (2, "z"), (3, None)], "id int, sku string")
    ref = spark.createDataFrame([("a", 1.0), ("a", 1.0)], "sku string, price double")
    looked = lookup(df, ref, {"sku": "sku"}, "_found", {"_price": "price"})
    assert sorted((r.id, r._found, r._price) for r in looked.collect()) == [
        (1, True, 1.0),
        (2, False, None),
        (3, False, None),
    ]
    checked = apply_expectations(looked, [references("sku", "_found", "products")])
    assert [r.id for r in checked.where(is_rejected()).collect()] == [2]
    with pytest.raises(MissingReferenceError, match="_found"):  # no reference must never mean "every row found"
        lookup(df, None, {"sku": "sku"}, "_found")


@pytest.mark.unit
def test_an_action_is_one_of_five_and_passed_by_keyword():
    assert Expectation("r", F.lit(True), F.lit("why"), action="nulled").action == "nulled"
    with pytest.raises(ExpectationError, match="'drop'") as e:
        business_rule("r", F.lit(True), "why", action="drop")
    assert isinstance(e.value, ValueError) and isinstance(e.value, GlobalBevError)
    with pytest.raises(TypeError):
        Expectation("r", F.lit(True), F.lit("why"), "flagged")
    with pytest.raises(TypeError):
        business_rule("r", F.lit(True), "why", "flagged")


@pytest.mark.unit
def test_references_are_required_keywords(spark, orders):
    """A missing reference names the builder and the reference; a misspelt or extra one is a TypeError."""
    lines = spark.createDataFrame([], LINE_SCHEMA)
    refs = {n: orders for n in ("orders", "products", "batches", "markets", "quarantined_orders")}
    with pytest.raises(MissingReferenceError, match=r"build_silver_order_lines: .*batches, quarantined_orders"):
        build_silver_order_lines(lines, **{**refs, "batches": None, "quarantined_orders": None})
    with pytest.raises(TypeError, match="quarantined_orders"):
        build_silver_payments(lines, orders=orders)
    with pytest.raises(TypeError, match="customer"):
        build_silver_orders(orders, customer=orders)
    with pytest.raises(TypeError, match="markets"):
        build_silver_products(orders, markets=orders)  # a builder takes only the references it looks up


@pytest.mark.unit
def test_customers_dedup_fix_and_latest_wins(spark, customers):
    r = build_silver_customers(customers, run_id="r1")
    assert accounted(customers, r) == (6, 3, 3)
    assert rules_of(r) == [("2", "duplicate_exact"), ("3", "duplicate_near"), ("5", "superseded")]
    found = sorted((f.record_key, f.defect, f.action) for f in r.findings.collect())
    assert found == [
        ("2", "duplicate_exact", "deduplicated"),
        ("3", "address_whitespace", "fixed"),
        ("3", "duplicate_near", "deduplicated"),
        ("3", "email_noise", "fixed"),
        ("3", "phone_format", "fixed"),
        ("4", "address_casing", "fixed"),
        ("4", "email_invalid", "nulled"),
        ("4", "phone_invalid", "nulled"),
        ("4", "postal_code_missing", "flagged"),
        ("5", "address_abbreviation", "fixed"),
        ("5", "superseded", "deduplicated"),
    ]
    clean = {c.customer_id: c for c in r.clean.collect()}
    assert (clean[4].email, clean[4].phone, clean[4].street, clean[4].city) == (None, None, "12 Boone Street", "Boston")
    assert (clean[5].street, clean[5].is_deleted, clean[5]._run_id) == ("3 rue Colas", True, "r1")
    q = r.quarantined.where("record_key = '2'").first()
    assert json.loads(q.record)["customer_id"] == 2 and q._source == "shop.customers" and q._run_id == "r1"


@pytest.mark.unit
def test_orders_orphans_future_late_and_null_channel(spark, customers, orders):
    r = build_silver_orders(orders, customers=customers, initial_load_at=DAY0)
    assert accounted(orders, r) == (6, 4, 2)
    assert rules_of(r) == [("12", "orphan_customer"), ("13", "future_order_date")]
    assert sorted((f.record_key, f.defect) for f in r.findings.collect()) == [
        ("12", "orphan_customer"),
        ("13", "future_order_date"),
        ("14", "late_arriving"),
        ("14", "null_burst"),
    ]
    clean = {c.order_id: (c.channel, c.is_late_arriving, str(c.order_date)) for c in r.clean.collect()}
    assert clean == {
        10: ("web", False, "2025-07-01"),
        11: ("app", False, "2025-07-01"),
        14: ("unknown", True, "2025-06-29"),
        15: ("web", False, "2025-06-30"),
    }
    first_load = build_silver_orders(orders.withColumn("updated_at", F.lit(DAY0)), customers=customers)
    assert first_load.findings.where("defect = 'late_arriving'").count() == 0  # the initial load is history, not late


@pytest.mark.unit
def test_order_lines_and_payments(spark, orders):
    products = spark.sql("SELECT 'SKU-000001' sku, CAST(2.54 AS DECIMAL(10,2)) list_price_usd")
    batches = spark.createDataFrame(
        [(10000, dt.date(2025, 6, 1)), (10001, dt.date(2025, 7, 2))], "batch_id long, manufacture_date date"
    )
    markets = spark.sql("SELECT 'GB' market_code, CAST(1.27 AS DECIMAL(12,6)) fx_to_usd")
    lines = spark.createDataFrame(
        [
            (10, 1, "SKU-000001", 10000, 2, 2.0, 0, 4.0, DAY1),
            (10, 2, "SKU-000001", 10000, -2, 2.0, 0, -4.0, DAY1),
            (10, 3, "SKU-000001", 10000, 1, 0.02, 0, 0.02, DAY1),
            (10, 4, "SKU-955555", 9000000104, 1, 2.0, 0, 2.0, DAY1),
            (10, 5, "SKU-000001", 10001, 1, 2.0, 0, 2.0, DAY1),
            (11, 1, "SKU-000001", 10000, 1, 2.0, 0, 2.0, DAY1),
            (12, 1, "SKU-000001", 10000, 0, 2.0, 0, 0.0, DAY1),
            (99, 1, "SKU-000001", 10000, 1, 2.0, 0, 2.0, DAY1),
        ],
        LINE_SCHEMA,
    )
    rejected = spark.createDataFrame([(12,), (13,)], "order_id long")
    r = build_silver_order_lines(
        lines, orders=orders, products=products, batches=batches, markets=markets, quarantined_orders=rejected
    )
    assert accounted(lines, r) == (8, 2, 6)
    assert rules_of(r) == [
        ("10|2", "quantity_nonpositive"),
        ("10|3", "price_outlier"),
        ("10|4", "orphan_product"),
        ("10|5", "manufactured_after_sold"),
        ("12|1", "quantity_nonpositive"),
        ("99|1", "orphan_order"),
    ]
    # a line of a rejected order still reports its own defect, and the parent as a consequence
    assert sorted(f.defect for f in r.findings.where("record_key = '12|1'").collect()) == [
        "parent_quarantined",
        "quantity_nonpositive",
    ]
    pays = spark.createDataFrame(
        [(10, 10, "card", 4.0, "GBP", DAY1), (12, 12, "card", 0.0, "GBP", DAY1), (98, 98, "pix", 1.0, "BRL", DAY1)],
        "payment_id long, order_id long, method string, amount double, currency string, updated_at timestamp",
    )
    p = build_silver_payments(pays, orders=orders, quarantined_orders=rejected)
    assert accounted(pays, p) == (3, 1, 2) and rules_of(p) == [("12", "parent_quarantined"), ("98", "orphan_order")]


@pytest.mark.unit
def test_reference_builders(spark):
    markets = spark.createDataFrame(
        [("GB", "GBP", 1.27, DAY0), ("GB", "GBP", 1.30, DAY1), ("X1", "EUR", 1.0, DAY0)],
        "market_code string, currency string, fx_to_usd double, updated_at timestamp",
    )
    m = build_silver_markets(markets)
    assert accounted(markets, m) == (3, 1, 2) and rules_of(m) == [("GB", "superseded"), ("X1", "market_code_malformed")]
    assert m.clean.first().fx_to_usd == 1.30
    wh = spark.createDataFrame(
        [("WH-GB-1", "GB", 100), ("WH-ZZ-1", "ZZ", 100)], "warehouse_id string, market_code string, capacity_units int"
    )
    w = build_silver_warehouses(wh, markets=markets)
    assert accounted(wh, w) == (2, 1, 1) and rules_of(w) == [("WH-ZZ-1", "orphan_market")]
    prods = spark.createDataFrame(
        [("SKU-000001", 330, 1, 1.5), ("SKU-000002", 0, 1, 1.5)],
        "sku string, size_ml int, pack_size int, list_price_usd double",
    )
    p = build_silver_products(prods)
    assert accounted(prods, p) == (2, 1, 1) and rules_of(p) == [("SKU-000002", "size_ml_out_of_range")]
    bt = spark.createDataFrame(
        [
            (1, "SKU-000001", dt.date(2025, 1, 1), dt.date(2025, 9, 1)),
            (2, "SKU-000001", dt.date(2025, 1, 1), dt.date(2024, 9, 1)),
            (3, "SKU-999999", dt.date(2025, 1, 1), dt.date(2025, 9, 1)),
        ],
        "batch_id long, sku string, manufacture_date date, expiry_date date",
    )
    b = build_silver_batches(bt, products=prods)
    assert accounted(bt, b) == (3, 1, 2) and rules_of(b) == [
        ("2", "expiry_before_manufacture"),
        ("3", "orphan_product"),
    ]


@pytest.mark.unit
def test_partner_orders_parse_dedup_and_reject(spark):
    products = spark.createDataFrame([("SKU-000001",)], "sku string")
    markets = spark.createDataFrame([(m,) for m in ("US", "DE", "FR", "BR")], "market_code string")
    rows = [
        ("shelfly", "SH-000000001", "1", "07/01/2025", "US", "SKU-000001", "2", "2.54", "USD", "f1"),
        ("shelfly", "SH-000000001", "1", "07/01/2025", "US", "SKU-000001", "2", "2.54", "USD", "f1"),
        ("marktplatz", "MA-000000002", "2", "Jul 01, 2025", "DE", "SKU-000001", "1", "2,35", "EUR", "f2"),
        ("marktplatz", "MA-000000003", "1", "01.07.2025", "FR", "SKU-000001", "0", "2,35", "EUR", "f2"),
        ("bazar_sul", "BA-000000004", "1", "2025-07-01T10:00:00", "BR", "SKU-977777", "1", "14.11", "BRL", "f3"),
        ("bazar_sul", "BA-000000005", "1", "tomorrow", "BR", "SKU-000001", "1", "14.11", "BRL", "f3"),
    ]
    df = spark.createDataFrame(
        rows,
        "PARTNER string, Partner_Order_Id string, line_no string, order_date string, "
        "market string, sku string, quantity string, unit_price string, currency string, "
        "_source_file string",
    )
    r = build_silver_partner_orders(df, products=products, markets=markets)
    assert accounted(df, r) == (6, 2, 4)
    assert rules_of(r) == [
        ("bazar_sul|BA-000000004|1", "orphan_product"),
        ("bazar_sul|BA-000000005|1", "order_date_invalid"),
        ("marktplatz|MA-000000003|1", "quantity_nonpositive"),
        ("shelfly|SH-000000001|1", "duplicate_exact"),
    ]
    assert sorted(f.record_key for f in r.findings.where("defect = 'date_format_mixed'").collect()) == [
        "marktplatz|MA-000000002|2"
    ]
    clean = {c.partner: (str(c.order_date), c.quantity, str(c.unit_price), c.market_code) for c in r.clean.collect()}
    assert clean == {"shelfly": ("2025-07-01", 2, "2.54", "US"), "marktplatz": ("2025-07-01", 1, "2.35", "DE")}


@pytest.mark.unit
def test_inventory_events_dedup_and_null_burst(spark):
    schema = (
        "event_id long, event_ts timestamp, warehouse_id string, sku string, event_type string, quantity_delta int, "
        "on_hand_after int, reserved int, reorder_point int, temperature_c double"
    )
    t = dt.datetime(2025, 7, 1, 8)
    ev = spark.createDataFrame(
        [
            (1, t, "WH-US-1", "SKU-000001", "shipment", -3, 120, 1, 50, 6.1),
            (1, t, "WH-US-1", "SKU-000001", "shipment", -3, 120, 1, 50, 6.1),
            (2, t, None, "SKU-000001", "receipt", 40, 160, 1, 50, None),
            (3, t, "WH-US-1", "SKU-000001", "teleport", 1, 1, 0, 50, None),
        ],
        schema,
    )
    products = spark.createDataFrame([("SKU-000001",)], "sku string")
    warehouses = spark.createDataFrame([("WH-US-1",)], "warehouse_id string")
    r = build_silver_inventory_events(ev, products=products, warehouses=warehouses)
    assert accounted(ev, r) == (4, 2, 2) and rules_of(r) == [("1", "duplicate_exact"), ("3", "event_type_unknown")]
    assert sorted((c.event_id, c.warehouse_id, c.temperature_c) for c in r.clean.collect()) == [
        (1, "WH-US-1", 6.1),
        (2, "unknown", None),
    ]
    assert [(f.record_key, f.action) for f in r.findings.where("defect = 'null_burst'").collect()] == [("2", "flagged")]
