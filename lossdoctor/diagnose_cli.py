"""``lossdoctor diagnose SPEC.json``: run a job in-process, without Redis, and print the job as JSON.

Progress goes to stderr; exit code 0 with the job object on stdout, 2 with the validation
message on stderr for a bad spec, 1 when the job itself failed.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from worker.contract.errors import SpecError
from worker.contract.spec import JobSpec

log = logging.getLogger("lossdoctor.diagnose")


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _progress(event: dict[str, Any]) -> None:
    if event.get("type") == "probe_finished":
        log.info(
            "probe %s done (%s/%s), final loss %s",
            event["probe"],
            event["done"],
            event["total"],
            event.get("final_loss"),
        )
    else:
        log.info("%s", event.get("type"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lossdoctor diagnose", description=__doc__.split("\n\n")[0])
    parser.add_argument("spec", type=Path, help="a job spec as JSON (see CONTRACT.md)")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s"
    )
    try:
        payload = json.loads(args.spec.read_text())
    except (OSError, ValueError) as exc:
        print(f"cannot read {args.spec}: {exc}", file=sys.stderr)
        return 2
    try:
        spec = JobSpec.model_validate(payload)
    except ValidationError as exc:
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"])
            print(f"invalid spec: {loc}: {err['msg']}", file=sys.stderr)
        return 2
    from worker.engine.job import run_job  # torch is imported only once the spec is valid

    job: dict[str, Any] = {
        "id": uuid.uuid4().hex,
        "name": spec.name,
        "status": "running",
        "spec": spec.model_dump(mode="json"),
        "created_at": _now(),
        "started_at": _now(),
    }
    try:
        job["result"] = run_job(spec, on_event=_progress).as_json()
        job["status"] = "succeeded"
    except SpecError as exc:
        print(f"invalid spec: {'.'.join(str(p) for p in exc.loc)}: {exc.message}", file=sys.stderr)
        return 2
    except Exception as exc:  # a broken job is reported, not a traceback on stdout
        log.exception("job failed")
        job.update(status="failed", error={"type": type(exc).__name__, "message": str(exc)})
        json.dump(job, sys.stdout)
        print()
        return 1
    job["finished_at"] = _now()
    json.dump(job, sys.stdout, allow_nan=False)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
