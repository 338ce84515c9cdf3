"""Load a job's data from its source, then apply the spec's per-sample ``shape``."""

from __future__ import annotations

from worker.contract.spec import BuiltinData, DatasetRef, DataSpec, InlineData, SyntheticData
from worker.data.builtin import load_builtin
from worker.data.dataset import FetchUpload, load_dataset
from worker.data.inline import load_inline
from worker.data.raw import RawData, reshape_samples
from worker.data.synthetic import load_synthetic


def load(data: DataSpec, fetch_upload: FetchUpload | None = None) -> RawData:
    """The data set as given: x float32 ``[N, *sample_shape]`` (reshaped by ``data.shape``), y labels."""
    match data:
        case BuiltinData():
            raw = load_builtin(data)
        case SyntheticData():
            raw = load_synthetic(data)
        case InlineData():
            raw = load_inline(data)
        case DatasetRef():
            raw = load_dataset(data, fetch_upload)
        case _:
            raise TypeError(f"unknown data source {type(data).__name__}")
    return RawData(x=reshape_samples(raw.x, data.shape), y=raw.y)
