"""Shared fixtures: one local Spark + Delta session and one real PostgreSQL server per test run.

Like delta-io/delta's Python tests, the session is configured once (local master, UI off, few shuffle
partitions, the Delta extension and catalog) and every test gets its own folder for data.
"""

from __future__ import annotations

import configparser
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from globalbev.config import load_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def settings() -> configparser.SectionProxy:
    """settings.ini, read the way setup.py reads it."""
    cfg = configparser.ConfigParser(delimiters=["="])
    cfg.read(ROOT / "settings.ini", encoding="utf-8")
    return cfg["DEFAULT"]


@pytest.fixture(scope="session")
def session_root() -> Path:
    """A folder for the whole run (warehouse, PostgreSQL data), removed at the end."""
    root = Path(tempfile.mkdtemp(prefix="globalbev-tests-"))
    root.chmod(0o755)  # the embedded PostgreSQL runs as another user when tests run as root
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def test_config(session_root):
    """The `local` configuration pointed at the run's folder, sized for tests."""
    env = {
        **os.environ,
        "GLOBALBEV_DATA_ROOT": str(session_root / "data"),
        "GLOBALBEV_SPARK_MASTER": "local[2]",
        "GLOBALBEV_DRIVER_MEMORY": "2g",
        "GLOBALBEV_PG_URL": os.environ.get("GLOBALBEV_TEST_PG_URL", ""),
        # a classic session of the tests' own, also where ./dev test runs a test file beside the notebooks, whose
        # kernels are clients of a shared Spark Connect server (GLOBALBEV_SPARK_REMOTE)
        "GLOBALBEV_SPARK_REMOTE": "",
    }
    cfg = load_config("local", environ=env)
    cfg.spark["shuffle_partitions"] = 4
    cfg.spark["conf"] = {"spark.databricks.delta.snapshotPartitions": "1", "spark.sql.adaptive.enabled": "true"}
    return cfg


@pytest.fixture(scope="session")
def spark(test_config):
    """One local Spark session with Delta Lake for the whole run."""
    from globalbev.runtime import get_spark

    session = get_spark(test_config, app_name="globalbev-tests")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def pg_server(session_root):
    """A real PostgreSQL for the whole run: GLOBALBEV_TEST_PG_URL if set, else the embedded server."""
    from globalbev.postgres import parse_pg_url, start_embedded_postgres

    url = os.environ.get("GLOBALBEV_TEST_PG_URL")
    server = parse_pg_url(url) if url else start_embedded_postgres(session_root / "postgres")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pg_url(pg_server) -> str:
    """libpq URL of the run's PostgreSQL, e.g. postgresql://postgres@127.0.0.1:PORT/postgres."""
    return pg_server.url


@pytest.fixture
def data_root(tmp_path) -> Path:
    """A fresh, empty data folder for one test."""
    root = tmp_path / "data"
    root.mkdir()
    return root


@pytest.fixture(scope="session")
def generated(tmp_path_factory):
    """A tiny three-day GlobalBev landing zone (operational tables as files; the drift day is day 2), read-only."""
    from data_generators import GenerationConfig, generate

    root = tmp_path_factory.mktemp("gen")
    generate(GenerationConfig(root=str(root), pg_url=None, scale=0.001, days=3, seed=7))
    return root
