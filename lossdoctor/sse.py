"""Server-Sent Events read from lines of text (the WHATWG ``text/event-stream`` format).

Only what the client needs: ``id``, ``event`` and ``data`` fields (several ``data`` lines joined by a
newline), comments (lines starting with ``:``, used as keep-alives) skipped, an event dispatched at a
blank line. ``data`` that is JSON is parsed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ServerEvent:
    """One dispatched event: its ``id`` (the job event's seq), ``event`` name and ``data`` (parsed JSON, or text)."""

    id: str | None
    event: str
    data: Any


def _parse(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def read_events(lines: Iterable[str]) -> Iterator[ServerEvent]:
    """The events in ``lines`` (each without its line break), in order; an unfinished last event is dropped."""
    event_id: str | None = None
    name, data = "", list[str]()
    for line in lines:
        if line == "":
            if data:
                yield ServerEvent(event_id, name or "message", _parse("\n".join(data)))
            name, data = "", list[str]()
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data":
            data.append(value)
        elif field == "event":
            name = value
        elif field == "id" and "\0" not in value:
            event_id = value
