"""Loss curves from where teams keep them, read on the client: a TensorBoard event directory, an MLflow run,
or a CSV, turned into the per-epoch lists ``POST /v1/diagnose/curves`` takes.

    curves = read_curves("runs/exp1")                       # events.out.tfevents.* files below it
    curves = read_curves("mlruns", run_id="3f2a…")          # a local MLflow store, or a tracking URI
    curves = read_curves("history.csv")                     # epoch,train_loss[,val_loss]
    client.diagnose_curves(curves.train_loss, curves.val_loss, n_classes=10)

The service never sees TensorBoard or MLflow: their readers are optional extras, imported only when such
a source is read (``pip install lossdoctor[tensorboard]`` / ``[mlflow]``; ``MissingReader`` says which).
Each source is read as *series*: a tag (TensorBoard; a run below the directory prefixes it, as
``validation/epoch_loss``), a metric key (MLflow) or a column (CSV), each a list of ``(step, value)``.
``pick_tags`` chooses the train and validation losses among them, or raises ``AmbiguousTags`` naming the
candidates. Each logged point of the train tag is an epoch; when the validation tag was logged at other
steps (e.g. train per batch, validation per epoch), the train points up to each validation step are
averaged into that epoch, as a job's ``train_loss`` is the mean over the epoch's batches.

Exceptions, all ``ValueError``: ``CurvesError`` (unreadable source) ← ``AmbiguousTags``, ``MissingReader``.
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

#: A logged series: ``(step, value)`` in step order; value None where it was not finite.
Series = list[tuple[int, float | None]]
#: Words (as ``_``/``/``/``-``/``.``-separated tokens or prefixes) that mark a validation tag.
VAL_WORDS = ("val", "valid", "validation", "eval", "dev")
#: Words that mark a training tag.
TRAIN_WORDS = ("train", "training")
#: CSV columns that number the rows rather than hold a metric.
INDEX_COLUMNS = frozenset({"epoch", "step", "iteration", "iter"})
#: Install hints for the optional readers.
EXTRAS = {
    "tensorboard": "pip install 'lossdoctor[tensorboard]' (or pip install tensorboard)",
    "mlflow": "pip install 'lossdoctor[mlflow]' (or pip install mlflow-skinny)",
}


class CurvesError(ValueError):
    """The source cannot be read as loss curves; the message says why and what to pass instead."""


class MissingReader(CurvesError):
    """The optional package that reads this kind of source is not installed."""


class AmbiguousTags(CurvesError):
    """The train (or validation) loss cannot be chosen among the source's tags: pass ``--train-tag`` /
    ``--val-tag``. ``tags`` lists every tag, ``candidates`` the ones that fit."""

    def __init__(self, message: str, tags: list[str], candidates: list[str]) -> None:
        super().__init__(message)
        self.tags, self.candidates = tags, candidates


@dataclass
class Curves:
    """Per-epoch losses ready to post, where they came from, and what the conversion did (``notes``)."""

    train_loss: list[float | None]
    val_loss: list[float | None] | None
    source: str  # tensorboard | mlflow | csv
    train_tag: str
    val_tag: str | None
    tags: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _tokens(tag: str) -> list[str]:
    return [t for t in re.split(r"[^a-z0-9]+", tag.lower()) if t]


def _is_val(tag: str) -> bool:
    return any(t in VAL_WORDS or (t.startswith(("val", "eval")) and not t.startswith("value")) for t in _tokens(tag))


def _is_train(tag: str) -> bool:
    return any(t in TRAIN_WORDS for t in _tokens(tag))


def _is_loss(tag: str) -> bool:
    return "loss" in tag.lower()


def _one(kind: str, candidates: list[str], tags: list[str], option: str) -> str:
    """The single candidate; with several, the one naming an epoch; else ``AmbiguousTags``."""
    if len(candidates) > 1:
        per_epoch = [t for t in candidates if "epoch" in _tokens(t) or t.lower().endswith("epoch")]
        if len(per_epoch) == 1:
            return per_epoch[0]
    if len(candidates) == 1:
        return candidates[0]
    found = (
        f"several tags could be the {kind} loss ({', '.join(candidates)})"
        if candidates
        else f"no tag looks like the {kind} loss"
    )
    raise AmbiguousTags(f"{found}; pass {option} with one of: {', '.join(tags) or 'none'}", tags, candidates)


def pick_tags(tags: list[str], train_tag: str | None = None, val_tag: str | None = None) -> tuple[str, str | None]:
    """The train-loss tag and the validation-loss tag (None when there is none), from ``tags``.

    Given tags must exist. Otherwise the train loss is the tag naming ``loss`` and ``train``, or else the one
    loss tag that names no validation word (Keras' ``loss`` beside ``val_loss``); the validation loss the
    tag naming ``loss`` and ``val``/``validation``/``eval``. Among several, the one naming ``epoch`` wins.
    """
    for given, option in ((train_tag, "--train-tag"), (val_tag, "--val-tag")):
        if given is not None and given not in tags:
            raise AmbiguousTags(
                f"{option} {given!r} is not in the source; its tags: {', '.join(tags) or 'none'}", tags, []
            )
    if train_tag is None:
        losses = [t for t in tags if _is_loss(t) and not _is_val(t)]
        named = [t for t in losses if _is_train(t)]
        train_tag = _one("train", named or losses, tags, "--train-tag")
    if val_tag is None:
        vals = [t for t in tags if _is_loss(t) and _is_val(t) and t != train_tag]
        val_tag = _one("validation", vals, tags, "--val-tag") if vals else None
    return train_tag, val_tag


def align(train: Series, val: Series | None) -> tuple[list[float | None], list[float | None] | None, list[str]]:
    """Per-epoch train and validation losses from two series, and notes on what was merged or dropped.

    Same steps (or as many points): paired in order. Otherwise each validation point closes an epoch whose
    train loss is the mean of the train points logged after the previous validation step up to its own
    (non-finite if any of them was); train points after the last validation step are dropped.
    """
    if not val:
        return [v for _, v in train], None, []
    if [s for s, _ in train] == [s for s, _ in val] or len(train) == len(val):
        return [v for _, v in train], [v for _, v in val], []
    epochs_train: list[float | None] = []
    epochs_val: list[float | None] = []
    previous = -math.inf
    for step, value in val:
        inside = [v for s, v in train if previous < s <= step]
        previous = step
        if not inside:
            continue
        epochs_train.append(None if any(v is None for v in inside) else sum(inside) / len(inside))  # type: ignore[arg-type]
        epochs_val.append(value)
    dropped = sum(1 for s, _ in train if s > previous)
    notes = [f"train points averaged into {len(epochs_train)} epochs ending at the validation steps"]
    if dropped:
        notes.append(f"{dropped} train points after the last validation step were left out")
    return epochs_train, epochs_val, notes


def _dedup(points: list[tuple[int, float | None]]) -> Series:
    """Points in step order, the last one logged kept where a step repeats (a resumed run)."""
    return sorted(dict(points).items())


def read_tensorboard(path: Path) -> dict[str, Series]:
    """Every scalar tag of the event files at or below ``path``; a run in a subdirectory prefixes its tags."""
    try:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    except ImportError as exc:
        raise MissingReader(
            f"reading TensorBoard event files needs the tensorboard package: {EXTRAS['tensorboard']}"
        ) from exc
    files = [path] if path.is_file() else sorted(path.rglob("events.out.tfevents.*"))
    runs = sorted({f.parent for f in files})
    series: dict[str, list[tuple[int, float | None]]] = {}
    for run in runs:
        accumulator = EventAccumulator(str(path if path.is_file() else run), size_guidance={"scalars": 0})
        accumulator.Reload()
        prefix = "" if path.is_file() or run == path else run.relative_to(path).as_posix() + "/"
        for tag in accumulator.Tags().get("scalars", []):
            events = sorted(accumulator.Scalars(tag), key=lambda e: e.wall_time)
            series.setdefault(prefix + tag, []).extend((e.step, _finite(float(e.value))) for e in events)
    return {tag: _dedup(points) for tag, points in series.items()}


def _mlflow_client(tracking_uri: str) -> object:
    try:
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise MissingReader(f"reading MLflow runs needs the mlflow package: {EXTRAS['mlflow']}") from exc
    return MlflowClient(tracking_uri=tracking_uri)


#: MLflow 3 refuses to open a file store (``./mlruns``) unless this is set; reading one is what was asked.
FILE_STORE_ENV = "MLFLOW_ALLOW_FILE_STORE"


@contextmanager
def _file_store_allowed(tracking_uri: str) -> Iterator[None]:
    """Let MLflow open a local file store while the block runs; the environment is restored after."""
    before = os.environ.get(FILE_STORE_ENV)
    if tracking_uri.startswith("file:") and before is None:
        os.environ[FILE_STORE_ENV] = "true"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(FILE_STORE_ENV, None)


def read_mlflow(tracking_uri: str, run_id: str | None) -> tuple[str, dict[str, Series]]:
    """The run's id and every metric's history, via MLflow's own client; without ``run_id`` the store's only
    run (``CurvesError`` listing them when there are several)."""
    with _file_store_allowed(tracking_uri):
        return _read_mlflow(tracking_uri, run_id)


def _read_mlflow(tracking_uri: str, run_id: str | None) -> tuple[str, dict[str, Series]]:
    client = _mlflow_client(tracking_uri)
    try:
        if run_id is None:
            experiments = client.search_experiments()  # type: ignore[attr-defined]
            runs = client.search_runs([e.experiment_id for e in experiments], max_results=50)  # type: ignore[attr-defined]
            if len(runs) != 1:
                listed = ", ".join(f"{r.info.run_id} ({r.info.run_name})" for r in runs) or "none"
                raise CurvesError(f"{tracking_uri} holds {len(runs)} runs; pass --run-id with one of: {listed}")
            run_id = runs[0].info.run_id
        run = client.get_run(run_id)  # type: ignore[attr-defined]
        series = {
            key: _dedup(
                [
                    (m.step, _finite(float(m.value)))
                    for m in sorted(
                        client.get_metric_history(run_id, key),  # type: ignore[attr-defined]
                        key=lambda m: m.timestamp,
                    )
                ]
            )
            for key in sorted(run.data.metrics)
        }
    except CurvesError:
        raise
    except Exception as exc:  # MlflowException and the store's own errors: name the run and the store
        raise CurvesError(f"cannot read MLflow run {run_id} from {tracking_uri}: {exc}") from exc
    return run_id, series


def read_csv(path: Path) -> dict[str, Series]:
    """Each metric column of a CSV with a header row, one row per epoch in the file's order; an empty or
    non-numeric cell is a non-finite value (None)."""
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        columns = [c.strip() for c in reader.fieldnames or []]
        rows = [{(k or "").strip(): v for k, v in row.items()} for row in reader]

    def number(cell: str | None) -> float | None:
        try:
            return _finite(float(cell)) if cell not in (None, "") else None
        except ValueError:
            return None

    return {
        c: [(i, number(r.get(c))) for i, r in enumerate(rows, start=1)]
        for c in columns
        if c and c.lower() not in INDEX_COLUMNS
    }


def _mlflow_target(source: str, run_id: str | None) -> tuple[str, str | None] | None:
    """``(tracking URI, run id)`` when ``source`` names an MLflow store or run, else None."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", source) and not re.match(r"^[a-zA-Z]:[\\/]", source):
        return source, run_id  # a tracking URI: file:, http(s)://, sqlite:///, databricks
    path = Path(source)
    if path.suffix == ".db" and path.is_file():
        return f"sqlite:///{path.resolve()}", run_id
    if path.is_dir() and (path / "meta.yaml").is_file() and (path / "metrics").is_dir():
        return path.resolve().parents[1].as_uri(), run_id or path.name  # mlruns/<experiment>/<run>
    if path.is_dir() and (run_id is not None or path.name == "mlruns" or any(path.glob("*/meta.yaml"))):
        return path.resolve().as_uri(), run_id
    return None


def read_curves(
    source: str | Path, *, run_id: str | None = None, train_tag: str | None = None, val_tag: str | None = None
) -> Curves:
    """The per-epoch curves in ``source``: a TensorBoard event file or directory, an MLflow store, run
    directory or tracking URI (with ``run_id``), or a CSV; raises a ``CurvesError`` saying what is wrong."""
    text = str(source)
    path = Path(text)
    if (
        path.is_file()
        and path.name.startswith("events.out.tfevents")
        or path.is_dir()
        and run_id is None
        and next(path.rglob("events.out.tfevents.*"), None) is not None
    ):
        kind, series = "tensorboard", read_tensorboard(path)
    elif (target := _mlflow_target(text, run_id)) is not None:
        uri, chosen = target
        chosen, series = read_mlflow(uri, chosen)
        kind = "mlflow"
    elif path.is_file():
        try:
            kind, series = "csv", read_csv(path)
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise CurvesError(f"cannot read {path} as a CSV: {exc}") from exc
    elif path.is_dir():
        raise CurvesError(
            f"{path} holds no TensorBoard event files (events.out.tfevents.*) and is not an MLflow "
            "store (pass --run-id for one)"
        )
    else:
        raise CurvesError(f"{source} does not exist (a CSV, a TensorBoard directory, an MLflow store or URI)")
    tags = sorted(series)
    train_name, val_name = pick_tags(tags, train_tag, val_tag)
    train = series[train_name]
    if len(train) < 2:
        raise CurvesError(f"the train loss {train_name!r} has {len(train)} point(s); at least 2 epochs are needed")
    train_loss, val_loss, notes = align(train, series[val_name] if val_name else None)
    return Curves(train_loss, val_loss, kind, train_name, val_name, tags, notes)
