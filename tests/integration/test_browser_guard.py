"""Without keys, on loopback: only loopback Host names are served (against DNS rebinding) and a state-changing
request from another origin is refused (against cross-site request forgery); with keys neither applies."""

from __future__ import annotations

from typing import Any

import pytest
from lossdoctor_stack import Stack

from service.core.security import new_key

pytestmark = pytest.mark.slow

KEY, ENTRY = new_key("acme")


def _forbidden(response: Any, words: str) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("forbidden-origin") and words in response.json()["detail"]


def test_without_keys_only_loopback_host_names_are_served(make_stack: Any) -> None:
    stack: Stack = make_stack()
    port = stack.port
    for host in (
        "localhost",
        f"localhost:{port}",
        f"127.0.0.1:{port}",
        "127.9.8.7",
        "[::1]",
        f"[::1]:{port}",
        f"LOCALHOST:{port}",
    ):
        response = stack.client.get("/v1/jobs", headers={"Host": host})
        assert response.status_code == 200, (host, response.text)
    for host in (
        "evil.example",
        f"evil.example:{port}",
        "localhost.evil.example",
        "127.0.0.1.nip.io",
        "10.0.0.1",
        "[::2]",
        f"localhost:{port}x",
        "[::1",
        "",
        "0.0.0.0",
    ):
        _forbidden(stack.client.get("/v1/jobs", headers={"Host": host}), "not a loopback name")
        _forbidden(stack.client.get("/healthz", headers={"Host": host}), "not a loopback name")


def test_without_keys_a_cross_origin_post_is_refused(make_stack: Any, spec: dict[str, Any]) -> None:
    stack: Stack = make_stack()
    own = f"http://127.0.0.1:{stack.port}"
    for origin in (
        "http://evil.example",
        f"http://localhost:{stack.port}",
        "http://127.0.0.1",
        "null",
        f"https://127.0.0.1:{stack.port}",
        f"{own}.evil.example",
    ):
        _forbidden(stack.client.post("/v1/jobs", json=spec, headers={"Origin": origin}), "another origin")
    _forbidden(stack.client.post("/v1/jobs", json=spec, headers={"Sec-Fetch-Site": "cross-site"}), "another origin")
    job = stack.client.post("/v1/jobs", json=spec, headers={"Origin": own})
    assert job.status_code == 202, job.text
    assert stack.client.post("/v1/jobs", json=spec).status_code == 202  # curl sends no Origin
    cancel = f"/v1/jobs/{job.json()['id']}/cancel"
    _forbidden(stack.client.post(cancel, headers={"Origin": "http://evil.example"}), "another origin")
    assert stack.client.get("/v1/jobs", headers={"Origin": "http://evil.example"}).status_code == 200  # a read
    assert stack.client.post(cancel, headers={"Origin": own}).status_code == 200


def test_with_keys_host_and_origin_are_left_to_the_key(make_stack: Any, spec: dict[str, Any]) -> None:
    stack: Stack = make_stack(api_keys=ENTRY)
    auth = {"Authorization": f"Bearer {KEY}"}
    assert stack.client.get("/v1/jobs", headers={"Host": "api.example", **auth}).status_code == 200
    assert stack.client.get("/v1/jobs", headers={"Host": "api.example"}).status_code == 401
    response = stack.client.post("/v1/jobs", json=spec, headers={"Origin": "http://evil.example", **auth})
    assert response.status_code == 202, response.text
