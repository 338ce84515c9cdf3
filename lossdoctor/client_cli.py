"""The client's subcommands of ``lossdoctor``: ``submit``, ``status``, ``cancel``, ``list``, ``curves``.

They speak to a running service over HTTP (``--url``, else ``LOSSDOCTOR_URL``, else http://127.0.0.1:8000;
``--key``, else ``LOSSDOCTOR_API_KEY``) and import only the client (httpx, pydantic), never torch.
Results go to stdout, progress and errors to stderr. Exit codes, for scripts and CI:

    0  done: submitted (without --wait), or the job succeeded and its run is healthy
    1  the service could not be reached or refused the request (auth, not found, conflict, 5xx)
    2  bad usage or a bad spec: unreadable or invalid JSON, or the service refused it (400, 415, 422)
    3  the job succeeded and its diagnosis is not healthy: a cause (or findings that could not decide)
    4  the job failed or was cancelled
    5  --wait gave up before the job ended (--timeout)
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from lossdoctor.client import Client
from lossdoctor.errors import WAIT_TIMEOUT, LossdoctorError
from lossdoctor.models import Diagnosis, Job

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_CAUSE, EXIT_FAILED, EXIT_TIMEOUT = 0, 1, 2, 3, 4, 5
#: Problem statuses that mean the request itself was bad (exit ``EXIT_USAGE``).
USAGE_STATUSES = frozenset({400, 413, 415, 422})
#: Seconds ``submit --wait`` waits by default.
DEFAULT_WAIT_SECONDS = 600.0

log = logging.getLogger("lossdoctor")


def add_connection(parser: argparse.ArgumentParser) -> None:
    """``--url`` and ``--key``, shared by every client subcommand."""
    parser.add_argument("--url", default=None, help="the service (default: LOSSDOCTOR_URL or http://127.0.0.1:8000)")
    parser.add_argument("--key", default=None, help="API key (default: LOSSDOCTOR_API_KEY)")


def add_parsers(sub: Any) -> None:
    """Register the client subcommands on ``sub`` (the parser's ``add_subparsers()``)."""
    s = sub.add_parser("submit", help="submit a job spec to the service; --wait for its diagnosis")
    s.add_argument("spec", help="the job spec, a JSON file ('-' reads stdin)")
    s.add_argument("--wait", action="store_true", help="wait for the job; print its cause, fix and report link")
    s.add_argument("--timeout", type=float, default=DEFAULT_WAIT_SECONDS, help="seconds --wait waits (default 600)")
    s.add_argument("--json", action="store_true", help="print the job as JSON instead of words")
    add_connection(s)
    st = sub.add_parser("status", help="print a job's status (and its diagnosis once it ended)")
    st.add_argument("job_id")
    st.add_argument("--json", action="store_true", help="print the job as JSON")
    add_connection(st)
    c = sub.add_parser("cancel", help="cancel a queued or running job")
    c.add_argument("job_id")
    add_connection(c)
    li = sub.add_parser("list", help="list your jobs, newest first")
    li.add_argument("--status", choices=["queued", "running", "succeeded", "failed", "cancelled"], default=None)
    li.add_argument("--limit", type=int, default=None, help="print at most this many jobs (default all)")
    li.add_argument("--json", action="store_true", help="one JSON job per line")
    add_connection(li)
    cu = sub.add_parser("curves", help="diagnose epoch losses from a TensorBoard directory, an MLflow run or a CSV")
    cu.add_argument(
        "path",
        help="a TensorBoard event directory (events.out.tfevents.*), an MLflow store (mlruns), "
        "run directory or tracking URI, or a CSV with a header (epoch,train_loss,val_loss)",
    )
    cu.add_argument("--run-id", default=None, help="the MLflow run (default: the store's only run)")
    cu.add_argument("--train-tag", default=None, help="the tag, metric or column of the train loss (default: picked)")
    cu.add_argument("--val-tag", default=None, help="the tag, metric or column of the validation loss")
    cu.add_argument("--n-classes", type=int, default=None, help="classes (chance = log(n_classes))")
    cu.add_argument("--chance-loss", type=float, default=None, help="the loss of the best constant prediction")
    cu.add_argument("--loss", default=None, help="the loss function's contract name, e.g. cross_entropy")
    cu.add_argument("--json", action="store_true", help="print the diagnosis as JSON")
    add_connection(cu)


def _client(args: argparse.Namespace) -> Client:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one INFO line per request would bury the progress
    return Client(args.url, args.key)


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _err(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _error_exit(exc: LossdoctorError) -> int:
    """Say what went wrong on stderr, each bad field on its own line; the matching exit code."""
    _err(f"lossdoctor: {exc}")
    for error in exc.errors:
        loc = ".".join(str(p) for p in error.get("loc", []))
        _err(f"  {loc}: {error.get('msg', '')}")
    if exc.status == WAIT_TIMEOUT and exc.title == "Wait timed out":
        return EXIT_TIMEOUT
    return EXIT_USAGE if exc.status in USAGE_STATUSES else EXIT_ERROR


def outcome(job: Job) -> int:
    """The exit code of an ended job: 0 healthy, 3 not healthy, 4 failed or cancelled."""
    if job.status != "succeeded":
        return EXIT_FAILED
    diagnosis = job.diagnosis
    return EXIT_OK if diagnosis is not None and diagnosis.healthy else EXIT_CAUSE


def describe_diagnosis(diagnosis: Diagnosis) -> list[str]:
    """The diagnosis in a few lines: the verdict, the primary finding's evidence and fix, the summary."""
    if diagnosis.healthy:
        return ["healthy: yes", f"summary: {diagnosis.summary}"]
    finding = diagnosis.primary
    if finding is None:
        lines = ["healthy: no", "cause: none decided (" + (diagnosis.verdict_basis or "symptoms") + ")"]
        lines += [f"candidate: {f.cause} ({f.confidence:.2f})" for f in diagnosis.findings]
        return [*lines, f"summary: {diagnosis.summary}"]
    confirmed = "confirmed" if finding.confirmed else "symptoms only"
    lines = ["healthy: no", f"cause: {finding.cause} (confidence {finding.confidence:.2f}, {confirmed})"]
    lines += [f"evidence: {e}" for e in finding.evidence]
    lines += [f"fix: {path} = {value}" for path, value in finding.fix.items()]
    return [*lines, f"summary: {diagnosis.summary}"]


def describe(job: Job, client: Client) -> list[str]:
    """A job in lines of words: id and status, then its diagnosis or error, then its report link."""
    lines = [f"job: {job.id}", f"status: {job.status}"]
    if job.status == "failed" and job.error is not None:
        lines.append(f"error: {job.error.type}: {job.error.message}")
    if job.diagnosis is not None:
        lines += describe_diagnosis(job.diagnosis)
    elif not job.done:
        lines.append(f"progress: {job.progress.done}/{job.progress.total} runs")
    return [*lines, f"report: {client.report_url(job)}"]


def _progress(job: Job) -> None:
    _err(f"{job.id}: {job.status} ({job.progress.done}/{job.progress.total} runs)")


def _read_spec(path: str) -> dict[str, Any] | None:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as exc:
        _err(f"lossdoctor: cannot read {path}: {exc}")
        return None
    try:
        spec = json.loads(text)
    except ValueError as exc:
        _err(f"lossdoctor: {path} is not valid JSON: {exc}")
        return None
    if not isinstance(spec, dict):
        _err(f"lossdoctor: {path} must hold a JSON object (a job spec), not {type(spec).__name__}")
        return None
    return spec


def submit(args: argparse.Namespace) -> int:
    """``lossdoctor submit SPEC.json [--wait] [--json]``."""
    spec = _read_spec(args.spec)
    if spec is None:
        return EXIT_USAGE
    with _client(args) as client:
        try:
            job = client.submit(spec)
            if not args.wait:
                _out(job.model_dump_json() if args.json else job.id)
                return EXIT_OK
            if not args.json:
                _out(job.id)
            job = client.wait(job.id, timeout=args.timeout, on_update=_progress)
        except LossdoctorError as exc:
            return _error_exit(exc)
        for line in [job.model_dump_json()] if args.json else describe(job, client)[2:]:
            _out(line)
        return outcome(job)


def status(args: argparse.Namespace) -> int:
    """``lossdoctor status ID [--json]``: exits 0 whenever the job could be read."""
    with _client(args) as client:
        try:
            job = client.get(args.job_id)
        except LossdoctorError as exc:
            return _error_exit(exc)
        for line in [job.model_dump_json()] if args.json else describe(job, client):
            _out(line)
        return EXIT_OK


def cancel(args: argparse.Namespace) -> int:
    """``lossdoctor cancel ID``: 0 once cancelled (also when it was already); 1 when it had ended otherwise (409)."""
    with _client(args) as client:
        try:
            job = client.cancel(args.job_id)
        except LossdoctorError as exc:
            return _error_exit(exc)
        _out(f"{job.id} {job.status}")
        return EXIT_OK


def list_jobs(args: argparse.Namespace) -> int:
    """``lossdoctor list [--status S] [--limit N] [--json]``: one job per line, newest first."""
    with _client(args) as client:
        try:
            for count, job in enumerate(client.list(status=args.status), start=1):
                _out(
                    job.model_dump_json()
                    if args.json
                    else f"{job.id}\t{job.status}\t{job.created_at or ''}\t{job.name or ''}"
                )
                if args.limit is not None and count >= args.limit:
                    break
        except LossdoctorError as exc:
            return _error_exit(exc)
        return EXIT_OK


def curves(args: argparse.Namespace) -> int:
    """``lossdoctor curves PATH``: 0 healthy, 3 not healthy, 2 when the source cannot be read or its tags do
    not say which is the train (or validation) loss (the tags are listed: pass ``--train-tag``/``--val-tag``)."""
    from lossdoctor.curves_io import CurvesError, read_curves

    try:
        read = read_curves(args.path, run_id=args.run_id, train_tag=args.train_tag, val_tag=args.val_tag)
    except (OSError, CurvesError) as exc:
        _err(f"lossdoctor: {exc}")
        return EXIT_USAGE
    val = f", val {read.val_tag!r}" if read.val_tag else ", no validation loss"
    _err(f"{read.source}: train {read.train_tag!r}{val}, {len(read.train_loss)} epochs")
    for note in read.notes:
        _err(f"  {note}")
    with _client(args) as client:
        try:
            diagnosis = client.diagnose_curves(
                read.train_loss, read.val_loss, loss=args.loss, n_classes=args.n_classes, chance_loss=args.chance_loss
            )
        except LossdoctorError as exc:
            return _error_exit(exc)
    for line in [diagnosis.model_dump_json()] if args.json else describe_diagnosis(diagnosis):
        _out(line)
    return EXIT_OK if diagnosis.healthy else EXIT_CAUSE


#: Subcommand name → its function.
COMMANDS = {"submit": submit, "status": status, "cancel": cancel, "list": list_jobs, "curves": curves}
