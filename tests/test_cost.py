"""The week-3 cost model (notebook 06_cost): prices as inputs with their source, one run priced by hand, sizing to a
deadline, the compute policy's rules, and billing records that add up to the model through the same SQL as
system.billing."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest

from globalbev.config import ConfigError, load_config
from globalbev.cost import (
    NAIVE,
    ClusterSetup,
    Throughput,
    billing_tables,
    cluster_policy,
    daily_cost,
    estimate_run,
    load_prices,
    measured_throughput,
    policy_violations,
    recommend,
    sample_usage_rows,
    savings_steps,
    write_sample_billing,
)

# Round numbers, so that every figure below can be checked by hand.
PRICES = {
    "as_of": "2026-12-04",
    "currency": "USD",
    "cloud": "AZURE",
    "dbu": {
        "source": "test",
        "usd_per_dbu": {"all_purpose": 0.5, "jobs": 0.25},
        "sku_name": {"all_purpose": "PREMIUM_ALL_PURPOSE_COMPUTE", "jobs": "PREMIUM_JOBS_COMPUTE"},
    },
    "vm": {"source": "test", "Small": {"vcpus": 4, "memory_gib": 14, "dbu_per_hour": 1.0, "usd_per_hour": 0.2}},
    "assumptions": {
        "source": "test",
        "spot_discount": 0.5,
        "spot_fallback_share": 0.0,
        "startup_minutes": 0.0,
        "scaling_efficiency": 1.0,
    },
}
ONE_MB_S = Throughput(1.0, "test")  # 1 MB/s per core


@pytest.mark.unit
def test_the_price_file_says_where_each_price_comes_from(tmp_path):
    prices = load_prices()  # conf/prices.toml
    assert prices["as_of"] and all(prices[s]["source"] for s in ("dbu", "vm", "assumptions"))
    assert prices["vm"]["Standard_DS3_v2"]["dbu_per_hour"] == 0.75 and prices["vm"]["Standard_DS3_v2"]["vcpus"] == 4
    bad = tmp_path / "prices.toml"
    bad.write_text('as_of = "2026-12-04"\ncurrency = "USD"\n[dbu]\nusd_per_dbu = { jobs = 0.3 }\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[dbu\] source"):
        load_prices(bad)


@pytest.mark.unit
def test_throughput_comes_from_a_benchmark_json():
    t = measured_throughput("benchmarks/results/sf1-2026-12-03-driver8g.json")
    assert t.mb_per_s_per_core == pytest.approx(2.17 / 2) and "SF 1" in t.source


@pytest.mark.unit
def test_one_run_priced_by_hand():
    # 2 workers x 4 cores x 1 MB/s = 8 MB/s: 7.5 GB = 7,680 MB in 960 s = 16 min, + 44 idle = 1 h billed.
    setup = ClusterSetup("t", workers=2, compute="all_purpose", node_type="Small", idle_minutes=44)
    est = estimate_run(7.5, setup, ONE_MB_S, PRICES)
    assert est["minutes_working"] == 16.0 and est["minutes_billed"] == 60.0
    assert est["dbus"] == 3.0 and est["dbu_usd"] == 1.5  # 3 nodes x 1 DBU/h x 1 h x 0.5
    assert est["vm_usd"] == 0.6 and est["total_usd"] == 2.1  # 3 VMs x 0.2 x 1 h
    spot = estimate_run(7.5, replace(setup, spot=True), ONE_MB_S, PRICES)
    assert spot["vm_usd"] == 0.4  # the driver on demand 0.2 + two workers at half price 0.2; DBUs unchanged
    jobs = estimate_run(7.5, replace(setup, compute="jobs", idle_minutes=0), ONE_MB_S, PRICES)
    assert jobs["minutes_billed"] == 16.0 and jobs["dbu_usd"] == pytest.approx(3 * 16 / 60 * 0.25, abs=0.01)


@pytest.mark.unit
def test_recommend_takes_the_cheapest_set_up_within_the_deadline():
    # With 4 minutes of start-up a run costs (0.45 + 0.35 w) USD/h x (4 + 32 / w) min: 2 workers meet a 20-minute
    # deadline (23.0), 3 are cheaper (22.0), 4 dearer again (22.2): the start-up every node pays against the driver's
    # share. Fewest workers is not cheapest.
    prices = {**PRICES, "assumptions": {**PRICES["assumptions"], "startup_minutes": 4.0}}
    setup, est = recommend(7.5, 20, ONE_MB_S, prices, max_workers=8)
    assert (setup.workers, setup.compute, setup.spot) == (3, "jobs", True) and est["minutes_working"] == 14.7
    with pytest.raises(ValueError, match="no set-up"):
        recommend(7.5, 4, ONE_MB_S, prices, max_workers=8)
    steps = savings_steps(7.5, replace(NAIVE, node_type="Small"), setup, ONE_MB_S, PRICES)
    totals = [e["total_usd"] for _, e in steps]
    assert steps[0][0] == "start" and totals[:4] == sorted(totals[:4], reverse=True)  # every lever saves


@pytest.mark.unit
def test_the_policy_refuses_what_it_should_and_accepts_the_rest():
    policy = cluster_policy(max_workers=4, node_types=["Small"], prices=PRICES)
    good = {
        "node_type_id": "Small",
        "num_workers": 3,
        "autotermination_minutes": 20,
        "azure_attributes": {"availability": "SPOT_WITH_FALLBACK_AZURE", "first_on_demand": 1},
        "custom_tags": {"cost_center": "globalbev-data"},
    }
    assert policy_violations(good, policy, PRICES) == []
    bad = {**good, "num_workers": 9, "node_type_id": "Huge", "instance_pool_id": "p"}
    found = policy_violations(bad, policy, PRICES, cluster_type="all-purpose")
    assert "num_workers 9 is above 4" in found and "instance_pool_id is forbidden" in found
    assert "cluster_type must be 'job', not 'all-purpose'" in found
    assert any(f.startswith("node_type_id 'Huge' is not one of") for f in found)
    assert policy_violations({**good, "autoscale": {"max_workers": 6}}, policy, PRICES) == [
        "autoscale.max_workers 6 is above 4",
        "dbus_per_hour 7.0 is above 5.0",  # 6 workers + driver at 1 DBU/h against (4 + 1) x 1
    ]
    assert policy_violations({**good, "autotermination_minutes": 0}, policy, PRICES) == [
        "autotermination_minutes 0 is below 1"
    ]


@pytest.mark.unit
def test_billing_tables_follow_the_configuration():
    local, dev = load_config("local"), load_config("dev", environ={})
    assert billing_tables(local)["usage"].endswith("ops.billing_usage")
    assert billing_tables(dev) == {"usage": "system.billing.usage", "list_prices": "system.billing.list_prices"}
    assert billing_tables(dev, sample=True)["usage"] == "globalbev_dev.ops.billing_usage"


@pytest.mark.integration
def test_sample_billing_adds_up_to_the_model_through_the_sql(spark, test_config):
    setup = ClusterSetup("t", workers=2, compute="all_purpose", node_type="Small", idle_minutes=74)  # 1.5 h billed
    est = estimate_run(7.5, setup, ONE_MB_S, PRICES)
    nights = [date(2026, 11, 1) + timedelta(days=i) for i in range(2)]
    rows = sample_usage_rows([(d, setup, est) for d in nights], PRICES)
    assert len(rows) == 4  # 01:00-02:00 and 02:00-02:30 each night: split at the hour
    tables = write_sample_billing(spark, test_config, rows, PRICES)
    daily = daily_cost(spark, tables, nights[0], nights[-1]).collect()
    assert [(r.usage_date, r.sku_name) for r in daily] == [(d, "PREMIUM_ALL_PURPOSE_COMPUTE") for d in nights]
    assert all(float(r.dbus) == est["dbus"] == 4.5 and float(r.list_cost) == est["dbu_usd"] for r in daily)
    usage = spark.table(tables["usage"])
    assert {"usage_metadata", "custom_tags", "usage_quantity", "usage_date"} <= set(usage.columns)
