"""Governance (notebook 09_governance): the policy file and its schema, the governed access layer (secure views,
`read` / `write`) over every role × table × column, bypass attempts, the append-only audit trail, dev/test against
prod, every copy of customers' personal data (silver, bronze's raw copy, gold's dimension) under the same masks, and the
Unity Catalog SQL checked with sqlglot's Databricks dialect.

sqlglot 30.30 parses some Databricks governance statements for real (CREATE FUNCTION, GRANT/REVOKE on tables and
schemas, table-level SET TAGS, the views, the system-table queries) and others only as an opaque `exp.Command` (column
SET MASK, SET ROW FILTER, column SET TAGS, GRANT USE CATALOG, CREATE POLICY). A Command is no parse: for those the
tests check what can be checked — the statement's shape and that every name and embedded expression in it parses."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import logging
import re
from decimal import Decimal

import pytest
import sqlglot
import yaml
from pyspark.sql import functions as F
from sqlglot import exp
from sqlglot.errors import ErrorLevel

from globalbev.classroom import start_lesson
from globalbev.config import table_name
from globalbev.errors import GlobalBevError
from globalbev.frames import column_named, local_frame, union_all
from globalbev.governance import (
    AccessDeniedError,
    GovernanceError,
    PolicyError,
    UnsafeIdentifierError,
    abac_sql,
    access_review,
    access_review_frame,
    apply_unity_catalog,
    audit_table_name,
    audit_table_sql,
    default_policy_path,
    ensure_audit_table,
    load_policy,
    policy_from_dict,
    quote_identifier,
    read,
    secure_view_sql,
    system_audit_sql,
    system_column_reads_sql,
    unity_catalog_sql,
    who_read,
    write,
)
from globalbev.run_state import side_by_side

TS = dt.datetime(2025, 7, 1, 8, 0)
MARKETS = ("GB", "DE", "FR", "US", "BR", "IN")
CUSTOMERS = (
    "customer_id long, market_code string, first_name string, last_name string, email string, phone string, "
    "street string, city string, postal_code string, signup_date date, marketing_consent boolean, loyalty_tier string, "
    "is_deleted boolean, deleted_at timestamp, updated_at timestamp"
)
ORDERS = (
    "order_id long, customer_id long, market_code string, order_ts timestamp, order_date date, channel string, "
    "status string, currency string, order_total decimal(14,2), is_late_arriving boolean, updated_at timestamp"
)
PAYMENTS = (
    "payment_id long, order_id long, method string, amount decimal(14,2), currency string, card_brand string, "
    "card_last4 string, paid_at timestamp, updated_at timestamp"
)
BRONZE_CUSTOMERS = (  # PostgreSQL's columns, the ingestion metadata, loyalty_tier added later by schema evolution
    "customer_id long, market_code string, first_name string, last_name string, email string, phone string, "
    "street string, city string, postal_code string, signup_date date, marketing_consent boolean, "
    "updated_at timestamp, deleted_at timestamp, _ingested_at timestamp, _source string, _source_file string, "
    "_batch_id string, _run_id string, _rescued_data string, loyalty_tier string"
)
DIM_CUSTOMER = (  # gold.build_dim_customer's type-2 table
    "customer_sk long, customer_id long, market_code string, first_name string, last_name string, email string, "
    "phone string, street string, city string, postal_code string, signup_date date, marketing_consent boolean, "
    "loyalty_tier string, valid_from timestamp, valid_to timestamp, is_current boolean"
)
KEYS = {
    "silver.customers": "customer_id",
    "silver.orders": "order_id",
    "silver.payments": "payment_id",
    "bronze.customers": "customer_id",
    "gold.dim_customer": "customer_sk",
}
CUSTOMER_COPIES = ("silver.customers", "bronze.customers", "gold.dim_customer")  # every table with a customer's PII


def _rows() -> dict[str, list[tuple]]:
    customers = [
        (i, m, f"First{i}", f"Last{i}", f"user{i}@example.com", f"+4477009001{i:02d}", f"{i} Long Street", f"City{i}",
         f"P{i}", dt.date(2024, 1, i), i % 2 == 0, "gold", False, None, TS)
        for i, m in enumerate(MARKETS, start=1)
    ]  # fmt: skip
    orders = [
        (100 + c[0], c[0], c[1], TS, TS.date(), "web", "paid", "EUR", Decimal("12.50"), False, TS) for c in customers
    ]
    payments = [(o[0], o[0], "card", o[8], "EUR", "visa", f"{4000 + o[0]}", TS, TS) for o in orders]
    bronze = [  # the raw values (not yet standardised); one value rescued by bronze.rescue_unexpected
        (c[0], c[1], c[2], c[3], c[4].upper(), f"07700 9001{c[0]:02d}", c[6], c[7], c[8], c[9], c[10], TS, None, TS,
         "postgres:shop.customers", None, "customers-0", "r0", '{"phone":447700900101}' if c[0] == 1 else None, "gold")
        for c in customers
    ]  # fmt: skip
    dim = [(1000 + c[0], *c[:11], c[11], TS, None, True) for c in customers]  # one current version each
    return {"silver.customers": customers, "silver.orders": orders, "silver.payments": payments,
            "bronze.customers": bronze, "gold.dim_customer": dim}  # fmt: skip


SCHEMAS = {
    "silver.customers": CUSTOMERS,
    "silver.orders": ORDERS,
    "silver.payments": PAYMENTS,
    "bronze.customers": BRONZE_CUSTOMERS,
    "gold.dim_customer": DIM_CUSTOMER,
}


@pytest.fixture(scope="module")
def lesson(spark, test_config):
    """Tiny silver customers, orders and payments, bronze's raw customers and gold's customer dimension (one customer
    per market) in schemas of the tests' own, written side by side."""
    cfg = start_lesson(spark, "test09", test_config)
    frames = {key: local_frame(spark, rows, SCHEMAS[key]) for key, rows in _rows().items()}
    writes = {
        key: (lambda df=df, key=key: df.write.format("delta").saveAsTable(table_name(*key.split("."), cfg)))
        for key, df in frames.items()
    }
    side_by_side(writes, workers=3).raise_first()
    return cfg


@pytest.fixture(scope="module")
def policy():
    return load_policy(env="local")


# ---------------------------------------------------------------------------------------------- the policy and its API


@pytest.mark.unit
def test_the_interface_09a_uses(policy):
    """`load_policy`, `Policy.tables()` and `Policy.masked_columns()` as the compliance notebook (09a) imports them."""
    assert default_policy_path().name == "policy.yml" and default_policy_path().is_file()
    assert policy.tables() == {
        "silver.customers": ("silver", "customers"),
        "silver.orders": ("silver", "orders"),
        "silver.payments": ("silver", "payments"),
        "bronze.customers": ("bronze", "customers"),
        "gold.dim_customer": ("gold", "dim_customer"),
    }
    masked = policy.masked_columns()
    pii = {"first_name", "last_name", "email", "phone", "street", "postal_code"}
    assert masked["silver.customers"] == masked["gold.dim_customer"] == pii
    assert masked["bronze.customers"] == pii | {"_rescued_data"}
    assert masked["silver.payments"] == {"card_last4"} and masked["silver.orders"] == set()
    assert {"finance", "marketing", "engineering", "auditor", "regional_manager_eu", "admin"} <= set(policy.roles())


def _broken(edit) -> dict:
    raw = yaml.safe_load(default_policy_path().read_text(encoding="utf-8"))
    edit(raw)
    return raw


BROKEN = {
    "no roles": (lambda p: p.pop("roles"), "'roles' is a required property"),
    "an unknown mask": (
        lambda p: p["tables"]["silver.customers"]["columns"]["email"].update(mask="rot13"),
        "email.mask",
    ),
    "a path as a table": (lambda p: p["tables"].update({"delta.`/x`": {"columns": {"a": {}}}}), "delta.`/x`"),
    "a crafted column": (
        lambda p: p["roles"]["finance"]["read"].update({"silver.orders": ["order_id`, email --"]}),
        "roles.finance.read.silver.orders.0",
    ),
    "a crafted market": (lambda p: p["roles"]["regional_manager_eu"].update(markets=["GB') OR ('1'='1"]), "markets.0"),
    "a crafted group": (lambda p: p["roles"]["finance"].update(group="fin'); DROP"), "roles.finance.group"),
    "a crafted role": (lambda p: p["roles"].update({"x`; --": p["roles"]["finance"]}), "x`; --"),
    "an unknown property": (lambda p: p["roles"]["finance"].update(can_see_everything=True), "can_see_everything"),
    "a missing environment": (lambda p: p["environments"].pop("prod"), "'prod' is a required property"),
    "pii_in_clear not a boolean": (lambda p: p["environments"]["dev"].update(pii_in_clear="yes"), "pii_in_clear"),
    "an unknown column granted": (
        lambda p: p["roles"]["finance"]["read"].update({"silver.orders": ["order_id", "iban"]}),
        "unknown column 'iban'",
    ),
    "an unknown table granted": (lambda p: p["roles"]["finance"]["read"].update({"gold.secrets": "*"}), "gold.secrets"),
    "an unknown tag": (
        lambda p: p["tables"]["silver.orders"]["columns"]["channel"].update(tags=["secret"]),
        "'secret'",
    ),
    "an unknown exempt role": (lambda p: p["tags"]["pii"]["exempt_roles"].append("ceo"), "unknown role 'ceo'"),
    "a pii column without a mask": (
        lambda p: p["tables"]["silver.orders"]["columns"]["channel"].update(tags=["pii"]),
        "a masking tag needs a mask",
    ),
    "a regional manager on a table without a row filter": (
        lambda p: p["roles"]["regional_manager_eu"]["read"].update({"silver.payments": "*"}),
        "no row_filter",
    ),
    "a row filter on no column": (lambda p: p["tables"]["silver.orders"].update(row_filter="region"), "'region'"),
    "one group for two roles": (lambda p: p["roles"]["admin"].update(group="globalbev_finance"), "more than one role"),
}


@pytest.mark.unit
@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_policy_is_refused_with_where_and_what(case):
    edit, expected = BROKEN[case]
    with pytest.raises(PolicyError) as e:
        policy_from_dict(_broken(edit), "dev", "broken.yml")
    assert "broken.yml" in str(e.value) and expected in str(e.value), str(e.value)
    assert isinstance(e.value, GlobalBevError)


@pytest.mark.unit
def test_a_policy_file_that_is_not_yaml_or_missing_is_a_policy_error(tmp_path):
    bad = tmp_path / "policy.yml"
    bad.write_text("roles: [unclosed\n")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policy(bad, env="dev")
    with pytest.raises(PolicyError, match="no policy file"):
        load_policy(tmp_path / "nothing.yml", env="dev")
    with pytest.raises(PolicyError, match="unknown environment 'staging'"):
        load_policy(env="staging")


@pytest.mark.unit
def test_dev_and_test_mask_pii_for_everyone_prod_shows_it_to_the_exempt_roles():
    policies = {env: load_policy(env=env) for env in ("local", "dev", "test", "prod")}
    pii = policies["dev"].tagged_columns("pii")
    for env in ("local", "dev", "test"):
        p = policies[env]
        for role in p.roles():
            for key, columns in pii.items():
                seen = {c: a for c, (a, _) in p.column_access(role, key).items() if c in columns}
                assert "clear" not in seen.values(), (env, role, key, seen)
    prod, exempt = policies["prod"], set(policies["prod"].raw["tags"]["pii"]["exempt_roles"])
    for role in prod.roles():
        for key, columns in ((k, c) for k, c in pii.items() if c):
            seen = {a for c, (a, _) in prod.column_access(role, key).items() if c in columns}
            assert seen == ({"clear"} if role in exempt and key in prod.roles()[role]["read"] else seen - {"clear"}), (
                role, key, seen
            )  # fmt: skip
    assert prod.column_access("marketing", "silver.customers")["email"] == ("clear", None)
    assert prod.column_access("engineering", "silver.customers")["email"] == ("masked", "email_partial")
    for env, p in policies.items():  # card data: nobody, anywhere
        assert all(p.column_access(r, "silver.payments")["card_last4"][0] == "hidden" for r in p.roles()), env


@pytest.mark.unit
@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_copy_of_customers_personal_data_is_masked_as_silver_is(env):
    """bronze.customers (raw) and gold.dim_customer (type 2) hold silver.customers' personal data: the same tags and
    masks column for column; gold is read by silver's readers with the same columns and the same markets; bronze only
    by engineering, audit and admins, its ingestion metadata in clear (but a rescued value, which may be PII)."""
    p = load_policy(env=env)
    silver = p.raw["tables"]["silver.customers"]["columns"]
    for key in ("bronze.customers", "gold.dim_customer"):
        columns = p.raw["tables"][key]["columns"]
        for column, spec in silver.items():
            if column in columns:
                assert columns[column] == spec, (key, column)
        for role in p.roles():
            if key in p.roles()[role]["read"]:
                same = {c: v for c, v in p.column_access(role, "silver.customers").items() if c in columns}
                assert same == {c: v for c, v in p.column_access(role, key).items() if c in silver}, (role, key)
    assert p.raw["tables"]["gold.dim_customer"]["row_filter"] == "market_code"
    assert {r for r, s in p.roles().items() if "gold.dim_customer" in s["read"]} == set(p.roles())
    for role, spec in p.roles().items():
        dim = {c for c, (a, _) in p.column_access(role, "gold.dim_customer").items() if a != "hidden"}
        assert dim - {"customer_sk", "valid_from", "valid_to", "is_current"} == {
            c for c, (a, _) in p.column_access(role, "silver.customers").items() if a != "hidden"
        } - {"is_deleted", "deleted_at", "updated_at"}, role
        assert p.row_filter(role, "gold.dim_customer") == (
            ("market_code", tuple(spec["markets"])) if spec.get("markets") else None
        )  # fmt: skip
    bronze_readers = {r for r, s in p.roles().items() if "bronze.customers" in s["read"]}
    assert bronze_readers == {"engineering", "auditor", "admin"}
    for role in set(p.roles()) - bronze_readers:
        with pytest.raises(AccessDeniedError, match="may not read bronze.customers"):
            p.check_read(role, "bronze.customers")
    meta = ["_ingested_at", "_source", "_source_file", "_batch_id", "_run_id"]
    for role in bronze_readers:
        access = p.column_access(role, "bronze.customers")
        assert all(access[c] == ("clear", None) for c in meta), role
        in_clear = env == "prod" and role in p.raw["tags"]["pii"]["exempt_roles"]
        assert access["_rescued_data"] == (("clear", None) if in_clear else ("masked", "redact")), role
        assert access["email"] == (("clear", None) if in_clear else ("masked", "email_partial")), role


# --------------------------------------------------------------------------------------- the matrix, through read()


def expected_value(mask: str | None, column: str, row: dict):
    """What a role must see, computed here in Python, independently of the SQL the module writes."""
    v = row[column]
    if mask is None or v is None:  # every mask keeps NULL as NULL
        return v
    return {
        "email_partial": lambda: v[0] + "***@" + v.split("@", 1)[1],
        "hash": lambda: hashlib.sha256(v.encode()).hexdigest(),
        "phone_last4": lambda: "***" + v[-4:],
        "city_only": lambda: row["city"],
        "redact": lambda: "***",
    }[mask]()


def _plain(value):
    """A source value as `to_json` writes it (dates and times as ISO text, decimals as numbers)."""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    return float(value) if isinstance(value, Decimal) else value


def _matrix(spark, lesson, policy, user: str) -> int:
    """Read every table as every role and check every column and row (all the views' rows fetched in one job, as
    JSON); returns the reads made."""
    names = {k: [f.split()[0] for f in SCHEMAS[k].split(", ")] for k in SCHEMAS}
    source = {k: [dict(zip(names[k], r, strict=True)) for r in rows] for k, rows in _rows().items()}
    market_of = {c["customer_id"]: c["market_code"] for c in source["silver.customers"]}
    reads = {}
    for role, spec in policy.roles().items():
        for key in policy.tables():
            if key not in spec["read"]:  # refused before any SQL (read() itself: the bypass test)
                with pytest.raises(AccessDeniedError, match=f"may not read {key}"):
                    secure_view_sql(policy, role, key, lesson)
                continue
            reads[f"{role} {key}"] = lambda role=role, key=key: read(spark, key, role, lesson, policy, user=user)
    ensure_audit_table(spark, policy, lesson)  # once, before the reads append to it side by side (blind appends)
    ran = side_by_side(reads, workers=3)
    ran.raise_first()
    frames = []
    for name, df in ran.results.items():
        role, key = name.split(" ")
        as_json = F.to_json(F.struct(*[column_named(c) for c in df.columns]), {"ignoreNullFields": "false"})
        frames.append(df.select(F.lit(role).alias("role"), F.lit(key).alias("key"), as_json.alias("row")))
    got: dict[tuple[str, str], list[dict]] = {}
    for r in union_all(frames).collect():
        got.setdefault((r.role, r.key), []).append(json.loads(r.row))
    for (role, key), rows in got.items():
        access = policy.column_access(role, key)
        visible = [c for c, (a, _) in access.items() if a != "hidden"]
        assert all(list(row) == visible for row in rows), (role, key)  # exactly the allowed columns, in order
        markets = policy.roles()[role].get("markets")
        wanted = [r for r in source[key] if not markets or market_of[r.get("customer_id", -1)] in markets]
        by_key = {row[KEYS[key]]: row for row in rows}
        assert sorted(by_key) == sorted(r[KEYS[key]] for r in wanted), (role, key)  # filtered rows never returned
        for r in wanted:
            for column in visible:
                a, mask = access[column]
                seen = by_key[r[KEYS[key]]][column]
                assert seen == _plain(expected_value(mask, column, r)), (role, key, column, seen)
                if a == "masked" and r[column] is not None:
                    assert seen != r[column], (role, key, column)
    assert len(got) == len(frames)  # every reader got rows (each table has a row in each region)
    return len(frames)


def test_every_role_table_and_column_through_the_governed_layer_and_every_read_audited(spark, lesson, policy):
    """The matrix: exactly the allowed columns, clear ones equal to the table, masked ones masked as the policy says,
    rows outside a regional manager's markets never returned, refused tables refused; then 100 % of the reads are in
    the audit table with role, columns, masked columns and the rows they returned."""
    user = "matrix-test"
    reads = _matrix(spark, lesson, policy, user)
    assert reads == sum(len(s["read"]) for s in policy.roles().values()) == 31
    log = spark.table(audit_table_name(policy, lesson)).where(F.col("user") == user)
    audited = log.where("action = 'read'").collect()
    assert len(audited) == reads
    for r in audited:
        access = policy.column_access(r.role, r.table_key)
        assert r.columns == [c for c, (a, _) in access.items() if a != "hidden"]
        assert r.masked_columns == [c for c, (a, _) in access.items() if a == "masked"]
        assert r.row_count == {
            "regional_manager_eu": 3,
            "regional_manager_americas": 2,
            "regional_manager_apac": 1,
        }.get(r.role, 6)
        assert r.statement.startswith("CREATE OR REPLACE VIEW") and r.env == "local" and r.event_time is not None
        assert r.table_name == table_name(*r.table_key.split("."), lesson)
    assert log.where("action != 'read'").count() == 0
    since, until = TS.replace(year=2000), dt.datetime.now() + dt.timedelta(days=1)
    emails = {(r.role, r.in_clear) for r in who_read(spark, "silver.customers", "email", since, until, lesson, policy)
              .where(F.col("user") == user).collect()}  # fmt: skip
    assert emails == {(r, False) for r in ("marketing", "engineering", "auditor", "admin")}


def test_prod_shows_pii_to_exempt_roles_only(spark, lesson):
    prod = load_policy(env="prod")
    import dataclasses

    cfg = dataclasses.replace(lesson, env="prod")
    mkt = {
        r.customer_id: r for r in read(spark, "silver.customers", "marketing", cfg, prod, user="prod-test").collect()
    }
    eng = {
        r.customer_id: r for r in read(spark, "silver.customers", "engineering", cfg, prod, user="prod-test").collect()
    }
    assert mkt[1].email == "user1@example.com" and mkt[1].phone == "+447700900101" and mkt[1].street == "1 Long Street"
    assert eng[1].email == "u***@example.com" and eng[1].phone == "***0101" and eng[1].street == "City1"


# ------------------------------------------------------------------------------------------------ bypass attempts


def test_bypass_attempts_fail_with_clear_errors_and_are_audited(spark, lesson, policy):
    user = "bypass-test"
    attempts = [
        ("silver.markets", "finance", AccessDeniedError, "not governed"),
        ("delta.`/tmp/warehouse/silver.db/customers`", "finance", UnsafeIdentifierError, "paths and other names"),
        ("silver.customers`; DROP TABLE silver.customers; --", "admin", UnsafeIdentifierError, "not a governed table"),
        ("silver.customers WHERE 1=1 --", "admin", UnsafeIdentifierError, "not a governed table"),
        ("globalbev_prod.silver.customers", "admin", UnsafeIdentifierError, "not a governed table"),
        ("silver.customers", "ceo", AccessDeniedError, "role 'ceo' is not in the policy"),
        ("silver.customers", "admin' OR '1'='1", UnsafeIdentifierError, "role"),
        ("silver.payments", "marketing", AccessDeniedError, "may not read silver.payments"),
    ]
    for table, role, error, message in attempts:
        with pytest.raises(error, match=re.escape(message)):
            read(spark, table, as_role=role, cfg=lesson, policy=policy, user=user)
    df = read(spark, "silver.orders", "engineering", lesson, policy, user=user)
    with pytest.raises(AccessDeniedError, match="may not write silver.orders"):
        write(spark, df, "silver.orders", as_role="marketing", cfg=lesson, policy=policy, user=user)
    with pytest.raises(GovernanceError, match="not governed in silver.orders"):
        write(spark, df.withColumn("iban", F.lit("x")), "silver.orders", "engineering", lesson, policy, user=user)
    log = spark.table(audit_table_name(policy, lesson)).where(F.col("user") == user)
    assert log.where("action = 'denied'").count() == len(attempts) + 2
    assert log.where("action = 'denied' AND table_key LIKE '%DROP TABLE%'").count() == 1  # kept as data, never run
    assert spark.table(table_name("silver", "customers", lesson)).count() == 6  # and nothing was dropped


def test_a_governed_write_appends_and_is_audited(spark, lesson, policy):
    row = [(7, "DE", "New", "Person", "new@example.de", "+4915100000007", "7 Weg", "Bonn", "53111", dt.date(2025, 1, 1),
            True, None, False, None, TS)]  # fmt: skip
    target = table_name("silver", "customers", lesson)
    try:
        n = write(
            spark, local_frame(spark, row, CUSTOMERS), "silver.customers", "engineering", lesson, policy, "w-test"
        )
        assert n == 1 and spark.table(target).count() == 7
        audited = spark.table(audit_table_name(policy, lesson)).where("user = 'w-test' AND action = 'write'").collect()
        assert (
            len(audited) == 1 and audited[0].row_count == 1 and audited[0].statement.startswith("DataFrame append to")
        )
    finally:
        spark.sql(f"DELETE FROM {target} WHERE customer_id = 7")


def test_the_audit_table_is_append_only(spark, lesson, policy):
    read(spark, "silver.orders", "finance", lesson, policy, user="append-test")
    name = audit_table_name(policy, lesson)
    props = {r.key: r.value for r in spark.sql(f"SHOW TBLPROPERTIES {name}").collect()}
    assert props.get("delta.appendOnly") == "true"
    for statement in (f"DELETE FROM {name}", f"UPDATE {name} SET user = 'nobody'"):
        with pytest.raises(Exception, match="(?i)append"):
            spark.sql(statement)


@pytest.mark.unit
def test_identifiers_are_allow_listed_and_quoted():
    assert quote_identifier("email") == "`email`"
    for crafted in ["a`b", "a b", "1a", "", "a;b", "ä"]:
        with pytest.raises(UnsafeIdentifierError):
            quote_identifier(crafted)


@pytest.mark.unit
def test_applying_unity_catalog_sql_locally_is_refused(policy, test_config):
    with pytest.raises(GovernanceError, match="Databricks only"):
        apply_unity_catalog(None, policy, test_config, dry_run=False)


# ---------------------------------------------------------------------------------------- access review


@pytest.mark.unit
def test_the_access_review_covers_every_role_table_and_column(policy):
    review = access_review(policy)
    cells = {(r, k, c) for r, k, c, *_ in review}
    assert len(review) == len(cells) == len(policy.roles()) * sum(len(policy.columns(k)) for k in policy.tables())
    by = {(r, k, c): (a, m, f) for r, k, c, a, m, f in review}
    assert by[("marketing", "silver.customers", "email")] == ("masked", "email_partial", "all rows")
    assert by[("regional_manager_eu", "silver.customers", "email")][0] == "hidden"
    assert by[("regional_manager_eu", "silver.orders", "order_total")][0] == "hidden"  # finance_only beats the grant
    assert by[("regional_manager_eu", "silver.orders", "order_id")][2] == "`market_code` IN ('GB', 'DE', 'FR')"
    assert by[("marketing", "silver.payments", "amount")] == ("hidden", None, "no access")
    assert by[("finance", "silver.payments", "amount")] == ("clear", None, "all rows")


def test_the_access_review_as_a_dataframe(spark, policy):
    df = access_review_frame(spark, policy)
    assert df.columns == ["role", "table_key", "column", "access", "mask", "row_filter"]
    assert df.count() == len(access_review(policy))


# ---------------------------------------------------------------------------------------- the SQL, through sqlglot


class _Warnings(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def parse(sql: str) -> tuple[exp.Expression, list[str]]:
    """sqlglot's Databricks parse of `sql` with errors raised, and the warnings it logged (a Command fallback warns)."""
    handler, logger = _Warnings(), logging.getLogger("sqlglot")
    logger.addHandler(handler)
    try:
        return sqlglot.parse_one(sql, read="databricks", error_level=ErrorLevel.RAISE), handler.messages
    finally:
        logger.removeHandler(handler)


def real_parse(sql: str) -> exp.Expression:
    """A real parse: no Command fallback, no warning."""
    tree, warnings = parse(sql)
    assert not isinstance(tree, exp.Command) and not warnings, (sql, warnings)
    return tree


def names_parse(*names: str) -> None:
    for name in names:
        table = sqlglot.parse_one(name, read="databricks", into=exp.Table, error_level=ErrorLevel.RAISE)
        assert table.sql("databricks") == name, name


NAME = r"`[a-z0-9_]+`(?:\.`[a-z0-9_]+`){1,2}"
COMMAND_ONLY = {  # statement shape -> what sqlglot 30.30 only takes as a Command
    "set mask": re.compile(
        rf"^ALTER TABLE ({NAME}) ALTER COLUMN (`\w+`) SET MASK ({NAME})( USING COLUMNS \((`\w+`)\))?$"
    ),
    "set row filter": re.compile(rf"^ALTER TABLE ({NAME}) SET ROW FILTER ({NAME}) ON \((`\w+`)\)$"),
    "column tags": re.compile(rf"^ALTER TABLE ({NAME}) ALTER COLUMN (`\w+`) SET TAGS \(('\w+' = '\w+'(?:, )?)+\)$"),
    "use catalog": re.compile(r"^GRANT USE CATALOG ON CATALOG (`\w+`) TO (`[\w.-]+`)$"),
    "policy": re.compile(
        rf"^CREATE OR REPLACE POLICY `\w+` ON SCHEMA ({NAME}) COMMENT '[^']*' COLUMN MASK ({NAME}) TO `account users`"
        r"(?: EXCEPT (`[\w.-]+`(?:, `[\w.-]+`)*))? FOR TABLES MATCH COLUMNS (.+) AS `masked` ON COLUMN `masked`$"
    ),
}


def check_command(sql: str) -> str:
    """A statement sqlglot only takes as a Command: it matches one known shape, and its names and embedded expressions
    parse for real. Returns the shape."""
    tree, _ = parse(sql)
    assert isinstance(tree, exp.Command), f"sqlglot now parses this for real; move it to the real parses: {sql}"
    for shape, pattern in COMMAND_ONLY.items():
        m = pattern.match(sql)
        if m:
            names_parse(*[g for g in m.groups() if g and g.startswith("`") and "." in g])
            if shape == "policy":
                condition = real_parse(f"SELECT {m.group(4)}").expressions[0]
                assert isinstance(condition, exp.Anonymous) and condition.name == "has_tag_value", condition
            return shape
    raise AssertionError(f"no known shape: {sql}")


def returned_expression(tree: exp.Create) -> exp.Expression:
    """The expression after a SQL function's RETURN."""
    returned = tree.expression
    return returned.this if isinstance(returned, exp.Return) else returned


def classify(statements: list[str]) -> dict[str, int]:
    kinds: dict[str, int] = {}
    for sql in statements:
        tree, warnings = parse(sql)
        if isinstance(tree, exp.Command) or warnings:
            kind = "command: " + check_command(sql)
        else:
            kind = type(tree).__name__
            if isinstance(tree, exp.Create) and tree.kind == "FUNCTION":
                body = returned_expression(tree)  # the RETURN expression, parsed as a real expression
                assert isinstance(body, (exp.Case, exp.Cast, exp.Or, exp.Func)), sql
                if "abac_mask_" not in sql and not isinstance(body, exp.Cast):  # by group: is_account_group_member
                    assert any(f.name == "is_account_group_member" for f in body.find_all(exp.Anonymous)), sql
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds


@pytest.mark.unit
@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_unity_catalog_sql_parses(env):
    from globalbev.config import load_config

    cfg = load_config(env)
    policy = load_policy(env=env)
    customers = {"signup_date": "DATE", "is_deleted": "BOOLEAN", "marketing_consent": "BOOLEAN"}
    stamps = {"deleted_at": "TIMESTAMP", "updated_at": "TIMESTAMP"}
    money = {"order_total": "DECIMAL(14,2)"}
    scd2 = {"customer_sk": "BIGINT", "valid_from": "TIMESTAMP", "valid_to": "TIMESTAMP", "is_current": "BOOLEAN"}
    types = {
        "silver.customers": customers | stamps,
        "silver.orders": money,
        "silver.payments": {"amount": "DECIMAL(14,2)"},
        "bronze.customers": customers | stamps | {"_ingested_at": "TIMESTAMP"},
        "gold.dim_customer": customers | scd2,
    }
    statements = unity_catalog_sql(policy, cfg, types=types)
    kinds = classify(statements)
    # parsed for real: the functions, grants and revokes on tables and schemas, table-level tags
    assert kinds["Create"] == sum(s.startswith("CREATE OR REPLACE FUNCTION") for s in statements) > 10
    assert kinds["Grant"] >= 20 and kinds["Revoke"] >= 4 and kinds["Alter"] == len(policy.tables())
    # only as a Command, each checked by shape, names and embedded expressions
    assert kinds["command: set mask"] > 10 and kinds["command: set row filter"] == 3  # customers, orders, dim_customer
    tagged = sum(len(c) for t in ("pii", "finance_only") for c in policy.tagged_columns(t).values())
    assert kinds["command: column tags"] == tagged == 23 and kinds["command: use catalog"] == len(policy.roles())
    for key in ("bronze.customers", "gold.dim_customer"):  # every copy of the e-mails: a mask and a tag
        assert any(f"`{key.split('.')[1]}` ALTER COLUMN `email` SET MASK" in s for s in statements), key
        assert any(f"`{key.split('.')[1]}` ALTER COLUMN `email` SET TAGS ('pii'" in s for s in statements), key
    assert sum(kinds.values()) == len(statements)
    abac = abac_sql(policy, cfg)
    assert classify(abac) == {"Create": 4, "command: policy": 12}  # 4 masks x the schemas: silver, bronze, gold
    assert ("EXCEPT `globalbev_marketing`" in "".join(abac)) == (env == "prod")
    with_abac = unity_catalog_sql(policy, cfg, abac=True, types=types)
    assert not any("mask_silver_customers_email" in s for s in with_abac)  # the tag policy masks e-mails instead
    assert any("mask_silver_customers_street" in s for s in with_abac)  # city_only (two columns) stays per column


@pytest.mark.unit
def test_a_mask_function_returns_the_column_in_clear_only_for_exempt_groups_in_prod():
    from globalbev.config import load_config

    cfg = load_config("prod")
    fn = [s for s in unity_catalog_sql(load_policy(env="prod"), cfg) if "mask_silver_customers_email`(" in s][0]
    case = returned_expression(real_parse(fn))
    assert isinstance(case, exp.Case)
    first = case.args["ifs"][0]
    groups = {a.name for a in first.this.find_all(exp.Literal)}
    assert groups == {"globalbev_marketing", "globalbev_auditors", "globalbev_admins"}
    assert isinstance(first.args["true"], exp.Column) and first.args["true"].name == "email"
    assert isinstance(case.args["default"], exp.Cast)  # everyone else: NULL
    dev_fn = [s for s in unity_catalog_sql(load_policy(env="dev"), load_config("dev")) if "customers_email`(" in s][0]
    dev_case = returned_expression(real_parse(dev_fn))
    assert not any(isinstance(i.args["true"], exp.Column) for i in dev_case.args["ifs"])  # never in clear in dev


def test_the_secure_views_and_audit_queries_parse(lesson, policy):
    for role, spec in policy.roles().items():
        for key in spec["read"]:
            tree = real_parse(secure_view_sql(policy, role, key, lesson))
            assert isinstance(tree, exp.Create) and tree.kind == "VIEW"
            if spec.get("markets"):
                assert isinstance(tree.expression.args["where"].this, exp.In)
    audit = real_parse(audit_table_sql(policy, lesson))
    assert (
        isinstance(audit, exp.Create)
        and audit.kind == "TABLE"
        and "'delta.appendOnly'='true'" in audit.sql("databricks").replace(" ", "")
    )
    july = (dt.date(2025, 7, 1), dt.date(2025, 8, 1))
    for sql in (system_audit_sql("globalbev_prod.silver.customers", *july),
                system_column_reads_sql("globalbev_prod.silver.customers", "email", *july)):  # fmt: skip
        tree = real_parse(sql)
        assert isinstance(tree, exp.Select) and tree.find(exp.Table).db == "access"
    with pytest.raises(UnsafeIdentifierError):
        system_column_reads_sql("c.silver.customers", "email' OR 1=1 --", *july)


@pytest.mark.unit
def test_the_policy_dict_is_not_changed_by_loading(policy):
    before = copy.deepcopy(policy.raw)
    policy_from_dict(policy.raw, "prod")
    assert policy.raw == before


def test_the_command_line_reviews_the_policy_and_prints_its_unity_catalog_sql(capsys):
    from globalbev.cli import main

    assert main(["governance", "review"]) == 0
    out = capsys.readouterr().out
    assert out.count("(rows)") == 5 and "no access" in out  # one grid per governed table
    assert main(["governance", "sql"]) == 0
    statements = [s for s in capsys.readouterr().out.split(";\n") if s.strip()]
    assert statements and all(sqlglot.parse_one(s, read="databricks") for s in statements[:5])
    assert main(["governance", "review", "--table", "silver.markets"]) == 2  # not governed: a clear error
    assert "not governed" in capsys.readouterr().err
