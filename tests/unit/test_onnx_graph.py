"""The ONNX interpreter against the PyTorch modules it was exported from: the same outputs and the same
50-step SGD trajectory (same weights, same data), within 1e-5, for an MLP, a CNN with BatchNorm and
Dropout, and a residual net; PyTorch's own init when re-initialized; the size guard."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lossdoctor import export_model
from tests import onnx_files
from worker.contract.spec import InitSpec, ModelSpec
from worker.data.onnx.parse import describe, read_model
from worker.data.onnx.program import Program
from worker.engine.onnx.build import build_onnx, layout, onnx_output_shape
from worker.engine.onnx.graph import GraphError, OnnxModule, check_sizes

TOL = 1e-5
STEPS = 50


class Residual(nn.Module):
    """Linear -> BatchNorm -> ReLU -> Linear plus a skip connection, a view by the batch size, sigmoid,
    log-softmax: Shape, Gather, Unsqueeze, Concat and Reshape in the export."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.bn, self.out = nn.Linear(8, 8), nn.Linear(8, 8), nn.BatchNorm1d(8), nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x + self.b(torch.relu(self.bn(self.a(x))))
        return torch.log_softmax(self.out(torch.sigmoid(h.view(h.size(0), -1))), dim=1)


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 16), nn.Tanh(), nn.Linear(16, 3))


def cnn(p: float) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Dropout(p),
        nn.Flatten(),
        nn.Linear(64, 16),
        nn.GELU(),
        nn.Linear(16, 3),
    )


CASES = {
    "mlp": (mlp, (4,)),
    "cnn": (lambda: cnn(0.0), (1, 8, 8)),
    "cnn_dropout": (lambda: cnn(0.25), (1, 8, 8)),
    "residual": (Residual, (8,)),
}


def interpreted(module: nn.Module, sample: tuple[int, ...], tmp_path: Path) -> OnnxModule:
    """``module`` exported with the recipe, then read back as the service reads an upload."""
    path = export_model(module, torch.randn(2, *sample), tmp_path / "m.onnx")
    proto = read_model(path.read_bytes())
    describe(proto, max_parameters=10**7)
    return OnnxModule(Program.from_model(proto))


def trajectory(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, log_probs: bool) -> list[float]:
    """Losses of STEPS full-batch SGD steps in training mode, dropout masks drawn from seed 0."""
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    torch.manual_seed(0)
    losses = []
    model.train()
    for _ in range(STEPS):
        out = model(x)
        loss = F.nll_loss(out, y) if log_probs else F.cross_entropy(out, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses


@pytest.mark.parametrize("case", sorted(CASES))
def test_outputs_and_training_match_the_original(case: str, tmp_path: Path) -> None:
    make, sample = CASES[case]
    torch.manual_seed(1)
    original = make()
    graph = interpreted(original, sample, tmp_path)
    x = torch.randn(32, *sample)
    y = torch.randint(0, 3, (32,))
    original.eval()
    graph.eval()
    with torch.no_grad():
        torch.testing.assert_close(graph(x), original(x), atol=TOL, rtol=0)
    ref = trajectory(original, x, y, log_probs=case == "residual")
    got = trajectory(graph, x, y, log_probs=case == "residual")
    assert max(abs(a - b) for a, b in zip(ref, got, strict=True)) < TOL, (ref[-3:], got[-3:])
    assert ref[-1] < ref[0]  # it trained, so the comparison means something
    original.eval()
    graph.eval()
    with torch.no_grad():  # eval mode: running statistics updated alike
        torch.testing.assert_close(graph(x), original(x), atol=TOL, rtol=0)


def test_eval_mode_drops_nothing_and_uses_running_statistics(tmp_path: Path) -> None:
    torch.manual_seed(2)
    original = cnn(0.5)
    graph = interpreted(original, (1, 8, 8), tmp_path)
    x = torch.randn(16, 1, 8, 8)
    graph.eval()
    with torch.no_grad():
        first, second = graph(x), graph(x)
    torch.testing.assert_close(first, second)
    graph.train()
    with torch.no_grad():
        assert not torch.allclose(graph(x), first)  # training mode: batch statistics and dropout


def test_layers_are_nodes_with_parameters_weight_first(tmp_path: Path) -> None:
    torch.manual_seed(0)
    graph = interpreted(cnn(0.0), (1, 8, 8), tmp_path)
    names = [(i, kind, [tuple(p.shape) for p in ps]) for i, kind, ps in layout(graph)]
    assert names[0] == (0, "conv2d", [(4, 1, 3, 3), (4,)])
    assert names[1] == (1, "batchnorm", [(4,), (4,)])
    assert [kind for _, kind, _ in names[2:]] == ["linear", "linear"]
    trainable = sum(p.numel() for p in graph.parameters())
    assert trainable == sum(p.numel() for p in cnn(0.0).parameters())
    assert {name for name, _ in graph.named_buffers()} >= {"s3", "s4"}  # running mean and variance


def test_reinit_draws_as_pytorch_draws_each_layer_type(tmp_path: Path) -> None:
    path = export_model(mlp(), torch.randn(2, 4), tmp_path / "m.onnx")
    spec = ModelSpec(onnx="mdl_" + "0" * 24, init=InitSpec(weight="default", bias="default"))
    spec.with_program(Program.from_model(read_model(path.read_bytes())))
    graph = build_onnx(spec, seed=7)
    torch.manual_seed(7)
    fresh = mlp()  # nn.Linear.reset_parameters, in the same order
    x = torch.randn(5, 4)
    torch.testing.assert_close(graph(x), fresh(x), atol=1e-6, rtol=0)
    exported = build_onnx(spec.model_copy(update={"init": None}), seed=7)
    assert not torch.allclose(exported(x), fresh(x))


def test_an_init_scheme_applies_to_the_weight_layers(tmp_path: Path) -> None:
    path = export_model(mlp(), torch.randn(2, 4), tmp_path / "m.onnx")
    spec = ModelSpec(onnx="mdl_" + "0" * 24, init=InitSpec(weight="zeros", bias="constant", value=0.5))
    spec.with_program(Program.from_model(read_model(path.read_bytes())))
    graph = build_onnx(spec, seed=0)
    for _, kind, (weight, bias) in layout(graph):
        assert kind == "linear" and not weight.abs().sum() and bool((bias == 0.5).all())


def test_without_dropout_passes_the_input_through(tmp_path: Path) -> None:
    torch.manual_seed(0)
    path = export_model(cnn(0.9), torch.randn(2, 1, 8, 8), tmp_path / "m.onnx")
    program = Program.from_model(read_model(path.read_bytes()))
    bare = program.without_dropout()
    assert "dropout" in program.kinds() and "dropout" not in bare.kinds()
    dropped, kept = OnnxModule(program), OnnxModule(bare)
    kept.load_state_dict(dropped.state_dict())
    x = torch.randn(8, 1, 8, 8)
    with torch.no_grad():  # training mode (batch statistics): only dropout draws
        assert not torch.allclose(dropped(x), dropped(x))
        torch.testing.assert_close(kept(x), kept(x))
        dropped.eval()
        kept.eval()
        torch.testing.assert_close(kept(x), dropped(x))


def test_a_node_named_like_code_is_only_data(tmp_path: Path) -> None:
    pwned = Path("/tmp/lossdoctor-pwned")
    pwned.unlink(missing_ok=True)
    proto = onnx_files.mlp(node_name=onnx_files.CODE_NAME)
    describe(proto, max_parameters=10**6)
    graph = OnnxModule(Program.from_model(proto))
    graph(torch.randn(3, 4)).sum().backward()
    assert not pwned.exists()
    keys = [name for name, _ in graph.named_parameters()] + [name for name, _ in graph.named_buffers()]
    assert all(k.startswith("params.p") or k[0] in "skc" for k in keys)
    assert all(onnx_files.CODE_NAME not in k for k in keys)


def test_a_giant_intermediate_is_refused_on_the_meta_device() -> None:
    graph = OnnxModule(Program.from_model(onnx_files.giant_padding()))
    with pytest.raises(GraphError, match="values per sample"):
        check_sizes(graph, (1, 1, 1))


def test_samples_the_graph_cannot_take_are_a_spec_error() -> None:
    spec = ModelSpec(onnx="mdl_" + "0" * 24).with_program(Program.from_model(onnx_files.mlp()))
    assert onnx_output_shape(spec, (4,)) == (3,)
    with pytest.raises(ValueError, match="does not run on samples of shape"):
        onnx_output_shape(spec, (5,))


def test_integer_inputs_feed_an_embedding(tmp_path: Path) -> None:
    class Bag(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb, self.out = nn.Embedding(10, 4), nn.Linear(4, 2)

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            return self.out(self.emb(ids).mean(dim=1))

    torch.manual_seed(0)
    original = Bag()
    ids = torch.randint(0, 10, (6, 5))
    path = export_model(original, ids[:2], tmp_path / "bag.onnx")
    proto = read_model(path.read_bytes())
    info = describe(proto, max_parameters=10**6)
    assert info.input.dtype == "int64" and "Gather" in info.op_counts
    graph = OnnxModule(Program.from_model(proto))
    # the engine's data arrive as float32: the graph casts them back to the ids they are
    torch.testing.assert_close(graph(ids.float()), original(ids), atol=TOL, rtol=0)
    assert [kind for _, kind, _ in layout(graph)][0] == "embedding"


def test_a_graph_that_mixes_the_samples_of_a_batch_is_refused(tmp_path: Path) -> None:
    class Gram(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.out = nn.Linear(4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.out((x @ x.t()) @ x)  # [B, B] inside: grows with the square of the batch

    graph = interpreted(Gram(), (4,), tmp_path)
    with pytest.raises(GraphError, match="grows faster than the batch"):
        check_sizes(graph, (4,))


def test_weights_of_any_float_width_train_as_float32() -> None:
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    w = helper.make_tensor("w", TensorProto.BFLOAT16, [3, 4], np.ones(12).tolist())
    b = numpy_helper.from_array(np.ones(3, dtype=np.float64), "b")
    nodes = [
        helper.make_node("Cast", ["b"], ["b16"], to=TensorProto.BFLOAT16),
        helper.make_node("Gemm", ["input", "w", "b16"], ["output"], transB=1),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("input", TensorProto.BFLOAT16, ["n", 4])],
        [helper.make_tensor_value_info("output", TensorProto.BFLOAT16, ["n", 3])],
        initializer=[w, b],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    describe(proto, max_parameters=100)
    module = OnnxModule(Program.from_model(proto))
    assert not module.program.integer_input
    out = module(torch.ones(2, 4))
    assert out.dtype == torch.float32 and torch.equal(out, torch.full((2, 3), 5.0))
    assert all(p.dtype == torch.float32 for p in module.parameters())
