"""Named random streams: every draw of the generator comes from one of these, so no two purposes share numbers.

A chunk's generator is `np.random.default_rng([seed, Stream.X, ...])` and a counter-based draw is
`hash_uniform(seed, ids, Field.X, version)`. The numbers are part of the output: changing one changes the data.
"""

from __future__ import annotations

from enum import IntEnum


class Stream(IntEnum):
    """The second seed word of `np.random.default_rng([seed, stream, ...])` (the words after it in brackets)."""

    PRODUCTS = 11  # the product catalogue
    CUSTOMER_SIGNUPS = 21  # day-0 signup dates
    CUSTOMER_CHANGES = 22  # [day]: which customers are updated or soft-deleted
    ORDER_DATES = 30  # [day, chunk]: order dates and the customers who order
    ORDERS = 31  # [day, chunk]: everything else about orders, their lines and payments
    PARTNER_DATES = 40  # [day, chunk]: partner order dates
    PARTNER_ORDERS = 41  # [day, chunk]: everything else about partner order lines
    INVENTORY_EVENTS = 51  # [day, chunk]: inventory events and their stock walk
    NUTRITION_DOC = 61  # [product, version]: one nutrition document
    NUTRITION_PLAN = 62  # [day]: which products get a new nutrition document
    INITIAL_STOCK = 71  # opening stock per warehouse and product


class Field(IntEnum):
    """The `field_no` of `hash_uniform(seed, ids, field_no, version)`: one uniform per id and field, order-free."""

    # customers (ids = customer ids; versions = the address or phone version where a field changes on update)
    MARKET = 0
    FIRST_NAME = 1
    LAST_NAME = 2
    EMAIL_DOMAIN = 3
    PHONE = 4
    PHONE_GROUP = 5
    PHONE_FORMAT = 6
    PHONE_INVALID = 7
    EMAIL_GROUP = 8
    EMAIL_VARIANT = 9
    STREET = 10
    HOUSE_NUMBER = 11
    STREET_GROUP = 12
    STREET_VARIANT = 13
    CITY = 14
    POSTAL_CODE = 15
    POSTAL_CODE_MISSING = 16
    CONSENT = 17
    LOYALTY_TIER = 18
    DUPLICATE = 19
    # products (ids = product index; version = document version)
    NUTRITION_OVER_100 = 63
    # warehouse x product pairs
    REORDER_POINT = 99
