"""The Databricks Asset Bundle (`databricks.yml` + `resources/*.yml`), checked without a workspace or Spark, with
globalbev.deploy (notebook 10_deploy): read and resolved per target as the Databricks CLI does.

The bundle must be valid against the Databricks CLI's bundle JSON schema, every task must run something that exists
(a console script of the wheel with arguments globalbev.cli's parser accepts for that target, a pipeline or job of
the bundle, a file of the repository) on compute that is defined, the wheel it installs must be the one the bundle
builds, and the targets must differ only where they should.
"""

from __future__ import annotations

import fnmatch
import itertools
import json
from pathlib import Path

import pytest
import yaml

from globalbev.cli import build_parser
from globalbev.config import ENVIRONMENTS, load_config
from globalbev.deploy import (
    bundle_validator,
    check_target,
    diff_targets,
    job_tasks,
    load_bundle,
    resolve_target,
    schema_errors,
    task_errors,
)

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_PATH = ROOT.parent / "shared" / "reference" / "databricks-bundle-schema.json"
# Commands a task refers to before they land in the CLI, and who adds them. A task naming one of these is checked for
# everything else; once the command exists, its parameters are checked like any other (nothing to change here).
PENDING_COMMANDS = {"governance": "`globalbev governance apply`, week 5 (notebook 09_governance)"}


@pytest.fixture(scope="module")
def bundle():
    return load_bundle(ROOT)


@pytest.fixture(scope="module")
def resolved(bundle) -> dict[str, dict]:
    return {t: resolve_target(bundle, t) for t in bundle.targets}


@pytest.fixture(scope="module")
def schema_validator():
    """A validator for the Databricks bundle schema; skips when the shared reference copy is absent."""
    if not SCHEMA_PATH.is_file():
        pytest.skip(f"Databricks bundle JSON schema not found: looked for {SCHEMA_PATH} (`databricks bundle schema`)")
    validator = bundle_validator(SCHEMA_PATH)
    type(validator).check_schema(validator.schema)
    return validator


def _pending(error: str) -> bool:
    parser_commands = build_parser()._subparsers._group_actions[0].choices
    return any(f"invalid choice: '{c}'" in error for c in PENDING_COMMANDS if c not in parser_commands)


def test_bundle_is_valid_against_the_databricks_bundle_schema(bundle, schema_validator):
    """databricks.yml merged with resources/*.yml is valid against the bundle schema, `${...}` references as written."""
    assert schema_errors(bundle.config, schema_validator) == []


def test_every_bundle_file_alone_is_valid_against_the_schema(bundle, schema_validator):
    """Each file (databricks.yml, every resources/*.yml) on its own, so an error names the file at fault."""
    for path in bundle.files:
        errors = schema_errors(yaml.safe_load(path.read_text(encoding="utf-8")), schema_validator)
        assert errors == [], f"{path.relative_to(ROOT)}: {errors}"
    assert {p.name for p in bundle.files} >= {"databricks.yml", "inventory_pipeline.yml"}


def test_every_target_resolved_is_valid_against_the_schema(bundle, resolved, schema_validator):
    """Each target, its overrides merged and its variables substituted, is still valid (types after substitution)."""
    for target, config in resolved.items():
        part = {"bundle": {"name": config["bundle"]["name"]}, "resources": config["resources"]}
        assert schema_errors(part, schema_validator) == [], target


def test_schema_check_rejects_an_unknown_task_field(bundle, schema_validator):
    """The schema check is not vacuous: a misspelt task field makes the bundle invalid."""
    broken = json.loads(json.dumps(bundle.config))
    task = broken["resources"]["jobs"]["globalbev_pipeline"]["tasks"][0]
    task["python_wheel_taks"] = task.pop("python_wheel_task")
    assert any("python_wheel_taks" in e for e in schema_errors(broken, schema_validator))


def test_bundle_name_is_the_library(bundle, settings):
    """The bundle is named after settings.ini's `lib_name`."""
    assert bundle.config["bundle"]["name"] == settings["lib_name"]


def test_targets_are_globalbev_environments(bundle):
    """The targets are dev, test and prod, each one of globalbev.config.ENVIRONMENTS (it is passed as `--env`)."""
    assert bundle.targets == ["dev", "test", "prod"]
    assert set(bundle.targets) <= set(ENVIRONMENTS)


def test_target_catalog_matches_the_environment_configuration(resolved):
    """`var.catalog` of each target is the catalog conf/<target>.toml names when GLOBALBEV_CATALOG is unset."""
    for target, config in resolved.items():
        assert config["variables"]["catalog"] == load_config(target, conf_dir=ROOT / "conf", environ={}).catalog


def test_every_task_points_at_a_real_entry_point(bundle, resolved):
    """Every task of every target: a console script of settings.ini whose arguments globalbev.cli's parser accepts with
    `--env <target>`, or a pipeline / job of the bundle, or a notebook / file of the repository. A command still being
    written elsewhere (PENDING_COMMANDS) is the only exception, and only while the parser lacks it."""
    errors = [e for config in resolved.values() for t in job_tasks(config) for e in task_errors(t, config, ROOT)]
    assert [e for e in errors if not _pending(e)] == []
    kinds = {t.kind for config in resolved.values() for t in job_tasks(config)}
    assert {"python_wheel_task", "pipeline_task", "run_job_task"} <= kinds


def test_pending_commands_are_reported(resolved):
    """Which tasks wait for a command another week adds (xfail until it lands, then this passes)."""
    waiting = [
        t.name
        for config in resolved.values()
        for t in job_tasks(config)
        if any(_pending(e) for e in task_errors(t, config, ROOT))
    ]
    if waiting:
        pytest.xfail(f"tasks waiting for {list(PENDING_COMMANDS.values())}: {sorted(set(waiting))}")


def test_check_target_finds_nothing_else(bundle):
    """The whole check of notebook 10 (schema when available, entry points, compute) is clean for every target."""
    validator = bundle_validator(SCHEMA_PATH) if SCHEMA_PATH.is_file() else None
    for target in bundle.targets:
        assert [e for e in check_target(bundle, target, validator) if not _pending(e)] == [], target


def test_the_pipeline_graph_and_its_retry_policy(resolved):
    """The batch job is the graph ingest_bronze -> silver -> gold -> checks -> governance_apply in every target, each
    layer task one `globalbev run --stage` of the same run id (`{{job.run_id}}`); every task of every job sets
    `timeout_seconds` and `max_retries` explicitly, and no task retries on a time-out (a stage cut off mid-write is
    looked at by a person, docs/runbooks/pipeline.md)."""
    graph = ["ingest_bronze", "silver", "gold", "checks", "governance_apply"]
    stages = {"ingest_bronze": "bronze", "silver": "silver", "gold": "gold", "checks": "checks"}
    for target, config in resolved.items():
        jobs = config["resources"]["jobs"]
        tasks = {t["task_key"]: t for t in jobs["globalbev_pipeline"]["tasks"]}
        assert list(tasks) == graph, target
        for before, after in itertools.pairwise(graph):
            assert tasks[after]["depends_on"] == [{"task_key": before}], (target, after)
        for key, stage in stages.items():
            args = tasks[key]["python_wheel_task"]["parameters"]
            parsed = build_parser().parse_args(args)
            assert (parsed.command, parsed.stage, parsed.run_id) == ("run", stage, "{{job.run_id}}"), (target, key)
            assert tasks[key]["retry_on_timeout"] is False, (target, key)
        for t in job_tasks(config):
            assert {"timeout_seconds", "max_retries"} <= t.spec.keys(), f"{target}: {t.name}"


def test_compute_per_target(resolved):
    """dev runs serverless; test and prod run on Standard_DS3_v2 job clusters with autoscaling, spot with fallback and
    the cluster policy; prod runs as a service principal; the generator job never exists in prod."""
    dev_job = resolved["dev"]["resources"]["jobs"]["globalbev_pipeline"]
    assert "job_clusters" not in dev_job and all(t["environment_key"] == "default" for t in dev_job["tasks"])
    for target in ("test", "prod"):
        job = resolved[target]["resources"]["jobs"]["globalbev_pipeline"]
        (cluster,) = job["job_clusters"]
        spec = cluster["new_cluster"]
        assert spec["node_type_id"] == "Standard_DS3_v2" and spec["policy_id"] == "<cluster_policy: globalbev-jobs>"
        assert spec["azure_attributes"]["availability"] == "SPOT_WITH_FALLBACK_AZURE"
        assert spec["autoscale"]["min_workers"] < spec["autoscale"]["max_workers"]
        assert all(t["job_cluster_key"] == "batch" and "environment_key" not in t for t in job["tasks"]), target
    assert resolved["prod"]["run_as"] == {"service_principal_name": "<service_principal: globalbev-prod>"}
    assert "globalbev_generate" not in resolved["prod"]["resources"]["jobs"]
    assert "globalbev_generate" in resolved["test"]["resources"]["jobs"]
    assert resolved["dev"]["resources"]["clusters"]["globalbev_interactive"]["autotermination_minutes"] > 0


def test_test_differs_from_prod_only_where_it_should(bundle):
    """Promoting test to prod changes the catalog (and what is named after it), the cluster's size, the run-as
    identity, permissions and the generator job: nothing else."""
    allowed = ("variables.", "run_as.", "permissions", "resources.jobs.globalbev_generate", "workspace.")
    named_after_catalog = ("tags.catalog", ".catalog", "file_arrival.url", "inventory.landing", "parameters[")
    sizes = ("autoscale.min_workers", "autoscale.max_workers")
    for path, a, b in diff_targets(bundle, "test", "prod"):
        ok = path.startswith(allowed) or path.endswith(named_after_catalog + sizes) or "parameters[" in path
        assert ok, f"test and prod differ at {path}: {a!r} / {b!r}"
        if "parameters[" in path and not path.startswith(allowed):  # the --env and the deployed conf/, nothing else
            assert str(a).replace("test", "prod") == str(b), path


def test_environments_and_libraries_install_the_wheel_the_bundle_builds(bundle, resolved, settings):
    """Every serverless environment depends on, and every job-cluster wheel task installs, `<artifact path>/dist/*.whl`
    of the bundle's one `whl` artifact, which builds `lib_name` from the folder holding setup.py."""
    wheels = [a for a in bundle.config.get("artifacts", {}).values() if a.get("type") == "whl"]
    assert len(wheels) == 1, "expected exactly one whl artifact"
    source = (ROOT / wheels[0].get("path", ".")).resolve()
    assert (source / "setup.py").is_file(), f"the whl artifact builds from {source}, which has no setup.py"
    wheel_name = f"{settings['lib_name']}-{settings['version']}-py3-none-any.whl"

    def builds_it(path: str) -> bool:
        p = (ROOT / path).resolve()
        return p.parent == source / "dist" and fnmatch.fnmatch(wheel_name, p.name)

    for target, config in resolved.items():
        for name, job in config["resources"]["jobs"].items():
            for env in job.get("environments", []):
                assert any(builds_it(d) for d in env["spec"]["dependencies"]), f"{target} {name} {env}"
            for t in job["tasks"]:
                if "python_wheel_task" in t and "job_cluster_key" in t:
                    assert any(builds_it(lib.get("whl", "")) for lib in t.get("libraries", [])), f"{target} {t}"
        for pipeline in config["resources"].get("pipelines", {}).values():
            assert any(builds_it(d) for d in pipeline.get("environment", {}).get("dependencies", []))


def _wheel_args(job: dict, task_key: str) -> list[str]:
    (task,) = [t for t in job["tasks"] if t["task_key"] == task_key]
    return [str(p) for p in task["python_wheel_task"]["parameters"]]


def test_the_python_inventory_stream_job(resolved):
    """`inventory_stream_python` runs `globalbev stream inventory --once` (notebook 08) for the target on the file
    arrivals of the very folder it reads, beside the declarative pipeline's job (which stays); retried, since the
    checkpoints make a re-run exactly-once."""
    for target, config in resolved.items():
        jobs, catalog = config["resources"]["jobs"], config["variables"]["catalog"]
        job = jobs["inventory_stream_python"]
        args = build_parser().parse_args(_wheel_args(job, "stream_inventory"))
        assert args.func.__name__ == "_stream_inventory" and args.once and args.env == target
        url = job["trigger"]["file_arrival"]["url"]
        assert url.rstrip("/") == args.landing == f"/Volumes/{catalog}/ops/files/landing/inventory_events", target
        assert args.alerts_dir.startswith(f"/Volumes/{catalog}/ops/files/")
        (task,) = job["tasks"]
        assert task["max_retries"] > 0 and task["environment_key"] == "default" and job["max_concurrent_runs"] == 1
        (pipeline_task,) = jobs["inventory_stream"]["tasks"]
        assert "pipeline_task" in pipeline_task and jobs["inventory_stream"]["trigger"]["file_arrival"]["url"] == url


def test_the_hourly_status_job(resolved):
    """`globalbev_status` runs `globalbev status` for the target every hour (quartz cron, UTC), writes its alerts and
    its health report into the catalog's ops Volume, and is never retried: an alert is not transient, and the command's
    exit 1 on an alert is what fails the run (and notifies)."""
    for target, config in resolved.items():
        job = config["resources"]["jobs"]["globalbev_status"]
        args = build_parser().parse_args(_wheel_args(job, "status"))
        folder = f"/Volumes/{config['variables']['catalog']}/ops/files/status"
        assert args.func.__name__ == "_status" and args.env == target
        assert args.alerts_dir == folder and args.html == f"{folder}/health.html", target
        (task,) = job["tasks"]
        assert task["max_retries"] == 0 and 0 < task["timeout_seconds"] <= job["timeout_seconds"]
        second, minute, *every = job["schedule"]["quartz_cron_expression"].split()
        assert second.isdigit() and minute.isdigit() and every == ["*", "*", "*", "?"]  # once an hour
        assert job["schedule"]["timezone_id"] == "UTC" and job["max_concurrent_runs"] == 1
