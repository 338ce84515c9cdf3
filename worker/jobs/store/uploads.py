"""Uploaded data sets (canonical .npz bytes) and ONNX models, each with its metadata, for a time.

Both kinds are kept the same way: ``<kind>:<id>`` holds the bytes and ``<kind>:<id>:meta`` the JSON
description, both expiring together; ids are ``ds_``/``mdl_`` and 24 hex digits, checked on every read.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from worker.jobs.store.base import (
    DEFAULT_OWNER,
    StoreBase,
    dumps,
    is_dataset_id,
    is_model_id,
    now_iso,
)

#: Per kind of upload: the id prefix and the check an id from outside must pass.
KINDS: dict[str, tuple[str, Callable[[str], bool]]] = {
    "dataset": ("ds_", is_dataset_id),
    "model": ("mdl_", is_model_id),
}


class Uploads(StoreBase):
    """Data sets and models by id (checked) and owner."""

    def _put(self, kind: str, content: bytes, description: dict[str, Any], owner: str, ttl: int) -> dict[str, Any]:
        upload_id = KINDS[kind][0] + uuid.uuid4().hex[:24]
        meta = {"id": upload_id, "owner": owner, "created_at": now_iso(), **description}
        with self.redis.pipeline() as pipe:
            pipe.set(self._key(kind, upload_id), content, ex=ttl)
            pipe.set(self._key(kind, upload_id, "meta"), dumps(meta), ex=ttl)
            pipe.execute()
        return meta

    def _meta(self, kind: str, upload_id: str, owner: str | None) -> dict[str, Any] | None:
        if not KINDS[kind][1](upload_id):
            return None
        raw = self.redis.get(self._key(kind, upload_id, "meta"))
        meta: dict[str, Any] | None = json.loads(raw) if raw is not None else None
        if meta is None or (owner is not None and meta.get("owner") != owner):
            return None
        return meta

    def _bytes(self, kind: str, upload_id: str, owner: str | None) -> bytes | None:
        if self._meta(kind, upload_id, owner) is None:
            return None
        content = self.redis.get(self._key(kind, upload_id))
        return content if isinstance(content, bytes) else None

    def put_dataset(
        self, content: bytes, description: dict[str, Any], *, owner: str = DEFAULT_OWNER, ttl_seconds: int
    ) -> dict[str, Any]:
        """Store canonical .npz bytes and their description for ``ttl_seconds``; returns the metadata."""
        return self._put("dataset", content, description, owner, ttl_seconds)

    def get_dataset_meta(self, dataset_id: str, owner: str | None = None) -> dict[str, Any] | None:
        """A data set's metadata, or None (absent, expired, not a data set id, or another owner's)."""
        return self._meta("dataset", dataset_id, owner)

    def get_dataset_bytes(self, dataset_id: str, owner: str | None = None) -> bytes | None:
        """A data set's canonical .npz bytes, or None (absent, expired, or another owner's)."""
        return self._bytes("dataset", dataset_id, owner)

    def put_model(
        self, content: bytes, description: dict[str, Any], *, owner: str = DEFAULT_OWNER, ttl_seconds: int
    ) -> dict[str, Any]:
        """Store an accepted ONNX file and its description for ``ttl_seconds``; returns the metadata."""
        return self._put("model", content, description, owner, ttl_seconds)

    def get_model_meta(self, model_id: str, owner: str | None = None) -> dict[str, Any] | None:
        """A model's metadata, or None (absent, expired, not a model id, or another owner's)."""
        return self._meta("model", model_id, owner)

    def get_model_bytes(self, model_id: str, owner: str | None = None) -> bytes | None:
        """A model's ONNX bytes, or None (absent, expired, or another owner's)."""
        return self._bytes("model", model_id, owner)

    def get_upload_bytes(self, upload_id: str, owner: str | None = None) -> bytes | None:
        """An upload's bytes by id: a model for ``mdl_…``, else a data set (the engine's one fetch seam)."""
        if upload_id.startswith(KINDS["model"][0]):
            return self.get_model_bytes(upload_id, owner)
        return self.get_dataset_bytes(upload_id, owner)
