"""``lossdoctor curves`` on curves where teams keep them, through the real stack (valkey, uvicorn, the HTTP
client): a TensorBoard directory written by ``SummaryWriter`` and an MLflow run logged to a local store are
read on the client, posted to ``/v1/diagnose/curves`` and diagnosed; ambiguous tags make it ask; the richer
telemetry (per-layer gradient norms, monitor records) crosses the real HTTP stack."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from lossdoctor_stack import REPO, Stack

from lossdoctor import Client
from lossdoctor.client_cli import EXIT_CAUSE, EXIT_OK, EXIT_USAGE

pytestmark = pytest.mark.slow

EPOCHS = 12
#: Train loss falling all along; validation loss lowest at epoch 4, then rising (overfitting).
FALLING = [2.0 * 0.7**e for e in range(EPOCHS)]
RISING_VAL = [1.8, 1.4, 1.1, 0.9, 0.95, 1.1, 1.3, 1.5, 1.7, 1.9, 2.0, 2.1]
#: A healthy run: both fall and level off far below chance (log 10 = 2.30).
HEALTHY_TRAIN = [2.3 * 0.5**e for e in range(1, EPOCHS + 1)]
HEALTHY_VAL = [v + 0.01 for v in HEALTHY_TRAIN]


def cli(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "LOSSDOCTOR_URL": url}
    environment.pop("LOSSDOCTOR_API_KEY", None)
    environment.pop("MLFLOW_ALLOW_FILE_STORE", None)  # the reader must open a file store by itself
    return subprocess.run(
        [sys.executable, "-m", "lossdoctor", "curves", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env=environment,
    )


def tensorboard_run(logdir: Path, train: list[float], val: list[float], tags: tuple[str, str]) -> Path:
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(logdir)) as writer:
        for epoch, (t, v) in enumerate(zip(train, val, strict=True)):
            writer.add_scalar(tags[0], t, epoch)
            writer.add_scalar(tags[1], v, epoch)
    return logdir


@pytest.fixture
def api(make_stack: object) -> Stack:
    """The API on a real Redis database; curves need no worker."""
    return make_stack()  # type: ignore[operator]


def test_a_tensorboard_run_that_overfits_is_diagnosed_overfitting(api: Stack, tmp_path: Path) -> None:
    logdir = tensorboard_run(tmp_path / "tb", FALLING, RISING_VAL, ("Loss/train", "Loss/val"))
    result = cli(str(logdir), "--n-classes", "10", url=api.base_url)
    assert result.returncode == EXIT_CAUSE, result.stdout + result.stderr
    assert "cause: overfitting" in result.stdout
    assert "lowest at epoch 4" in result.stdout and "fix: training.epochs = 4" in result.stdout
    assert "tensorboard: train 'Loss/train', val 'Loss/val', 12 epochs" in result.stderr


def test_a_healthy_tensorboard_run_is_healthy(api: Stack, tmp_path: Path) -> None:
    logdir = tensorboard_run(tmp_path / "tb", HEALTHY_TRAIN, HEALTHY_VAL, ("train_loss", "val_loss"))
    result = cli(str(logdir), "--n-classes", "10", "--json", url=api.base_url)
    assert result.returncode == EXIT_OK, result.stdout + result.stderr
    assert '"healthy":true' in result.stdout


def test_an_mlflow_run_in_a_local_store_is_diagnosed(
    api: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 logs to a file store only when told
    store = tmp_path / "mlruns"
    mlflow.set_tracking_uri("file:" + str(store))
    with mlflow.start_run() as run:
        for epoch, (t, v) in enumerate(zip(FALLING, RISING_VAL, strict=True)):
            mlflow.log_metric("train_loss", t, step=epoch)
            mlflow.log_metric("val_loss", v, step=epoch)
    by_store = cli(str(store), "--n-classes", "10", url=api.base_url)
    assert by_store.returncode == EXIT_CAUSE, by_store.stdout + by_store.stderr
    assert "cause: overfitting" in by_store.stdout and "mlflow: train 'train_loss'" in by_store.stderr
    by_uri = cli("file:" + str(store), "--run-id", run.info.run_id, "--n-classes", "10", url=api.base_url)
    assert by_uri.returncode == EXIT_CAUSE and "cause: overfitting" in by_uri.stdout
    with Client(api.base_url) as client:
        diagnosis = client.diagnose_curves_from(store, run_id=run.info.run_id, n_classes=10)
    assert diagnosis.primary_cause == "overfitting"


def test_ambiguous_tags_are_listed_and_the_command_asks(api: Stack, tmp_path: Path) -> None:
    logdir = tensorboard_run(tmp_path / "tb", FALLING, RISING_VAL, ("loss_a", "loss_b"))
    asked = cli(str(logdir), "--n-classes", "10", url=api.base_url)
    assert asked.returncode == EXIT_USAGE, asked.stdout + asked.stderr
    assert "several tags could be the train loss (loss_a, loss_b)" in asked.stderr
    assert "pass --train-tag with one of: loss_a, loss_b" in asked.stderr and asked.stdout == ""
    told = cli(str(logdir), "--train-tag", "loss_a", "--val-tag", "loss_b", "--n-classes", "10", url=api.base_url)
    assert told.returncode == EXIT_CAUSE and "cause: overfitting" in told.stdout


def test_layer_gradient_norms_and_monitor_records_cross_the_real_stack(api: Stack) -> None:
    stalled = [2.3, 2.3, 2.29, 2.3, 2.3]
    layers = {"fc1": [1e-6] * 5, "fc2": [1e-3] * 5, "fc3": [0.1] * 5}
    setup = {
        "optimizer": "SGD",
        "model_tensors": 4,
        "model_values": 100,
        "optimizer_tensors": 4,
        "optimizer_values": 100,
        "shared_tensors": 0,
    }
    with Client(api.base_url) as client:
        vanishing = client.diagnose_curves(stalled, n_classes=10, layers=layers)
        bug = client.diagnose_curves(HEALTHY_TRAIN, n_classes=10, monitor={"setup": setup, "steps": []})
    assert vanishing.primary_cause == "vanishing_gradients" and "1e-05x" in vanishing.findings[0].evidence[0]
    assert bug.primary_cause == "training_loop_bug" and bug.verdict_basis == "monitor"
    refused = api.client.post(
        "/v1/diagnose/curves",
        json={"train_loss": stalled, "n_classes": 10, "layers": [{"name": "a", "grad_norm": [1.0]}]},
    )
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
    assert any(e["loc"][:2] == ["body", "layers"] for e in refused.json()["errors"])


def test_a_real_monitors_records_of_a_broken_loop_make_it_a_training_loop_bug(api: Stack) -> None:
    import copy

    import torch

    from lossdoctor import Monitor

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    optimizer = torch.optim.SGD(copy.deepcopy(model).parameters(), lr=0.1)  # the bug: another instance's tensors
    monitor = Monitor(model, optimizer)
    x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    epoch_losses = []
    for _ in range(4):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        monitor.step(loss)
        epoch_losses.append(loss.item())
    monitor.close()
    with Client(api.base_url) as client:
        diagnosis = client.diagnose_curves(
            epoch_losses, n_classes=3, monitor={"setup": monitor.setup, "steps": monitor.records}
        )
    assert diagnosis.primary_cause == "training_loop_bug" and diagnosis.verdict_basis == "monitor"
    assert "none of them one of the model's 4 trainable tensors" in diagnosis.findings[0].evidence[0]
