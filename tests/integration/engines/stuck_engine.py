"""A test engine that never returns and ignores ``should_stop``: what the hard time limit exists for."""

from __future__ import annotations

import time
from typing import Any


def run_job(spec: Any, **hooks: Any) -> dict[str, Any]:
    """Sleep forever, in short steps, so rq's time limit can interrupt it."""
    while True:
        time.sleep(0.1)
