"""Streams a monitor's step records to ``/v1/runs/{id}/telemetry`` from a background thread, in chunks.

The training loop never waits on the network: ``add`` only queues a record. A chunk goes out once
``chunk_steps`` records are waiting or ``flush_seconds`` passed since the last one; ``flush`` sends the
rest and waits. A chunk the service cannot take is retried by the client (the service ignores steps it
already has, so a retry never counts twice); one that still fails is dropped, counted and logged, and
training goes on.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from lossdoctor.client import Client
from lossdoctor.errors import LossdoctorError

#: Records per telemetry request by default.
CHUNK_STEPS = 50
#: Longest time (s) a record waits before it is sent with a smaller chunk.
FLUSH_SECONDS = 5.0

log = logging.getLogger("lossdoctor.monitor")

_FLUSH = object()


class TelemetrySender:
    """One background thread that posts a run's records in order."""

    def __init__(
        self, client: Client, run_id: str, *, chunk_steps: int = CHUNK_STEPS, flush_seconds: float = FLUSH_SECONDS
    ) -> None:
        self.client, self.run_id = client, run_id
        self.chunk_steps, self.flush_seconds = chunk_steps, flush_seconds
        self.sent = self.dropped = 0
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=f"lossdoctor-telemetry-{run_id}", daemon=True)
        self._thread.start()

    def add(self, record: dict[str, Any]) -> None:
        """Queue one step record for sending."""
        self._queue.put(record)

    def flush(self, timeout: float = 30.0) -> None:
        """Send every queued record now and wait (at most ``timeout`` s) until they are out."""
        done = threading.Event()
        self._queue.put((_FLUSH, done))
        done.wait(timeout)

    def _send(self, chunk: list[dict[str, Any]]) -> None:
        if not chunk:
            return
        try:
            self.client.append_telemetry(self.run_id, chunk)
            self.sent += len(chunk)
        except LossdoctorError as exc:
            self.dropped += len(chunk)
            log.warning(
                "telemetry of steps %d-%d for run %s was not stored: %s",
                chunk[0]["step"],
                chunk[-1]["step"],
                self.run_id,
                exc,
            )
        chunk.clear()

    def _run(self) -> None:
        chunk: list[dict[str, Any]] = []
        oldest = time.monotonic()
        while True:
            wait = max(0.05, self.flush_seconds - (time.monotonic() - oldest)) if chunk else None
            try:
                item = self._queue.get(timeout=wait)
            except queue.Empty:
                self._send(chunk)
                continue
            if isinstance(item, tuple) and item[0] is _FLUSH:
                self._send(chunk)
                item[1].set()
                continue
            if not chunk:
                oldest = time.monotonic()
            chunk.append(item)
            if len(chunk) >= self.chunk_steps:
                self._send(chunk)
