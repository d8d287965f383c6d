"""globalbev/ must be exactly what notebooks/ export: notebooks are the source, the package is generated."""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.unit
def test_package_is_what_the_notebooks_export(tmp_path):
    for name in ("settings.ini", "setup.py", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    shutil.copytree(ROOT / "conf", tmp_path / "conf")
    (tmp_path / "globalbev").mkdir()
    shutil.copy(ROOT / "globalbev" / "__init__.py", tmp_path / "globalbev" / "__init__.py")
    exporter = Path(sys.executable).parent / "nbdev_export"
    run = subprocess.run([str(exporter)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    exported = {p.relative_to(tmp_path / "globalbev") for p in (tmp_path / "globalbev").rglob("*.py")}
    committed = {p.relative_to(ROOT / "globalbev") for p in (ROOT / "globalbev").rglob("*.py")}
    assert committed - exported == set(), (
        f"hand-written modules in globalbev/ (no notebook exports them): {committed - exported}"
    )
    assert exported - committed == set(), f"exported but not committed (run nbdev_export): {exported - committed}"
    stale = sorted(
        str(p) for p in exported if not filecmp.cmp(tmp_path / "globalbev" / p, ROOT / "globalbev" / p, shallow=False)
    )
    assert not stale, (
        f"globalbev/ differs from the notebooks for {stale}: edit the notebook, run nbdev_export, commit both"
    )
