"""Upload a data set, then train on it through the real stack."""

from __future__ import annotations

from typing import Any

import pytest
from lossdoctor_stack import Stack
from sklearn.datasets import load_iris

pytestmark = pytest.mark.slow


def test_csv_upload_then_a_job_using_it(stack: Stack, spec: dict[str, Any]) -> None:
    iris = load_iris()
    pairs = zip(iris.data, iris.target, strict=True)
    rows = ["a,b,c,d,species"] + [",".join(map(str, [*x, y])) for x, y in pairs]
    upload = stack.client.post(
        "/v1/datasets",
        files={"file": ("iris.csv", "\n".join(rows).encode())},
        data={"label_column": "species"},
    )
    assert upload.status_code == 201, upload.text
    meta = upload.json()
    assert meta["x_shape"] == [150, 4] and meta["y_shape"] == [150]
    spec["data"] = {"source": "dataset", "id": meta["id"]}
    done = stack.wait(stack.submit(spec)["id"])
    assert done["status"] == "succeeded", done["error"]
    assert done["result"]["baseline"]["history"]["train_loss"]


def test_unknown_dataset_is_refused(stack: Stack, spec: dict[str, Any]) -> None:
    spec["data"] = {"source": "dataset", "id": "ds_unknown"}
    response = stack.client.post("/v1/jobs", json=spec)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"][:2] == ["body", "data"]
