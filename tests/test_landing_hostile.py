"""Reliability, landing: 42 hostile files side by side; one bad file never stops the others (real Spark, Delta).

Each file of `tests/hostile.py` carries its contract: a file with `file_reason` is rejected whole with that reason;
every other file is read with all its rows (its good keys among them; its bad rows kept, for silver to quarantine)."""

from __future__ import annotations

import shutil
import uuid

import pytest
from hostile import hostile_files
from pyspark.sql import functions as F

from globalbev.config import relative_path
from globalbev.ingestion import commit_batch
from globalbev.landing import DECLARED, LandingFileSource
from globalbev.rejected_files import readmit_files, rejected_files

DATASETS = ("partner_orders", "inventory_events", "nutrition")
KEY = {"partner_orders": "partner_order_id", "inventory_events": "event_id", "nutrition": "sku"}
ODD_VALUES = ("invalid", "control character", "sku", "quantity", "unit_price", "header")  # silver's to judge


@pytest.fixture(scope="module")
def hostile_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    for h in hostile_files():
        h.write(root)
    return root


@pytest.fixture(scope="module")
def hostile_batches(spark, test_config, hostile_root):
    """One read of each landing dataset of the hostile zone: (source, batch, rows as dicts)."""
    out = {}
    for ds in DATASETS:
        src = LandingFileSource(ds, str(hostile_root), name=f"file:hostile-{uuid.uuid4().hex[:8]}/{ds}")
        batch = src.read(spark, test_config, None)
        rows = [r.asDict() for r in batch.df.select(KEY[ds], "_rescued_data", "_source_file").collect()]
        out[ds] = (src, batch, rows)
    return out


def _by_name(batch_paths, root, h) -> str | None:
    want = f"landing/{h.dataset}/{h.path}"
    return next((p for p in batch_paths if relative_path(p, str(root)) == want), None)


@pytest.mark.integration
@pytest.mark.parametrize("h", hostile_files(), ids=lambda h: f"{h.dataset}-{h.name}")
def test_each_hostile_file_at_the_landing_read(hostile_batches, hostile_root, h):
    _, batch, rows = hostile_batches[h.dataset]
    if h.file_reason:
        path = _by_name(batch.rejected, hostile_root, h)
        assert path is not None, f"{h.name} should be rejected whole"
        reason = batch.rejected[path].reason
        assert h.file_reason.lower() in reason.lower() and "\n" not in reason and "at org." not in reason
        return
    path = _by_name(batch.files, hostile_root, h)
    assert path is not None, (
        f"{h.name} should be read, rejected: {batch.rejected.get(_by_name(batch.rejected, hostile_root, h))}"
    )
    mine = [r for r in rows if relative_path(r["_source_file"], None) == relative_path(path, None)]
    keys = {str(r[KEY[h.dataset]]) for r in mine}
    assert set(h.good) <= keys
    dropped = sum(n for p, _, n, _ in batch.rejected_lines if p == path)
    assert len(mine) + dropped == len(h.good) + len(h.bad)
    rescued = " ".join(r["_rescued_data"] or "" for r in mine)
    for fragment in h.bad:
        if fragment == "malformed":
            assert "_corrupt_record" in rescued
        elif fragment not in ODD_VALUES:  # a value or a field that does not fit the schema: rescued, not a column
            assert fragment in rescued
            new = [c for c in batch.df.columns if c not in DECLARED[h.dataset].fieldNames()]
            assert not any(c.startswith(fragment) for c in new)


@pytest.mark.integration
def test_oversized_fields_inside_a_struct_stay_out_of_the_schema(hostile_batches):
    """A 100-level object or a 100-character name inside a declared struct is rescued under its dotted path, never a
    field of the struct."""
    _, batch, _ = hostile_batches["nutrition"]
    schema = batch.df.schema
    assert "deep" not in schema["product"].dataType.fieldNames()
    assert all(len(n) <= 64 for n in schema["serving"].dataType.fieldNames())
    rescued = [r._rescued_data for r in batch.df.where(F.col("doc_version").isin(905, 906)).collect()]
    assert len(rescued) == 2 and any('"product.deep"' in x for x in rescued)
    assert any('"serving.sss' in x for x in rescued)


@pytest.mark.integration
def test_repeated_header_is_a_rejected_line(hostile_batches, hostile_root):
    _, batch, _ = hostile_batches["partner_orders"]
    again = [(relative_path(p, str(hostile_root)), n, why) for p, _, n, why in batch.rejected_lines]
    assert again == [
        (
            "landing/partner_orders/day=000/partner=shelfly/hostile-duplicated_header.csv",
            1,
            "the header line appears again inside the file",
        )
    ]


@pytest.mark.integration
def test_taken_files_are_not_read_again_until_readmitted(spark, test_config, hostile_batches, hostile_root):
    for ds in DATASETS:
        src, batch, _ = hostile_batches[ds]
        commit_batch(spark, test_config, src, batch, "run-hostile")
        again = src.read(spark, test_config, None)
        assert again.files == [] and again.rejected == {} and again.df.count() == 0
    src, batch, _ = hostile_batches["inventory_events"]
    dataset = "hostile-" + src.name.split("hostile-")[1]  # this module's own: other tests may hold the same paths
    listed = rejected_files(spark, test_config, dataset).collect()
    assert {r.path.rsplit("/", 1)[-1] for r in listed} == {"hostile-duplicate_key.jsonl", "hostile-not_json.jsonl"}
    assert all(len(r.sha256) == 64 and r.size is not None and r.reason and not r.path.startswith("/") for r in listed)
    dup = str(hostile_root / "landing/inventory_events/day=000/hostile-duplicate_key.jsonl")
    assert readmit_files(spark, test_config, dataset, [dup]) == [
        "landing/inventory_events/day=000/hostile-duplicate_key.jsonl"
    ]
    back = src.read(spark, test_config, None)
    assert [relative_path(p, None) for p in back.rejected] == [dup] and back.files == []


@pytest.mark.integration
def test_a_moved_lake_reads_nothing_new(spark, test_config, hostile_batches, hostile_root, tmp_path):
    src, batch, _ = hostile_batches["partner_orders"]
    commit_batch(spark, test_config, src, batch, "run-hostile")
    moved = tmp_path / "moved"
    shutil.copytree(hostile_root, moved)
    again = LandingFileSource("partner_orders", str(moved), name=src.name).read(spark, test_config, None)
    assert again.files == [] and again.rejected == {}
    fresh = LandingFileSource("partner_orders", str(moved), name=src.name + "-new").read(spark, test_config, None)
    assert len(fresh.files) + len(fresh.rejected) == len(batch.files) + len(batch.rejected)


@pytest.mark.integration
def test_no_jvm_stack_on_the_terminal(spark, test_config, hostile_root, capfd):
    src = LandingFileSource("nutrition", str(hostile_root), name=f"file:hostile-{uuid.uuid4().hex[:8]}/nutrition")
    batch = src.read(spark, test_config, None)
    batch.df.count()
    out, err = capfd.readouterr()
    assert "at org.apache" not in out + err and "Traceback" not in out + err
    rescued = sum(1 for h in hostile_files() if h.dataset == "nutrition" and not h.file_reason and h.bad)
    assert batch.df.where(F.col("_rescued_data").isNotNull()).count() == rescued == 4
