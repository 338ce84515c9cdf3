"""schemathesis against the app's own OpenAPI, in process over the in-memory store and queue.

For every operation, a bounded number of generated requests (valid and invalid): no answer is a 5xx,
and every answer (status, content type, headers, body) is one the OpenAPI document describes.

Every check runs, ``positive_data_acceptance`` (a schema-valid request is accepted) and
``negative_data_rejection`` (a schema-invalid one is refused) included. One allowance is left, because the
service cannot remove it: a schema-valid request may still be refused with ``422`` or ``413``. A spec can fit
the schema field by field and still not run: an uploaded data set or model id that does not exist (or
belongs to another tenant), a model whose output does not fit the labels, sizes past the limits that the
settings set at run time; the contract answers those with a ``422`` naming the field (a ``413`` for a body
past its limit), and no JSON Schema can say them. So that this allowance hides no schema bug,
``schema_valid_is_not_a_schema_error`` checks that such a ``422`` never carries an error of a kind the schema
could have said (a missing or unknown field, a wrong type, a value out of its declared range): when it
does, the OpenAPI document and the models disagree, which the service can and must fix. One kind is let
through there, with its reason at ``SCHEMA_ERROR_TYPES``: ``int_type`` for a whole number written ``2.0``.

Two kinds of generated "invalid" request are not made (``allow_extra_parameters``, ``with_security_parameters``
off): an unknown query parameter, which the service ignores as HTTP services do, and a request without its
key, since the test always sends one (``tests/service/test_service_auth.py`` covers the ``401``s).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings

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
# Query parameters the service does not know are ignored, as HTTP services do (a cache-buster, a tracking
# tag), so a request is not "schema-violating" for carrying one; and the test sends its own Authorization,
# so a case that leaves the key out to make a request invalid would be sent with it anyway.
schema.config.generation.update(allow_extra_parameters=False, with_security_parameters=False)
_positive = schema.config.checks.positive_data_acceptance
_positive.expected_statuses = [*_positive.expected_statuses, "413", "422"]

#: pydantic error types that a JSON Schema states: a schema-valid body must never get one of them.
SCHEMA_ERROR_TYPES = frozenset(
    {
        "missing",
        "extra_forbidden",
        "string_type",
        # not "int_type": JSON Schema counts 2.0 as an integer, the models refuse it on purpose (values are
        # never coerced, README "Using it"); no schema keyword can say "an integer written without .0", so
        # the service cannot make the two agree short of changing that rule of the contract
        "float_type",
        "bool_type",
        "list_type",
        "dict_type",
        "model_type",
        "literal_error",
        "enum",
        "greater_than",
        "greater_than_equal",
        "less_than",
        "less_than_equal",
        "too_short",
        "too_long",
        "string_too_short",
        "string_too_long",
        "string_pattern_mismatch",
        "union_tag_invalid",
        "union_tag_not_found",
        "json_invalid",
    }
)


@schemathesis.check
def schema_valid_is_not_a_schema_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """A schema-valid request refused with 422 names only errors the schema cannot state."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 422:
        return None
    errors = response.json().get("errors") or []
    said = sorted({str(e.get("type")) for e in errors} & SCHEMA_ERROR_TYPES)
    assert not said, f"a schema-valid request got schema errors {said}: the OpenAPI document and the models disagree"
    return None


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=DERANDOMIZE,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_5xx_and_every_answer_matches_the_schema(case: Any) -> None:
    case.call_and_validate(headers=AUTH, additional_checks=[schema_valid_is_not_a_schema_error])
