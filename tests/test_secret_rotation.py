"""Rotating the PostgreSQL password needs no code change, and no password reaches an exception or a log line.

Against the run's real PostgreSQL (tests/conftest.py: the embedded server, never a mock): a role that must give its
password (a first line in the server's pg_hba.conf), the password kept in a `.env` file read through
`globalbev.secrets.get_secret`, rotated with ALTER ROLE and in the file — the next connection, through the same
objects, uses the new password and the old one is refused."""

from __future__ import annotations

import dataclasses
import logging
import traceback
import uuid
from urllib.parse import quote

import psycopg
import pytest

from globalbev.cli import main
from globalbev.ingestion import PostgresTableSource, with_credentials
from globalbev.monitoring import check_postgres_login
from globalbev.postgres import PostgresServer, pg_query, read_postgres
from globalbev.secrets import REDACTED, RedactingFilter, env_var_name

SCOPE = "rotation-test"


def _hba_line(role: str) -> str:
    return f"host all {role} 127.0.0.1/32 scram-sha-256\n"


@pytest.fixture
def role(pg_server):
    """A login role the server asks for its password over TCP; removed afterwards."""
    name = f"rot_{uuid.uuid4().hex[:8]}"
    pg_query(pg_server, f"CREATE ROLE {name} LOGIN PASSWORD 'initial-{name}'")
    pg_query(pg_server, f"CREATE TABLE {name}_items (id int, updated_at timestamp DEFAULT now())")
    pg_query(pg_server, f"INSERT INTO {name}_items (id) VALUES (1), (2), (3)")
    pg_query(pg_server, f"GRANT SELECT ON {name}_items TO {name}")
    hba = pg_server.data_dir / "pg_hba.conf" if pg_server.data_dir else None
    if hba is not None:
        hba.write_text(_hba_line(name) + hba.read_text())
        pg_query(pg_server, "SELECT pg_reload_conf()")
    probe = PostgresServer(pg_server.host, pg_server.port, user=name, password="certainly-not-it")
    try:
        pg_query(probe, "SELECT 1")
        pytest.skip("this PostgreSQL lets the role in without its password (GLOBALBEV_TEST_PG_URL with trust auth)")
    except psycopg.OperationalError:
        pass
    yield name
    if hba is not None:
        hba.write_text(hba.read_text().replace(_hba_line(name), ""))
        pg_query(pg_server, "SELECT pg_reload_conf()")
    pg_query(pg_server, f"DROP TABLE {name}_items")
    pg_query(pg_server, f"DROP ROLE {name}")


@pytest.fixture
def secret_cfg(test_config, tmp_path, monkeypatch):
    """The tests' configuration with the env provider reading the password from its own `.env` file."""
    monkeypatch.delenv(env_var_name(SCOPE, "password"), raising=False)  # an exported variable would win over .env
    env_file = tmp_path / ".env"
    return dataclasses.replace(
        test_config,
        postgres={"secret_scope": SCOPE, "password_key": "password"},
        secrets={"provider": "env", "env_file": str(env_file)},
    )


def _store(cfg, password: str) -> None:
    """Write the secret where the env provider reads it: `GLOBALBEV_SECRET_ROTATION_TEST_PASSWORD=…` in `.env`."""
    with open(cfg.secrets["env_file"], "w") as f:
        f.write(f"{env_var_name(SCOPE, 'password')}={password}\n")


def test_a_rotated_password_is_used_by_the_next_connection(spark, pg_server, role, secret_cfg):
    a, b = "Tuesday-A/pw@1", "Thursday-B#pw:2"
    pg_query(pg_server, f"ALTER ROLE {role} PASSWORD '{a}'")
    _store(secret_cfg, a)
    server = PostgresServer(pg_server.host, pg_server.port, user=role)  # no password in code: the secret has it
    source = PostgresTableSource(server, f"{role}_items", name=f"postgres:{role}")
    assert check_postgres_login(server, secret_cfg).startswith(f"PostgreSQL login as {role} ")
    assert source.read(spark, secret_cfg, None).df.count() == 3  # the pipeline's JDBC read, password from the secret

    pg_query(pg_server, f"ALTER ROLE {role} PASSWORD '{b}'")  # 02:10: rotated in PostgreSQL …
    _store(secret_cfg, b)  # … and in the secret store; the same objects, no reload, no code change
    assert check_postgres_login(server, secret_cfg).startswith(f"PostgreSQL login as {role} ")
    assert with_credentials(server, secret_cfg).password == b
    assert source.read(spark, secret_cfg, None).df.count() == 3
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        pg_query(dataclasses.replace(server, password=a), "SELECT 1")  # the old password is refused


def test_globalbev_status_postgres_checks_the_secret_as_it_is_now(spark, pg_server, role, monkeypatch, capsys):
    """The runbook's check after a rotation: `globalbev status --postgres` logs in with the secret's current value."""
    monkeypatch.setenv("GLOBALBEV_PG_URL", f"postgresql://{role}@{pg_server.host}:{pg_server.port}/postgres")
    monkeypatch.setenv("GLOBALBEV_SECRETS_PROVIDER", "env")
    secret = "After-rotation#3"
    pg_query(pg_server, f"ALTER ROLE {role} PASSWORD '{secret}'")
    monkeypatch.setenv(env_var_name("postgres", "password"), secret)  # the local default scope/key
    main(["status", "--postgres"])  # exit 1 here: this session's own schemas have no runs (a `no_runs` alert)
    assert f"PostgreSQL login as {role} at postgresql://{role}:***@" in capsys.readouterr().out
    monkeypatch.setenv(env_var_name("postgres", "password"), "Not-the-one#4")
    assert main(["status", "--postgres"]) == 1
    out = capsys.readouterr().out
    assert "PostgreSQL login failed:" in out and "password authentication failed" in out and "Not-the-one" not in out


def test_a_failing_connection_leaks_no_password(spark, pg_server, role, secret_cfg):
    secret = "Leaky-p@ss/w0rd#9"
    _store(secret_cfg, secret)  # the store holds a password PostgreSQL refuses: the role still has its initial one
    server = PostgresServer(pg_server.host, pg_server.port, user=role)
    forms = (secret, quote(secret, safe=""))  # as read, and as a URL carries it (`p%40ss%2Fw0rd%239`)

    with pytest.raises(psycopg.OperationalError) as failed:
        check_postgres_login(server, secret_cfg)
    text = "".join(traceback.format_exception(failed.value))
    assert "password authentication failed" in text and not any(f in text for f in forms)

    with pytest.raises(Exception) as jdbc_failed:  # noqa: PT011 - whatever the driver raises, its text must be clean
        read_postgres(spark, with_credentials(server, secret_cfg), f"{role}_items").count()  # Spark's JDBC read
    jdbc_text = "".join(traceback.format_exception(jdbc_failed.value))
    assert "connect" in jdbc_text  # Spark says it could not connect (and redacts the URL itself)
    assert not any(f in jdbc_text for f in forms), jdbc_text[-2000:]

    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            lines.append(self.format(record))

    handler = Keep()
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    log = logging.getLogger("tests.secret_rotation")
    log.addHandler(handler)
    try:
        live = with_credentials(server, secret_cfg)
        try:
            pg_query(live, "SELECT 1")
        except psycopg.OperationalError:
            log.exception("login failed for %s (%s)", live.url, live.jdbc_properties())  # a careless log line
        try:
            raise RuntimeError(f"driver echoed its settings: password={secret} url={live.url}")
        except RuntimeError:
            log.error("a library that repeats its connection string", exc_info=True)
    finally:
        log.removeHandler(handler)
    assert len(lines) == 2 and all(REDACTED in line for line in lines)
    assert not any(f in line for f in forms for line in lines), lines
    assert "password authentication failed" in lines[0]  # the traceback is kept, scrubbed


def test_doctor_logs_in_with_the_password_the_secret_holds(pg_server, role, secret_cfg):
    """`globalbev doctor`'s PostgreSQL check (globalbev.doctor.check_postgres) connects as the pipeline does: the URL
    names the role, the secret holds the password, read at each call — so it follows a rotation, and says nothing of
    the password."""
    from globalbev.doctor import check_postgres

    url = f"postgresql://{role}@{pg_server.host}:{pg_server.port}/postgres"  # no password: the secret has it
    cfg = dataclasses.replace(secret_cfg, postgres={**secret_cfg.postgres, "url": url})
    secret = "Doctor-rot@5/x"
    pg_query(pg_server, f"ALTER ROLE {role} PASSWORD '{secret}'")
    _store(cfg, secret)
    said = check_postgres(cfg)
    assert said.startswith("PostgreSQL ") and f"postgresql://{role}:***@" in said and secret not in said
    _store(cfg, "Not-the-one#6")  # the store and the server disagree: the check fails, without the password
    with pytest.raises(psycopg.OperationalError, match="password authentication failed") as failed:
        check_postgres(cfg)
    assert "Not-the-one" not in "".join(traceback.format_exception(failed.value))
