"""schemathesis against the app's own OpenAPI, in process over the in-memory store and queue.

For every operation, a bounded number of generated requests (valid and invalid): no answer is a 5xx,
and every answer (status, content type, headers, body) is one the OpenAPI document describes.

Two checks are left out. ``positive_data_acceptance`` expects every schema-valid body to be accepted, but
a spec can fit the schema field by field and still not run on its data (a model whose output does not
fit the labels); the contract answers that with a ``422`` naming the field. ``negative_data_rejection``
expects every schema-invalid body to be refused, but the schema says less than the models check and
the other way round (a whole number is a valid float; a field's own rules such as ``a < b`` are not in
the schema).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

sys.path.insert(0, str(Path(__file__).resolve().parent))  # service_fakes, when collected from the repo root

from run_fakes import MemoryRunStore  # noqa: E402
from service_fakes import MemoryJobQueue, MemoryJobStore  # noqa: E402

from service.core.config import Settings  # noqa: E402
from service.core.security import new_key  # noqa: E402
from service.main import create_app  # noqa: E402

#: Generated requests per operation; small, so the whole run stays within seconds. Derandomized, so the
#: suite is repeatable; set LOSSDOCTOR_FUZZ_EXAMPLES (and LOSSDOCTOR_FUZZ_RANDOM=1) to search harder.
MAX_EXAMPLES = int(os.environ.get("LOSSDOCTOR_FUZZ_EXAMPLES", "25"))
DERANDOMIZE = os.environ.get("LOSSDOCTOR_FUZZ_RANDOM") != "1"
KEY, ENTRY = new_key("fuzz")
AUTH = {"Authorization": f"Bearer {KEY}"}

queue = MemoryJobQueue()
queue.heartbeats["fuzz-worker"] = 1.0  # a live worker, so /readyz answers 200
app = create_app(
    Settings(
        sweeper=False,
        api_keys=ENTRY,
        max_upload_bytes=100_000,
        max_dataset_rows=2_000,
        max_dataset_values=100_000,
        max_model_parameters=100_000,
        max_sample_epochs=1_000_000,
    ),
    store=MemoryJobStore(),
    queue=queue,  # type: ignore[arg-type]
    run_store=MemoryRunStore(),
)
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=DERANDOMIZE,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_5xx_and_every_answer_matches_the_schema(case: Any) -> None:
    case.call_and_validate(headers=AUTH, excluded_checks=[positive_data_acceptance, negative_data_rejection])
