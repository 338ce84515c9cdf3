"""``lossdoctor up``: Redis, API and a worker with no configuration; SIGINT stops all of it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from lossdoctor_stack import REPO

from lossdoctor.redis_server import free_port

pytestmark = pytest.mark.slow

#: Seconds ``lossdoctor up`` may take to become ready (the worker preloads torch).
START_SECONDS = 90.0


def _start_up(tmp_path: Path) -> tuple[int, int, subprocess.Popen[bytes], IO[bytes]]:
    """``lossdoctor up`` on free ports with no LOSSDOCTOR_ settings: its API and Redis ports, the process,
    its log (the caller closes it)."""
    port, redis_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOSSDOCTOR_")}
    log = open(tmp_path / "up.log", "wb")  # noqa: SIM115 - closed by the caller
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lossdoctor",
            "up",
            "--port",
            str(port),
            "--redis-port",
            str(redis_port),
            "--data-dir",
            str(tmp_path / "var"),
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return port, redis_port, process, log


def _wait_ready(client: httpx.Client, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_SECONDS
    while True:
        assert process.poll() is None, "lossdoctor up exited"
        try:
            if client.get("/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "lossdoctor up did not become ready"
        time.sleep(0.2)


def test_up_serves_a_job_and_stops_cleanly_on_sigint(tmp_path: Path, spec: dict[str, Any]) -> None:
    port, redis_port, process, log = _start_up(tmp_path)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            _wait_ready(client, process)
            job = client.post("/v1/jobs", json=spec).json()
            deadline = time.monotonic() + 60
            while (status := client.get(f"/v1/jobs/{job['id']}").json()["status"]) in ("queued", "running"):
                assert time.monotonic() < deadline
                time.sleep(0.2)
            assert status == "succeeded"
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
        log.close()
    text = (tmp_path / "up.log").read_text()
    assert "lossdoctor is up" in text and "curl" in text
    # Redis on the port asked for, and the line that adds a worker on this machine
    assert f"Redis redis://127.0.0.1:{redis_port}/0" in text
    assert f"LOSSDOCTOR_REDIS_URL=redis://127.0.0.1:{redis_port}/0 .venv/bin/lossdoctor worker" in text
    assert "running WITHOUT API keys" in text  # loopback without keys is allowed, and said
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    assert any((tmp_path / "var" / "redis").iterdir())


def children(pid: int) -> dict[int, str]:
    """The live child processes of ``pid`` and their command lines (Linux /proc)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found[int(stat.parent.name)] = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue
    return found


def _run_to_end(client: httpx.Client, spec: dict[str, Any], timeout: float) -> str:
    """Submit ``spec`` (retrying while the API cannot reach Redis) and poll it until it ends; its status."""
    deadline = time.monotonic() + timeout
    while (response := client.post("/v1/jobs", json=spec)).status_code != 202:
        assert time.monotonic() < deadline, response.text
        time.sleep(0.5)
    job_id = response.json()["id"]
    while (status := client.get(f"/v1/jobs/{job_id}").json()["status"]) in ("queued", "running"):
        assert time.monotonic() < deadline, f"job {job_id} stayed {status}"
        time.sleep(0.3)
    return str(status)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the children in /proc")
def test_up_restarts_a_killed_redis_and_a_killed_worker(tmp_path: Path, spec: dict[str, Any]) -> None:
    port, redis_port, process, log = _start_up(tmp_path)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            _wait_ready(client, process)
            server = next(pid for pid, cmd in children(process.pid).items() if "-server" in cmd.split(" ")[0])
            os.kill(server, signal.SIGKILL)
            time.sleep(3.5)  # up used to stop everything within 3.5 s
            assert process.poll() is None, "lossdoctor up exited after Redis was killed"
            assert _run_to_end(client, spec, 90) == "succeeded"
            worker = next(pid for pid, cmd in children(process.pid).items() if "lossdoctor worker" in cmd)
            os.kill(worker, signal.SIGKILL)
            time.sleep(1.0)
            assert process.poll() is None, "lossdoctor up exited after its worker was killed"
            assert _run_to_end(client, spec, 120) == "succeeded"
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
        log.close()
    text = (tmp_path / "up.log").read_text()
    assert "the Redis-protocol server is back" in text and "worker started again" in text
    assert text.count(f"on 127.0.0.1:{redis_port} ") >= 2  # started again on the same fixed port
