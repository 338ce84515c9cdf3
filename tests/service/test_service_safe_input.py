"""Nothing a user sends is ever unpickled or evaluated: pickled .npz refused, no pickle/eval/torch.load in
the code, the queue carries JSON, CSV parsing bounded."""

from __future__ import annotations

import ast
import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from redis import Redis
from rq.serializers import JSONSerializer

from service.queue import JobQueue

REPO = Path(__file__).resolve().parents[2]
#: Every package that runs in the API or a worker.
PACKAGES = ("service", "worker", "lossdoctor")
#: Modules that deserialize into arbitrary Python objects.
UNSAFE_MODULES = frozenset({"pickle", "cPickle", "_pickle", "dill", "cloudpickle", "marshal", "shelve", "joblib"})
#: Calls that run or rebuild arbitrary code: builtins, and attribute calls by their last two names.
UNSAFE_CALLS = frozenset({"eval", "exec", "compile", "__import__"})
UNSAFE_ATTRIBUTE_CALLS = frozenset({("torch", "load"), ("yaml", "load"), ("pd", "read_pickle"), ("np", "fromfile")})


class _Pickled:
    """Unpickling this would run code."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (print, ("pwned",))


def _assert_422(response: Any) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


def test_an_npz_with_a_pickled_object_array_is_refused(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_unpickling(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the upload was unpickled")

    monkeypatch.setattr(pickle, "loads", no_unpickling)
    monkeypatch.setattr(pickle, "load", no_unpickling)
    buffer = io.BytesIO()
    np.savez(buffer, x=np.array([_Pickled(), _Pickled()], dtype=object), y=np.array([0, 1]))
    body = _assert_422(client.post("/v1/datasets", files={"file": ("d.npz", buffer.getvalue())}))
    assert "pickled" in body["detail"] and body["errors"][0]["loc"] == ["body", "file"]


def test_an_npz_member_that_is_a_raw_pickle_is_refused(client: TestClient) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("x.npy", pickle.dumps(_Pickled()))
        archive.writestr("y.npy", pickle.dumps([0, 1]))
    _assert_422(client.post("/v1/datasets", files={"file": ("d.npz", buffer.getvalue())}))


def _sources() -> list[Path]:
    return [p for package in PACKAGES for p in sorted((REPO / package).rglob("*.py"))]


def _unsafe(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in UNSAFE_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in UNSAFE_MODULES:
            found.append(node.module or "")
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in UNSAFE_CALLS:
                found.append(func.id)
            elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                pair = (func.value.id, func.attr)
                if pair in UNSAFE_ATTRIBUTE_CALLS:
                    found.append(".".join(pair))
                if func.attr in ("load", "read_array") and func.value.id in ("np", "numpy", "format"):
                    keywords = {k.arg: k.value for k in node.keywords}
                    flag = keywords.get("allow_pickle")
                    if not (isinstance(flag, ast.Constant) and flag.value is False):
                        found.append(f"{func.value.id}.{func.attr} without allow_pickle=False")
    return found


def test_no_code_unpickles_or_evaluates_anything() -> None:
    sources = _sources()
    assert len(sources) > 30
    offenders = {}
    for path in sources:
        found = _unsafe(ast.parse(path.read_text(), filename=str(path)))
        if found:
            offenders[str(path.relative_to(REPO))] = found
    assert offenders == {}


def test_the_scan_finds_what_it_looks_for() -> None:
    code = "import pickle\nfrom dill import loads\neval('1')\ntorch.load(f)\nnp.load(f)\nnp.load(f, allow_pickle=True)"
    assert len(_unsafe(ast.parse(code))) == 6
    assert _unsafe(ast.parse("np.load(f, allow_pickle=False)\nmodel.eval()")) == []


def test_the_api_enqueues_with_the_json_serializer() -> None:
    # the worker's side, and the bytes on the queue, are checked against a real server in
    # tests/integration/test_tenants_and_queue.py
    redis = Redis.from_url("redis://127.0.0.1:1/0")  # never contacted
    assert JobQueue(redis, "q").queue.serializer is JSONSerializer
