"""The ``lossdoctor`` command: ``up``, ``api``, ``worker``, ``redis`` and ``diagnose``; and
``lossdoctor.export_model``, which writes a PyTorch module as the ONNX file ``POST /v1/models`` takes
(imported on first use, so the command never imports torch for it)."""

from __future__ import annotations

from typing import Any

__all__ = ["export_model"]


def __getattr__(name: str) -> Any:
    if name == "export_model":
        from lossdoctor.export import export_model

        return export_model
    raise AttributeError(f"module 'lossdoctor' has no attribute {name!r}")
