"""The detection score on a tiny manifest. On generated data (three days at scale 0.005: every injected defect type
caught, no false alarm, every row accounted for) it is asserted where it is built, in notebooks/03b_quality_sales.ipynb,
which ./dev test runs; tests/test_pipeline.py asserts it on the pipeline's own runs."""

from __future__ import annotations

import json

import pytest

from globalbev.detection import ManifestNotFound, score_detection


@pytest.mark.unit
def test_score_detection_on_a_tiny_manifest(spark, tmp_path):
    def day(n, defects):
        (tmp_path / f"day={n:03d}.json").write_text(
            json.dumps(
                {
                    "day": n,
                    "defects": {
                        f"{ds}.{d}": {"dataset": ds, "defect": d, "keys": keys} for (ds, d), keys in defects.items()
                    },
                }
            )
        )

    day(
        0,
        {
            ("shop.orders", "orphan_customer"): [1, 2],
            ("shop.order_lines", "quantity_nonpositive"): ["5|1"],
            ("landing/x", "null_burst"): [],
        },
    )
    day(
        1,
        {
            ("shop.orders", "orphan_customer"): [2, 3],
            ("shop.order_lines", "quantity_nonpositive"): [],
            ("landing/x", "null_burst"): [],
        },
    )
    findings = spark.createDataFrame(
        [
            ("shop.orders", "1", "orphan_customer"),
            ("shop.orders", "2", "orphan_customer"),
            ("shop.orders", "2", "orphan_customer"),
            ("shop.orders", "7", "orphan_customer"),
            ("shop.order_lines", "5|1", "quantity_nonpositive"),
            ("shop.order_lines", "6|1", "parent_quarantined"),
        ],
        "dataset string, record_key string, defect string",
    )
    got = {
        r.defect_id: (r.injected, r.caught, r.missed, r.false_alarms)
        for r in score_detection(findings, tmp_path).collect()
    }
    assert got == {
        "shop.orders.orphan_customer": (3, 2, 1, 1),
        "shop.order_lines.quantity_nonpositive": (1, 1, 0, 0),
        "landing/x.null_burst": (0, 0, 0, 0),
    }
    with pytest.raises(FileNotFoundError) as e:
        score_detection(findings, tmp_path / "nowhere")
    assert isinstance(e.value, ManifestNotFound) and "nowhere" in str(e.value)
