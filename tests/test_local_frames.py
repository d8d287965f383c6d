"""A static check that the package builds its small frames of Python rows with `frames.local_frame` (rows sent through
Arrow, held in the plan) and not with `spark.createDataFrame(rows, schema)`, which on classic Spark makes a Python RDD
that every action reads again through a Python worker — 300-430 ms an action against about 50 ms (00g_frames)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from globalbev.frames import local_frame

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = {  # module -> functions that may call createDataFrame themselves
    "frames.py": {"local_frame"},  # the helper itself
    "runtime.py": {"_warm_up"},  # the class cache's warm-up runs the Python-rows path on purpose: its classes load too
}


def create_data_frame_calls(path: Path) -> list[str]:
    """Every `<x>.createDataFrame(...)` call in `path` outside the functions `ALLOWED` names for it, as "file:line"."""
    found, allowed = [], ALLOWED.get(path.name, set())

    class Visitor(ast.NodeVisitor):
        def __init__(self):
            self.functions: list[str] = []

        def visit_FunctionDef(self, node):
            self.functions.append(node.name)
            self.generic_visit(node)
            self.functions.pop()

        def visit_Call(self, node):
            if isinstance(node.func, ast.Attribute) and node.func.attr == "createDataFrame":
                if not set(self.functions) & allowed:
                    found.append(f"{path.name}:{node.lineno}")
            self.generic_visit(node)

    Visitor().visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


@pytest.mark.unit
def test_the_package_builds_frames_of_python_rows_with_local_frame():
    found = [hit for p in sorted((ROOT / "globalbev").glob("*.py")) for hit in create_data_frame_calls(p)]
    assert not found, (
        "use globalbev.frames.local_frame(spark, rows, schema) instead of createDataFrame at:\n" + "\n".join(found)
    )


@pytest.mark.unit
def test_the_check_finds_a_call_outside_the_allowed_functions(tmp_path):
    src = tmp_path / "frames.py"  # a module named like the helper's: only local_frame may call createDataFrame
    src.write_text(
        "def local_frame(spark):\n    return spark.createDataFrame([(1,)], 'a int')\n\n\n"
        "def other(spark):\n    return spark.createDataFrame([(1,)], 'a int')\n"
    )
    assert create_data_frame_calls(src) == ["frames.py:6"]


@pytest.mark.unit
def test_an_empty_local_frame_has_its_schema_on_every_supported_spark(spark):
    """pyspark 4.0's pandas path fails on a frame without columns (IndexError in to_records): no rows take the other."""
    empty = local_frame(spark, [], "run_id string, rows bigint")
    assert empty.count() == 0 and empty.schema.simpleString() == "struct<run_id:string,rows:bigint>"
