"""The platform layer on real engines: configuration, Spark + Delta, PostgreSQL over JDBC, secrets."""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from globalbev.config import ConfigError, load_config, storage_path, table_name
from globalbev.errors import GlobalBevError
from globalbev.postgres import PostgresError, pg_query, read_postgres
from globalbev.runtime import (
    SMALL_TABLE_SETTINGS,
    SetupError,
    check_java,
    class_cache_file,
    class_cache_options,
    local_spark_conf,
    pipeline_settings,
    register_local_tables,
)
from globalbev.secrets import SecretNotFound, get_secret, install_redaction


@pytest.mark.unit
@pytest.mark.parametrize(
    "env,expected",
    [
        ("local", "silver.customers"),
        ("dev", "globalbev_dev.silver.customers"),
        ("test", "globalbev_test.silver.customers"),
        ("prod", "globalbev_prod.silver.customers"),
    ],
)
def test_table_names_per_environment(env, expected):
    assert table_name("silver", "customers", load_config(env, environ={})) == expected


@pytest.mark.unit
def test_storage_roots():
    assert storage_path("landing", cfg=load_config("dev", environ={})).startswith("/Volumes/globalbev_dev/")
    assert storage_path("x", cfg=load_config("prod", environ={})).startswith("abfss://")
    assert (
        storage_path("x", cfg=load_config("local", environ={"GLOBALBEV_DATA_ROOT": "dbfs:/tmp/gb"})) == "dbfs:/tmp/gb/x"
    )
    with pytest.raises(ConfigError, match="choose one of"):
        load_config("qa")


@pytest.mark.unit
def test_missing_java_is_a_clear_message():
    with pytest.raises(SetupError, match="openjdk-17"):
        check_java({"JAVA_HOME": "/no/such/jdk"})
    assert check_java() in (17, 21)


@pytest.mark.integration
def test_spark_session_is_local_delta_utc(spark, test_config):
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    assert spark.conf.get("spark.sql.shuffle.partitions") == "4"
    assert "DeltaSparkSessionExtension" in spark.conf.get("spark.sql.extensions")


def test_a_pipeline_run_takes_its_projection_setting_for_its_block_only(spark, test_config, monkeypatch):
    key = "spark.sql.codegen.factoryMode"
    before = spark.conf.get(key, None)
    with pipeline_settings(spark, test_config):  # conf/local.toml: interpreted
        assert spark.conf.get(key) == "NO_CODEGEN"
        assert spark.range(3).selectExpr("struct(id, 'x') AS s").collect()[2].s.id == 2
    assert spark.conf.get(key, None) == before  # a learner's own cells keep Spark's default
    assert spark.catalog.listTables("default") is not None  # what the interpreter cannot decode (runtime.py says so)
    small = {k: spark.conf.get(k, None) for k in SMALL_TABLE_SETTINGS}
    with pipeline_settings(spark, test_config, small_tables=True):  # an erasure's proof, version by version
        assert {k: spark.conf.get(k) for k in [key, *SMALL_TABLE_SETTINGS]} == {
            key: "NO_CODEGEN",
            **SMALL_TABLE_SETTINGS,
        }
        assert spark.range(10).groupBy((F.col("id") % 2).alias("odd")).count().count() == 2
    assert {k: spark.conf.get(k, None) for k in SMALL_TABLE_SETTINGS} == small and spark.conf.get(key, None) == before
    monkeypatch.setenv("DATABRICKS_RUNTIME_VERSION", "17.3")  # on Databricks the setting is not Spark's to take
    with pipeline_settings(spark, test_config, small_tables=True):
        assert spark.conf.get(key, None) == before
        assert {k: spark.conf.get(k, None) for k in SMALL_TABLE_SETTINGS} == small


@pytest.mark.unit
def test_the_class_cache_is_used_only_whole_and_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cfg = load_config("local", environ={})
    archive = class_cache_file()
    assert archive is not None and archive.parent == tmp_path / "globalbev"
    assert class_cache_options(cfg) == ""  # not built
    archive.parent.mkdir(parents=True)
    archive.write_bytes(b"x" * 100)
    assert class_cache_options(cfg) == ""  # no record of a check
    archive.with_suffix(".ok").write_text("4096")
    assert class_cache_options(cfg) == ""  # truncated (a JDK 17 JVM would crash on it)
    archive.with_suffix(".ok").write_text("100")
    assert f"-XX:SharedArchiveFile={archive}" in local_spark_conf(cfg)["spark.driver.extraJavaOptions"]
    assert class_cache_options(load_config("local", environ={"GLOBALBEV_CLASS_CACHE": "off"})) == ""


@pytest.mark.integration
def test_the_session_jvm_maps_the_class_cache_that_setup_built(spark, test_config):
    archive = class_cache_file()
    assert class_cache_options(test_config), f"./dev setup builds the class cache {archive}: it is missing or unchecked"
    jvm = spark.sparkContext._gateway.proc.pid
    assert str(archive) in Path(f"/proc/{jvm}/maps").read_text()  # the JVM mapped the archive, not just its name


@pytest.mark.integration
def test_delta_time_travel_and_table_reregistration(spark, test_config):
    name = table_name("ops", "platform_check", test_config)
    spark.sql(f"CREATE OR REPLACE TABLE {name} (id INT) USING DELTA")
    spark.sql(f"INSERT INTO {name} VALUES (1), (2)")
    spark.sql(f"INSERT INTO {name} VALUES (3)")
    assert spark.sql(f"SELECT count(*) FROM {name} VERSION AS OF 1").first()[0] == 2
    assert spark.table(name).count() == 3
    # Tables written by an earlier process are only files in the warehouse: a new session registers them.
    earlier = f"{test_config.storage_root}/warehouse/ops.db/written_earlier"
    spark.range(5).write.format("delta").mode("overwrite").save(earlier)
    # A first write interrupted (Ctrl-C in the demo) before its commit leaves a _delta_log without one: not a table yet.
    interrupted = (
        Path(test_config.storage_root) / "warehouse" / "ops.db" / "interrupted" / "_delta_log" / "_staged_commits"
    )
    interrupted.mkdir(parents=True)
    registered = register_local_tables(spark, test_config)
    assert "ops.written_earlier" in registered and "ops.interrupted" not in registered
    assert spark.table("ops.written_earlier").count() == 5


@pytest.mark.integration
def test_postgres_partitioned_jdbc_read(spark, pg_server):
    pg_query(pg_server, "DROP TABLE IF EXISTS platform_check")
    pg_query(pg_server, "CREATE TABLE platform_check (id int primary key, sku text)")
    pg_query(pg_server, "INSERT INTO platform_check SELECT g, 'SKU-' || g FROM generate_series(1, 1000) g")
    df = read_postgres(spark, pg_server, "platform_check", partition_column="id", num_partitions=4)
    assert df.rdd.getNumPartitions() == 4
    assert df.count() == 1000 and df.agg({"id": "sum"}).first()[0] == 500500


@pytest.mark.unit
def test_secret_never_in_logs_or_exception_text(monkeypatch):
    monkeypatch.setenv("GLOBALBEV_SECRET_POSTGRES_PASSWORD", "Sup3r-S3cret-pw")
    cfg = load_config("local")
    secret = get_secret("postgres", "password", cfg)
    install_redaction()
    buf = io.StringIO()
    log = logging.getLogger("globalbev.test.secrets")
    handler = logging.StreamHandler(buf)
    log.addHandler(handler)
    try:
        log.error("connecting with password=%s", secret)
        try:
            raise ConnectionError(f"auth failed for {secret}")
        except ConnectionError:
            log.exception("connect failed")
        log.warning({"password": secret})
    finally:
        log.removeHandler(handler)
    out = buf.getvalue()
    assert secret not in out and out.count("[REDACTED]") >= 3
    with pytest.raises(SecretNotFound) as err:
        get_secret("postgres", "nothing", cfg)
    assert secret not in str(err.value) and "GLOBALBEV_SECRET_POSTGRES_NOTHING" in str(err.value)


@pytest.mark.unit
def test_every_command_the_readme_names_is_registered():
    """README's commands (`./dev demo`, `globalbev run`, ...) exist: the installed console script answers --help."""
    import re
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    named = set(re.findall(r"globalbev (?:--env \S+ )?([a-z][a-z-]+)", readme))
    named |= {m for m in re.findall(r"\./dev ([a-z]+)", readme) if m not in {"test", "setup", "compat"}}  # dev's own
    assert {"demo", "run", "generate", "doctor"} <= named, named
    from globalbev.cli import build_parser

    parser = build_parser()
    lines = re.findall(r"^(?:\.venv/bin/|\./dev )?globalbev( [^#\n`]*)", readme, flags=re.M)
    assert len(lines) >= 5, lines
    for line in lines:  # every command line README shows parses as written (--help lines are run below)
        if "--help" not in line:
            parser.parse_args(line.split())
    script = Path(sys.executable).with_name("globalbev")
    for command in sorted(named):
        done = subprocess.run([str(script), command, "--help"], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and "usage: globalbev " + command in done.stdout, (command, done.stderr[-500:])


@pytest.mark.unit
def test_the_demo_is_one_day_on_the_quick_compiler_unless_told(monkeypatch):
    """`globalbev demo` with no option: day 0 at scale 0.002 (README's demo, within its 90 s), its JVM on the quick
    compiler; `GLOBALBEV_JIT` set by the user wins, and `--days 3` is the day-by-day story."""
    from globalbev import demo
    from globalbev.cli import build_parser

    args = build_parser().parse_args(["demo"])
    assert (args.days, args.scale) == (1, 0.002) and args.func is demo._demo
    assert build_parser().parse_args(["demo", "--days", "3"]).days == 3
    seen = []

    def stop_here(env=None):  # _demo's first read of the configuration: what GLOBALBEV_JIT says by then
        seen.append(os.environ.get("GLOBALBEV_JIT"))
        raise KeyboardInterrupt

    monkeypatch.setattr(demo, "load_config", stop_here)
    for given in (None, "full"):
        if given is None:
            monkeypatch.delenv("GLOBALBEV_JIT", raising=False)
        else:
            monkeypatch.setenv("GLOBALBEV_JIT", given)
        with pytest.raises(KeyboardInterrupt):
            demo._demo(args)
    assert seen == ["quick", "full"]


@pytest.mark.unit
def test_every_error_a_user_can_fix_is_one_family_with_its_builtin_parent():
    from globalbev.exams import BankError, ExamNotFound

    family = {
        ConfigError: ValueError,
        SetupError: RuntimeError,
        SecretNotFound: KeyError,
        PostgresError: RuntimeError,
        BankError: ValueError,
        ExamNotFound: KeyError,
    }
    for cls, builtin in family.items():
        assert issubclass(cls, GlobalBevError) and issubclass(cls, builtin), cls
    assert str(SecretNotFound("set GLOBALBEV_SECRET_X")) == "set GLOBALBEV_SECRET_X"  # no KeyError quotes


@pytest.mark.unit
def test_a_users_mistake_is_one_line_on_stderr_and_exit_2():
    """An unknown environment through the installed `globalbev`: `error: ...` on one line, no traceback, exit code 2."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(sys.executable).with_name("globalbev")
    env = {**os.environ, "GLOBALBEV_ENV": "staging"}
    done = subprocess.run([str(script), "doctor"], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr == "error: unknown environment 'staging': choose one of local, dev, test, prod\n", done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    done = subprocess.run(
        [str(script), "exam", "review", "no-such-attempt"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr


@pytest.mark.unit
def test_a_crashed_run_exits_3_with_one_line(monkeypatch, capsys):
    """`globalbev run`: a crash is exit code 3 with one line naming the run, stage, error and summary (not 1, which is
    a failed check, nor 2, a usage error); the codes are `EXIT_CODES`."""
    import argparse

    from globalbev import demo
    from globalbev.run_state import EXIT_CODES, PipelineCrashed

    def crash(*args, **kwargs):
        boom = RuntimeError("No space left on device\n\tat org.apache.spark.Foo(Foo.java:1)")
        raise PipelineCrashed("run-1", "silver.orders", boom, "/lake/runs/run-1/summary.json")

    monkeypatch.setattr(demo, "get_spark", lambda cfg, **kwargs: None)
    monkeypatch.setattr(demo, "connect_postgres", lambda cfg: None)
    monkeypatch.setattr(demo, "run_pipeline", crash)
    args = argparse.Namespace(env="local", landing_root=None, manifest=None, stage="all", run_id=None)
    assert demo._run(args) == EXIT_CODES["crashed"] == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "at org." not in err
    assert err.startswith("error: run run-1 crashed in silver.orders: RuntimeError: No space left on device; summary:")
    assert EXIT_CODES == {"succeeded": 0, "failed_checks": 1, "usage_error": 2, "crashed": 3}


@pytest.mark.unit
def test_secrets_come_from_the_environments_secret_store():
    """A workspace reads secret scopes (production's is Key Vault-backed), the laptop its environment; one variable
    switches the provider, so no notebook names one."""
    from globalbev.secrets import PROVIDERS

    kinds = {env: load_config(env, environ={}).secrets["provider"] for env in ("local", "dev", "test", "prod")}
    assert kinds == {"local": "env", "dev": "databricks", "test": "databricks", "prod": "databricks"}
    direct = load_config("prod", environ={"GLOBALBEV_SECRETS_PROVIDER": "azure_keyvault"}).secrets["provider"]
    assert direct == "azure_keyvault" and set(kinds.values()) | {direct} <= set(PROVIDERS)
