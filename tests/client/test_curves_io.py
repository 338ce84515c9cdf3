"""Curves read from where teams keep them: TensorBoard event files written by torch's ``SummaryWriter``, an
MLflow run logged to a local store, a CSV; the tag picking as a table, and the asking when it cannot decide."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lossdoctor.curves_io import AmbiguousTags, CurvesError, align, pick_tags, read_curves

#: (tags, the train tag picked, the validation tag picked); a string ending in "-tag": it must ask that option.
PICK_TABLE = [
    (["train_loss", "val_loss"], "train_loss", "val_loss"),
    (["Loss/train", "Loss/val", "lr"], "Loss/train", "Loss/val"),
    (["loss", "val_loss", "accuracy", "val_accuracy"], "loss", "val_loss"),  # Keras
    (["train/epoch_loss", "validation/epoch_loss"], "train/epoch_loss", "validation/epoch_loss"),
    (["train_loss_step", "train_loss_epoch", "val_loss"], "train_loss_epoch", "val_loss"),  # Lightning
    (["train_loss", "accuracy"], "train_loss", None),
    (["eval/loss", "train/loss", "train/grad_norm"], "train/loss", "eval/loss"),
    (["loss", "test_loss"], "--train-tag", None),  # two losses, neither named train
    (["accuracy", "lr"], "--train-tag", None),  # no loss at all
    (["train_loss", "val_loss_a", "val_loss_b"], "train_loss", "--val-tag"),  # two validation losses
]


@pytest.mark.parametrize("tags,train,val", PICK_TABLE)
def test_pick_tags_table(tags: list[str], train: str, val: str | None) -> None:
    option = next((o for o in (train, val) if o is not None and o.endswith("-tag")), None)
    if option is None:
        assert pick_tags(tags) == (train, val)
        return
    with pytest.raises(AmbiguousTags) as raised:
        pick_tags(tags)
    assert raised.value.tags == tags
    assert option in str(raised.value) and all(t in str(raised.value) for t in tags)  # every tag named


def test_given_tags_win_and_must_exist() -> None:
    assert pick_tags(["loss", "test_loss"], train_tag="loss", val_tag="test_loss") == ("loss", "test_loss")
    with pytest.raises(AmbiguousTags, match="'nope' is not in the source; its tags: loss, test_loss"):
        pick_tags(["loss", "test_loss"], train_tag="nope")


def test_align_averages_per_batch_train_points_into_validation_epochs() -> None:
    train = [(s, float(s)) for s in range(1, 11)]  # logged every step
    val = [(5, 0.5), (10, 1.0)]  # logged every 5 steps
    losses, vals, notes = align(train, val)
    assert losses == [3.0, 8.0] and vals == [0.5, 1.0] and notes
    same = align([(0, 2.0), (1, 1.0)], [(0, 2.1), (1, 1.2)])
    assert same == ([2.0, 1.0], [2.1, 1.2], [])
    with_nan = align([(1, 1.0), (2, None), (3, 1.0), (4, 1.0), (5, 1.0)], [(2, 1.0), (4, 1.0)])
    assert with_nan[0] == [None, 1.0] and "1 train points after the last validation step" in with_nan[2][1]


def write_tensorboard(logdir: Path, train: list[float], val: list[float]) -> None:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(logdir))
    for epoch, (t, v) in enumerate(zip(train, val, strict=True)):
        writer.add_scalar("Loss/train", t, epoch)
        writer.add_scalar("Loss/val", v, epoch)
        writer.add_scalar("lr", 0.01, epoch)
    writer.close()


def test_a_tensorboard_directory_written_by_summary_writer_is_read_back(tmp_path: Path) -> None:
    train, val = [2.0, 1.4, 0.98, 0.69], [1.8, 1.5, 1.6, float("nan")]
    write_tensorboard(tmp_path / "run1", train, val)
    curves = read_curves(tmp_path)
    assert (curves.source, curves.train_tag, curves.val_tag) == ("tensorboard", "run1/Loss/train", "run1/Loss/val")
    assert curves.train_loss == pytest.approx(train) and curves.val_loss[:3] == pytest.approx(val[:3])
    assert curves.val_loss[3] is None  # NaN logged: a non-finite value
    assert curves.tags == ["run1/Loss/train", "run1/Loss/val", "run1/lr"]
    assert read_curves(tmp_path / "run1").train_tag == "Loss/train"  # the run's own directory: no prefix


def test_keras_style_runs_in_subdirectories_are_told_apart_by_their_prefix(tmp_path: Path) -> None:
    from torch.utils.tensorboard import SummaryWriter

    for run, values in (("train", [1.0, 0.5, 0.3]), ("validation", [1.1, 0.7, 0.6])):
        with SummaryWriter(str(tmp_path / run)) as writer:
            for epoch, value in enumerate(values):
                writer.add_scalar("epoch_loss", value, epoch)
    curves = read_curves(tmp_path)
    assert (curves.train_tag, curves.val_tag) == ("train/epoch_loss", "validation/epoch_loss")
    assert curves.val_loss == pytest.approx([1.1, 0.7, 0.6])


def log_mlflow(store: Path, train: list[float], val: list[float], name: str = "run") -> str:
    import mlflow

    mlflow.set_tracking_uri("file:" + str(store))
    with mlflow.start_run(run_name=name) as run:
        for epoch, (t, v) in enumerate(zip(train, val, strict=True)):
            mlflow.log_metric("train_loss", t, step=epoch)
            mlflow.log_metric("val_loss", v, step=epoch)
        mlflow.log_metric("accuracy", 0.5, step=0)
    return str(run.info.run_id)


@pytest.fixture
def file_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """MLflow 3 opens a local file store for logging only when this is set (reading sets it itself)."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")


def test_an_mlflow_run_in_a_local_store_is_read_back(
    tmp_path: Path, file_store: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "mlruns"
    run_id = log_mlflow(store, [2.0, 1.5, 1.0], [2.1, 1.7, 1.4])
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE")
    for source, given in ((store, None), ("file:" + str(store), run_id)):
        curves = read_curves(source, run_id=given)
        assert (curves.source, curves.train_tag, curves.val_tag) == ("mlflow", "train_loss", "val_loss")
        assert curves.train_loss == [2.0, 1.5, 1.0] and curves.val_loss == [2.1, 1.7, 1.4]
    run_dir = next(store.glob(f"*/{run_id}"))
    assert read_curves(run_dir).train_loss == [2.0, 1.5, 1.0]  # the run's own directory
    import os

    assert "MLFLOW_ALLOW_FILE_STORE" not in os.environ  # reading left the environment as it was


def test_a_store_with_several_runs_asks_for_one(tmp_path: Path, file_store: None) -> None:
    store = tmp_path / "mlruns"
    first = log_mlflow(store, [2.0, 1.0], [2.0, 1.0], "first")
    log_mlflow(store, [2.0, 1.0], [2.0, 1.0], "second")
    with pytest.raises(CurvesError, match=f"holds 2 runs; pass --run-id with one of: .*{first} \\(first\\)"):
        read_curves(store)
    with pytest.raises(CurvesError, match="cannot read MLflow run nope"):
        read_curves(store, run_id="nope")


def test_a_csv_is_read_by_its_columns(tmp_path: Path) -> None:
    path = tmp_path / "history.csv"
    path.write_text("epoch,loss,val_loss,accuracy\n1,2.3,2.4,0.1\n2,1.0,nan,0.5\n3,0.5,,0.7\n")
    curves = read_curves(path)
    assert (curves.train_tag, curves.val_tag, curves.tags) == ("loss", "val_loss", ["accuracy", "loss", "val_loss"])
    assert curves.train_loss == [2.3, 1.0, 0.5] and curves.val_loss == [2.4, None, None]


def test_unreadable_sources_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(CurvesError, match="does not exist"):
        read_curves(tmp_path / "missing")
    with pytest.raises(CurvesError, match="no TensorBoard event files"):
        read_curves(tmp_path)
    one = tmp_path / "one.csv"
    one.write_text("epoch,train_loss\n1,2.3\n")
    with pytest.raises(CurvesError, match="has 1 point"):
        read_curves(one)


def test_a_missing_reader_names_the_extra_to_install(tmp_path: Path) -> None:
    (tmp_path / "events.out.tfevents.1.host").write_bytes(b"")
    code = (
        f"import sys; sys.modules['tensorboard'] = None\n"
        f"from lossdoctor.curves_io import MissingReader, read_curves\n"
        f"try:\n    read_curves({str(tmp_path)!r})\nexcept MissingReader as e:\n    print(e)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "pip install 'lossdoctor[tensorboard]'" in result.stdout, result.stderr
