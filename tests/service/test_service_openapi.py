"""The OpenAPI document describes every problem answer, and a 405 names every method of its path."""

from __future__ import annotations

from fastapi.testclient import TestClient

from worker.jobs.limits import is_out_of_memory
from worker.jobs.store import dumps, finite

PROBLEM = "application/problem+json"


def test_every_operation_documents_its_problem_answers(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert schema["components"]["schemas"]["Problem"]["required"] == ["type", "title", "status", "detail"]
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            expected = {"500"} | ({"401"} if path.startswith("/v1") else set())
            if "requestBody" in operation:
                expected |= {"400", "413", "422"}
            if "{" in path:
                expected |= {"404", "422"}
            assert expected <= set(responses), (method, path)
            for status in expected:
                assert set(responses[status]["content"]) == {PROBLEM}, (method, path, status)
            if path.startswith("/v1"):
                assert "WWW-Authenticate" in responses["401"]["headers"]
    assert {"409", "429"} <= set(schema["paths"]["/v1/jobs"]["post"]["responses"])
    assert "503" in schema["paths"]["/readyz"]["get"]["responses"]


def test_405_allow_names_every_method_of_the_path(client: TestClient) -> None:
    response = client.request("OPTIONS", "/v1/jobs")
    assert response.status_code == 405 and response.headers["content-type"] == PROBLEM
    assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}
    other = client.delete("/v1/jobs/job_x")
    assert other.status_code == 405 and set(other.headers["allow"].split(", ")) == {"GET", "HEAD"}


def test_stored_json_is_strict() -> None:
    value = {"a": [float("nan"), 1.5, {"b": float("inf")}], "c": (float("-inf"),), "d": "NaN"}
    assert dumps(value) == '{"a": [null, 1.5, {"b": null}], "c": [null], "d": "NaN"}'
    assert finite(2.0) == 2.0 and finite(float("nan")) is None


def test_failed_allocations_are_recognised() -> None:
    assert is_out_of_memory(MemoryError())
    assert is_out_of_memory(
        RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory")
    )
    assert is_out_of_memory(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert not is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))


def test_a_validator_error_carrying_an_exception_is_still_json(client: TestClient) -> None:
    # the model validator raises ValueError; pydantic keeps the exception object in the error's ctx
    spec = {
        "data": {"source": "inline", "x": [[1.0], [2.0], [3.0]], "y": [0, 1]},
        "model": {"layers": [{"type": "linear", "out_features": 2}]},
        "training": {"loss": "cross_entropy"},
    }
    response = client.post("/v1/jobs", json=spec)
    assert response.status_code == 422 and response.headers["content-type"] == PROBLEM
    errors = response.json()["errors"]
    assert errors and all(set(e) == {"loc", "msg", "type"} for e in errors)
    assert any("3 rows" in e["msg"] for e in errors)


def test_operations_have_stable_ids_and_a_job_declares_its_typed_result(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    ids = [op["operationId"] for item in schema["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids)) and {"create_job", "get_job", "list_jobs", "upload_model"} <= set(ids)
    components = schema["components"]["schemas"]
    assert {"Result", "Diagnosis", "Finding", "Baseline", "ProbeResult"} <= set(components)
    result_ref = str(components["Job"]["properties"]["result"])
    assert "#/components/schemas/Result" in result_ref
    assert set(components["Diagnosis"]["properties"]) >= {"healthy", "primary_cause", "findings", "summary"}
    assert "basis" in components["Finding"]["properties"]


def _ref(schema: dict[str, object]) -> str:
    """The component a (possibly nullable or list) property schema points to."""
    text = str(schema)
    return text.split("#/components/schemas/", 1)[1].split("'", 1)[0] if "#/components/schemas/" in text else ""


def test_jobs_results_diagnoses_and_events_have_typed_schemas(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    components = schema["components"]["schemas"]

    def answer(path: str, method: str = "get", status: str = "200") -> str:
        return _ref(schema["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"])

    assert answer("/v1/jobs/{job_id}") == "Job"
    assert answer("/v1/jobs", "post", "202") == "Job" and answer("/v1/jobs", "post") == "Job"  # 200: a repeat
    assert answer("/v1/jobs/{job_id}/cancel", "post") == "Job"
    assert answer("/v1/jobs") == "JobPage" and _ref(components["JobPage"]["properties"]["jobs"]) == "Job"
    assert answer("/v1/jobs/{job_id}/events") == "EventsPage"
    assert _ref(components["EventsPage"]["properties"]["events"]) == "Event"
    assert answer("/v1/diagnose/curves", "post") == "CurvesDiagnosis"
    assert _ref(components["CurvesDiagnosis"]["properties"]["diagnosis"]) == "Diagnosis"
    # the result, part by part: each a component of its own with its fields, never a bare object
    parts = {
        ("Job", "result"): "Result",
        ("Result", "baseline"): "Baseline",
        ("Result", "probes"): "ProbeResult",
        ("Result", "diagnosis"): "Diagnosis",
        ("Result", "checks"): "Check",
        ("Result", "timing"): "Timing",
        ("Result", "data"): "DataSummary",
        ("Baseline", "history"): "History",
        ("Baseline", "layers"): "Layer",
        ("Baseline", "summary"): "RunSummary",
        ("ProbeResult", "history"): "History",
        ("ProbeResult", "summary"): "RunSummary",
        ("Diagnosis", "findings"): "Finding",
        ("Timing", "left_out"): "LeftOut",
    }
    for (owner, field), part in parts.items():
        assert _ref(components[owner]["properties"][field]) == part, (owner, field)
    assert {"train_loss", "val_loss", "val_acc", "penalty", "step_loss", "grad_norm"} <= set(
        components["History"]["properties"]
    )
    assert {"final_loss", "diverged", "epochs_run", "fit_share"} <= set(components["RunSummary"]["properties"])
    assert {"grad_norm", "update_ratio", "dead_fraction", "activation"} <= set(components["Layer"]["properties"])
    assert {"why", "epochs_run", "epochs_planned"} <= set(components["LeftOut"]["properties"])
    assert {"verdict_basis", "complete", "notes", "chance_loss"} <= set(components["Diagnosis"]["properties"])


def test_data_set_answers_are_typed(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    for path, method, status in (("/v1/datasets", "post", "201"), ("/v1/datasets/{dataset_id}", "get", "200")):
        assert _ref(schema["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]) == (
            "DatasetDescription"
        )
    described = schema["components"]["schemas"]["DatasetDescription"]["properties"]
    assert {"id", "n_samples", "x_shape", "y_shape", "x_dtype", "y_dtype"} <= set(described)
