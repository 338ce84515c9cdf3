"""An uploaded data set, fetched by id through the store's seam and read without unpickling."""

from __future__ import annotations

from collections.abc import Callable

from worker.contract.errors import DataUnavailable
from worker.contract.spec import DatasetRef
from worker.data.raw import RawData, as_features, as_labels
from worker.data.upload import UploadError, read_npz

#: The store's seam: the canonical ``.npz`` bytes of an upload by id, or ``None`` when unknown.
FetchUpload = Callable[[str], bytes | None]


def load_dataset(data: DatasetRef, fetch_upload: FetchUpload | None) -> RawData:
    """Load the uploaded data set ``data.id``; ``DataUnavailable`` when it is missing or unreadable."""
    content = fetch_upload(data.id) if fetch_upload is not None else None
    if content is None:
        raise DataUnavailable(("data", "id"), f"no uploaded data set with id {data.id!r}")
    try:
        x, y = read_npz(content)
    except UploadError as exc:
        raise DataUnavailable(("data", "id"), f"uploaded data set {data.id!r} cannot be read: {exc}") from exc
    return RawData(x=as_features(x), y=as_labels(y))
