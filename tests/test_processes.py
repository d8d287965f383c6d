"""Nothing the project starts outlives the process that started it (issue 19).

An embedded PostgreSQL server is held by every process that starts or reuses it and stopped by a watchdog when the last
holder ends, however it ends: normally, with an exception, Ctrl-C, SIGTERM, or SIGKILL to its process group (what nbval
does to a kernel). `globalbev pg status` / `pg stop` and the doctor see what is left. `./dev test` ends with
`test_nothing_of_this_run_is_left_running`, which fails while any server, Spark JVM or watchdog of the run still runs.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from globalbev.doctor import leftover_processes, stray_processes
from globalbev.postgres import _running_port, embedded_servers, stop_embedded_server
from globalbev.processes import forget, read_lease, watchdogs

# A stand-in for a kernel or a CLI run: start (or reuse) the server, print its port, then `then`.
HOLDER = (
    "import signal, sys, time\n"
    "signal.signal(signal.SIGINT, signal.default_int_handler)  # `./dev test` runs pytest with SIGINT ignored\n"
    "from globalbev.postgres import start_embedded_postgres\n"
    "print(start_embedded_postgres(sys.argv[1]).port, flush=True)\n"
)


def _read_line(proc: subprocess.Popen, seconds: float = 180) -> str:
    """The next line `proc` prints, failing the test if none comes within `seconds`."""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        assert sel.select(seconds), f"no output from pid {proc.pid} within {seconds} s"
    return proc.stdout.readline()


_STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _kill_what_a_failed_test_left():
    yield
    while _STARTED:
        proc = _STARTED.pop()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _start(code: str, *args: str, env: dict | None = None) -> subprocess.Popen:
    """A Python process in a process group of its own, as Jupyter starts a kernel."""
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True, start_new_session=True, env=env
    )
    _STARTED.append(proc)
    return proc


def _holder(data_dir: Path, then: str = "time.sleep(600)") -> tuple[subprocess.Popen, int]:
    proc = _start(HOLDER + then, str(data_dir))
    line = _read_line(proc)
    assert line.strip().isdigit(), f"the holder failed: {line!r}"
    return proc, int(line)


def _wait(condition, seconds: float = 30) -> bool:
    end = time.monotonic() + seconds
    while not condition() and time.monotonic() < end:
        time.sleep(0.2)
    return condition()


def _gone(data_dir: Path) -> bool:
    key = str(data_dir.resolve())
    return _running_port(data_dir) is None and read_lease(key) is None and not [w for w in watchdogs() if key in w.args]


@pytest.mark.integration
@pytest.mark.parametrize(
    "ending",
    ["exits", "raises", "SIGINT", "SIGTERM", "SIGKILL"],
)
def test_a_server_stops_when_the_process_that_started_it_ends(tmp_path, ending):
    then = {"exits": "pass", "raises": "raise RuntimeError('a bug')"}.get(ending, "time.sleep(600)")
    proc, port = _holder(tmp_path / "pg", then)
    if ending.startswith("SIG"):
        assert _running_port(tmp_path / "pg") == port
        os.killpg(proc.pid, getattr(signal, ending))  # the whole group, as nbval and a terminal's Ctrl-C do
    proc.wait(timeout=120)
    assert _wait(lambda: _gone(tmp_path / "pg")), f"the server outlived a holder that {ending}"


@pytest.mark.integration
def test_a_shared_server_stops_after_its_last_holder(tmp_path):
    first, port = _holder(tmp_path / "pg")
    second, again = _holder(tmp_path / "pg")
    assert again == port  # reused, not a second server
    key = str((tmp_path / "pg").resolve())
    assert sorted(h["pid"] for h in read_lease(key)["holders"]) == sorted([first.pid, second.pid])
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert _wait(lambda: [h["pid"] for h in read_lease(key)["holders"]] == [second.pid])
    assert _running_port(tmp_path / "pg") == port  # the second holder still has it
    os.killpg(second.pid, signal.SIGKILL)
    second.wait()
    assert _wait(lambda: _gone(tmp_path / "pg"))


@pytest.mark.integration
def test_pg_status_doctor_and_pg_stop_see_a_stray(tmp_path):
    """A holder killed together with its watchdog leaves a stray: status and doctor name it, `pg stop` stops it."""
    data_dir = (tmp_path / "pg").resolve()
    proc, port = _holder(data_dir)
    (dog,) = [w for w in watchdogs() if w.ppid == proc.pid]
    os.kill(dog.pid, signal.SIGKILL)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(1)
    assert _running_port(data_dir) == port
    (stray,) = [s for s in embedded_servers() if s.data_dir == data_dir]
    assert stray.stray and stray.port == port
    assert any(str(data_dir) in s for s in stray_processes())
    cli = str(Path(sys.executable).with_name("globalbev"))
    try:
        status = subprocess.run([cli, "pg", "status"], capture_output=True, text=True, timeout=120)
        assert status.returncode == 0 and f"{data_dir}  port {port}" in status.stdout and "STRAY" in status.stdout
        stop = subprocess.run([cli, "pg", "stop", str(data_dir)], capture_output=True, text=True, timeout=120)
        assert stop.returncode == 0 and f"stopped: {data_dir}" in stop.stdout, stop.stderr
        assert _gone(data_dir)
    finally:  # a stray by construction: stop it even when the test fails
        stop_embedded_server(data_dir)
        forget(str(data_dir))


@pytest.mark.integration
def test_a_killed_kernel_leaves_no_spark_jvm_and_no_server(tmp_path):
    """What nbval does at the end of a notebook: SIGKILL to the kernel's process group, Spark and PostgreSQL running."""
    run_id = f"kernel-kill-{os.getpid()}-{time.time_ns()}"
    env = {
        **os.environ,
        "GLOBALBEV_RUN_ID": run_id,
        "GLOBALBEV_DATA_ROOT": str(tmp_path / "data"),
        "GLOBALBEV_PG_URL": "",
        "GLOBALBEV_SPARK_MASTER": "local[1]",
        "GLOBALBEV_DRIVER_MEMORY": "512m",
    }
    kernel = _start(
        "import time\n"
        "from globalbev.config import load_config\n"
        "from globalbev.postgres import connect_postgres\n"
        "from globalbev.runtime import get_spark\n"
        "cfg = load_config('local')\n"
        "print(get_spark(cfg).range(3).count(), connect_postgres(cfg).port, flush=True)\n"
        "time.sleep(600)\n",
        env=env,
    )
    assert _read_line(kernel, 300).startswith("3 "), "the kernel did not start Spark and PostgreSQL"
    running = leftover_processes(run_id)
    assert any(r.startswith("Spark JVM") for r in running) and any(r.startswith("PostgreSQL") for r in running)
    os.killpg(kernel.pid, signal.SIGKILL)
    kernel.wait()
    assert _wait(lambda: not leftover_processes(run_id), 60), leftover_processes(run_id)


@pytest.mark.skipif(not os.environ.get("GLOBALBEV_CHECK_LEFTOVERS"), reason="the last step of ./dev test")
def test_nothing_of_this_run_is_left_running():
    """No embedded PostgreSQL server, Spark JVM or watchdog of this run (GLOBALBEV_RUN_ID) is still running."""
    run_id = os.environ.get("GLOBALBEV_RUN_ID")
    _wait(lambda: not leftover_processes(run_id), 60)  # the last holders' watchdogs may still be stopping servers
    left = leftover_processes(run_id)
    assert not left, f"still running after the run {run_id or ''}: {left}"
