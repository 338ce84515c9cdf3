"""Bad specs are refused at the edge with a 422 problem naming the field, through the real stack."""

from __future__ import annotations

from typing import Any

import pytest
from lossdoctor_stack import Stack

pytestmark = pytest.mark.slow


def test_bad_spec_names_the_field(stack: Stack, spec: dict[str, Any]) -> None:
    spec["training"]["batch_size"] = 0
    response = stack.client.post("/v1/jobs", json=spec)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["loc"] == ["body", "training", "batch_size"]


def test_unknown_field_is_refused(stack: Stack, spec: dict[str, Any]) -> None:
    spec["model"]["activation"] = "relu"
    response = stack.client.post("/v1/jobs", json=spec)
    assert response.status_code == 422
    assert ["body", "model", "activation"] in [e["loc"] for e in response.json()["errors"]]


def test_shapes_that_do_not_fit_name_the_layer(stack: Stack, spec: dict[str, Any]) -> None:
    spec["model"]["layers"] = [
        {"type": "linear", "out_features": 8},
        {"type": "relu"},
        {"type": "conv2d", "out_channels": 2},
        {"type": "flatten"},
        {"type": "linear", "out_features": 3},
    ]
    response = stack.client.post("/v1/jobs", json=spec)
    assert response.status_code == 422, response.text
    loc = response.json()["errors"][0]["loc"]
    assert loc[:3] == ["body", "model", "layers"] and loc[3] == 2
    assert stack.client.get("/v1/jobs").json()["jobs"] == []


def test_diagnose_curves_through_the_stack(stack: Stack) -> None:
    body = {"train_loss": [2.30, 2.29, 2.29, 2.29], "n_classes": 10}
    response = stack.client.post("/v1/diagnose/curves", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["diagnosis"]["healthy"] is False
