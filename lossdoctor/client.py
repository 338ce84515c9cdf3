"""``lossdoctor.Client``: the service's HTTP API for Python scripts, CI and ``lossdoctor.Monitor``.

    client = Client("http://127.0.0.1:8000", api_key=None)   # or LOSSDOCTOR_URL / LOSSDOCTOR_API_KEY
    job = client.wait(client.submit(spec).id, timeout=600)
    job.result.diagnosis.primary_cause

Needs only ``httpx`` and ``pydantic``: importing this module never imports torch, numpy, fastapi, redis
or rq (``tests/client/test_client_imports.py`` holds it to that). Every failure is a ``LossdoctorError``
(see ``lossdoctor.errors``). Retries: a request that never reached the server (connection refused) is
retried; a ``POST /v1/jobs`` also after a lost answer or a ``429``/``502``/``503``/``504``, with one
``Idempotency-Key`` for all its attempts, so a retry can never create a second job. ``wait`` listens to
the job's events as Server-Sent Events when the server streams them and polls ``GET /v1/jobs/{id}``
when it does not.
"""

from __future__ import annotations

import builtins
import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import ValidationError

from lossdoctor.errors import NO_ANSWER, WAIT_TIMEOUT, LossdoctorError
from lossdoctor.models import Dataset, Diagnosis, Job, JobPage, Run
from lossdoctor.sse import read_events

#: Where the client looks when no URL is given and ``LOSSDOCTOR_URL`` is not set (``lossdoctor up``'s).
DEFAULT_URL = "http://127.0.0.1:8000"
#: Environment variables read when ``url`` / ``api_key`` are not given.
URL_ENV, KEY_ENV = "LOSSDOCTOR_URL", "LOSSDOCTOR_API_KEY"
#: Seconds one HTTP request may take (connect, read, write) before it counts as lost.
DEFAULT_TIMEOUT_SECONDS = 30.0
#: Attempts after the first for a request that may be retried.
DEFAULT_RETRIES = 3
#: Seconds before the first retry; doubled for each further one.
BACKOFF_SECONDS = 0.5
#: Longest wait (s) a ``Retry-After`` header may impose before a retry.
MAX_RETRY_AFTER_SECONDS = 30.0
#: Answers after which a retry-safe request is tried again.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: Seconds between two reads of a job while ``wait`` polls.
POLL_SECONDS = 1.0
#: Times ``wait`` reconnects to an event stream that closed before the job ended, before it polls instead.
SSE_RECONNECTS = 5
#: Longest silence (s) on an event stream before ``wait`` reconnects (``Last-Event-ID`` resumes it).
SSE_READ_SECONDS = 60.0

OnUpdate = Callable[[Job], None]


def _retry_after(response: httpx.Response, fallback: float) -> float:
    """The seconds a ``Retry-After`` header asks for (capped), or ``fallback``."""
    try:
        return min(MAX_RETRY_AFTER_SECONDS, max(0.0, float(response.headers["Retry-After"])))
    except (KeyError, ValueError):
        return fallback


class Client:
    """The lossdoctor HTTP API; ``url`` defaults to ``LOSSDOCTOR_URL``, ``api_key`` to ``LOSSDOCTOR_API_KEY``.

    ``transport`` replaces the network (an ``httpx.MockTransport`` in unit tests); ``sse=False`` makes
    ``wait`` poll only; ``poll_seconds`` is its polling period.
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        retries: int = DEFAULT_RETRIES,
        poll_seconds: float = POLL_SECONDS,
        sse: bool = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = (url or os.environ.get(URL_ENV) or DEFAULT_URL).rstrip("/")
        key = api_key if api_key is not None else os.environ.get(KEY_ENV) or None
        headers = {"Accept": "application/json", "User-Agent": "lossdoctor-client"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self.timeout, self.retries, self.poll_seconds, self.sse = timeout, retries, poll_seconds, sse
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, transport=transport)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- one request, with retries and problems as LossdoctorError --------------------------------

    def _request(self, method: str, path: str, *, retry_safe: bool, **kwargs: Any) -> httpx.Response:
        """Send one request; retried as the module docstring says; a 4xx/5xx answer raises its problem."""
        delay = BACKOFF_SECONDS
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                # a refused connection never reached the server, so any request may be sent again
                if not last and (retry_safe or isinstance(exc, httpx.ConnectError)):
                    time.sleep(delay)
                    delay *= 2
                    continue
                raise LossdoctorError(
                    NO_ANSWER, "No answer", f"{method} {self.url}{path} failed: {exc or type(exc).__name__}"
                ) from exc
            if response.status_code in RETRY_STATUSES and retry_safe and not last:
                time.sleep(_retry_after(response, delay))
                delay *= 2
                continue
            if response.status_code >= 400:
                raise LossdoctorError.from_problem(response.status_code, _body(response), response.text[:500])
            return response
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _json(self, method: str, path: str, *, retry_safe: bool, **kwargs: Any) -> Any:
        response = self._request(method, path, retry_safe=retry_safe, **kwargs)
        body = _body(response)
        if body is None:
            raise LossdoctorError(NO_ANSWER, "Not JSON", f"{method} {path} answered {response.text[:200]!r}")
        return body

    # ---- jobs -------------------------------------------------------------------------------------

    def submit(self, spec: Mapping[str, Any], *, idempotency_key: str | None = None) -> Job:
        """``POST /v1/jobs``: the queued job. Every attempt carries one ``Idempotency-Key`` (a fresh one
        unless given), so a retry after a lost answer returns the same job instead of a second one."""
        headers = {"Idempotency-Key": idempotency_key or f"ldc-{uuid.uuid4().hex}"}
        return _parse(Job, self._json("POST", "/v1/jobs", retry_safe=True, json=dict(spec), headers=headers))

    def get(self, job_id: str) -> Job:
        """``GET /v1/jobs/{id}``: the job, with ``result`` once it succeeded."""
        return _parse(Job, self._json("GET", f"/v1/jobs/{job_id}", retry_safe=True))

    def cancel(self, job_id: str) -> Job:
        """``POST /v1/jobs/{id}/cancel``: the cancelled job. A job that already ended raises its ``409``,
        unless it ended as ``cancelled`` (a retried cancel whose first answer was lost)."""
        try:
            return _parse(Job, self._json("POST", f"/v1/jobs/{job_id}/cancel", retry_safe=True))
        except LossdoctorError as exc:
            if exc.status == 409:
                job = self.get(job_id)
                if job.status == "cancelled":
                    return job
            raise

    def page(self, status: str | None = None, *, limit: int | None = None, after: str | None = None) -> JobPage:
        """One page of ``GET /v1/jobs``, newest first; ``next_after`` is the next page's cursor."""
        params = {k: v for k, v in (("status", status), ("limit", limit), ("after", after)) if v is not None}
        return _parse(JobPage, self._json("GET", "/v1/jobs", retry_safe=True, params=params))

    def list(self, status: str | None = None, *, limit: int | None = None) -> Iterator[Job]:
        """Every job of the caller (with ``status`` if given), newest first, fetching page after page;
        ``limit`` is the page size (default: the server's)."""
        after: str | None = None
        while True:
            page = self.page(status, limit=limit, after=after)
            yield from page.jobs
            if page.next_after is None or not page.jobs:
                return
            after = page.next_after

    def events(self, job_id: str, *, after: int | None = None) -> builtins.list[dict[str, Any]]:
        """``GET /v1/jobs/{id}/events`` as JSON: what happened so far, oldest first, each with its ``seq``;
        with ``after``, only the events later than that seq (filtered here too, for a server that ignores it)."""
        params = {"after": after} if after is not None else None
        body = self._json("GET", f"/v1/jobs/{job_id}/events", retry_safe=True, params=params)
        events = body.get("events") if isinstance(body, dict) else None
        found = events if isinstance(events, builtins.list) else []
        return [e for e in found if after is None or not isinstance(e.get("seq"), int) or e["seq"] > after]

    def report_url(self, job: Job) -> str:
        """The job's report page: the server's ``report_url`` (made absolute), else ``/v1/jobs/{id}/report``."""
        link = job.report_url or f"/v1/jobs/{job.id}/report"
        return link if "://" in link else f"{self.url}{link if link.startswith('/') else '/' + link}"

    def wait(self, job_id: str, timeout: float = 600.0, *, on_update: OnUpdate | None = None) -> Job:
        """The job once it ended (any of succeeded, failed, cancelled), within ``timeout`` seconds, else a
        ``LossdoctorError`` with status 408. ``on_update`` gets the job each time its status or progress
        changes. Listens to the job's Server-Sent Events where the server streams them, else polls."""
        deadline = time.monotonic() + timeout
        watch = _Watch(on_update)
        job = watch.see(self.get(job_id))
        if job.done:
            return job
        if self.sse:
            streamed = self._wait_streaming(job_id, deadline, watch)
            if streamed is not None:
                return streamed
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _timed_out(job_id, timeout, watch.last)
            time.sleep(min(self.poll_seconds, remaining))
            job = watch.see(self.get(job_id))
            if job.done:
                return job

    def _wait_streaming(self, job_id: str, deadline: float, watch: _Watch) -> Job | None:
        """The ended job, read at each event of the stream; None when the server does not stream events
        (an older server answers JSON) or the stream keeps breaking, so that ``wait`` polls instead."""
        last_id: str | None = None
        for _ in range(SSE_RECONNECTS + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _timed_out(job_id, 0, watch.last)
            headers = {"Accept": "text/event-stream", **({"Last-Event-ID": last_id} if last_id else {})}
            read = httpx.Timeout(self.timeout, read=max(0.5, min(remaining, SSE_READ_SECONDS)))
            try:
                with self._http.stream("GET", f"/v1/jobs/{job_id}/events", headers=headers, timeout=read) as resp:
                    media = resp.headers.get("content-type", "")
                    if resp.status_code != 200 or not media.startswith("text/event-stream"):
                        return None
                    for event in read_events(resp.iter_lines()):
                        last_id = event.id or last_id
                        job = watch.see(self.get(job_id))
                        if job.done:
                            return job
                        if time.monotonic() > deadline:
                            raise _timed_out(job_id, 0, job)
            except httpx.TransportError:
                pass  # dropped or silent too long: read the job, then reconnect where it stopped
            job = watch.see(self.get(job_id))
            if job.done:
                return job
        return None

    # ---- data sets and curves ---------------------------------------------------------------------

    def upload_dataset(self, path: str | Path, label_column: str | None = None) -> Dataset:
        """``POST /v1/datasets`` with the file at ``path`` (``.npz`` with ``x`` and ``y``, or ``.csv`` with a
        header row and ``label_column``); its ``id`` goes in a spec as ``{"source": "dataset", "id": …}``."""
        file = Path(path)
        try:
            content = file.read_bytes()
        except OSError as exc:
            raise LossdoctorError(NO_ANSWER, "Unreadable file", f"cannot read {file}: {exc}") from exc
        data = {"label_column": label_column} if label_column is not None else None
        files = {"file": (file.name, content, "application/octet-stream")}
        return _parse(Dataset, self._json("POST", "/v1/datasets", retry_safe=False, files=files, data=data))

    def diagnose_curves(
        self,
        train_loss: Sequence[float | None],
        val_loss: Sequence[float | None] | None = None,
        *,
        loss: str | None = None,
        n_classes: int | None = None,
        chance_loss: float | None = None,
        initial_loss: float | None = None,
        layers: Mapping[str, Sequence[float | None]] | None = None,
        monitor: Mapping[str, Any] | None = None,
    ) -> Diagnosis:
        """``POST /v1/diagnose/curves``: the diagnosis of per-epoch losses from a run made elsewhere (None or
        NaN for a non-finite value); ``chance_loss`` or ``n_classes`` says what chance is. ``layers``: each
        layer's gradient L2 norm per epoch, input side first; ``monitor``: ``{"setup": …, "steps": […]}`` as
        ``lossdoctor.Monitor`` records them."""
        body: dict[str, Any] = {"train_loss": [_finite_or_none(v) for v in train_loss]}
        optional = {
            "val_loss": None if val_loss is None else [_finite_or_none(v) for v in val_loss],
            "loss": loss,
            "n_classes": n_classes,
            "chance_loss": chance_loss,
            "initial_loss": initial_loss,
            "layers": None
            if layers is None
            else [{"name": n, "grad_norm": [_finite_or_none(v) for v in norms]} for n, norms in layers.items()],
            "monitor": None if monitor is None else dict(monitor),
        }
        body.update({k: v for k, v in optional.items() if v is not None})
        answer = self._json("POST", "/v1/diagnose/curves", retry_safe=True, json=body)
        return _parse(Diagnosis, answer.get("diagnosis") if isinstance(answer, dict) else answer)

    def diagnose_curves_from(
        self,
        source: str | Path,
        *,
        run_id: str | None = None,
        train_tag: str | None = None,
        val_tag: str | None = None,
        loss: str | None = None,
        n_classes: int | None = None,
        chance_loss: float | None = None,
    ) -> Diagnosis:
        """``diagnose_curves`` on the curves in ``source``: a TensorBoard event directory, an MLflow store or
        tracking URI (with ``run_id``), or a CSV (see ``lossdoctor.curves_io``); a source that cannot be read,
        or whose tags are ambiguous, raises ``lossdoctor.curves_io.CurvesError`` before any request."""
        from lossdoctor.curves_io import read_curves

        curves = read_curves(source, run_id=run_id, train_tag=train_tag, val_tag=val_tag)
        return self.diagnose_curves(
            curves.train_loss, curves.val_loss, loss=loss, n_classes=n_classes, chance_loss=chance_loss
        )

    # ---- monitored runs (lossdoctor.Monitor) ------------------------------------------------------

    def create_run(self, setup: Mapping[str, Any], *, name: str | None = None) -> Run:
        """``POST /v1/runs``: a new run for a monitor's telemetry; ``setup`` is the monitor's first reading."""
        body = {"setup": dict(setup), **({"name": name} if name is not None else {})}
        headers = {"Idempotency-Key": f"ldc-{uuid.uuid4().hex}"}
        return _parse(Run, self._json("POST", "/v1/runs", retry_safe=True, json=body, headers=headers))

    def append_telemetry(self, run_id: str, steps: Sequence[Mapping[str, Any]]) -> Run:
        """``POST /v1/runs/{id}/telemetry``: append step records; steps the run already has are ignored, so a
        retried chunk is never counted twice."""
        body = {"steps": [dict(s) for s in steps]}
        return _parse(Run, self._json("POST", f"/v1/runs/{run_id}/telemetry", retry_safe=True, json=body))

    def get_run(self, run_id: str) -> Run:
        """``GET /v1/runs/{id}``: the run with the diagnosis of the telemetry received so far."""
        return _parse(Run, self._json("GET", f"/v1/runs/{run_id}", retry_safe=True))


class _Watch:
    """Remembers the last job ``wait`` saw and tells ``on_update`` when its status or progress changed."""

    def __init__(self, on_update: OnUpdate | None) -> None:
        self.on_update = on_update
        self.last: Job | None = None
        self._key: tuple[str, int, int] | None = None

    def see(self, job: Job) -> Job:
        key = (job.status, job.progress.done, job.progress.total)
        if key != self._key and self.on_update is not None:
            self.on_update(job)
        self.last, self._key = job, key
        return job


def _timed_out(job_id: str, timeout: float, last: Job | None) -> LossdoctorError:
    status = last.status if last is not None else "unknown"
    after = f" after {timeout:g} s" if timeout else ""
    return LossdoctorError(WAIT_TIMEOUT, "Wait timed out", f"job {job_id} was still {status}{after}")


def _body(response: httpx.Response) -> Any:
    """The answer's JSON, or None when it is not JSON."""
    try:
        return response.json()
    except ValueError:
        return None


def _finite_or_none(value: float | None) -> float | None:
    """``value``, or None for a missing or non-finite one (JSON has no NaN)."""
    return None if value is None or value != value or value in (float("inf"), float("-inf")) else float(value)


M = TypeVar("M", Job, JobPage, Dataset, Diagnosis, Run)


def _parse(model: type[M], body: Any) -> M:
    """``body`` read as ``model``; an answer of another shape is a ``LossdoctorError`` (status 0)."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise LossdoctorError(NO_ANSWER, "Unexpected answer", f"not a {model.__name__}: {exc}") from exc
