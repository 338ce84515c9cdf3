"""Upload an ONNX model, then diagnose a job that names it, through the real stack (Redis, uvicorn, a
``lossdoctor worker`` and the engine)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from lossdoctor_stack import Stack
from torch import nn

from lossdoctor import export_model
from tests import onnx_files

pytestmark = pytest.mark.slow


def test_onnx_upload_then_a_job_using_it(stack: Stack, spec: dict[str, Any], tmp_path: Path) -> None:
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
    content = export_model(module, torch.randn(2, 4), tmp_path / "iris.onnx").read_bytes()
    upload = stack.client.post("/v1/models", files={"file": ("iris.onnx", content)})
    assert upload.status_code == 201, upload.text
    meta = upload.json()
    assert meta["id"].startswith("mdl_") and meta["op_counts"] == {"Gemm": 2, "Relu": 1}
    assert meta["parameters"] == sum(p.numel() for p in module.parameters())
    ttl = stack.redis.ttl(f"lossdoctor:model:{meta['id']}")
    assert 0 < ttl <= stack.settings.model_retention_seconds
    assert stack.client.get(f"/v1/models/{meta['id']}").json()["id"] == meta["id"]

    spec["model"] = {"onnx": meta["id"]}
    spec["probes"] = ["lr_sweep"]
    done = stack.wait(stack.submit(spec)["id"])
    assert done["status"] == "succeeded", done["error"]
    result = done["result"]
    assert len(result["baseline"]["history"]["train_loss"]) == 2
    assert [layer["name"] for layer in result["baseline"]["layers"]] == ["0.linear", "2.linear"]
    assert {p["family"] for p in result["probes"]} == {"lr_sweep"}
    assert result["baseline"]["trainable_params"] == meta["parameters"]


def test_hostile_uploads_are_refused_on_the_real_stack(stack: Stack) -> None:
    for model, words in (
        (onnx_files.external_data(), "external data"),
        (onnx_files.external_data("/etc/passwd"), "external data"),
        (onnx_files.external_data("pyproject.toml"), "external data"),
        (onnx_files.truncated(onnx_files.to_bytes(onnx_files.mlp())), "does not parse"),
        (onnx_files.unsupported_ops(), "Tile"),
    ):
        content = model if isinstance(model, bytes) else onnx_files.to_bytes(model)
        response = stack.client.post("/v1/models", files={"file": ("m.onnx", content)})
        assert response.status_code == 422 and words in response.json()["detail"]
    assert not list(stack.redis.scan_iter("lossdoctor:model:*"))
