"""``/v1/datasets``: upload a data set (``.npz`` with ``x`` and ``y``, or ``.csv`` with a label column)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile
from pydantic import BaseModel, Field

from service.api.deps import OwnerDep, SettingsDep, StoreDep
from service.core.openapi import problem_responses
from service.core.problems import Problem
from service.limits import check_upload
from worker.data.upload import UploadError, parse_upload

router = APIRouter(prefix="/v1/datasets", tags=["datasets"])


class DatasetDescription(BaseModel):
    """An uploaded data set, stored as given."""

    id: str = Field(description='ds_… ; use it as "data": {"source": "dataset", "id": id} in a job spec')
    filename: str | None = None
    created_at: str
    n_samples: int = Field(description="rows of x (and of y)")
    x_shape: list[int] = Field(description="shape of x, samples first")
    y_shape: list[int] = Field(description="shape of y, samples first")
    x_dtype: str = Field(description="numpy dtype of x as stored")
    y_dtype: str = Field(description="numpy dtype of y as stored")


#: Bytes read from an upload at a time while checking its size.
CHUNK_BYTES = 1024 * 1024


def read_limited(upload: UploadFile, limit: int, setting: str = "LOSSDOCTOR_MAX_UPLOAD_BYTES") -> bytes:
    """The upload's bytes, or a 413 problem naming ``setting`` once it passes ``limit`` bytes."""
    chunks, size = [], 0
    while chunk := upload.file.read(CHUNK_BYTES):
        size += len(chunk)
        if size > limit:
            raise Problem(
                413,
                "upload-too-large",
                f"the upload is larger than {limit} bytes ({setting})",
            )
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "",
    status_code=201,
    summary="Upload a data set",
    response_model=DatasetDescription,
)
def upload_dataset(
    file: Annotated[UploadFile, File(description=".npz with arrays x and y, or .csv with a header row")],
    store: StoreDep,
    settings: SettingsDep,
    owner: OwnerDep,
    label_column: Annotated[str | None, Form(max_length=200)] = None,
) -> dict[str, Any]:
    """Store the data set as given (no scaling, no cleaning); returns its ``id``, shapes and dtypes.

    Use it in a job with ``"data": {"source": "dataset", "id": "<id>"}``.
    """
    content = read_limited(file, settings.max_upload_bytes)
    check_upload(file.filename or "", content, settings)
    try:
        canonical, description = parse_upload(
            file.filename or "",
            content,
            label_column=label_column,
            max_rows=settings.max_dataset_rows,
            max_features=settings.max_dataset_features,
            max_values=settings.max_dataset_values,
        )
    except UploadError as exc:
        loc = ["body", "label_column"] if "label" in str(exc) and label_column else ["body", "file"]
        raise Problem(
            422, "upload-unreadable", str(exc), errors=[{"loc": loc, "msg": str(exc), "type": "upload_error"}]
        ) from exc
    meta = store.put_dataset(
        canonical,
        {"filename": file.filename, **description},
        owner=owner,
        ttl_seconds=settings.dataset_retention_seconds,
    )
    return {k: v for k, v in meta.items() if k != "owner"}


@router.get(
    "/{dataset_id}",
    summary="Describe an uploaded data set",
    response_model=DatasetDescription,
    responses=problem_responses(404),
)
def get_dataset(dataset_id: str, store: StoreDep, owner: OwnerDep) -> dict[str, Any]:
    """The data set's id, file name, shapes and dtypes."""
    meta = store.get_dataset_meta(dataset_id, owner)
    if meta is None:
        raise Problem(404, "dataset-not-found", f"there is no data set {dataset_id} (or its retention ended)")
    return {k: v for k, v in meta.items() if k != "owner"}
