"""Recurrent and attention models through the ONNX interpreter, against the PyTorch modules they were
exported from: an embedding + LSTM classifier (last hidden state, last time step, bidirectional), the
same with a GRU, and a small TransformerEncoder classifier. Same outputs, and the same 100-step SGD
trajectory from the same weights and data, within 1e-4 relative; PyTorch's own draws when re-initialized."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lossdoctor import export_model
from worker.data.onnx.parse import describe, read_model
from worker.data.onnx.program import Program
from worker.engine.onnx.build import layout, reset_parameters
from worker.engine.onnx.graph import GraphError, OnnxModule, check_sizes
from worker.engine.onnx.recurrent import RecurrentError, gru, lstm

REL = 1e-4
STEPS = 100
VOCAB, SEQ = 20, 7


class Recurrent(nn.Module):
    """Token ids ``[B, T]`` -> embedding -> LSTM/GRU (batch first) -> the last hidden state or the last
    time step's output -> 3 class scores."""

    def __init__(self, cell: type[nn.Module], *, last_hidden: bool = True, bidirectional: bool = False) -> None:
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 8)
        self.rnn = cell(8, 12, batch_first=True, bidirectional=bidirectional)
        self.out = nn.Linear(24 if bidirectional else 12, 3)
        self.last_hidden = last_hidden

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        seq, h = self.rnn(self.emb(ids))  # seq [B, T, D*H], h [D, B, H] (or (h, c))
        h = h[0] if isinstance(h, tuple) else h
        return self.out(h[-1] if self.last_hidden else seq[:, -1])


class Encoder(nn.Module):
    """Token ids -> embedding -> TransformerEncoder (d_model 16, 2 heads, dropout 0) -> mean over the
    sequence -> 3 class scores."""

    def __init__(self, layers: int) -> None:
        super().__init__()
        self.emb = nn.Embedding(VOCAB, 16)
        layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.0, batch_first=True)
        self.enc = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.out = nn.Linear(16, 3)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.out(self.enc(self.emb(ids)).mean(dim=1))


CASES: dict[str, Callable[[], nn.Module]] = {
    "lstm_last_hidden": lambda: Recurrent(nn.LSTM),
    "lstm_last_step": lambda: Recurrent(nn.LSTM, last_hidden=False),
    "lstm_bidirectional": lambda: Recurrent(nn.LSTM, last_hidden=False, bidirectional=True),
    "gru_last_hidden": lambda: Recurrent(nn.GRU),
    "gru_last_step": lambda: Recurrent(nn.GRU, last_hidden=False),
    "gru_bidirectional": lambda: Recurrent(nn.GRU, last_hidden=False, bidirectional=True),
    "transformer_1": lambda: Encoder(1),
    "transformer_2": lambda: Encoder(2),
}


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """One intra-op thread: these tensors are tiny, and more threads only contend on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def interpreted(module: nn.Module, tmp_path: Path) -> OnnxModule:
    """``module`` exported with the recipe, then read back as the service reads an upload."""
    path = export_model(module, torch.randint(0, VOCAB, (2, SEQ)), tmp_path / "m.onnx")
    proto = read_model(path.read_bytes())
    describe(proto, max_parameters=10**7)
    return OnnxModule(Program.from_model(proto))


def trajectory(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """Losses of STEPS full-batch SGD steps (lr 0.1, momentum 0.9) in training mode."""
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    model.train()
    for _ in range(STEPS):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses


def relative(a: list[float], b: list[float]) -> float:
    """The largest difference of two loss curves relative to the first, or to 1e-3 where a loss is smaller
    (a transformer fits 32 samples to a loss of 1e-5, where float32 rounding alone is 1e-4 of it)."""
    return max(abs(p - q) / max(abs(p), 1e-3) for p, q in zip(a, b, strict=True))


@pytest.mark.parametrize("case", sorted(CASES))
def test_outputs_and_training_match_the_original(case: str, tmp_path: Path) -> None:
    torch.manual_seed(1)
    original = CASES[case]()
    graph = interpreted(original, tmp_path)
    assert check_sizes(graph, (SEQ,)) == (3,)
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, VOCAB, (32, SEQ), generator=gen)
    y = (x[:, 0] % 3).long()  # learnable from the first token
    original.eval()
    graph.eval()
    with torch.no_grad():
        torch.testing.assert_close(graph(x), original(x), rtol=REL, atol=1e-6)
    ref, got = trajectory(original, x, y), trajectory(graph, x, y)
    assert relative(ref, got) < REL, (ref[-3:], got[-3:])
    assert ref[-1] < 0.5 * ref[0]  # it trained, so the comparison means something
    with torch.no_grad():
        graph.eval()
        original.eval()
        torch.testing.assert_close(graph(x), original(x), rtol=10 * REL, atol=1e-5)


@pytest.mark.parametrize(("case", "kind"), [("lstm_bidirectional", "lstm"), ("gru_last_hidden", "gru")])
def test_the_recurrent_node_owns_the_modules_weights(case: str, kind: str, tmp_path: Path) -> None:
    torch.manual_seed(3)
    original = CASES[case]()
    graph = interpreted(original, tmp_path)
    assert [k for _, k, _ in layout(graph)] == ["embedding", kind, "linear"]
    (_, _, tensors) = layout(graph)[1]
    # W (each direction), then R, then B: the tensors nn.LSTM / nn.GRU hold, sliced into ONNX's gate order
    # inside the graph, so they train as the module's own
    by_value = {round(float(p.detach().sum()), 5): tuple(p.shape) for p in original.rnn.parameters()}
    assert {round(float(t.detach().sum()), 5): tuple(t.shape) for t in tensors} == by_value
    assert sum(t.numel() for t in graph.parameters()) == sum(p.numel() for p in original.parameters())


@pytest.mark.parametrize("case", ["lstm_last_hidden", "lstm_bidirectional", "gru_bidirectional"])
def test_a_reset_draws_what_pytorch_draws(case: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    graph = interpreted(CASES[case](), tmp_path)
    torch.manual_seed(5)
    fresh = CASES[case]()
    torch.manual_seed(5)
    reset_parameters(graph)
    got = sorted(round(float(p.detach().double().sum()), 5) for p in graph.parameters())
    assert got == sorted(round(float(p.detach().double().sum()), 5) for p in fresh.parameters())


def test_a_reset_transformer_has_unit_layer_norms_and_fresh_weights(tmp_path: Path) -> None:
    torch.manual_seed(0)
    graph = interpreted(CASES["transformer_1"](), tmp_path)
    before = {id(p): p.detach().clone() for p in graph.parameters()}
    torch.manual_seed(5)
    reset_parameters(graph)
    for _, kind, tensors in layout(graph):
        if kind == "layernorm":
            assert bool((tensors[0] == 1).all()) and bool((tensors[1] == 0).all())
        elif kind == "linear":
            assert not torch.equal(tensors[0].detach(), before[id(tensors[0])])
            bound = 1 / tensors[0].shape[1] ** 0.5  # Kaiming-uniform(a=sqrt 5) on [out, in]
            assert float(tensors[0].detach().abs().max()) <= bound + 1e-6


def _inputs(steps: int = 5, batch: int = 3, hidden: int = 4, gates: int = 4) -> list[torch.Tensor | None]:
    gen = torch.Generator().manual_seed(0)
    return [
        torch.randn(steps, batch, 2, generator=gen),
        torch.randn(1, gates * hidden, 2, generator=gen),
        torch.randn(1, gates * hidden, hidden, generator=gen),
        torch.randn(1, 2 * gates * hidden, generator=gen),
    ]


def test_lstm_and_gru_follow_the_onnx_equations_step_by_step() -> None:
    x, w, r, b = _inputs()
    assert x is not None and w is not None and r is not None and b is not None
    y, y_h, y_c = lstm({"hidden_size": 4}, [x, w, r, b])
    h = c = torch.zeros(3, 4)
    for t in range(5):  # the ONNX spec, written out: gates i, o, f, c
        g = x[t] @ w[0].t() + h @ r[0].t() + b[0, :16] + b[0, 16:]
        i, o, f, cand = torch.sigmoid(g[:, :4]), torch.sigmoid(g[:, 4:8]), torch.sigmoid(g[:, 8:12]), g[:, 12:]
        c = f * c + i * torch.tanh(cand)
        h = o * torch.tanh(c)
        torch.testing.assert_close(y[t, 0], h)
    torch.testing.assert_close(y_h[0], h)
    torch.testing.assert_close(y_c[0], c)
    x, w, r, b = _inputs(gates=3)
    assert x is not None and w is not None and r is not None and b is not None
    for before in (0, 1):
        y, y_h = gru({"hidden_size": 4, "linear_before_reset": before}, [x, w, r, b])
        h = torch.zeros(3, 4)
        for t in range(5):  # gates z, r, h
            wz, wr, wh = w[0].split(4)
            rz, rr, rh = r[0].split(4)
            wbz, wbr, wbh, rbz, rbr, rbh = b[0].split(4)
            z = torch.sigmoid(x[t] @ wz.t() + h @ rz.t() + wbz + rbz)
            reset = torch.sigmoid(x[t] @ wr.t() + h @ rr.t() + wbr + rbr)
            if before:
                cand = torch.tanh(x[t] @ wh.t() + reset * (h @ rh.t() + rbh) + wbh)
            else:
                cand = torch.tanh(x[t] @ wh.t() + (reset * h) @ rh.t() + rbh + wbh)
            h = (1 - z) * cand + z * h
            torch.testing.assert_close(y[t, 0], h)
        torch.testing.assert_close(y_h[0], h)


def test_reverse_runs_backwards_in_time_and_layout_one_puts_the_batch_first() -> None:
    x, w, r, b = _inputs()
    assert x is not None
    forward, _, _ = lstm({"hidden_size": 4}, [x.flip(0), w, r, b])
    backward, _, _ = lstm({"hidden_size": 4, "direction": "reverse"}, [x, w, r, b])
    torch.testing.assert_close(backward, forward.flip(0))
    batch_first, h, _ = lstm({"hidden_size": 4, "layout": 1}, [x.transpose(0, 1), w, r, b])
    plain, h_plain, _ = lstm({"hidden_size": 4}, [x, w, r, b])
    torch.testing.assert_close(batch_first, plain.permute(2, 0, 1, 3))
    torch.testing.assert_close(h, h_plain.transpose(0, 1))


@pytest.mark.parametrize(
    ("attrs", "extra", "words"),
    [
        ({"clip": 1.0}, [], "clip"),
        ({"activations": ["Relu", "Tanh", "Tanh"]}, [], "activations"),
        ({"input_forget": 1}, [], "input_forget"),
        ({"direction": "sideways"}, [], "direction"),
        ({}, [torch.full((3,), 5)], "sequence_lens"),
    ],
)
def test_what_the_interpreter_does_not_run_is_refused_by_name(
    attrs: dict[str, object], extra: list[torch.Tensor], words: str
) -> None:
    with pytest.raises(RecurrentError, match=words):
        lstm({"hidden_size": 4, **attrs}, [*_inputs(), *extra])


def test_a_constant_of_shape_asking_for_a_giant_tensor_is_refused_before_it_is_allocated(tmp_path: Path) -> None:
    from tests import onnx_files

    module = OnnxModule(Program.from_model(onnx_files.giant_constant()))
    with pytest.raises(GraphError, match="ConstantOfShape asks for"):
        check_sizes(module, (4,))
    with pytest.raises(GraphError, match="ConstantOfShape asks for"):
        module(torch.zeros(2, 4))
