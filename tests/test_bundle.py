"""The Databricks Asset Bundle (`databricks.yml` + `resources/*.yml`), checked without a workspace or Spark.

The bundle must be valid against the Databricks CLI's bundle JSON schema, every job task must run a `globalbev`
command the CLI parses for every target, and the serverless environment must install the wheel the bundle builds.
"""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for

from globalbev.cli import build_parser
from globalbev.config import ENVIRONMENTS, load_config

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_PATH = ROOT.parent / "shared" / "reference" / "databricks-bundle-schema.json"

# The schema's interpolation patterns (`${var.x}` allowed where a number or boolean goes) use the Unicode classes
# \p{L} (letter) and \p{N} (number) of Go's regexp, which Python's `re` lacks: translate them to equivalent classes.
_UNICODE_CLASSES = {r"[\p{L}\p{N}]": r"[^\W_]", r"\p{L}": r"[^\W\d_]"}
_REFERENCE = re.compile(r"\$\{([^}]+)\}")


def _merge(base: dict, other: dict, path: tuple = ()) -> None:
    """Merge an included file into the root configuration as the CLI does: maps recursively, lists appended, and a
    resource defined in two files is an error."""
    for key, value in other.items():
        if key not in base:
            base[key] = value
        elif len(path) == 2 and path[0] == "resources":
            raise ValueError(f"resource {'.'.join((*path, key))} is defined more than once")
        elif isinstance(base[key], dict) and isinstance(value, dict):
            _merge(base[key], value, (*path, key))
        elif isinstance(base[key], list) and isinstance(value, list):
            base[key] = base[key] + value
        else:
            raise ValueError(f"{'.'.join((*path, key))} is set in databricks.yml and in an included file")


@pytest.fixture(scope="module")
def loaded() -> tuple[dict, dict[str, Path]]:
    """The merged bundle configuration, and the file that defines each job (relative paths are relative to it)."""
    config = yaml.safe_load((ROOT / "databricks.yml").read_text(encoding="utf-8"))
    job_files: dict[str, Path] = {name: ROOT / "databricks.yml" for name in config.get("resources", {}).get("jobs", {})}
    for pattern in config.get("include", []):
        for path in sorted(ROOT.glob(pattern)):
            part = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            job_files.update({name: path for name in part.get("resources", {}).get("jobs", {})})
            _merge(config, part)
    return config, job_files


@pytest.fixture(scope="module")
def bundle(loaded) -> dict:
    return loaded[0]


@pytest.fixture(scope="module")
def jobs(bundle) -> dict:
    found = bundle.get("resources", {}).get("jobs", {})
    assert found, "the bundle defines no job"
    return found


def _tasks(jobs: dict):
    for job_name, job in jobs.items():
        for task in job.get("tasks", []):
            yield job_name, task


def _variables(bundle: dict, target: str) -> dict:
    """The variables' values in `target`: their defaults, overridden by the target's `variables`."""
    values = {name: spec.get("default") for name, spec in bundle.get("variables", {}).items()}
    values.update((bundle["targets"][target] or {}).get("variables", {}))
    return values


def _as_string(value) -> str:
    """A variable's value interpolated into a string, as the CLI writes it (`true`, `1`, `0.01`)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _resolve(text: str, target: str, variables: dict) -> str:
    """`text` with `${bundle.target}`, `${var.NAME}` and the deployed files' folder `${workspace.file_path}` replaced
    for `target`; any other reference is an error."""

    def one(match: re.Match) -> str:
        ref = match.group(1)
        if ref == "bundle.target":
            return target
        if ref == "workspace.file_path":  # where `bundle deploy` syncs the repository, conf/ included
            return f"/Workspace/Users/someone@example.com/.bundle/globalbev/{target}/files"
        if ref.startswith("var.") and ref[4:] in variables:
            return _as_string(variables[ref[4:]])
        raise AssertionError(f"task parameter {text!r}: unknown reference ${{{ref}}}")

    return _REFERENCE.sub(one, str(text))


def _python_patterns(node):
    """A copy of the schema with its Go regular expressions translated to Python's (see `_UNICODE_CLASSES`)."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "pattern" and isinstance(value, str):
                for go, py in _UNICODE_CLASSES.items():
                    value = value.replace(go, py)
                assert r"\p" not in value, f"untranslated Unicode class in schema pattern {value!r}"
            out[key] = _python_patterns(value)
        return out
    if isinstance(node, list):
        return [_python_patterns(v) for v in node]
    return node


@pytest.fixture(scope="module")
def schema_validator():
    """A validator for the Databricks bundle schema; skips when the shared reference copy is absent."""
    if not SCHEMA_PATH.is_file():
        pytest.skip(f"Databricks bundle JSON schema not found: looked for {SCHEMA_PATH}")
    schema = _python_patterns(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))
    cls = validator_for(schema, default=Draft202012Validator)  # no $schema; it uses `$defs`, so 2020-12
    cls.check_schema(schema)
    return cls(schema)


def test_bundle_is_valid_against_the_databricks_bundle_schema(bundle, schema_validator):
    """databricks.yml merged with resources/*.yml is valid against the bundle schema, `${...}` references as written."""
    error = best_match(schema_validator.iter_errors(bundle))
    assert error is None, f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"


def test_schema_check_rejects_an_unknown_task_field(bundle, schema_validator):
    """The schema check is not vacuous: a misspelt task field makes the bundle invalid."""
    broken = json.loads(json.dumps(bundle))
    job = next(iter(broken["resources"]["jobs"].values()))
    job["tasks"][0]["python_wheel_taks"] = job["tasks"][0].pop("python_wheel_task")
    assert not schema_validator.is_valid(broken)


def test_bundle_name_is_the_library(bundle, settings):
    """The bundle is named after settings.ini's `lib_name`."""
    assert bundle["bundle"]["name"] == settings["lib_name"]


def test_wheel_tasks_run_a_console_script_of_the_package(jobs, settings):
    """Every task is a python_wheel_task of `lib_name` whose entry point is one of settings.ini's console_scripts."""
    scripts = {entry.split("=", 1)[0].strip() for entry in settings["console_scripts"].split()}
    for job_name, task in _tasks(jobs):
        wheel = task.get("python_wheel_task")
        assert wheel, f"{job_name}.{task['task_key']} is not a python_wheel_task"
        assert wheel["package_name"] == settings["lib_name"], f"{job_name}.{task['task_key']}: package_name"
        assert wheel["entry_point"] in scripts, f"{job_name}.{task['task_key']}: entry point not in {scripts}"


def test_task_parameters_parse_with_the_cli_for_every_target(bundle, jobs):
    """Each task's parameters, resolved for each target, parse with `build_parser()` into a command with `func`."""
    for target in bundle["targets"]:
        variables = _variables(bundle, target)
        for job_name, task in _tasks(jobs):
            argv = [_resolve(p, target, variables) for p in task["python_wheel_task"].get("parameters", [])]
            where = f"{job_name}.{task['task_key']} on target {target}: globalbev {' '.join(argv)}"
            try:
                args = build_parser().parse_args(argv)
            except SystemExit as e:
                pytest.fail(f"{where} does not parse (exit {e.code})")
            assert getattr(args, "func", None), f"{where} names no runnable command"
            assert args.env == target, f"{where} does not run with --env {target}"


def test_depends_on_names_tasks_of_the_same_job(jobs):
    """Every `depends_on` entry names a task of the same job."""
    for job_name, job in jobs.items():
        keys = [task["task_key"] for task in job.get("tasks", [])]
        assert len(keys) == len(set(keys)), f"{job_name}: duplicate task_key"
        for task in job.get("tasks", []):
            for dep in task.get("depends_on", []):
                assert dep["task_key"] in keys, f"{job_name}.{task['task_key']} depends on unknown {dep['task_key']}"


def test_targets_are_globalbev_environments(bundle):
    """Every bundle target is one of globalbev.config.ENVIRONMENTS (it is passed as `--env`)."""
    assert bundle["targets"], "the bundle defines no target"
    for target in bundle["targets"]:
        assert target in ENVIRONMENTS, f"target {target!r} is not one of {ENVIRONMENTS}"


def test_target_catalog_matches_the_environment_configuration(bundle):
    """`var.catalog` of each target is the catalog conf/<target>.toml names when GLOBALBEV_CATALOG is unset."""
    for target in bundle["targets"]:
        expected = load_config(target, conf_dir=ROOT / "conf", environ={}).catalog
        assert _variables(bundle, target)["catalog"] == expected, f"target {target}"


def test_jobs_run_on_serverless(jobs):
    """No job defines a cluster, and every task names an environment of its job (required for serverless wheels)."""
    for job_name, job in jobs.items():
        assert "job_clusters" not in job, f"{job_name} defines job clusters"
        keys = {env["environment_key"] for env in job.get("environments", [])}
        for task in job.get("tasks", []):
            where = f"{job_name}.{task['task_key']}"
            assert not {"new_cluster", "existing_cluster_id", "job_cluster_key"} & task.keys(), f"{where}: cluster"
            assert task.get("environment_key") in keys, f"{where}: environment_key not in {keys}"


def test_environments_install_the_wheel_the_bundle_builds(bundle, jobs, loaded, settings):
    """Each job environment depends on `<artifact path>/dist/*.whl` of the bundle's `whl` artifact, which builds
    `lib_name` from the folder holding setup.py."""
    wheels = [a for a in bundle.get("artifacts", {}).values() if a.get("type") == "whl"]
    assert len(wheels) == 1, "expected exactly one whl artifact"
    source = (ROOT / wheels[0].get("path", ".")).resolve()
    assert (source / "setup.py").is_file(), f"the whl artifact builds from {source}, which has no setup.py"
    dist = source / "dist"
    wheel_name = f"{settings['lib_name']}-{settings['version']}-py3-none-any.whl"
    job_files = loaded[1]
    for job_name, job in jobs.items():
        for env in job.get("environments", []):
            deps = env.get("spec", {}).get("dependencies", [])
            paths = [(job_files[job_name].parent / d).resolve() for d in deps if d.endswith(".whl")]
            assert any(p.parent == dist and fnmatch.fnmatch(wheel_name, p.name) for p in paths), (
                f"{job_name} environment {env['environment_key']}: no dependency on {dist}/{wheel_name} in {deps}"
            )
