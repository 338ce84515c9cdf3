"""POST /v1/diagnose/curves: a diagnosis of curves sent from elsewhere, synchronously; 422 on a bad body."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_curves_are_diagnosed(client: TestClient) -> None:
    body = {"train_loss": [2.3, 9.8, 40.0, None], "val_loss": [2.3, 11.0, 50.0, None], "n_classes": 10}
    response = client.post("/v1/diagnose/curves", json=body)
    assert response.status_code == 200, response.text
    diagnosis = response.json()["diagnosis"]
    assert diagnosis["healthy"] is False and diagnosis["primary_cause"] == "lr_too_high"
    assert diagnosis["findings"][0]["evidence"] and diagnosis["summary"]


def test_bad_curves_body_is_a_422_problem(client: TestClient) -> None:
    response = client.post("/v1/diagnose/curves", json={"train_loss": [1.0], "n_classes": 3, "extra": 1})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    locs = [e["loc"] for e in response.json()["errors"]]
    assert ["body", "train_loss"] in locs and ["body", "extra"] in locs


def test_a_whole_body_rule_is_reported_json_safe(client: TestClient) -> None:
    response = client.post("/v1/diagnose/curves", json={"train_loss": [2.0, 1.0]})
    assert response.status_code == 422
    assert "n_classes" in response.json()["errors"][0]["msg"]
