"""Every error is application/problem+json naming the bad field, including routing's 404 and 405; broken
JSON is a 400 saying where, a body that is not JSON a 415, a value of the wrong type a 422 (never coerced)."""

from __future__ import annotations

import json
from typing import Any

import pytest
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
    _assert_problem(broken, 400)


@pytest.mark.parametrize("path", ["/v1/jobs", "/v1/diagnose/curves"])
def test_broken_json_is_a_400_saying_where_it_broke(client: TestClient, path: str) -> None:
    body = b'{"name": "x",\n  "data": {"source": "builtin",, "name": "iris"}}'
    response = client.post(path, content=body, headers={"content-type": "application/json"})
    problem = _assert_problem(response, 400)
    assert problem["type"].endswith("invalid-json")
    # the same place Python's own parser names: the second comma
    with pytest.raises(json.JSONDecodeError) as parsed:
        json.loads(body)
    assert (parsed.value.lineno, parsed.value.colno) == (2, 32)
    assert "line 2, column 32 (character 45)" in problem["detail"] and parsed.value.msg in problem["detail"]
    assert problem["errors"] == [{"loc": ["body"], "msg": problem["detail"], "type": "json_invalid"}]


@pytest.mark.parametrize(
    ("headers", "named"),
    [
        ({"content-type": "text/plain"}, "'text/plain'"),
        ({"content-type": "application/x-www-form-urlencoded"}, "'application/x-www-form-urlencoded'"),
        ({}, "no Content-Type header"),
    ],
)
def test_a_body_that_is_not_json_is_a_415_naming_the_header(
    client: TestClient, spec: dict[str, Any], headers: dict[str, str], named: str
) -> None:
    for path, body in (("/v1/jobs", spec), ("/v1/diagnose/curves", {"train_loss": [2.3, 2.2]})):
        response = client.post(path, content=json.dumps(body).encode(), headers=headers)
        problem = _assert_problem(response, 415)
        assert named in problem["detail"] and "Content-Type: application/json" in problem["detail"]
    # a JSON media type with parameters, or a +json one, is JSON
    ok = client.post("/v1/jobs", content=json.dumps(spec), headers={"content-type": "application/json; charset=utf-8"})
    assert ok.status_code == 202, ok.text


@pytest.mark.parametrize(
    ("path", "value", "kind"),
    [
        (("training", "lr"), "0.01", "float_type"),
        (("training", "epochs"), "2", "int_type"),
        (("training", "epochs"), 2.5, "int_type"),
        (("training", "batch_size"), True, "int_type"),
        (("budget_seconds",), "30", "float_type"),
        (("model", "layers", 0, "out_features"), "16", "int_type"),
        (("model", "layers", 0, "frozen"), "true", "bool_type"),
        (("name",), 7, "string_type"),
    ],
)
def test_a_value_of_the_wrong_type_is_not_coerced(
    client: TestClient, spec: dict[str, Any], path: tuple[str | int, ...], value: Any, kind: str
) -> None:
    target: Any = spec
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    problem = _assert_problem(client.post("/v1/jobs", json=spec), 422)
    error = problem["errors"][0]
    assert error["type"] == kind and error["loc"][0] == "body" and error["loc"][-1] == path[-1]


def test_a_whole_number_is_still_a_float(client: TestClient, spec: dict[str, Any]) -> None:
    spec["training"]["lr"] = 1
    spec["budget_seconds"] = 30
    assert client.post("/v1/jobs", json=spec).status_code == 202


def test_openapi_lists_415_for_json_bodies(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "415" in paths["/v1/jobs"]["post"]["responses"]
    assert "415" in paths["/v1/diagnose/curves"]["post"]["responses"]
    assert "415" not in paths["/v1/datasets"]["post"]["responses"]


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
