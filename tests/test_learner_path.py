"""The learner's path through weeks 0-2 (issue #18): every notebook a learner reads opens with its objectives, its time
and the exam guide's objectives it serves; every main lesson has at least three exercises, each with a two-level hint
(a nudge, then the approach; globalbev.grading shows one more per wrong answer) before the solution notebook."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
WEEKS_0_2 = sorted(p for p in NOTEBOOKS.glob("0[0-4]*.ipynb") if not re.match(r"00[a-z]?_(?!setup)", p.name))
MAIN_LESSONS = ["01_ingestion", "01a_landing", "01b_profiling", "02_bronze", "03a_cleaning", "03b_quality",
                "03c_flattening", "04_delta_ops", "04a_gold", "04a_incremental_gold", "04b_pipeline"]  # fmt: skip
# Delta helpers earlier lessons' exported plumbing calls before 04_delta_ops teaches MERGE and the log: the ingestion
# ledgers' insert-if-absent and delete MERGEs (01, 01c), a commit's row count (02), whether a table exists (03d).
USED_AHEAD = {"merge_into", "last_commit_rows", "table_exists"}
IMPORTS = re.compile(r"from globalbev\.(\w+) import (?:\(([^)]*)\)|([\w, ]+))")  # wrapped in parentheses or not
HINT_LEVELS = re.compile(r"\bhint\s*=\s*\(")  # hint=(nudge, approach)
ONE_LEVEL = re.compile(r"\bhint\s*=\s*[\"f]")  # hint="the answer"


def _text(path: Path, kind: str) -> str:
    """The notebook's markdown, or its code cells that are not exported (where the exercises are)."""
    cells = ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == kind]
    return "\n".join(c for c in cells if not c.startswith("#| export"))


@pytest.mark.unit
def test_the_weeks_notebooks_are_found():
    names = {p.stem for p in WEEKS_0_2}
    assert {"00_setup", "04d_demo", "03b_quality_sales", *MAIN_LESSONS} <= names, names
    assert not names & {"00_errors", "00a_config", "00j_doctor"}  # the platform notebooks are reference, not the path


def _default_exp(path: Path) -> str | None:
    m = re.search(r"#\|\s*default_exp\s+(\w+)", path.read_text())
    return m.group(1) if m else None


@pytest.mark.unit
def test_no_lesson_uses_what_a_later_lesson_teaches():
    """The path is the notebooks' order, and a notebook of weeks 0-2 imports nothing that a later main lesson teaches
    (04a_gold builds its type-2 dimension with apply_scd2 after 04_delta_ops built it step by step), but the plumbing
    in USED_AHEAD."""
    assert MAIN_LESSONS == sorted(MAIN_LESSONS), "the main lessons are listed in the order a learner takes them"
    taught_by = {_default_exp(NOTEBOOKS / f"{name}.ipynb"): name for name in MAIN_LESSONS}
    ahead = {}
    for path in WEEKS_0_2:
        code = "\n".join(
            "".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"
        )
        for module, wrapped, names in IMPORTS.findall(code):
            teacher = taught_by.get(module)
            early = set(re.findall(r"\w+", wrapped or names)) - USED_AHEAD
            if teacher and teacher > path.stem and early:
                ahead.setdefault(path.stem, set()).update(f"{teacher}: {n}" for n in early)
    assert not ahead, f"used before the lesson that teaches it: {ahead}"


@pytest.mark.unit
@pytest.mark.parametrize("path", WEEKS_0_2, ids=lambda p: p.stem)
def test_opens_with_objectives_time_and_exam_guide(path):
    md = _text(path, "markdown")
    head = md[: md.find("\n## ")] if "\n## " in md else md  # before the first section
    for field in ("**Objectives.**", "**Time.**", "**Exam guide**"):
        assert field in head, f"{path.name}: no {field} before its first section"
    assert re.search(r"\*\*Time\.\*\* About \d+ min reading", head), f"{path.name}: the time gives no reading minutes"


@pytest.mark.unit
@pytest.mark.parametrize("name", MAIN_LESSONS)
def test_three_exercises_with_two_level_hints(name):
    path = NOTEBOOKS / f"{name}.ipynb"
    code = _text(path, "code")
    assert len(HINT_LEVELS.findall(code)) >= 3, f"{name}: fewer than three exercises with a two-level hint"
    assert "**For the exam:**" in _text(path, "markdown"), f"{name}: the summary does not tie it to the exam"


@pytest.mark.unit
@pytest.mark.parametrize("path", WEEKS_0_2, ids=lambda p: p.stem)
def test_no_hint_is_just_the_answer(path):
    code = _text(path, "code")
    assert not ONE_LEVEL.findall(code), f"{path.name}: a one-level hint (give a nudge first: hint=(nudge, approach))"
