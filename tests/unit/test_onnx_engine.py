"""A job whose model is an uploaded ONNX graph, through the real engine: exported weights as the baseline's
init, the plain loop, instruments named by node, the probes that need no layer list, and the ones
that edit layers reported as not applicable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from lossdoctor import export_model
from worker.contract.errors import SpecError
from worker.contract.spec import JobSpec, ModelSpec
from worker.engine.batched.stack import signature
from worker.engine.checks import CHECKS
from worker.engine.job import run_job
from worker.engine.model import build_model
from worker.engine.probes import PROBES, ProbeContext

MODEL_ID = "mdl_" + "a" * 24
LAYERS: list[dict[str, Any]] = [
    {"type": "linear", "out_features": 16},
    {"type": "relu"},
    {"type": "linear", "out_features": 3},
]


def _spec(model: dict[str, Any], probes: list[str], **training: Any) -> JobSpec:
    t = {"loss": "cross_entropy", "optimizer": "sgd", "lr": 0.05, "batch_size": 32, "epochs": 2, "seed": 0, **training}
    return JobSpec.model_validate(
        {
            "data": {"source": "builtin", "name": "iris"},
            "model": model,
            "training": t,
            "probes": probes,
            "budget_seconds": 30,
            "device": "cpu",
        }
    )


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The layer spec's own seed-0 model, exported: the same weights as the layer spec's baseline."""
    module = build_model(ModelSpec.model_validate({"layers": LAYERS}), (4,), seed=0)
    path = export_model(module, torch.randn(2, 4), tmp_path_factory.mktemp("onnx") / "mlp.onnx")
    return path.read_bytes()


def _run(spec: JobSpec, content: bytes) -> dict[str, Any]:
    return run_job(spec, fetch_upload=lambda upload_id: content if upload_id == MODEL_ID else None).as_json()


def test_the_baseline_trains_from_the_exported_weights_like_the_layer_spec(exported: bytes) -> None:
    onnx_result = _run(_spec({"onnx": MODEL_ID}, ["lr_sweep"]), exported)
    layer_result = run_job(_spec({"layers": LAYERS}, ["lr_sweep"])).as_json()
    json.dumps(onnx_result, allow_nan=False)
    a, b = onnx_result["baseline"]["history"], layer_result["baseline"]["history"]
    assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-5)
    assert a["val_loss"] == pytest.approx(b["val_loss"], abs=1e-5)
    assert [layer["name"] for layer in onnx_result["baseline"]["layers"]] == ["0.linear", "2.linear"]
    assert onnx_result["baseline"]["layers"][0]["dead_fraction"]  # the Relu node feeds from node 0
    assert onnx_result["baseline"]["layers"][0]["activation"] == "1.relu"
    assert {p["name"] for p in onnx_result["probes"]} == {p["name"] for p in layer_result["probes"]}
    for p, q in zip(onnx_result["probes"], layer_result["probes"], strict=True):
        assert p["history"]["train_loss"] == pytest.approx(q["history"]["train_loss"], abs=1e-4)


def test_probes_without_a_layer_list_run_and_the_others_are_noted(exported: bytes) -> None:
    wanted = [
        "standard_init",
        "reseed",
        "no_regularization",
        "grad_clip",
        "bigger_model",
        "batchnorm",
        "relu_activation",
        "fix_output",
        "unfreeze",
    ]
    result = _run(_spec({"onnx": MODEL_ID}, wanted, weight_decay=0.01), exported)
    runs = {p["name"]: p for p in result["probes"]}
    assert set(runs) == {"standard_init", "seed_1", "seed_2", "no_regularization", "grad_clip"}
    assert runs["standard_init"]["changes"] == {"model.init": "default"}
    assert runs["seed_1"]["changes"] == {"training.seed": 1, "model.init": "default"}
    assert runs["no_regularization"]["changes"] == {"training.weight_decay": 0.0}
    notes = " ".join(result["diagnosis"]["notes"])
    assert "not applicable to an uploaded ONNX model" in notes
    assert "bigger_model, batchnorm, relu_activation, fix_output, unfreeze" in notes
    assert "reseed re-initialized" in notes
    # the exported weights are PyTorch's seed-0 draws, so a re-init with seed 0 draws them again, and
    # another seed draws others
    start = result["baseline"]["summary"]["initial_loss"]
    assert runs["standard_init"]["summary"]["initial_loss"] == pytest.approx(start, abs=1e-6)
    assert runs["seed_1"]["summary"]["initial_loss"] != pytest.approx(start, abs=1e-3)


def test_probes_that_edit_layers_do_not_apply_and_onnx_never_stacks(exported: bytes) -> None:
    spec = _spec({"onnx": MODEL_ID}, ["lr_sweep"])
    assert signature(spec.model, (4,)) is None
    ctx = ProbeContext(
        spec=spec,
        problem=None,
        checks={n: c(spec, torch.zeros(4, 4).numpy(), torch.zeros(4).numpy()) for n, c in CHECKS.items()},
    )  # type: ignore[arg-type]
    for name, probe in PROBES.items():
        if probe.edits_layers:
            assert not probe.applies(ctx), name
            assert probe.plan(ctx) == [], name
    assert {name for name, p in PROBES.items() if p.edits_layers} == {
        "bigger_model",
        "relu_activation",
        "batchnorm",
        "fix_output",
        "unfreeze",
    }


def test_dropout_nodes_are_switched_off_by_no_regularization(tmp_path: Path) -> None:
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3))
    content = export_model(module, torch.randn(2, 4), tmp_path / "d.onnx").read_bytes()
    result = _run(_spec({"onnx": MODEL_ID}, ["no_regularization"]), content)
    (probe,) = result["probes"]
    assert probe["changes"] == {"model.onnx": "dropout nodes [4] pass their input through"}


class Bag(nn.Module):
    """Token ids -> embedding -> mean over the sequence -> two class scores."""

    def __init__(self) -> None:
        super().__init__()
        self.emb, self.out = nn.Embedding(10, 4), nn.Linear(4, 2)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.out(self.emb(ids).mean(dim=1))


def _ids_spec(x: list[list[int]], y: list[int], probes: list[str]) -> JobSpec:
    return JobSpec.model_validate(
        {
            "data": {"source": "inline", "x": x, "y": y},
            "model": {"onnx": MODEL_ID},
            "training": {"loss": "cross_entropy", "optimizer": "adam", "lr": 0.05, "epochs": 2, "batch_size": 8},
            "probes": probes,
            "budget_seconds": 30,
            "device": "cpu",
        }
    )


def test_token_ids_stay_ids_and_ids_outside_the_table_are_refused(tmp_path: Path) -> None:
    torch.manual_seed(0)
    content = export_model(Bag(), torch.randint(0, 10, (2, 5)), tmp_path / "bag.onnx").read_bytes()
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 10, (40, 5), generator=gen)
    y = (x[:, 0] > 4).long()
    result = _run(_ids_spec(x.tolist(), y.tolist(), ["standardize_inputs", "lr_sweep"]), content)
    assert [layer["name"] for layer in result["baseline"]["layers"]][0].endswith(".embedding")
    assert "standardize_inputs (the model's input holds integer ids" in " ".join(result["diagnosis"]["notes"])
    assert {p["family"] for p in result["probes"]} == {"lr_sweep"}
    assert not next(c for c in result["checks"] if c["name"] == "input_scale")["flagged"]
    x[3, 2] = 12  # the table has ids 0..9
    with pytest.raises(SpecError, match="the model does not run on the data: Gather reads index 12") as caught:
        _run(_ids_spec(x.tolist(), y.tolist(), ["lr_sweep"]), content)
    assert caught.value.loc == ("model", "onnx")


def test_batchnorm_needs_two_samples_a_batch(tmp_path: Path) -> None:
    module = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    content = export_model(module, torch.randn(2, 4), tmp_path / "bn.onnx").read_bytes()
    with pytest.raises(SpecError, match="BatchNormalization") as caught:
        _run(_spec({"onnx": MODEL_ID}, ["lr_sweep"], batch_size=1), content)
    assert caught.value.loc == ("training", "batch_size")
