"""``lossdoctor up`` refuses a port in use in one line, and ``lossdoctor worker`` one unreachable Redis.

Real processes, real sockets: a listener holds the port, the command runs as a user runs it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lossdoctor_stack import REPO

from lossdoctor.cli import build_parser
from lossdoctor.redis_server import free_port
from lossdoctor.up import DEFAULT_REDIS_PORT, EXIT_PORT_TAKEN

#: Seconds either command may take to give up; both check before they start anything slow.
GIVE_UP_SECONDS = 30


@pytest.fixture
def listener() -> Iterator[int]:
    """A port on 127.0.0.1 that a socket listens on for the test's duration."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def _run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LOSSDOCTOR_")}
    return subprocess.run(
        [sys.executable, "-m", "lossdoctor", *args],
        cwd=REPO,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=GIVE_UP_SECONDS,
    )


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if " ERROR " in line]


def test_up_keeps_redis_on_a_fixed_default_port() -> None:
    assert DEFAULT_REDIS_PORT == 6390
    assert build_parser().parse_args(["up"]).redis_port == DEFAULT_REDIS_PORT
    assert build_parser().parse_args(["up", "--redis-port", "7001"]).redis_port == 7001


def test_up_says_in_one_line_that_the_api_port_is_taken(tmp_path: Path, listener: int) -> None:
    args = ["up", "--port", str(listener), "--redis-port", str(free_port()), "--data-dir", str(tmp_path)]
    done = _run(args, tmp_path)
    assert done.returncode == EXIT_PORT_TAKEN, done.stderr
    errors = _error_lines(done.stderr)
    assert len(errors) == 1 and f"port {listener} on 127.0.0.1 is already in use" in errors[0]
    assert "--port" in errors[0]
    assert "is up" not in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "redis").exists()  # nothing was started


def test_up_says_in_one_line_that_the_redis_port_is_taken(tmp_path: Path, listener: int) -> None:
    args = ["up", "--port", str(free_port()), "--redis-port", str(listener), "--data-dir", str(tmp_path)]
    done = _run(args, tmp_path)
    assert done.returncode == EXIT_PORT_TAKEN, done.stderr
    errors = _error_lines(done.stderr)
    assert len(errors) == 1 and f"Redis port {listener} on 127.0.0.1 is already in use" in errors[0]
    assert "--redis-port" in errors[0]
    assert "is up" not in done.stderr and "Traceback" not in done.stderr


def test_worker_names_the_url_and_the_setting_when_redis_is_unreachable(tmp_path: Path) -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"  # nothing listens there
    done = _run(["worker"], tmp_path, LOSSDOCTOR_REDIS_URL=url)
    assert done.returncode != 0
    errors = _error_lines(done.stderr)
    assert len(errors) == 1, done.stderr
    assert url.replace("hunter2", "***") in errors[0] and "LOSSDOCTOR_REDIS_URL" in errors[0]
    assert "hunter2" not in done.stderr and "Traceback" not in done.stderr


def test_worker_names_a_malformed_url(tmp_path: Path) -> None:
    done = _run(["worker"], tmp_path, LOSSDOCTOR_REDIS_URL="localhost:6379")
    assert done.returncode != 0
    errors = _error_lines(done.stderr)
    assert len(errors) == 1 and "LOSSDOCTOR_REDIS_URL is not a Redis URL" in errors[0], done.stderr
    assert "Traceback" not in done.stderr


def test_worker_check_is_the_healthcheck_of_a_worker_on_this_host(tmp_path: Path, stack: Any, make_stack: Any) -> None:
    queue = {"LOSSDOCTOR_QUEUE": stack.settings.queue}
    alive = _run(["worker", "--check"], tmp_path, LOSSDOCTOR_REDIS_URL=stack.redis_url, **queue)
    assert alive.returncode == 0, alive.stderr
    empty = make_stack()  # a database no worker listens on
    none = _run(["worker", "--check"], tmp_path, LOSSDOCTOR_REDIS_URL=empty.redis_url, **queue)
    assert none.returncode == 1 and "no worker of host" in none.stderr
    down = _run(["worker", "--check"], tmp_path, LOSSDOCTOR_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    assert down.returncode == 1 and "cannot reach Redis" in down.stderr
