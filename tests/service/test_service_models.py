"""POST /v1/models: an accepted ONNX file, hostile and unsupported ones refused with the reason, and the
pre-flight check of a job that names a model."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from service_fakes import MemoryJobQueue, MemoryJobStore

from service.core.config import Settings
from service.core.security import new_key
from service.main import create_app
from tests import onnx_files


def upload(client: TestClient, content: bytes, name: str = "model.onnx") -> Any:
    return client.post("/v1/models", files={"file": (name, content, "application/octet-stream")})


@pytest.fixture
def make_client(store: MemoryJobStore, queue: MemoryJobQueue) -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def build(**settings: Any) -> TestClient:
        app = create_app(Settings(sweeper=False, **settings), store=store, queue=queue)  # type: ignore[arg-type]
        client = TestClient(app, raise_server_exceptions=False)
        clients.append(client.__enter__())
        return client

    yield build
    for client in clients:
        client.__exit__(None, None, None)


def test_an_onnx_upload_is_described_and_stored(client: TestClient, store: MemoryJobStore) -> None:
    response = upload(client, onnx_files.to_bytes(onnx_files.mlp()))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"].startswith("mdl_") and "owner" not in body
    assert body["input"] == {"name": "input", "shape": ["batch", 4], "dtype": "float32"}
    assert body["output"]["shape"] == ["batch", 3] and body["parameters"] == 67
    assert body["op_counts"] == {"Gemm": 2, "Identity": 1, "Relu": 1} and body["opset"] == 17
    assert store.get_model_bytes(body["id"], "public") == onnx_files.to_bytes(onnx_files.mlp())
    assert client.get(f"/v1/models/{body['id']}").json() == body
    assert client.get("/v1/models/mdl_" + "0" * 24).status_code == 404


@pytest.mark.parametrize(
    ("build", "words"),
    [
        (onnx_files.external_data, "external data"),
        (onnx_files.foreign_domain, "op domains other than the standard ONNX one: ['com.microsoft']"),
        (onnx_files.unsupported_ops, "ops this service does not run: ['Expand', 'Tile']"),
        (onnx_files.two_inputs, "2 data inputs"),
        (onnx_files.dangling_input, "fails onnx.checker"),
    ],
)
def test_hostile_files_are_a_422_naming_the_reason(
    client: TestClient, store: MemoryJobStore, build: Callable[[], Any], words: str
) -> None:
    response = upload(client, onnx_files.to_bytes(build()))
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    assert words in response.json()["detail"]
    assert response.json()["errors"][0]["loc"] == ["body", "file"]
    assert not store.models


def test_a_node_named_like_code_is_stored_as_data(client: TestClient) -> None:
    response = upload(client, onnx_files.to_bytes(onnx_files.mlp(node_name=onnx_files.CODE_NAME)))
    assert response.status_code == 201
    assert onnx_files.CODE_NAME not in response.text  # node names are not part of the description


def test_too_many_parameters_and_too_many_bytes_are_refused(make_client: Callable[..., TestClient]) -> None:
    content = onnx_files.to_bytes(onnx_files.mlp())
    few = upload(make_client(max_model_parameters=10), content)
    assert few.status_code == 422 and "LOSSDOCTOR_MAX_MODEL_PARAMETERS" in few.json()["detail"]
    small = upload(make_client(max_model_bytes=100), content)
    assert small.status_code == 413 and "LOSSDOCTOR_MAX_MODEL_BYTES" in small.json()["detail"]


def test_a_file_not_named_onnx_or_not_a_model_is_refused(client: TestClient) -> None:
    assert upload(client, onnx_files.to_bytes(onnx_files.mlp()), "model.pt").status_code == 422
    response = upload(client, b"PK\x03\x04 a zip, not protobuf")
    assert response.status_code == 422 and "not an ONNX model" in response.json()["detail"]


def test_a_truncated_file_is_a_422_naming_the_parse_failure(client: TestClient) -> None:
    response = upload(client, onnx_files.truncated(onnx_files.to_bytes(onnx_files.mlp())))
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    detail = response.json()["detail"]
    assert "protobuf does not parse" in detail and "Error parsing message" in detail


def test_a_graph_over_the_node_limit_is_refused_fast_before_the_checker(
    make_client: Callable[..., TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    content = onnx_files.to_bytes(onnx_files.many_nodes(20_000))
    checked: list[object] = []
    monkeypatch.setattr("onnx.checker.check_model", lambda model, *a, **k: checked.append(model))
    client = make_client()
    started = time.perf_counter()
    response = upload(client, content)
    elapsed = time.perf_counter() - started
    assert response.status_code == 422, response.text
    assert "the graph has 20000 nodes; the limit is 5000 (LOSSDOCTOR_MAX_MODEL_NODES)" in response.json()["detail"]
    assert elapsed < 0.5, elapsed
    assert not checked
    small = make_client(max_model_nodes=10)
    assert upload(small, onnx_files.to_bytes(onnx_files.many_nodes(10))).status_code == 201
    refused = upload(small, onnx_files.to_bytes(onnx_files.many_nodes(11)))
    assert refused.status_code == 422 and "11 nodes; the limit is 10" in refused.json()["detail"]


def _job(model: dict[str, Any], data: str = "iris") -> dict[str, Any]:
    return {
        "data": {"source": "builtin", "name": data},
        "model": model,
        "training": {"loss": "cross_entropy", "epochs": 2},
        "probes": ["lr_sweep"],
        "device": "cpu",
    }


def test_a_job_names_an_uploaded_model(client: TestClient, queue: MemoryJobQueue) -> None:
    model_id = upload(client, onnx_files.to_bytes(onnx_files.mlp())).json()["id"]
    response = client.post("/v1/jobs", json=_job({"onnx": model_id}))
    assert response.status_code == 202, response.text
    assert response.json()["spec"]["model"]["onnx"] == model_id
    assert queue.enqueued


def test_a_model_that_does_not_fit_the_data_is_refused_at_post(client: TestClient) -> None:
    model_id = upload(client, onnx_files.to_bytes(onnx_files.mlp())).json()["id"]
    inputs = client.post("/v1/jobs", json=_job({"onnx": model_id}, data="digits"))  # 64 features, not 4
    assert inputs.status_code == 422
    assert inputs.json()["errors"][0]["loc"] == ["body", "model", "onnx"]
    assert "takes ['batch', 4]" in inputs.json()["detail"]
    wide = upload(client, onnx_files.to_bytes(onnx_files.mlp(n_in=64))).json()["id"]
    labels = client.post("/v1/jobs", json=_job({"onnx": wide}, data="digits"))  # 10 classes, 3 scores
    assert labels.status_code == 422 and "outputs 3 class scores" in labels.json()["detail"]


def test_layers_and_onnx_together_or_an_unknown_model_are_refused(client: TestClient) -> None:
    model_id = upload(client, onnx_files.to_bytes(onnx_files.mlp())).json()["id"]
    both = client.post("/v1/jobs", json=_job({"onnx": model_id, "layers": [{"type": "relu"}]}))
    assert both.status_code == 422 and "not both" in both.text
    neither = client.post("/v1/jobs", json=_job({}))
    assert neither.status_code == 422 and "'layers'" in neither.text
    unknown = client.post("/v1/jobs", json=_job({"onnx": "mdl_" + "f" * 24}))
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["loc"] == ["body", "model", "onnx"]
    bad_id = client.post("/v1/jobs", json=_job({"onnx": "../../etc/passwd"}))
    assert bad_id.status_code == 422


def test_another_tenant_neither_sees_nor_uses_a_model(make_client: Callable[..., TestClient]) -> None:
    key_a, entry_a = new_key("acme")
    key_b, entry_b = new_key("globex")
    client = make_client(api_keys=f"{entry_a},{entry_b}")
    a, b = {"Authorization": f"Bearer {key_a}"}, {"Authorization": f"Bearer {key_b}"}
    content = onnx_files.to_bytes(onnx_files.mlp())
    assert client.post("/v1/models", files={"file": ("m.onnx", content)}).status_code == 401
    model_id = client.post("/v1/models", files={"file": ("m.onnx", content)}, headers=a).json()["id"]
    assert client.get(f"/v1/models/{model_id}", headers=a).status_code == 200
    assert client.get(f"/v1/models/{model_id}", headers=b).status_code == 404
    assert client.post("/v1/jobs", json=_job({"onnx": model_id}), headers=b).status_code == 422
    assert client.post("/v1/jobs", json=_job({"onnx": model_id}), headers=a).status_code == 202


def test_a_job_is_held_to_the_parameter_limit_in_force(make_client: Callable[..., TestClient]) -> None:
    model_id = upload(make_client(), onnx_files.to_bytes(onnx_files.mlp())).json()["id"]
    response = make_client(max_model_parameters=10).post("/v1/jobs", json=_job({"onnx": model_id}))
    assert response.status_code == 422 and "LOSSDOCTOR_MAX_MODEL_PARAMETERS" in response.json()["detail"]
    assert response.json()["errors"][0]["loc"] == ["body", "model", "onnx"]
