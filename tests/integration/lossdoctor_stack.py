"""``Stack``: the API served by uvicorn on a free loopback port and its ``lossdoctor worker`` subprocesses,
on one database of a real Redis-protocol server."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from redis import Redis

from lossdoctor.redis_server import free_port
from service.core.config import Settings
from service.main import create_app
from service.queue import JobQueue
from worker.jobs.store import TERMINAL, JobStore

REPO = Path(__file__).resolve().parents[2]
#: Directory with test-only engines (a stuck one) that workers may load via LOSSDOCTOR_ENGINE.
ENGINES = Path(__file__).resolve().parent / "engines"
#: Seconds a worker may take to register (it preloads numpy, torch and scikit-learn).
WORKER_START_SECONDS = 60.0


class Stack:
    """One API and its workers on one Redis database."""

    def __init__(self, redis_url: str, settings: Settings, log_dir: Path) -> None:
        self.redis_url, self.settings, self.log_dir = redis_url, settings, log_dir
        self.redis = Redis.from_url(redis_url)
        self.store = JobStore(self.redis)
        self.queue = JobQueue(self.redis, settings.queue)
        self.workers: list[subprocess.Popen[bytes]] = []
        self._names = itertools.count(1)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._start_api()
        self.client = httpx.Client(base_url=self.base_url, timeout=30)

    def _start_api(self) -> None:
        """Serve a fresh app (new store and queue clients, new sweeper) on ``self.port``."""
        config = uvicorn.Config(create_app(self.settings), host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            assert self._thread.is_alive(), "the API exited during start (is the port taken?)"
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.05)

    def stop_api(self) -> None:
        """Stop the API server (its in-flight requests finish first)."""
        self._server.should_exit = True
        self._thread.join(10)
        assert not self._thread.is_alive(), "the API did not stop"

    def restart_api(self) -> None:
        """Stop the API and serve a new one on the same port, as a redeploy would."""
        self.stop_api()
        self._start_api()

    def start_worker(self, **env: str) -> subprocess.Popen[bytes]:
        """Start ``lossdoctor worker`` with ``LOSSDOCTOR_*`` overrides and wait until it registers."""
        before = {w.name for w in self.queue.workers()}
        name = f"w{next(self._names)}-{os.getpid()}-{int(time.time() * 1000) % 100000}"
        environment = {
            **os.environ,
            "LOSSDOCTOR_REDIS_URL": self.redis_url,
            "LOSSDOCTOR_QUEUE": self.settings.queue,
            "PYTHONPATH": os.pathsep.join([str(REPO), str(ENGINES)]),
            **env,
        }
        log = open(self.log_dir / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            [sys.executable, "-m", "lossdoctor", "worker", "--name", name],
            cwd=REPO,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.workers.append(process)
        deadline = time.monotonic() + WORKER_START_SECONDS
        while name not in {w.name for w in self.queue.workers()} - before:
            assert process.poll() is None, f"worker exited; see {log.name}"
            assert time.monotonic() < deadline, "worker did not register"
            time.sleep(0.1)
        return process

    def submit(self, spec: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        """POST the spec; asserts 202 and returns the job."""
        response = self.client.post("/v1/jobs", json=spec, **kwargs)
        assert response.status_code == 202, response.text
        job: dict[str, Any] = response.json()
        return job

    def wait(
        self, job_id: str, statuses: set[str] | frozenset[str] = TERMINAL, timeout: float = 60.0
    ) -> dict[str, Any]:
        """Poll the job until its status is in ``statuses``; returns it."""
        deadline = time.monotonic() + timeout
        while True:
            job: dict[str, Any] = self.client.get(f"/v1/jobs/{job_id}").json()
            if job["status"] in statuses:
                return job
            assert time.monotonic() < deadline, f"job stayed {job['status']}: {job}"
            time.sleep(0.1)

    def wait_for_event(self, job_id: str, event_type: str, timeout: float = 60.0) -> list[dict[str, Any]]:
        """Poll the events until one of ``event_type`` appears; returns all events."""
        deadline = time.monotonic() + timeout
        while True:
            events: list[dict[str, Any]] = self.client.get(f"/v1/jobs/{job_id}/events").json()["events"]
            if any(e["type"] == event_type for e in events):
                return events
            assert time.monotonic() < deadline, f"no {event_type} event: {events}"
            time.sleep(0.1)

    def stop_workers(self) -> None:
        """SIGTERM, then SIGKILL, every worker this stack started."""
        for process in self.workers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.send_signal(signal.SIGTERM)  # a second one stops a running job
        for process in self.workers:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.workers = [p for p in self.workers if p.poll() is None]

    def close(self) -> None:
        """Stop workers and the API."""
        self.stop_workers()
        self._server.should_exit = True
        self._thread.join(10)
        self.client.close()
