"""Every error is application/problem+json naming the bad field, including routing's 404 and 405."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

PROBLEM = "application/problem+json"


def _assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"]
    return body


def test_unknown_route_is_a_404_problem(client: TestClient) -> None:
    _assert_problem(client.get("/v1/nothing-here"), 404)


def test_wrong_method_is_a_405_problem_keeping_allow(client: TestClient) -> None:
    response = client.delete("/v1/jobs")
    _assert_problem(response, 405)
    assert "POST" in response.headers["allow"]


def test_unknown_field_is_named(client: TestClient, spec: dict[str, Any]) -> None:
    spec["training"]["learning_rate"] = 0.1
    spec["colour"] = "blue"
    body = _assert_problem(client.post("/v1/jobs", json=spec), 422)
    locs = [e["loc"] for e in body["errors"]]
    assert ["body", "training", "learning_rate"] in locs and ["body", "colour"] in locs
    assert all(e["type"] == "extra_forbidden" for e in body["errors"])


def test_bad_value_is_named(client: TestClient, spec: dict[str, Any]) -> None:
    spec["training"]["lr"] = -1
    body = _assert_problem(client.post("/v1/jobs", json=spec), 422)
    assert body["errors"][0]["loc"] == ["body", "training", "lr"]
    assert "training.lr" in body["detail"]


def test_bad_enum_and_json_are_problems(client: TestClient, spec: dict[str, Any]) -> None:
    spec["training"]["optimizer"] = "adamm"
    body = _assert_problem(client.post("/v1/jobs", json=spec), 422)
    assert body["errors"][0]["loc"] == ["body", "training", "optimizer"]
    broken = client.post("/v1/jobs", content=b"{not json", headers={"content-type": "application/json"})
    _assert_problem(broken, 422)


def test_shapes_that_do_not_fit_name_the_layer(client: TestClient, spec: dict[str, Any]) -> None:
    # conv2d on flat iris rows cannot run: the runnability check names the layer
    spec["model"]["layers"] = [
        {"type": "conv2d", "out_channels": 4},
        {"type": "flatten"},
        {"type": "linear", "out_features": 3},
    ]
    body = _assert_problem(client.post("/v1/jobs", json=spec), 422)
    loc = body["errors"][0]["loc"]
    assert loc[:3] == ["body", "model", "layers"] and loc[3] == 0


def test_label_range_that_does_not_fit_names_a_field(client: TestClient, spec: dict[str, Any]) -> None:
    spec["model"]["layers"][-1]["out_features"] = 2  # iris has 3 classes
    body = _assert_problem(client.post("/v1/jobs", json=spec), 422)
    assert body["errors"][0]["loc"][0] == "body" and len(body["errors"][0]["loc"]) > 1


def test_unknown_dataset_is_a_422(client: TestClient, spec: dict[str, Any]) -> None:
    spec["data"] = {"source": "dataset", "id": "ds_missing"}
    body = _assert_problem(client.post("/v1/jobs", json=spec), 422)
    assert body["errors"][0]["loc"][:2] == ["body", "data"]
