"""``/metrics`` scraped on the real stack: job counters by status and diagnosed cause, counted in Redis where
the jobs end (a worker process, the API's cancel), so an API process that ended none reports them too; job
durations by status; HTTP request durations by route template and status."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from service.core.config import Settings
from service.main import create_app
from worker.jobs.store import diagnosed_cause

pytestmark = pytest.mark.slow


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text page, keyed by (name, sorted labels)."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_job_counters_come_from_redis_and_http_durations_by_route(make_stack: Any, make_spec: Any) -> None:
    stack = make_stack()
    stack.start_worker(LOSSDOCTOR_ENGINE="registry_engine.run_job")
    ok = stack.submit(make_spec())
    failed = stack.submit(make_spec(name="fails"))
    waiting = stack.submit(make_spec(name="waits"))
    result = stack.wait(ok["id"])["result"]
    assert stack.wait(failed["id"])["status"] == "failed"
    stack.wait(waiting["id"], {"running"})
    assert stack.client.post(f"/v1/jobs/{waiting['id']}/cancel").status_code == 200
    stack.wait(waiting["id"])
    assert stack.client.get("/v1/jobs/job_000000000000000000000000").status_code == 404

    # a second API process on the same Redis, which submitted and ended nothing
    other = create_app(Settings(redis_url=stack.redis_url, sweeper=False, webhooks=False))
    with TestClient(other, base_url="http://127.0.0.1") as client:
        elsewhere = _samples(client.get("/metrics").text)
    here = _samples(stack.client.get("/metrics").text)

    for samples in (here, elsewhere):
        assert samples[("lossdoctor_jobs_submitted_total", ())] == 3
        for status in ("succeeded", "failed", "cancelled"):
            assert samples[("lossdoctor_jobs_ended_total", (("status", status),))] == 1, status
            assert samples[("lossdoctor_job_duration_seconds_count", (("status", status),))] == 1, status
        cause = diagnosed_cause(result)
        assert samples[("lossdoctor_jobs_diagnosed_total", (("cause", cause),))] == 1
        assert sum(v for (name, _), v in samples.items() if name == "lossdoctor_jobs_diagnosed_total") == 1

    def http_count(method: str, route: str, status: int) -> float:
        labels = (("method", method), ("route", route), ("status", str(status)))
        return here.get(("lossdoctor_http_request_duration_seconds_count", labels), 0.0)

    assert http_count("POST", "/v1/jobs", 202) == 3
    assert http_count("GET", "/v1/jobs/{job_id}", 200) >= 3
    assert http_count("GET", "/v1/jobs/{job_id}", 404) == 1  # the template, not the path asked for
    assert http_count("POST", "/v1/jobs/{job_id}/cancel", 200) == 1
    assert not any("job_0000" in str(labels) for _, labels in here)  # no path ends up in a label
