"""The size limits a job or an upload must keep, each a setting, each refusal naming it.

    LOSSDOCTOR_MAX_BUDGET_SECONDS        budget_seconds of a job                              422
    LOSSDOCTOR_MAX_DATASET_ROWS          samples in a job's data or an upload                 422 / 413
    LOSSDOCTOR_MAX_DATASET_FEATURES      values per sample                                    422 / 413
    LOSSDOCTOR_MAX_DATASET_VALUES        samples x values per sample                          422 / 413
    LOSSDOCTOR_MAX_MODEL_PARAMETERS      trainable parameters of the model (worker.data.params)    422
    LOSSDOCTOR_MAX_SAMPLE_EPOCHS         samples x training.epochs                            422

A job is checked twice: on its spec before any data is generated or loaded (a synthetic data set's
declared size, the number of inline rows), then on the loaded data. An upload is checked on the sizes
its file declares (``.npz`` array headers, CSV lines and columns) before it is parsed. Body sizes are the
request guard's (``service.core.guard``); queued jobs per key are counted by the store.
"""

from __future__ import annotations

import csv
import io
import math
import zipfile
from pathlib import PurePosixPath
from typing import Any

import numpy as np

from service.core.config import Settings
from service.core.problems import Problem
from worker.contract.spec import InlineData, JobSpec, SyntheticData
from worker.data import RawData
from worker.data.params import count_parameters
from worker.data.synthetic import declared_shape
from worker.data.upload import UploadError, check_zip_directory

#: Problem type slug of every refusal here.
SLUG = "limit-exceeded"


def refuse(status: int, setting: str, loc: list[str | int], message: str) -> Problem:
    """A problem naming the bad field and the setting whose limit it passes."""
    text = f"{message} (LOSSDOCTOR_{setting})"
    return Problem(status, SLUG, text, errors=[{"loc": loc, "msg": text, "type": "limit_exceeded"}])


def check_table(rows: int, per_sample: int, settings: Settings, *, status: int, loc: list[str | int]) -> None:
    """Refuse a data set of ``rows`` samples of ``per_sample`` values each beyond the data set limits."""
    if rows > settings.max_dataset_rows:
        message = f"the data set has {rows} samples; the limit is {settings.max_dataset_rows}"
        raise refuse(status, "MAX_DATASET_ROWS", loc, message)
    if per_sample > settings.max_dataset_features:
        raise refuse(
            status,
            "MAX_DATASET_FEATURES",
            loc,
            f"the data set has {per_sample} values per sample; the limit is {settings.max_dataset_features}",
        )
    if rows * per_sample > settings.max_dataset_values:
        raise refuse(
            status,
            "MAX_DATASET_VALUES",
            loc,
            f"the data set has {rows} x {per_sample} = {rows * per_sample} values; "
            f"the limit is {settings.max_dataset_values}",
        )


def check_spec(spec: JobSpec, settings: Settings) -> None:
    """Refuse a job whose spec alone passes a limit, before its data is generated or loaded."""
    if spec.budget_seconds > settings.max_budget_seconds:
        raise refuse(
            422,
            "MAX_BUDGET_SECONDS",
            ["body", "budget_seconds"],
            f"budget_seconds is {spec.budget_seconds:g}; the limit is {settings.max_budget_seconds:g}",
        )
    data = spec.data
    if isinstance(data, SyntheticData):
        rows, features = declared_shape(data)  # scikit-learn's defaults where the spec leaves them out
        check_table(rows, features, settings, status=422, loc=["body", "data", "n_samples"])
    elif isinstance(data, InlineData):
        check_table(len(data.x), 1, settings, status=422, loc=["body", "data", "x"])


def check_data(spec: JobSpec, raw: RawData, settings: Settings) -> None:
    """Refuse a job whose loaded data or model passes a limit (rows, features, parameters, samples x epochs)."""
    rows, per_sample = int(raw.x.shape[0]), math.prod(raw.sample_shape)
    check_table(rows, per_sample, settings, status=422, loc=["body", "data"])
    parameters = count_parameters(spec.model, raw.sample_shape)
    if parameters > settings.max_model_parameters:
        raise refuse(
            422,
            "MAX_MODEL_PARAMETERS",
            ["body", "model", "onnx" if spec.model.onnx is not None else "layers"],
            f"the model has {parameters} trainable parameters on this data; "
            f"the limit is {settings.max_model_parameters}",
        )
    passes = rows * spec.training.epochs
    if passes > settings.max_sample_epochs:
        raise refuse(
            422,
            "MAX_SAMPLE_EPOCHS",
            ["body", "training", "epochs"],
            f"{rows} samples x {spec.training.epochs} epochs = {passes}; the limit is {settings.max_sample_epochs}",
        )


def _npz_shapes(content: bytes) -> dict[str, tuple[int, ...]]:
    """The shapes the ``x`` and ``y`` members of an ``.npz`` declare in their headers (no data is read).

    A member that is missing or unreadable is skipped, and so is an archive whose directory is too large
    to read: parsing the upload then says what is wrong with it.
    """
    shapes: dict[str, tuple[int, ...]] = {}
    try:
        check_zip_directory(content)
    except UploadError:
        return {}
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            for key in ("x", "y"):
                try:
                    with archive.open(f"{key}.npy") as f:
                        version = np.lib.format.read_magic(f)
                        read_header: Any = (
                            np.lib.format.read_array_header_1_0
                            if version == (1, 0)
                            else np.lib.format.read_array_header_2_0
                        )
                        shape, _, _ = read_header(f)
                    shapes[key] = tuple(int(d) for d in shape)
                except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile):
                    continue
    except (zipfile.BadZipFile, ValueError, OSError):
        return {}
    return shapes


def _csv_size(content: bytes) -> tuple[int, int]:
    """An upper bound on a CSV's data rows and its feature columns, from its line breaks (``\\n``, or ``\\r``
    alone) and its whole header line. Parsing counts again exactly (``worker.data.upload.read_csv``)."""
    newline = b"\n" if b"\n" in content else b"\r"
    lines = content.count(newline) + (0 if content.endswith(newline) else 1)
    body = content.lstrip()  # blank lines before the header
    ends = [i for i in (body.find(b"\n"), body.find(b"\r")) if i >= 0]
    first = body[: min(ends, default=len(body))].decode("utf-8-sig", errors="replace")
    try:
        columns = len(next(csv.reader([first]), [])) if first else 0
    except csv.Error:  # a header cell over the csv module's field limit: count the commas instead
        columns = first.count(",") + 1
    return max(lines - 1, 0), max(columns - 1, 1)


def check_upload(filename: str, content: bytes, settings: Settings) -> None:
    """Refuse an upload whose declared size passes the data set limits (413), before it is parsed."""
    suffix = PurePosixPath(filename.replace("\\", "/")).suffix.lower()
    loc: list[str | int] = ["body", "file"]
    if suffix == ".npz":
        shapes = _npz_shapes(content)
        for shape in shapes.values():
            if shape:
                check_table(shape[0], math.prod(shape[1:]), settings, status=413, loc=loc)
    elif suffix == ".csv":
        rows, columns = _csv_size(content)
        check_table(rows, columns, settings, status=413, loc=loc)
