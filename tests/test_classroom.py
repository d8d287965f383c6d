"""The classroom set-up a Databricks class runs (`notebooks/classroom_setup.py`), and the rule that every lesson writes
its tables to schemas of its own: what a laptop can check of it. The functions themselves (prefixes, schemas, reset,
lesson schemas) are tested in `notebooks/00i_classroom.ipynb` on local Spark."""

from __future__ import annotations

import ast
import json
import os
import re
from pathlib import Path

import pytest

from globalbev.classroom import classroom_environment, lesson_config, user_prefix
from globalbev.config import ConfigError, load_config, table_name
from globalbev.runtime import local_spark_conf

ROOT = Path(__file__).resolve().parents[1]
SETUP = ROOT / "notebooks" / "classroom_setup.py"
MODULES = re.compile(r"^00(_errors|[a-z]_)")  # the package's own notebooks (errors, config, runtime, …): no lessons
LESSONS = sorted(
    [p for p in (ROOT / "notebooks").glob("*.ipynb") if not MODULES.match(p.name)]
    + [*(ROOT / "solutions").glob("*.ipynb")]
)
# a lesson cell that writes a table or a state row; such a lesson must work in schemas of its own (start_lesson)
WRITES = re.compile(
    r"saveAsTable|merge_upsert\(|create_table\(|write_bronze\(|ingest_to_bronze\(|build_silver_layer\(|apply_scd2\("
    r"|commit_batch\(|reset_state\(|readmit_files\(|write_run_log\(|ensure_run_tables\(|record_bronze_batches\("
)
# a pipeline table named in two parts where SQL or spark.table reads or writes it (it would miss the catalog and prefix)
TWO_PART = re.compile(
    r"(?i)(?:\b(?:from|into|table|join|update|history)\s+|spark\.table\(\s*[\"'])(?:bronze|silver|gold|quarantine|ops)\.\w+"
)
LAPTOP_DEMO = {"04d_demo.ipynb", "04b_pipeline.ipynb"}  # run_demo(): the laptop demo's own lakehouse under data/demo


def _cells(path: Path) -> list[str]:
    """The set-up notebook's cells, as Databricks splits a source-format notebook."""
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Databricks notebook source\n"), f"{path.name}: not a Databricks source-format notebook"
    return [c.strip() for c in text.split("# COMMAND ----------")]


def _code(path: Path) -> list[str]:
    """A notebook's code cells, in order."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


@pytest.mark.unit
def test_the_setup_installs_restarts_then_sets_up():
    cells = _cells(SETUP)
    pip = [i for i, c in enumerate(cells) if c.startswith("# MAGIC %pip install")]
    restart = [i for i, c in enumerate(cells) if "dbutils.library.restartPython()" in c]
    setup = [i for i, c in enumerate(cells) if "classroom_setup()" in c]
    assert len(pip) == len(restart) == len(setup) == 1 and pip[0] < restart[0] < setup[0], cells
    # the requirements file resolves from both folders that %run the set-up (the notebook's folder is the cwd)
    requirements = re.search(r"-r (\S+)", cells[pip[0]]).group(1)
    for folder in ("notebooks", "solutions"):
        assert (ROOT / folder / requirements).resolve() == ROOT / "requirements-databricks.txt"
    assert all(line.startswith("# MAGIC") for line in cells[restart[0]].splitlines())  # a comment on a laptop
    ast.parse(cells[setup[0]])


@pytest.mark.unit
def test_the_setup_runs_on_a_laptop_as_plain_python(monkeypatch):
    """What IPython's `%run ./classroom_setup` does locally: the MAGIC lines are comments, the widgets read the
    environment; the learner's prefix then names every table."""
    for name in ("GLOBALBEV_CATALOG", "GLOBALBEV_SCHEMA_PREFIX", "GLOBALBEV_DATA_ROOT"):
        monkeypatch.setenv(name, os.environ.get(name, ""))  # restored after the test: the set-up writes them
    monkeypatch.setenv("GLOBALBEV_WIDGET_USER_PREFIX", "")
    monkeypatch.delenv("GLOBALBEV_JIT", raising=False)  # a learner who set nothing (restored after the test)
    namespace: dict = {}
    exec(compile(SETUP.read_text(encoding="utf-8"), str(SETUP), "exec"), namespace)
    cfg = namespace["classroom"]
    assert cfg.env == "local" and cfg.schema_prefix == "" and table_name("bronze", "orders", cfg) == "bronze.orders"
    assert cfg.spark["jit"] == "quick"  # a lesson's kernel: the JVM's C1 compiler only
    assert local_spark_conf(cfg)["spark.driver.extraJavaOptions"].count("-XX:TieredStopAtLevel=1") == 1
    monkeypatch.setenv("GLOBALBEV_JIT", "full")  # a learner's own choice stays
    exec(compile(SETUP.read_text(encoding="utf-8"), str(SETUP), "exec"), namespace)
    assert namespace["classroom"].spark["jit"] == "full"


@pytest.mark.unit
def test_every_lesson_starts_with_the_setup():
    wrong = []
    for path in LESSONS:
        code = [c for c in _code(path) if not c.strip().startswith("#| default_exp")]
        target = "./classroom_setup" if path.parent.name == "notebooks" else "../notebooks/classroom_setup"
        if not code or code[0].strip() != f"%run {target}":
            wrong.append(f"{path.relative_to(ROOT)}: first code cell is {code[0][:60]!r}" if code else str(path))
        assert (path.parent / f"{target}.py").resolve() == SETUP
    assert len(LESSONS) > 30 and not wrong, "\n".join(wrong)


@pytest.mark.unit
def test_lessons_write_only_their_own_schemas():
    """A lesson that writes tables takes its own schemas (`start_lesson`); none addresses a table by folder
    (managed tables on Unity Catalog) or names a pipeline table in two parts."""
    found = []
    for path in LESSONS:
        code = "\n".join(c for c in _code(path) if not c.startswith("#| export"))
        where = str(path.relative_to(ROOT))
        if WRITES.search(code) and "start_lesson(" not in code and path.name not in LAPTOP_DEMO:
            found.append(f"{where}: writes tables without start_lesson()")
        if "path_table(f" in code or re.search(r"\.save\(f?\"[^\"]*tables/", code):
            found.append(f"{where}: a Delta table by path; use a managed table (table_name)")
        found += [f"{where}: {m!r}" for m in TWO_PART.findall(code)]
    assert not found, "\n".join(found)


@pytest.mark.unit
def test_lesson_names_are_three_level_on_unity_catalog():
    jane = load_config("dev", environ=classroom_environment("globalbev_dev", user_prefix("Jane.Doe@globalbev.com")))
    assert jane.storage_root == "/Volumes/globalbev_dev/jane_doe_ops/files"
    assert table_name("silver", "inventory", lesson_config("exam_lab", jane)) == (
        "globalbev_dev.jane_doe_exam_lab_silver.inventory"
    )
    with pytest.raises(ConfigError, match="lesson name"):
        lesson_config("Lesson 2", jane)
