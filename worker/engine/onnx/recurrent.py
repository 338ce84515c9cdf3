"""ONNX's LSTM and GRU ops on torch tensors, as the ONNX operator specification defines them.

Shapes (``layout`` 0, what ``torch.onnx.export`` writes): X ``[T, B, I]``; W ``[D, G*H, I]``, R ``[D, G*H, H]``,
B ``[D, 2*G*H]`` (W's biases, then R's), initial states ``[D, B, H]``; outputs Y ``[T, D, B, H]`` and the last
states ``[D, B, H]``. D is 1 (``forward``, ``reverse``) or 2 (``bidirectional``, forward first). Gates: G = 4
for LSTM in the order i, o, f, c; G = 3 for GRU in the order z, r, h. With ``layout`` 1 the batch comes first
(X ``[B, T, I]``, Y ``[B, T, D, H]``, states ``[B, D, H]``).

Only the default activations (sigmoid for the gates, tanh elsewhere) are run; ``clip``, ``input_forget``,
LSTM peepholes and ``sequence_lens`` are refused (``RecurrentError``), as no PyTorch module exports them.
"""

from __future__ import annotations

from typing import Any

import torch

#: The activations every supported LSTM/GRU node must use (ONNX's defaults, what PyTorch computes).
DEFAULT_ACTIVATIONS = {"LSTM": ["Sigmoid", "Tanh", "Tanh"], "GRU": ["Sigmoid", "Tanh"]}
#: Directions by attribute word: how many, and whether the first runs backwards in time.
DIRECTIONS = {"forward": (1, False), "reverse": (1, True), "bidirectional": (2, False)}


class RecurrentError(ValueError):
    """An LSTM or GRU node with an attribute or input the interpreter does not run."""


def _word(value: Any, default: str) -> str:
    if value is None:
        return default
    return value.decode() if isinstance(value, bytes) else str(value)


def _check(op: str, attrs: dict[str, Any], xs: list[Any], optional: dict[int, str]) -> tuple[int, bool, int]:
    """(directions, first one reversed, layout); ``RecurrentError`` for what is not run."""
    direction = _word(attrs.get("direction"), "forward")
    if direction not in DIRECTIONS:
        raise RecurrentError(f"{op} with direction {direction!r} is not supported; one of {sorted(DIRECTIONS)}")
    acts = [_word(a, "") for a in attrs.get("activations", [])]
    count, _ = DIRECTIONS[direction]
    if acts and [a.lower() for a in acts] != [a.lower() for a in DEFAULT_ACTIVATIONS[op] * count]:
        raise RecurrentError(f"{op} with activations {acts} is not supported: only {DEFAULT_ACTIVATIONS[op]}")
    if attrs.get("clip") is not None:
        raise RecurrentError(f"{op} with clip is not supported")
    if int(attrs.get("input_forget", 0)):
        raise RecurrentError(f"{op} with input_forget is not supported")
    for pos, what in optional.items():
        if len(xs) > pos and xs[pos] is not None:
            raise RecurrentError(f"{op} with {what} (input {pos}) is not supported")
    return count, DIRECTIONS[direction][1], int(attrs.get("layout", 0))


def _state(
    xs: list[Any], pos: int, like: torch.Tensor, dirs: int, batch: int, hidden: int, layout: int
) -> torch.Tensor:
    """Initial state ``pos`` as ``[D, B, H]``, zeros where the node has none."""
    if len(xs) > pos and xs[pos] is not None:
        s = xs[pos]
        return s.transpose(0, 1) if layout else s
    return like.new_zeros((dirs, batch, hidden))


def _outputs(ys: list[torch.Tensor], states: list[list[torch.Tensor]], layout: int) -> tuple[torch.Tensor, ...]:
    """Y ``[T, D, B, H]`` (or ``[B, T, D, H]``) and each last state ``[D, B, H]`` (or ``[B, D, H]``)."""
    y = torch.stack(ys, dim=1)  # D of [T, B, H] -> [T, D, B, H]
    last = [torch.stack(s, dim=0) for s in states]  # D of [B, H] -> [D, B, H]
    if layout:
        return (y.permute(2, 0, 1, 3), *[s.transpose(0, 1) for s in last])
    return (y, *last)


def lstm(attrs: dict[str, Any], xs: list[Any]) -> tuple[torch.Tensor, ...]:
    """ONNX LSTM: (Y, Y_h, Y_c). Per step, gates from ``x_t W^T + h R^T + Wb + Rb`` split i, o, f, c:
    ``c = f * c + i * tanh(c~)``, ``h = o * tanh(c)``."""
    dirs, reverse_first, layout = _check("LSTM", attrs, xs, {4: "sequence_lens", 7: "peepholes P"})
    x, w, r = xs[0], xs[1], xs[2]
    if layout:
        x = x.transpose(0, 1)  # [B, T, I] -> [T, B, I]
    steps, batch = int(x.shape[0]), int(x.shape[1])
    hidden = int(attrs.get("hidden_size", r.shape[-1]))
    b = xs[3] if len(xs) > 3 and xs[3] is not None else x.new_zeros((dirs, 8 * hidden))
    h0 = _state(xs, 5, x, dirs, batch, hidden, layout)
    c0 = _state(xs, 6, x, dirs, batch, hidden, layout)
    ys, hs, cs = [], [], []
    for d in range(dirs):
        backwards = reverse_first if d == 0 else True
        gx = x @ w[d].t() + b[d, : 4 * hidden] + b[d, 4 * hidden :]  # [T, B, 4H], every step's input share
        h, c = h0[d], c0[d]
        out: list[torch.Tensor] = [x.new_empty(0)] * steps
        for t in range(steps - 1, -1, -1) if backwards else range(steps):
            g = gx[t] + h @ r[d].t()  # [B, 4H]
            i, o, f, cand = g.chunk(4, dim=-1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(cand)
            h = torch.sigmoid(o) * torch.tanh(c)
            out[t] = h
        ys.append(torch.stack(out, dim=0) if steps else x.new_zeros((0, batch, hidden)))
        hs.append(h)
        cs.append(c)
    return _outputs(ys, [hs, cs], layout)


def gru(attrs: dict[str, Any], xs: list[Any]) -> tuple[torch.Tensor, ...]:
    """ONNX GRU: (Y, Y_h). Gates z, r from ``x_t W^T + h R^T + Wb + Rb``; the candidate is
    ``tanh(x_t Wh^T + Wbh + r * (h Rh^T + Rbh))`` with ``linear_before_reset`` (what PyTorch computes),
    ``tanh(x_t Wh^T + Wbh + (r * h) Rh^T + Rbh)`` without; ``h = (1 - z) * h~ + z * h``."""
    dirs, reverse_first, layout = _check("GRU", attrs, xs, {4: "sequence_lens"})
    x, w, r = xs[0], xs[1], xs[2]
    if layout:
        x = x.transpose(0, 1)
    steps, batch = int(x.shape[0]), int(x.shape[1])
    hidden = int(attrs.get("hidden_size", r.shape[-1]))
    before_reset = bool(int(attrs.get("linear_before_reset", 0)))
    b = xs[3] if len(xs) > 3 and xs[3] is not None else x.new_zeros((dirs, 6 * hidden))
    h0 = _state(xs, 5, x, dirs, batch, hidden, layout)
    ys, hs = [], []
    for d in range(dirs):
        backwards = reverse_first if d == 0 else True
        wb, rb = b[d, : 3 * hidden], b[d, 3 * hidden :]
        gx = x @ w[d].t() + wb  # [T, B, 3H]
        rz, rr, rh = r[d].split(hidden, dim=0)  # each [H, H]
        h = h0[d]
        out: list[torch.Tensor] = [x.new_empty(0)] * steps
        for t in range(steps - 1, -1, -1) if backwards else range(steps):
            xz, xr, xh = gx[t].split(hidden, dim=-1)  # each [B, H]
            z = torch.sigmoid(xz + h @ rz.t() + rb[:hidden])
            reset = torch.sigmoid(xr + h @ rr.t() + rb[hidden : 2 * hidden])
            if before_reset:
                cand = torch.tanh(xh + reset * (h @ rh.t() + rb[2 * hidden :]))
            else:
                cand = torch.tanh(xh + (reset * h) @ rh.t() + rb[2 * hidden :])
            h = (1 - z) * cand + z * h
            out[t] = h
        ys.append(torch.stack(out, dim=0) if steps else x.new_zeros((0, batch, hidden)))
        hs.append(h)
    return _outputs(ys, [hs], layout)
