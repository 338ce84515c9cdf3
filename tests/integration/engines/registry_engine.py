"""A test engine whose behaviour the spec's ``name`` picks, so one worker can end jobs every way.

"fails"   raises SpecError: the job ends ``failed`` (``spec_error``) without the task raising
"waits"   waits for ``should_stop`` (a cancel), then raises the engine's ``Cancelled``
"stuck"   never returns and ignores ``should_stop``, so only a kill of its horse ends it
anything else runs the real engine
"""

from __future__ import annotations

import time
from typing import Any

from worker.contract.errors import Cancelled, SpecError
from worker.engine.job import run_job as real_run_job


def run_job(spec: Any, **hooks: Any) -> dict[str, Any]:
    """Fail, wait for a cancel, hang, or run the real engine, as ``spec.name`` says."""
    if spec.name == "fails":
        raise SpecError(("data",), "the test engine refuses this spec")
    if spec.name == "waits":
        while not hooks["should_stop"]():
            time.sleep(0.05)
        raise Cancelled()
    if spec.name == "stuck":
        while True:
            time.sleep(0.1)
    return real_run_job(spec, **hooks)
