"""globalbev.deploy (notebook 10_deploy): the bundle read, merged and resolved as the Databricks CLI does, and the
checks that stop a broken bundle, on small bundles written to tmp_path. No workspace, no Spark."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from globalbev.deploy import (
    BundleError,
    cli_errors,
    compute_errors,
    diff_targets,
    flatten,
    interpolate,
    job_tasks,
    load_bundle,
    merge_config,
    rebase_paths,
    resolve_target,
    target_variables,
    task_errors,
)

MAIN = {
    "bundle": {"name": "globalbev"},
    "include": ["resources/*.yml"],
    "variables": {"catalog": {"default": "globalbev_dev"}, "workers": {"default": 1}, "policy": {"default": ""}},
    "targets": {
        "dev": {"default": True, "mode": "development"},
        "prod": {
            "mode": "production",
            "variables": {"catalog": "globalbev_prod", "workers": 4, "policy": {"lookup": {"cluster_policy": "jobs"}}},
            "run_as": {"service_principal_name": "sp-app-id"},
            "resources": {
                "jobs": {
                    "nightly": {
                        "job_clusters": [
                            {"job_cluster_key": "batch", "new_cluster": {"num_workers": "${var.workers}"}}
                        ],
                        "tasks": [
                            {"task_key": "run", "job_cluster_key": "batch", "libraries": [{"whl": "./dist/*.whl"}]}
                        ],
                    }
                }
            },
        },
    },
}
JOB = {
    "resources": {
        "jobs": {
            "nightly": {
                "name": "nightly",
                "tasks": [
                    {
                        "task_key": "run",
                        "timeout_seconds": 60,
                        "python_wheel_task": {
                            "package_name": "globalbev",
                            "entry_point": "globalbev",
                            "parameters": [
                                "--conf-dir",
                                "${workspace.file_path}/conf",
                                "run",
                                "--env",
                                "${bundle.target}",
                            ],
                        },
                    },
                    {
                        "task_key": "after",
                        "depends_on": [{"task_key": "run"}],
                        "run_job_task": {"job_id": "${resources.jobs.nightly.id}"},
                    },
                ],
            }
        }
    }
}


@pytest.fixture
def root(tmp_path):
    (tmp_path / "resources").mkdir()
    (tmp_path / "databricks.yml").write_text(yaml.safe_dump(MAIN), encoding="utf-8")
    (tmp_path / "resources" / "nightly.job.yml").write_text(yaml.safe_dump(JOB), encoding="utf-8")
    (tmp_path / "settings.ini").write_text("[DEFAULT]\nconsole_scripts = globalbev=globalbev.cli:main\n")
    return tmp_path


@pytest.mark.unit
def test_merge_config_merges_keyed_lists_by_key_and_appends_others():
    base = {"tasks": [{"task_key": "a", "x": 1}], "libraries": [1], "tags": {"p": "g"}}
    merged = merge_config(base, {"tasks": [{"task_key": "a", "y": 2}, {"task_key": "b"}], "libraries": [2]})
    assert merged == {
        "tasks": [{"task_key": "a", "x": 1, "y": 2}, {"task_key": "b"}],
        "libraries": [1, 2],
        "tags": {"p": "g"},
    }
    assert base["tasks"] == [{"task_key": "a", "x": 1}]


@pytest.mark.unit
def test_rebase_paths_makes_local_paths_relative_to_the_root(tmp_path):
    out = rebase_paths(
        {"whl": "../dist/*.whl", "n": "./nb", "abs": "/Volumes/c/s/v", "ref": "${var.x}"}, tmp_path / "r", tmp_path
    )
    assert out == {"whl": "dist/*.whl", "n": "r/nb", "abs": "/Volumes/c/s/v", "ref": "${var.x}"}


@pytest.mark.unit
def test_load_bundle_merges_includes_and_refuses_a_resource_defined_twice(root):
    bundle = load_bundle(root)
    assert bundle.targets == ["dev", "prod"] and set(bundle.config["resources"]["jobs"]) == {"nightly"}
    (root / "resources" / "again.yml").write_text(yaml.safe_dump(JOB), encoding="utf-8")
    with pytest.raises(BundleError, match="resources.jobs.nightly is defined"):
        load_bundle(root)


@pytest.mark.unit
def test_load_bundle_says_which_file_is_not_yaml(root):
    (root / "resources" / "bad.yml").write_text("resources: [unclosed\n", encoding="utf-8")
    with pytest.raises(BundleError, match="bad.yml: not valid YAML"):
        load_bundle(root)


@pytest.mark.unit
def test_target_variables_defaults_target_values_overrides_and_lookups(root):
    bundle = load_bundle(root)
    assert target_variables(bundle, "dev") == {"catalog": "globalbev_dev", "workers": 1, "policy": ""}
    prod = target_variables(bundle, "prod", {"workers": 8})
    assert prod == {"catalog": "globalbev_prod", "workers": 8, "policy": "<cluster_policy: jobs>"}
    with pytest.raises(BundleError, match="unknown target 'staging'"):
        target_variables(bundle, "staging")


@pytest.mark.unit
def test_interpolate_keeps_types_of_whole_references_and_refuses_unknown_names():
    refs = {"var.n": 4, "var.on": True}
    assert interpolate({"a": "${var.n}", "b": "x-${var.n}-${var.on}", "c": ["${resources.jobs.j.id}"]}, refs) == {
        "a": 4,
        "b": "x-4-true",
        "c": ["${resources.jobs.j.id}"],
    }
    with pytest.raises(BundleError, match=r"unknown reference \$\{var.m\}"):
        interpolate("${var.m}", refs)


@pytest.mark.unit
def test_resolve_target_applies_the_targets_settings(root):
    bundle = load_bundle(root)
    prod = resolve_target(bundle, "prod", user="ci@example.com")
    job = prod["resources"]["jobs"]["nightly"]
    assert job["job_clusters"][0]["new_cluster"] == {"num_workers": 4}
    run = job["tasks"][0]
    assert run["job_cluster_key"] == "batch" and run["libraries"] == [{"whl": "dist/*.whl"}]
    assert run["python_wheel_task"]["parameters"] == [
        "--conf-dir",
        "/Workspace/Users/ci@example.com/.bundle/globalbev/prod/files/conf",
        "run",
        "--env",
        "prod",
    ]
    assert prod["run_as"] == {"service_principal_name": "sp-app-id"} and prod["bundle"]["mode"] == "production"
    assert "job_clusters" not in resolve_target(bundle, "dev")["resources"]["jobs"]["nightly"]


@pytest.mark.unit
def test_job_tasks_and_task_errors(root):
    bundle = load_bundle(root)
    prod = resolve_target(bundle, "prod")
    tasks = job_tasks(prod)
    assert [(t.name, t.kind) for t in tasks] == [
        ("nightly.run", "python_wheel_task"),
        ("nightly.after", "run_job_task"),
    ]
    assert tasks[0].entry.endswith("run --env prod")
    assert [task_errors(t, prod, root) for t in tasks] == [[], []]
    wrong = resolve_target(bundle, "prod")
    wrong["resources"]["jobs"]["nightly"]["tasks"][0]["python_wheel_task"]["entry_point"] = "globalbev-run"
    wrong["resources"]["jobs"]["nightly"]["tasks"][1]["run_job_task"]["job_id"] = "${resources.jobs.weekly.id}"
    errors = [e for t in job_tasks(wrong) for e in task_errors(t, wrong, root)]
    assert errors == [
        "nightly.run: entry point 'globalbev-run' is not a console script of the wheel ['globalbev']",
        "nightly.after: '${resources.jobs.weekly.id}' is not a job of this bundle",
    ]


@pytest.mark.unit
def test_cli_errors_parse_with_the_real_parser():
    assert cli_errors(["run", "--env", "prod"], "prod") == []
    assert cli_errors(["--env", "prod", "run"], "prod") == []
    assert "runs with --env dev, not prod" in cli_errors(["run", "--env", "dev"], "prod")[0]
    assert "invalid choice: 'ran'" in cli_errors(["ran"], "prod")[0]
    assert "names no command" in cli_errors(["--env", "prod"], "prod")[0]


@pytest.mark.unit
def test_compute_errors_find_tasks_with_nowhere_to_run(root):
    bundle = load_bundle(root)
    assert compute_errors(resolve_target(bundle, "prod")) == []
    dev = resolve_target(bundle, "dev")  # dev names no compute for `run`: it would not deploy
    assert compute_errors(dev) == ["nightly.run: runs on nothing; name one job cluster, environment or cluster"]
    dev["resources"]["jobs"]["nightly"]["tasks"][1]["depends_on"] = [{"task_key": "runn"}]
    assert "nightly.after: depends on unknown task 'runn'" in compute_errors(dev)


@pytest.mark.unit
def test_flatten_and_diff_targets(root):
    assert flatten({"tasks": [{"task_key": "a", "n": 1}], "l": [5]}) == {
        "tasks[a].task_key": "a",
        "tasks[a].n": 1,
        "l[0]": 5,
    }
    diff = dict((p, (a, b)) for p, a, b in diff_targets(load_bundle(root), "dev", "prod"))
    assert diff["variables.workers"] == (1, 4)
    assert diff["resources.jobs.nightly.tasks[run].job_cluster_key"] == (None, "batch")
    assert diff["run_as.service_principal_name"] == (None, "sp-app-id")
    assert "bundle.target" not in diff


# --- The repository's deployment tooling: the GitHub workflows and the pre-commit hooks. These need the dev extra's
# tools (check-jsonschema, pre-commit's config, nbdev, ruff), so they are not `unit` (./dev compat does not run them).

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
VENV_BIN = Path(sys.executable).parent


def _workflow(name: str) -> dict:
    wf = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    wf["on"] = wf.pop(True, wf.get("on"))  # YAML 1.1 reads the key `on` as True
    return wf


def _run(*argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.integration
def test_workflows_are_valid_against_the_github_workflow_schema():
    """check-jsonschema's vendored GitHub workflow schema (offline), the pre-commit hook's own command."""
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    result = _run(str(VENV_BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *files)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.integration
def test_workflows_pass_actionlint_when_it_is_installed():
    """actionlint (expressions, contexts, needs, job ids). Its PyPI wrapper downloads the binary from GitHub when it
    installs, which this project's machines cannot reach: run it where it is on PATH (or $ACTIONLINT)."""
    exe = os.environ.get("ACTIONLINT") or shutil.which("actionlint")
    if not exe:
        pytest.skip("actionlint not installed (go install github.com/rhysd/actionlint/cmd/actionlint@v1.7.12)")
    result = _run(exe, "-shellcheck=", "-pyflakes=", *sorted(str(p) for p in WORKFLOWS.glob("*.yml")))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.integration
def test_ci_runs_the_ci_script_and_the_hooks_on_every_push_and_pull_request():
    wf = _workflow("ci.yml")
    assert "push" in wf["on"] and "pull_request" in wf["on"] and not (wf["on"]["push"] or {}).get("branches")
    runs = [s.get("run", "") for job in wf["jobs"].values() for s in job["steps"]]
    assert "bash .ci/run" in runs
    assert any("pre-commit run --all-files" in r for r in runs)


@pytest.mark.integration
def test_cd_deploys_dev_then_test_then_prod_through_protected_environments():
    """dev on every merge to main; test and prod each after the one before, in a GitHub environment of the target's
    name (approval is that environment's protection rule), with the OAuth M2M secrets of that environment; every job
    validates the bundle for its target, then deploys it."""
    wf = _workflow("cd.yml")
    assert wf["on"]["push"]["branches"] == ["main"] and "workflow_dispatch" in wf["on"]
    assert wf["concurrency"]["cancel-in-progress"] is False
    jobs = wf["jobs"]
    assert [(j, jobs[j].get("needs"), jobs[j]["environment"]) for j in ("dev", "test", "prod")] == [
        ("dev", None, "dev"),
        ("test", "dev", "test"),
        ("prod", "test", "prod"),
    ]
    targets = load_bundle(ROOT).targets
    for name, job in jobs.items():
        assert name in targets
        for secret in ("DATABRICKS_HOST", "DATABRICKS_CLIENT_ID", "DATABRICKS_CLIENT_SECRET"):
            assert job["env"][secret] == f"${{{{ secrets.{secret} }}}}", (name, secret)
        uses = [s.get("uses", "") for s in job["steps"]]
        runs = [s.get("run", "") for s in job["steps"]]
        assert any(u.startswith("databricks/setup-cli@") for u in uses), name
        validate, deploy = f"databricks bundle validate -t {name}", f"databricks bundle deploy -t {name}"
        assert validate in runs and deploy in runs and runs.index(validate) < runs.index(deploy), name


@pytest.mark.integration
def test_pre_commit_hooks_are_local_and_use_the_projects_tools():
    """No hook is fetched from GitHub (unreachable here and in CI): every one is `repo: local` running a tool of .venv,
    pinned in settings.ini like the rest."""
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    assert [r["repo"] for r in config["repos"]] == ["local"]
    hooks = {h["id"]: h for h in config["repos"][0]["hooks"]}
    assert {"ruff-check", "ruff-format", "nbdev-clean", "nbdev-export", "github-workflows", "bundle"} <= set(hooks)
    for hook in hooks.values():
        assert hook["language"] == "system", hook["id"]
        for tool in re.findall(r"\.venv/bin/([\w-]+)", hook["entry"]):
            assert (VENV_BIN / tool).exists(), f"{hook['id']}: {tool} is not installed in {VENV_BIN}"
    assert " I" in hooks["ruff-check"]["name"] or '"I"' in hooks["ruff-check"]["name"]
    assert '"I"' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")  # import sorting is on
    result = _run(str(VENV_BIN / "pre-commit"), "validate-config", ".pre-commit-config.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.integration
def test_ruff_hooks_pass_on_the_tree():
    """What `ruff-check` and `ruff-format` would change on the files they take (Python and notebooks): nothing
    (read-only: --check, no --fix)."""
    skip = {".venv", ".venv-spark40", "data", "_docs", ".git"}
    files = [
        str(p.relative_to(ROOT))
        for top in ROOT.iterdir()
        if top.name not in skip
        for p in ([top] if top.is_file() else top.rglob("*"))
        if p.suffix in (".py", ".ipynb") and ".ipynb_checkpoints" not in p.parts
    ]
    for argv in (["check", "--force-exclude", *files], ["format", "--check", "--force-exclude", *files]):
        result = _run(str(VENV_BIN / "ruff"), *argv)
        assert result.returncode == 0, result.stdout + result.stderr


def _nbdev_clean_copy(tmp_path: Path) -> list[tuple[str, bool]]:
    """Run the nbdev-clean hook's command on a copy of the notebooks; (notebook, semantically changed) for each file
    it rewrote. Semantically: anything but the kernel's display name and the JSON layout."""
    for folder in ("notebooks", "solutions"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("*.py", ".ipynb_checkpoints"))
    shutil.copy(ROOT / "settings.ini", tmp_path / "settings.ini")
    entry = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))["repos"][0]["hooks"]
    command = next(h["entry"] for h in entry if h["id"] == "nbdev-clean").replace(".venv/bin/", f"{VENV_BIN}/")
    result = subprocess.run(command, shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr

    def meaning(text: str) -> dict:
        nb = json.loads(text)
        nb.get("metadata", {}).get("kernelspec", {}).pop("display_name", None)
        return nb

    changed = []
    for after in sorted(tmp_path.glob("*/*.ipynb")):
        before = (ROOT / after.relative_to(tmp_path)).read_text(encoding="utf-8")
        if after.read_text(encoding="utf-8") != before:
            changed.append(
                (str(after.relative_to(tmp_path)), meaning(after.read_text(encoding="utf-8")) != meaning(before))
            )
    return changed


@pytest.mark.integration
def test_nbdev_clean_finds_no_output_or_metadata_to_strip(tmp_path):
    """The nbdev-clean hook on a copy of every notebook and solution: no output, execution count or cell metadata to
    remove anywhere. (A rewrite that changes only the kernel's display name or the JSON layout is the next test.)"""
    semantic = [name for name, meaningful in _nbdev_clean_copy(tmp_path) if meaningful]
    assert semantic == [], f"nbdev_clean would strip outputs or metadata from {semantic}: run the nbdev-clean hook"


@pytest.mark.integration
def test_nbdev_clean_leaves_every_notebook_byte_for_byte(tmp_path):
    """`pre-commit run --all-files` passes only when nbdev_clean rewrites nothing at all: a notebook edited by a script
    must be written as nbdev writes it (sorted keys, the kernel's name "python3" as display name)."""
    changed = [name for name, _ in _nbdev_clean_copy(tmp_path)]
    assert changed == [], f"nbdev_clean would rewrite {changed}: run .venv/bin/nbdev_clean --fname on them"
