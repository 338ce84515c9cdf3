"""lossdoctor: the ``lossdoctor`` command (``up``, ``api``, ``worker``, ``redis``, ``diagnose``, ``submit``,
``status``, ``cancel``, ``list``, ``curves``), the HTTP ``Client``, the training-loop ``Monitor`` and
``export_model``, which writes a PyTorch module as the ONNX file ``POST /v1/models`` takes.

The package's attributes load on first use (PEP 562), so ``import lossdoctor`` costs nothing:
``lossdoctor.Client`` imports httpx and pydantic only, ``lossdoctor.Monitor`` and
``lossdoctor.export_model`` import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lossdoctor.client import Client
    from lossdoctor.errors import LossdoctorError
    from lossdoctor.export import export_model
    from lossdoctor.monitor import Monitor

__all__ = ["Client", "LossdoctorError", "Monitor", "export_model"]

#: Public name → the module that defines it.
_LAZY = {
    "Client": "lossdoctor.client",
    "LossdoctorError": "lossdoctor.errors",
    "Monitor": "lossdoctor.monitor",
    "export_model": "lossdoctor.export",
}


def __getattr__(name: str) -> Any:
    """Import a public name from its module on first access."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lossdoctor' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
