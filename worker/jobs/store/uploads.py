"""Uploaded data sets (canonical .npz bytes) and ONNX models, each with its metadata, for a time."""

from __future__ import annotations

import json
import uuid
from typing import Any

from worker.jobs.store.base import (
    DEFAULT_OWNER,
    StoreBase,
    dumps,
    is_dataset_id,
    is_model_id,
    now_iso,
)


class Uploads(StoreBase):
    """Data sets and models by id (checked) and owner."""

    def put_dataset(
        self, content: bytes, description: dict[str, Any], *, owner: str = DEFAULT_OWNER, ttl_seconds: int
    ) -> dict[str, Any]:
        """Store canonical .npz bytes and their description for ``ttl_seconds``; returns the metadata."""
        dataset_id = "ds_" + uuid.uuid4().hex[:24]
        meta = {"id": dataset_id, "owner": owner, "created_at": now_iso(), **description}
        with self.redis.pipeline() as pipe:
            pipe.set(self._key("dataset", dataset_id), content, ex=ttl_seconds)
            pipe.set(self._key("dataset", dataset_id, "meta"), dumps(meta), ex=ttl_seconds)
            pipe.execute()
        return meta

    def get_dataset_meta(self, dataset_id: str, owner: str | None = None) -> dict[str, Any] | None:
        """A data set's metadata, or None (absent, expired, not a data set id, or another owner's)."""
        if not is_dataset_id(dataset_id):
            return None
        raw = self.redis.get(self._key("dataset", dataset_id, "meta"))
        meta: dict[str, Any] | None = json.loads(raw) if raw is not None else None
        if meta is None or (owner is not None and meta.get("owner") != owner):
            return None
        return meta

    def get_dataset_bytes(self, dataset_id: str, owner: str | None = None) -> bytes | None:
        """A data set's canonical .npz bytes, or None (absent, expired, or another owner's)."""
        if self.get_dataset_meta(dataset_id, owner) is None:
            return None
        content = self.redis.get(self._key("dataset", dataset_id))
        return content if isinstance(content, bytes) else None

    def put_model(
        self, content: bytes, description: dict[str, Any], *, owner: str = DEFAULT_OWNER, ttl_seconds: int
    ) -> dict[str, Any]:
        """Store an accepted ONNX file and its description for ``ttl_seconds``; returns the metadata."""
        model_id = "mdl_" + uuid.uuid4().hex[:24]
        meta = {"id": model_id, "owner": owner, "created_at": now_iso(), **description}
        with self.redis.pipeline() as pipe:
            pipe.set(self._key("model", model_id), content, ex=ttl_seconds)
            pipe.set(self._key("model", model_id, "meta"), dumps(meta), ex=ttl_seconds)
            pipe.execute()
        return meta

    def get_model_meta(self, model_id: str, owner: str | None = None) -> dict[str, Any] | None:
        """A model's metadata, or None (absent, expired, not a model id, or another owner's)."""
        if not is_model_id(model_id):
            return None
        raw = self.redis.get(self._key("model", model_id, "meta"))
        meta: dict[str, Any] | None = json.loads(raw) if raw is not None else None
        if meta is None or (owner is not None and meta.get("owner") != owner):
            return None
        return meta

    def get_model_bytes(self, model_id: str, owner: str | None = None) -> bytes | None:
        """A model's ONNX bytes, or None (absent, expired, or another owner's)."""
        if self.get_model_meta(model_id, owner) is None:
            return None
        content = self.redis.get(self._key("model", model_id))
        return content if isinstance(content, bytes) else None

    def get_upload_bytes(self, upload_id: str, owner: str | None = None) -> bytes | None:
        """An upload's bytes by id: a model for ``mdl_…``, else a data set (the engine's one fetch seam)."""
        if upload_id.startswith("mdl_"):
            return self.get_model_bytes(upload_id, owner)
        return self.get_dataset_bytes(upload_id, owner)
