"""``/v1/runs`` over the in-memory run store: create, append telemetry (retries ignored), read the diagnosis,
ownership, and problem+json for bad telemetry."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from run_fakes import MemoryRunStore

SETUP = {
    "optimizer": "SGD",
    "model_tensors": 4,
    "model_values": 178,
    "optimizer_tensors": 4,
    "optimizer_values": 178,
    "shared_tensors": 4,
    "lrs": [0.1],
    "relu_layers": ["1"],
}


def step(n: int, **changes: Any) -> dict[str, Any]:
    return {
        "step": n,
        "loss": 1.0 / max(n, 1),
        "backward_passes": 1,
        "cleared_passes": 1,
        "params_with_grad": 4,
        "sampled": True,
        "grad_norm": 0.5,
        "changed": 4,
        "lr": 0.1,
        **changes,
    }


def create(client: TestClient, setup: dict[str, Any] = SETUP, **headers: str) -> dict[str, Any]:
    response = client.post("/v1/runs", json={"name": "mine", "setup": setup}, headers=headers)
    assert response.status_code in (200, 201), response.text
    return response.json()


def test_a_healthy_run_streams_and_reads_back(client: TestClient, run_store: MemoryRunStore) -> None:
    run = create(client)
    assert run["id"].startswith("run_") and run["steps_received"] == 0
    first = client.post(f"/v1/runs/{run['id']}/telemetry", json={"steps": [step(1), step(2)]})
    assert first.status_code == 200 and first.json()["last_step"] == 2
    # a retried chunk overlapping what is stored adds only the new step
    again = client.post(f"/v1/runs/{run['id']}/telemetry", json={"steps": [step(2), step(3)]})
    assert again.json()["steps_received"] == 3
    assert [s["step"] for s in run_store.steps(run["id"])] == [1, 2, 3]
    read = client.get(f"/v1/runs/{run['id']}").json()
    assert read["name"] == "mine" and read["diagnosis"]["healthy"] is True
    assert read["diagnosis"]["verdict_basis"] == "monitor" and read["diagnosis"]["steps_seen"] == 3


def test_gradients_never_cleared_are_diagnosed_from_telemetry(client: TestClient) -> None:
    run = create(client)
    steps = [step(1)] + [step(n, cleared_passes=0, grad_norm=0.5 * n) for n in range(2, 8)]
    client.post(f"/v1/runs/{run['id']}/telemetry", json={"steps": steps})
    diagnosis = client.get(f"/v1/runs/{run['id']}").json()["diagnosis"]
    assert diagnosis["primary_cause"] == "training_loop_bug"
    assert diagnosis["findings"][0]["evidence"][0].startswith("in 6 of 6 steps (steps 2-7) every backward pass")


def test_an_optimizer_of_a_copy_is_diagnosed_from_the_setup_alone(client: TestClient) -> None:
    setup = {**SETUP, "shared_tensors": 0, "foreign_tensors": 4, "foreign_match_model": True}
    diagnosis = client.get(f"/v1/runs/{create(client, setup)['id']}").json()["diagnosis"]
    assert diagnosis["primary_cause"] == "training_loop_bug"
    assert "copy.deepcopy" in diagnosis["findings"][0]["evidence"][1]


def test_runs_belong_to_their_tenant(client: TestClient, run_store: MemoryRunStore) -> None:
    run = create(client)
    run_store.records[run["id"]]["owner"] = "someone-else"
    assert client.get(f"/v1/runs/{run['id']}").status_code == 404
    missing = client.post(f"/v1/runs/{run['id']}/telemetry", json={"steps": [step(1)]})
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"


def test_the_same_idempotency_key_returns_the_same_run(client: TestClient) -> None:
    first = create(client, **{"Idempotency-Key": "k1"})
    response = client.post("/v1/runs", json={"setup": SETUP}, headers={"Idempotency-Key": "k1"})
    assert response.status_code == 200 and response.json()["id"] == first["id"]


def test_bad_telemetry_is_a_422_naming_the_field(client: TestClient) -> None:
    run = create(client)
    for body, loc in (
        ({"steps": [step(0)]}, ["body", "steps", 0, "step"]),
        ({"steps": [{**step(1), "loss_graph": "weird"}]}, ["body", "steps", 0, "loss_graph"]),
        ({"steps": [{**step(1), "typo": 1}]}, ["body", "steps", 0, "typo"]),
        ({"steps": []}, ["body", "steps"]),
    ):
        response = client.post(f"/v1/runs/{run['id']}/telemetry", json=body)
        assert response.status_code == 422, body
        assert loc in [e["loc"] for e in response.json()["errors"]]
    assert client.post("/v1/runs", json={"setup": {}}).status_code == 422


def test_a_full_run_is_a_409(client: TestClient, run_store: MemoryRunStore) -> None:
    run = create(client)
    run_store.records[run["id"]]["steps_received"] = 50_000
    response = client.post(f"/v1/runs/{run['id']}/telemetry", json={"steps": [step(1)]})
    assert response.status_code == 409 and "start a new run" in response.json()["detail"]
