"""Your own model, faulty and healthy, through the real stack: a PyTorch module exported with
``lossdoctor.export_model``, uploaded to ``POST /v1/models``, trained and diagnosed by a ``lossdoctor
worker`` (Redis, uvicorn, the engine). For an MLP, a CNN and an embedding + LSTM classifier, a faulty
training (an lr far too high, an l2 penalty far too strong) is diagnosed with that primary cause, and a
healthy one is called healthy. Every training is tiny: iris, digits, or 240 token sequences as ``.npz``."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from lossdoctor_stack import Stack
from torch import nn

from lossdoctor import export_model

pytestmark = pytest.mark.slow

#: Adam at lr 0.01 trains every model below; SGD at lr 50 overshoots (the lr sweep finds that lr 0.05 to 5
#: train them: 10 to 1000 times less).
ADAM = {"loss": "cross_entropy", "optimizer": "adam", "lr": 0.01, "batch_size": 32}
SGD_TOO_HIGH = {"loss": "cross_entropy", "optimizer": "sgd", "lr": 50.0, "batch_size": 32}
VOCAB, SEQ = 10, 8


class Lstm(nn.Module):
    """Token ids ``[B, 8]`` -> embedding -> LSTM (batch first) -> the last hidden state -> 2 class scores."""

    def __init__(self) -> None:
        super().__init__()
        self.emb, self.rnn, self.out = nn.Embedding(VOCAB, 8), nn.LSTM(8, 16, batch_first=True), nn.Linear(16, 2)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        _, (h, _) = self.rnn(self.emb(ids))  # h [1, B, 16]
        return self.out(h[-1])


class Residual(nn.Module):
    """Features ``[B, 4]`` -> 16 -> a residual block (x + W relu(x)) -> 3 class scores."""

    def __init__(self) -> None:
        super().__init__()
        self.inp, self.block, self.out = nn.Linear(4, 16), nn.Linear(16, 16), nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.inp(x))
        return self.out(h + self.block(torch.relu(h)))


class Encoder(nn.Module):
    """Token ids ``[B, 8]`` -> embedding -> one TransformerEncoder layer -> mean over tokens -> 2 scores."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 16)
        layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.0, batch_first=True)
        self.enc, self.out = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False), nn.Linear(16, 2)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.out(self.enc(self.emb(ids)).mean(dim=1))


def upload_model(stack: Stack, module: nn.Module, example: torch.Tensor, tmp_path: Path) -> str:
    torch.manual_seed(0)
    content = export_model(module, example, tmp_path / "model.onnx").read_bytes()
    response = stack.client.post("/v1/models", files={"file": ("model.onnx", content)})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def diagnose(
    stack: Stack, model_id: str, data: dict[str, Any], training: dict[str, Any], probes: list[str]
) -> dict[str, Any]:
    spec = {
        "data": data,
        "model": {"onnx": model_id},
        "training": training,
        "probes": probes,
        "budget_seconds": 60,
        "device": "cpu",
    }
    done = stack.wait(stack.submit(spec)["id"], timeout=120)
    assert done["status"] == "succeeded", done["error"]
    diagnosis: dict[str, Any] = done["result"]["diagnosis"]
    return diagnosis


def assert_healthy(diagnosis: dict[str, Any]) -> None:
    assert diagnosis["healthy"] and diagnosis["primary_cause"] is None, diagnosis["summary"]


def assert_cause(diagnosis: dict[str, Any], cause: str) -> None:
    assert not diagnosis["healthy"] and diagnosis["primary_cause"] == cause, diagnosis["summary"]
    assert diagnosis["findings"][0]["cause"] == cause


def test_an_mlp_with_an_lr_far_too_high_and_a_healthy_one(stack: Stack, tmp_path: Path) -> None:
    model_id = upload_model(
        stack, nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3)), torch.randn(2, 4), tmp_path
    )
    iris = {"source": "builtin", "name": "iris"}
    assert_healthy(diagnose(stack, model_id, iris, {**ADAM, "epochs": 30}, ["shuffled_labels"]))
    faulty = diagnose(stack, model_id, iris, {**SGD_TOO_HIGH, "epochs": 15}, ["lr_sweep"])
    assert_cause(faulty, "lr_too_high")
    assert faulty["findings"][0]["fix"]["training.lr"] < 50.0


def test_a_cnn_with_an_l2_penalty_far_too_strong_and_a_healthy_one(stack: Stack, tmp_path: Path) -> None:
    cnn = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 10)
    )
    model_id = upload_model(stack, cnn, torch.randn(2, 1, 8, 8), tmp_path)
    digits = {"source": "builtin", "name": "digits", "shape": [1, 8, 8]}
    training = {**ADAM, "batch_size": 64, "epochs": 5}
    assert_healthy(diagnose(stack, model_id, digits, training, ["shuffled_labels"]))
    faulty = diagnose(stack, model_id, digits, {**training, "l2": 10.0}, ["no_regularization"])
    assert_cause(faulty, "over_regularization")
    assert faulty["findings"][0]["fix"] == {"training.l2": 0.0}


def token_dataset(stack: Stack) -> str:
    """240 sequences of 8 token ids in 0..9, labelled by whether token 3 occurs: uploaded as .npz."""
    gen = np.random.default_rng(0)
    x = gen.integers(0, VOCAB, (240, SEQ)).astype(np.int64)
    y = (x == 3).any(axis=1).astype(np.int64)  # about 57 % ones
    buffer = io.BytesIO()
    np.savez(buffer, x=x, y=y)
    response = stack.client.post("/v1/datasets", files={"file": ("tokens.npz", buffer.getvalue())})
    assert response.status_code == 201, response.text
    assert response.json()["x_shape"] == [240, SEQ]
    return str(response.json()["id"])


def test_an_lstm_with_an_lr_far_too_high_and_a_healthy_one(stack: Stack, tmp_path: Path) -> None:
    model_id = upload_model(stack, Lstm(), torch.randint(0, VOCAB, (2, SEQ)), tmp_path)
    data = {"source": "dataset", "id": token_dataset(stack)}
    assert_healthy(diagnose(stack, model_id, data, {**ADAM, "lr": 0.02, "epochs": 10}, ["shuffled_labels"]))
    # 10 epochs: in 5, the sweep's lr 5 and 15 also rise at first, and the rules call it exploding_gradients
    assert_cause(diagnose(stack, model_id, data, {**SGD_TOO_HIGH, "epochs": 10}, ["lr_sweep"]), "lr_too_high")


def test_a_residual_net_with_an_lr_far_too_high_and_a_healthy_one(stack: Stack, tmp_path: Path) -> None:
    model_id = upload_model(stack, Residual(), torch.randn(2, 4), tmp_path)
    iris = {"source": "builtin", "name": "iris"}
    assert_healthy(diagnose(stack, model_id, iris, {**ADAM, "epochs": 30}, ["shuffled_labels"]))
    faulty = diagnose(stack, model_id, iris, {**SGD_TOO_HIGH, "epochs": 15}, ["lr_sweep"])
    assert_cause(faulty, "lr_too_high")


def test_a_transformer_with_an_l2_penalty_far_too_strong_and_a_healthy_one(stack: Stack, tmp_path: Path) -> None:
    model_id = upload_model(stack, Encoder(), torch.randint(0, VOCAB, (2, SEQ)), tmp_path)
    data = {"source": "dataset", "id": token_dataset(stack)}
    training = {**ADAM, "lr": 0.01, "epochs": 15}
    assert_healthy(diagnose(stack, model_id, data, training, ["shuffled_labels"]))
    faulty = diagnose(stack, model_id, data, {**training, "l2": 10.0}, ["no_regularization"])
    assert_cause(faulty, "over_regularization")
