"""Listings and the 202 answer leave a spec's inline ``data.x``/``data.y`` out (named in ``omitted``);
``?include=spec`` and ``GET /v1/jobs/{id}`` give the whole spec."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient


@pytest.fixture
def inline_spec(spec: dict[str, Any]) -> dict[str, Any]:
    rows = [[float(i % 5), float(i % 7), float(i % 3), float(i % 2)] for i in range(30)]
    spec["data"] = {"source": "inline", "x": rows, "y": [i % 3 for i in range(30)], "validation_fraction": 0.2}
    return spec


def test_the_202_answer_and_the_list_leave_inline_data_out(client: TestClient, inline_spec: dict[str, Any]) -> None:
    created = client.post("/v1/jobs", json=inline_spec)
    assert created.status_code == 202, created.text
    job = created.json()
    assert job["spec"]["data"] == {"source": "inline", "validation_fraction": 0.2, "seed": 0, "shape": None}
    assert job["omitted"] == ["spec.data.x", "spec.data.y"]
    assert job["spec"]["training"] == client.get(f"/v1/jobs/{job['id']}").json()["spec"]["training"]
    listed = client.get("/v1/jobs").json()["jobs"][0]
    assert "x" not in listed["spec"]["data"] and listed["omitted"] == ["spec.data.x", "spec.data.y"]
    # the job itself, and ?include=spec, carry all of it
    full = client.get(f"/v1/jobs/{job['id']}").json()
    assert full["spec"]["data"]["x"] == inline_spec["data"]["x"] and "omitted" not in full
    listed_full = client.get("/v1/jobs", params={"include": "spec"}).json()["jobs"][0]
    assert listed_full["spec"]["data"]["y"] == inline_spec["data"]["y"] and "omitted" not in listed_full
    again = client.post("/v1/jobs", json=inline_spec, params={"include": "spec"}).json()
    assert again["spec"]["data"]["x"] == inline_spec["data"]["x"]


def test_specs_without_inline_data_are_shown_whole(client: TestClient, spec: dict[str, Any]) -> None:
    job = client.post("/v1/jobs", json=spec).json()
    assert job["spec"]["data"]["name"] == "iris" and "omitted" not in job


def test_an_unknown_include_is_a_422(client: TestClient) -> None:
    response = client.get("/v1/jobs", params={"include": "everything"})
    assert response.status_code == 422 and response.json()["errors"][0]["loc"] == ["query", "include"]
