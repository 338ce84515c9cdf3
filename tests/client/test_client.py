"""``lossdoctor.Client`` over an in-memory transport (httpx's ``MockTransport``): requests, retries with one
Idempotency-Key, problems as ``LossdoctorError``, cursor pages, and ``wait`` by events or by polling."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from lossdoctor import Client, LossdoctorError
from lossdoctor import client as client_module

Handler = Callable[[httpx.Request], httpx.Response]


def job(status: str = "queued", **extra: Any) -> dict[str, Any]:
    return {"id": "job_1", "status": status, "progress": {"done": 0, "total": 2}, "spec": {}, **extra}


RESULT = {
    "baseline": {"history": {"train_loss": [2.3, 9.8]}},
    "probes": [],
    "diagnosis": {
        "healthy": False,
        "primary_cause": "lr_too_high",
        "findings": [
            {
                "cause": "lr_too_high",
                "confidence": 0.93,
                "evidence": ["rose 2.3 to 9.8"],
                "fix": {"training.lr": 0.001},
                "confirmed": True,
                "a_newer_field": 1,
            }
        ],
        "summary": "lr",
        "verdict_basis": "intervention",
    },
}


def make(handler: Handler, **kwargs: Any) -> Client:
    return Client("http://ld.test", transport=httpx.MockTransport(handler), **kwargs)


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(client_module.time, "sleep", slept.append)
    return slept


def test_submit_retries_a_lost_answer_with_one_idempotency_key() -> None:
    keys: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        keys.append(request.headers["Idempotency-Key"])
        assert json.loads(request.content) == {"name": "x"}
        if len(keys) == 1:
            raise httpx.ReadTimeout("lost", request=request)
        if len(keys) == 2:
            return httpx.Response(503, json={"title": "Service Unavailable", "status": 503, "detail": "busy"})
        return httpx.Response(202, json=job(future_field={"kept": True}))

    submitted = make(handler).submit({"name": "x"})
    assert submitted.id == "job_1" and submitted.status == "queued"
    assert submitted.model_extra == {"future_field": {"kept": True}}  # a newer server's field does not break it
    assert len(keys) == 3 and len(set(keys)) == 1 and keys[0].startswith("ldc-")


def test_a_problem_is_raised_with_its_fields() -> None:
    problem = {
        "type": "urn:lossdoctor:problem:validation-error",
        "title": "Unprocessable Content",
        "status": 422,
        "detail": "1 field is invalid",
        "errors": [{"loc": ["body", "training", "lr"], "msg": "bad", "type": "x"}],
    }

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(422, json=problem, headers={"content-type": "application/problem+json"})

    with pytest.raises(LossdoctorError) as caught:
        make(handler).submit({})
    err = caught.value
    assert (err.status, err.title, err.detail, err.type) == (
        422,
        "Unprocessable Content",
        "1 field is invalid",
        problem["type"],
    )
    assert err.errors[0]["loc"] == ["body", "training", "lr"]


def test_an_unreachable_server_is_status_0_after_the_retries(no_sleep: list[float]) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(LossdoctorError) as caught:
        make(handler, retries=2).get("job_1")
    assert caught.value.status == 0 and "refused" in caught.value.detail
    assert len(calls) == 3 and no_sleep == [0.5, 1.0]


def test_an_upload_is_not_sent_twice_after_a_lost_answer(tmp_path: Path) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ReadTimeout("lost", request=request)

    data = tmp_path / "d.csv"
    data.write_text("a,y\n1,0\n2,1\n")
    with pytest.raises(LossdoctorError):
        make(handler).upload_dataset(data, label_column="y")
    assert len(calls) == 1


def test_upload_sends_the_file_and_label_column(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = request.content
        assert b'name="file"; filename="d.csv"' in body and b"a,y" in body and b'name="label_column"' in body
        return httpx.Response(201, json={"id": "ds_1", "n_samples": 2, "x_shape": [2, 1], "y_shape": [2]})

    data = tmp_path / "d.csv"
    data.write_text("a,y\n1,0\n2,1\n")
    assert make(handler).upload_dataset(data, label_column="y").x_shape == [2, 1]


def test_list_follows_the_cursor_through_every_page() -> None:
    pages = {None: (["a", "b"], "b"), "b": (["c", "d"], "d"), "d": (["e"], None)}
    seen: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        params = dict(request.url.params)
        seen.append(params)
        ids, nxt = pages[params.get("after")]
        return httpx.Response(200, json={"jobs": [job("succeeded", id=i) for i in ids], "next_after": nxt})

    assert [j.id for j in make(handler).list(status="succeeded", limit=2)] == ["a", "b", "c", "d", "e"]
    assert all(p["status"] == "succeeded" and p["limit"] == "2" for p in seen)


def test_wait_polls_when_the_server_does_not_stream_events() -> None:
    states = iter(["queued", "running", "running", "succeeded"])
    streamed = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/events"):
            streamed.append(request.headers["accept"])
            return httpx.Response(200, json={"job_id": "job_1", "events": []})  # an older server: JSON only
        status = next(states)
        return httpx.Response(200, json=job(status, result=RESULT if status == "succeeded" else None))

    updates: list[str] = []
    done = make(handler).wait("job_1", timeout=60, on_update=lambda j: updates.append(j.status))
    assert done.status == "succeeded" and done.diagnosis is not None
    assert done.diagnosis.primary_cause == "lr_too_high" and done.diagnosis.primary is not None
    assert done.diagnosis.primary.fix == {"training.lr": 0.001}
    assert streamed == ["text/event-stream"] and updates == ["queued", "running", "succeeded"]


def test_wait_reads_the_job_at_each_server_sent_event() -> None:
    stream = (
        ": keep-alive\n\n"
        'id: 2\nevent: started\ndata: {"type": "started", "seq": 2}\n\n'
        'id: 3\nevent: succeeded\ndata: {"type": "succeeded", "seq": 3}\n\n'
    )
    reads = iter([job("queued"), job("running"), job("succeeded", result=RESULT)])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/events"):
            return httpx.Response(200, text=stream, headers={"content-type": "text/event-stream; charset=utf-8"})
        return httpx.Response(200, json=next(reads))

    assert make(handler, poll_seconds=3600).wait("job_1", timeout=60).status == "succeeded"


def test_wait_resumes_a_dropped_stream_with_last_event_id() -> None:
    resumed: list[str | None] = []
    reads = iter([job("queued"), job("running"), job("running"), job("succeeded", result=RESULT)])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/events"):
            resumed.append(request.headers.get("last-event-id"))
            text = 'id: 4\ndata: {"type": "probe_started"}\n\n' if len(resumed) == 1 else "id: 5\ndata: {}\n\n"
            return httpx.Response(200, text=text, headers={"content-type": "text/event-stream"})
        return httpx.Response(200, json=next(reads))

    assert make(handler).wait("job_1", timeout=60).status == "succeeded"
    assert resumed == [None, "4"]


def test_wait_gives_up_after_its_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter(range(0, 1000, 5))
    monkeypatch.setattr(client_module.time, "monotonic", lambda: float(next(clock)))

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=job("running"))

    with pytest.raises(LossdoctorError) as caught:
        make(handler, sse=False).wait("job_1", timeout=20)
    assert caught.value.status == 408 and "still running" in caught.value.detail


def test_cancel_retried_after_its_answer_was_lost_returns_the_cancelled_job() -> None:
    posts = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            posts.append(request)
            if len(posts) == 1:
                raise httpx.ReadTimeout("lost", request=request)
            return httpx.Response(409, json={"title": "Conflict", "status": 409, "detail": "already cancelled"})
        return httpx.Response(200, json=job("cancelled"))

    assert make(handler).cancel("job_1").status == "cancelled" and len(posts) == 2


def test_key_and_url_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOSSDOCTOR_URL", "http://env.test:9/")
    monkeypatch.setenv("LOSSDOCTOR_API_KEY", "ld_secret")
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url), request.headers.get("authorization")))
        return httpx.Response(200, json=job("running"))

    client = Client(transport=httpx.MockTransport(handler))
    client.get("job_1")
    assert seen == [("http://env.test:9/v1/jobs/job_1", "Bearer ld_secret")]
    assert client.report_url(client.get("job_1")) == "http://env.test:9/v1/jobs/job_1/report"


def test_diagnose_curves_sends_nan_as_null() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert body == {"train_loss": [2.3, None], "n_classes": 3}
        return httpx.Response(
            200,
            json={
                "diagnosis": {"healthy": False, "primary_cause": "lr_too_high", "findings": [{"cause": "lr_too_high"}]}
            },
        )

    assert make(handler).diagnose_curves([2.3, float("nan")], n_classes=3).primary_cause == "lr_too_high"


def test_events_after_a_seq_even_from_a_server_that_ignores_after() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.params["after"] == "2"
        return httpx.Response(200, json={"job_id": "job_1", "events": [{"seq": i, "type": "x"} for i in (1, 2, 3)]})

    assert make(handler).events("job_1", after=2) == [{"seq": 3, "type": "x"}]
