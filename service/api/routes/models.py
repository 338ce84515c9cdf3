"""``/v1/models``: upload a model as an ONNX file, checked without running anything in it.

The file is parsed with the ``onnx`` package only (``worker.data.onnx.parse``, torch-free): a file that does
not parse (truncated, corrupt), more nodes than ``LOSSDOCTOR_MAX_MODEL_NODES`` (checked first), external data,
op domains other than the standard one, ops the interpreter does not run, more than one data input or
output, too many parameters and a graph that fails ``onnx.checker`` are each refused with a 422 that
says why. An accepted file is stored as uploaded, owned by the caller, for
``LOSSDOCTOR_MODEL_RETENTION_SECONDS``; a job uses it with ``"model": {"onnx": "<id>"}``.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Annotated, Any

from fastapi import APIRouter, File, UploadFile
from pydantic import BaseModel, Field

from service.api.deps import OwnerDep, SettingsDep, StoreDep
from service.api.routes.datasets import read_limited
from service.core.openapi import problem_responses
from service.core.problems import Problem
from worker.data.onnx.parse import OnnxRefused, describe, read_model

router = APIRouter(prefix="/v1/models", tags=["models"])

#: The file name suffix an upload must carry.
SUFFIX = ".onnx"


class TensorDescription(BaseModel):
    """A graph input or output as the file declares it."""

    name: str = Field(description="the value's name in the graph")
    shape: list[int | str | None] = Field(
        description="dims: a size, or a name (or null) for a free dim such as the batch"
    )
    dtype: str = Field(description="numpy name of the element type, e.g. float32")


class ModelDescription(BaseModel):
    """An accepted ONNX model."""

    id: str = Field(description='mdl_… ; use it as "model": {"onnx": id} in a job spec')
    filename: str | None = None
    created_at: str
    size_bytes: int = Field(description="bytes of the uploaded file")
    input: TensorDescription
    output: TensorDescription
    parameters: int = Field(description="values in the float initializers (weights), running statistics excluded")
    op_counts: dict[str, int] = Field(description="nodes per op type")
    opset: int = Field(description="the standard ONNX opset the file is written for")


def _refused(reason: str) -> Problem:
    return Problem(
        422, "model-refused", reason, errors=[{"loc": ["body", "file"], "msg": reason, "type": "model_refused"}]
    )


@router.post(
    "",
    status_code=201,
    summary="Upload an ONNX model",
    response_model=ModelDescription,
    responses=problem_responses(413, 422),
)
def upload_model(
    file: Annotated[UploadFile, File(description="an .onnx file with its weights inside (no external data)")],
    store: StoreDep,
    settings: SettingsDep,
    owner: OwnerDep,
) -> dict[str, Any]:
    """Check the ONNX file without running it and store it; returns its ``id``, input and output, parameter
    count and op counts. Refused with 422 and the reason when it is not safe or not supported."""
    name = PurePosixPath((file.filename or "").replace("\\", "/")).name[:200]
    if not name.lower().endswith(SUFFIX):
        raise _refused(f"the file must be an ONNX model named *{SUFFIX}; got {name or 'no file name'!r}")
    content = read_limited(file, settings.max_model_bytes, "LOSSDOCTOR_MAX_MODEL_BYTES")
    try:
        info = describe(
            read_model(content), max_parameters=settings.max_model_parameters, max_nodes=settings.max_model_nodes
        )
    except OnnxRefused as exc:
        raise _refused(str(exc)) from exc
    meta = store.put_model(
        content,
        {"filename": name, "size_bytes": len(content), **info.as_dict()},
        owner=owner,
        ttl_seconds=settings.model_retention_seconds,
    )
    return {k: v for k, v in meta.items() if k != "owner"}


@router.get(
    "/{model_id}",
    summary="Describe an uploaded model",
    response_model=ModelDescription,
    responses=problem_responses(404),
)
def get_model(model_id: str, store: StoreDep, owner: OwnerDep) -> dict[str, Any]:
    """The model's id, file name, input and output, parameter count and op counts."""
    meta = store.get_model_meta(model_id, owner)
    if meta is None:
        raise Problem(404, "model-not-found", f"there is no model {model_id} (or its retention ended)")
    return {k: v for k, v in meta.items() if k != "owner"}
