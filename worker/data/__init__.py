"""Data sources for a job: built-in, synthetic, inline and uploaded data sets, used as given.

Torch-free (numpy and scikit-learn only) so that the HTTP service can import it.
"""

from worker.data.dataset import FetchUpload
from worker.data.load import load
from worker.data.raw import RawData
from worker.data.split import Split, split, split_sizes
from worker.data.upload import UploadError, parse_upload

__all__ = ["FetchUpload", "RawData", "Split", "UploadError", "load", "parse_upload", "split", "split_sizes"]
