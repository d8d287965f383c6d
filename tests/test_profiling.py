"""Week 1b profiling: format shapes, column profiles and duplicate counts on tiny frames."""

from __future__ import annotations

import pytest
from pyspark.sql import Row
from pyspark.testing import assertDataFrameEqual

from globalbev.profiling import count_duplicates, format_pattern, pattern_histogram, profile_columns


@pytest.mark.unit
def test_format_pattern_shapes(spark):
    df = spark.createDataFrame([("+1 (555) 010-9999",), ("Straße 12b",), (None,)], "v string")
    assert [r[0] for r in df.select(format_pattern("v")).collect()] == ["+9 (999) 999-9999", "AAAAAA 99A", None]


@pytest.mark.unit
def test_pattern_histogram_per_group(spark):
    df = spark.createDataFrame(
        [("US", "555-0101"), ("US", "555-0102"), ("US", "5550103"), ("DE", None)], "m string, p string"
    )
    assertDataFrameEqual(
        pattern_histogram(df, "p", by=["m"]),
        [Row(m="US", pattern="999-9999", rows=2), Row(m="US", pattern="9999999", rows=1)],
    )


@pytest.mark.unit
def test_profile_numbers_on_a_tiny_frame(spark):
    df = spark.createDataFrame(
        [(1, " a@x.com", -2), (2, "b@y.org", 5), (3, None, 5), (3, "", 7)], "id int, email string, qty int"
    )
    p = {r.column: r for r in profile_columns(df).collect()}
    assert list(p) == ["id", "email", "qty"]
    assert (p["email"].rows, p["email"].nulls, p["email"].null_rate, p["email"].distinct) == (4, 1, 0.25, 3)
    assert (p["email"].blank, p["email"].untrimmed, p["email"].patterns) == (1, 1, 3)
    assert (p["qty"].negative, p["qty"].top_patterns, p["id"].distinct) == (1, ["9 (3)", "-9 (1)"], 3)
    assert count_duplicates(df) == 0 and count_duplicates(df, ["id"]) == 1 and count_duplicates(df, ["qty"]) == 1
