"""Turn a user's upload (``.npz`` or ``.csv``) into the canonical stored form: an ``.npz`` of
``x`` (float32 ``[N, *sample_shape]``) and ``y`` (int64 ``[N]`` class indices, else float32).

Nothing is ever unpickled: ``.npz`` members are read with ``allow_pickle=False`` after their
headers are checked, so an object array, or one larger than the limits, is refused before any of
its data is read. An ``.npz`` whose zip directory lists more than ``MAX_NPZ_ENTRIES`` entries is
refused from its end-of-directory record, before the directory is read. A CSV is counted while it is
parsed: it stops at the first row past the row limit or the value limit (samples x columns), so no
more of it is held. Every refusal is an ``UploadError`` whose message says what to change.

    ValueError
    └── UploadError      an upload that cannot become a data set
"""

from __future__ import annotations

import csv
import io
import math
import zipfile
from array import array
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import IO, Any

import numpy as np

from worker.data.raw import as_features, as_labels

#: Upload limits (the service may pass tighter ones): samples, and values per sample.
MAX_ROWS = 1_000_000
MAX_FEATURES = 100_000
MAX_VALUES = 10_000_000
#: Most entries an ``.npz``'s zip directory may list (``numpy.savez`` writes one per array), and most bytes
#: that directory may take: reading a directory of a million entries takes about a minute.
MAX_NPZ_ENTRIES = 64
MAX_NPZ_DIRECTORY_BYTES = MAX_NPZ_ENTRIES * 1024
#: Names a CSV label column may have when the upload does not name one (compared case-insensitively).
DEFAULT_LABEL_COLUMNS = ("label", "y", "target")
#: CSV cells read as a missing value (NaN), compared case-insensitively after stripping spaces.
MISSING_CELLS = frozenset({"", "nan", "na", "n/a", "null", "none"})
#: Array kinds accepted in an ``.npz``: bool, signed and unsigned integers, floats.
NUMERIC_KINDS = "biuf"


class UploadError(ValueError):
    """An upload that cannot become a data set; the message says what to change."""


def _check_header(f: IO[bytes], key: str, max_rows: int, max_features: int) -> tuple[int, ...]:
    """Read one ``.npy`` member's header and refuse a non-numeric or oversized array; its shape."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(f)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    else:
        raise UploadError(f"array {key!r} uses .npy format {version}; save it with numpy.savez")
    if dtype.hasobject:
        raise UploadError(
            f"array {key!r} holds Python objects (a pickled array), which are never loaded; "
            f"save it as numbers, e.g. np.savez(f, {key}={key}.astype(np.float32))"
        )
    if dtype.kind not in NUMERIC_KINDS:
        raise UploadError(f"array {key!r} has dtype {dtype}; it must be numeric (bool, int or float)")
    if not shape:
        raise UploadError(f"array {key!r} is a single number; it needs one entry per sample")
    if shape[0] > max_rows:
        raise UploadError(f"array {key!r} has {shape[0]} samples; the limit is {max_rows}")
    per_sample = math.prod(shape[1:])
    if per_sample > max_features:
        raise UploadError(
            f"array {key!r} has {per_sample} values per sample (shape {list(shape)}); the limit is {max_features}"
        )
    return tuple(shape)


def check_zip_directory(content: bytes) -> None:
    """Refuse a zip whose end-of-directory record lists more than ``MAX_NPZ_ENTRIES`` entries or a directory
    over ``MAX_NPZ_DIRECTORY_BYTES``, before ``zipfile`` reads that directory; no record: left to ``zipfile``."""
    # zipfile's own reader of the end record (zip64 included); it reads only the file's last 64 KiB.
    end = zipfile._EndRecData(io.BytesIO(content))  # type: ignore[attr-defined]
    if not end:
        return
    entries, directory_bytes = int(end[zipfile._ECD_ENTRIES_TOTAL]), int(end[zipfile._ECD_SIZE])  # type: ignore[attr-defined]
    if entries > MAX_NPZ_ENTRIES or directory_bytes > MAX_NPZ_DIRECTORY_BYTES:
        raise UploadError(
            f"the .npz lists {entries} entries in {directory_bytes} bytes of zip directory; an .npz may hold at "
            f"most {MAX_NPZ_ENTRIES} arrays (save only x and y: np.savez(f, x=x, y=y))"
        )


def read_npz(
    content: bytes, max_rows: int = MAX_ROWS, max_features: int = MAX_FEATURES
) -> tuple[np.ndarray, np.ndarray]:
    """The raw ``x`` and ``y`` arrays of an ``.npz``, checked (numeric, within limits, same N)."""
    check_zip_directory(content)
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
    except zipfile.BadZipFile as exc:
        raise UploadError("the file is not an .npz archive (a zip of .npy arrays, from numpy.savez)") from exc
    arrays: dict[str, np.ndarray] = {}
    with archive:
        names = archive.namelist()
        for key in ("x", "y"):
            if f"{key}.npy" not in names:
                found = ", ".join(n.removesuffix(".npy") for n in names) or "none"
                raise UploadError(
                    f"the .npz has no array {key!r} (it has: {found}); save it with np.savez(f, x=x, y=y)"
                )
            try:
                with archive.open(f"{key}.npy") as f:
                    _check_header(f, key, max_rows, max_features)
                with archive.open(f"{key}.npy") as f:
                    arrays[key] = np.lib.format.read_array(f, allow_pickle=False)
            except UploadError:
                raise
            except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
                raise UploadError(f"array {key!r} cannot be read: {exc}") from exc
    x, y = arrays["x"], arrays["y"]
    if y.ndim > 2:
        raise UploadError(f"array 'y' has shape {list(y.shape)}; it must be [N] or [N, k]")
    if x.shape[0] != y.shape[0]:
        raise UploadError(f"x has {x.shape[0]} samples but y has {y.shape[0]}; they must match")
    if x.shape[0] == 0:
        raise UploadError("the arrays hold no samples")
    if x.ndim > 1 and math.prod(x.shape[1:]) == 0:
        raise UploadError(f"array 'x' has shape {list(x.shape)}: no values per sample")
    return x, y


def _cell(text: str, line: int, column: str) -> float:
    """One CSV cell as a float; a missing cell is NaN."""
    text = text.strip()
    if text.lower() in MISSING_CELLS:
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise UploadError(f"line {line}, column {column!r}: {text[:40]!r} is not a number") from None


def _label_index(header: list[str], label_column: str | None) -> int:
    """Which column holds the labels: ``label_column``, else the first of the default names."""
    columns = ", ".join(header[:50]) + (", ..." if len(header) > 50 else "")
    if label_column is not None:
        if label_column not in header:
            raise UploadError(f"label column {label_column!r} is not in the CSV header; the columns are: {columns}")
        return header.index(label_column)
    lowered = [h.lower() for h in header]
    for name in DEFAULT_LABEL_COLUMNS:
        if name in lowered:
            return lowered.index(name)
    raise UploadError(
        f"no label column: name one with label_column, or call it 'label', 'y' or 'target'; the columns are: {columns}"
    )


def _rows(reader: Any) -> Iterator[list[str]]:
    """The rows of a ``csv.reader``; what the csv module cannot read (a cell over its field limit, a NUL
    byte) becomes an ``UploadError`` naming the line."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            hint = f"; a cell may hold at most {csv.field_size_limit()} characters" if "field limit" in str(exc) else ""
            raise UploadError(f"line {max(reader.line_num, 1)} of the CSV cannot be read: {exc}{hint}") from None
        yield row


def read_csv(
    content: bytes,
    label_column: str | None = None,
    max_rows: int = MAX_ROWS,
    max_features: int = MAX_FEATURES,
    max_values: int = MAX_VALUES,
) -> tuple[np.ndarray, np.ndarray]:
    """``x`` ``[N, F]`` and ``y`` ``[N]`` (float64) from a CSV with a header row; at most ``max_rows`` rows
    and ``max_values`` feature values (rows x feature columns), counted while parsing."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UploadError(f"the CSV is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    # newline="": the csv module itself splits lines, so \n, \r\n and \r alone all end a row
    reader = csv.reader(io.StringIO(text, newline=""))
    rows = _rows(reader)
    header = next((row for row in rows if row), None)
    if header is None:
        raise UploadError("the CSV is empty; it needs a header row and one row per sample")
    header = [h.strip() for h in header]
    if all(_is_number(h) for h in header):
        raise UploadError("the first CSV row holds numbers; it must be a header naming the columns, e.g. x1,x2,label")
    if len(set(header)) != len(header):
        twice = sorted({h for h in header if header.count(h) > 1})
        raise UploadError(f"the CSV header names columns more than once: {', '.join(twice)}")
    if len(header) < 2:
        raise UploadError("the CSV needs at least one feature column besides the label column")
    features = len(header) - 1
    if features > max_features:
        raise UploadError(
            f"the CSV has {features} feature columns; the limit is {max_features} (LOSSDOCTOR_MAX_DATASET_FEATURES)"
        )
    label = _label_index(header, label_column)
    values = array("d")  # the cells row after row, 8 bytes each
    n_rows = 0
    for row in rows:
        if not row:
            continue
        line = reader.line_num
        if len(row) != len(header):
            raise UploadError(f"line {line} has {len(row)} cells but the header has {len(header)} columns")
        if n_rows == max_rows:
            raise UploadError(
                f"the CSV has more than {max_rows} rows; the limit is {max_rows} (LOSSDOCTOR_MAX_DATASET_ROWS)"
            )
        if (n_rows + 1) * features > max_values:
            raise UploadError(
                f"the CSV has more than {max_values} values (line {line}: {n_rows + 1} rows x {features} "
                f"feature columns); the limit is {max_values} (LOSSDOCTOR_MAX_DATASET_VALUES)"
            )
        values.extend(_cell(cell, line, header[j]) for j, cell in enumerate(row))
        n_rows += 1
    if not n_rows:
        raise UploadError("the CSV has a header but no data rows")
    table = np.frombuffer(values, dtype=np.float64).reshape(n_rows, len(header))
    return np.delete(table, label, axis=1), table[:, label].copy()


def _is_number(text: str) -> bool:
    """Whether a header cell reads as a number (a sign the header row is missing)."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def parse_upload(
    filename: str,
    content: bytes,
    label_column: str | None = None,
    max_rows: int = MAX_ROWS,
    max_features: int = MAX_FEATURES,
    max_values: int = MAX_VALUES,
) -> tuple[bytes, dict]:
    """The canonical ``.npz`` bytes of an upload and its description.

    The description: ``{"n_samples", "x_shape", "y_shape", "x_dtype", "y_dtype"}``, shapes as
    lists including N.
    """
    suffix = PurePosixPath(filename.replace("\\", "/")).suffix.lower()
    if suffix == ".npz":
        if label_column is not None:
            raise UploadError("label_column applies only to .csv uploads; an .npz holds y itself")
        x, y = read_npz(content, max_rows, max_features)
    elif suffix == ".csv":
        x, y = read_csv(content, label_column, max_rows, max_features, max_values)
    else:
        raise UploadError(f"cannot read {filename!r}: upload a .npz (arrays x and y) or a .csv with a header")
    x, y = as_features(x), as_labels(y)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, x=x, y=y)
    description = {
        "n_samples": int(x.shape[0]),
        "x_shape": [int(d) for d in x.shape],
        "y_shape": [int(d) for d in y.shape],
        "x_dtype": str(x.dtype),
        "y_dtype": str(y.dtype),
    }
    return buffer.getvalue(), description
