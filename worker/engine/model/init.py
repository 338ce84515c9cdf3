"""Weight and bias initialization from the spec's ``init`` objects.

``model.init`` applies to the layers with weight matrices (linear, conv2d); a layer's own ``init``
overrides it key by key (``weight``, ``bias``), and a key neither sets keeps PyTorch's default.
A scheme's parameters (``mean``, ``std``, ``value``, ``a``, ``b``, ``gain``) come from the same
object that names the scheme. Normalization layers keep their defaults unless they carry an
``init`` of their own; ``model.init`` never reaches them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from worker.contract.errors import SpecError
from worker.contract.spec import WEIGHT_LAYER_TYPES, InitSpec, Layer
from worker.data.validate import MATRIX_SCHEMES


@dataclass(frozen=True)
class InitChoice:
    """One parameter's scheme (a name, or a number for a constant bias), its parameters and its field."""

    scheme: str | float
    params: InitSpec
    loc: tuple[str | int, ...]


def resolve_init(index: int, layer: Layer, model_init: InitSpec | None) -> dict[str, InitChoice]:
    """The scheme for ``"weight"`` and ``"bias"`` of ``model.layers[index]``; absent keys stay default."""
    own: InitSpec | None = getattr(layer, "init", None)
    inherited = model_init if layer.type in WEIGHT_LAYER_TYPES else None
    choices: dict[str, InitChoice] = {}
    for key in ("weight", "bias"):
        if own is not None and getattr(own, key) is not None:
            choices[key] = InitChoice(getattr(own, key), own, ("model", "layers", index, "init", key))
        elif inherited is not None and getattr(inherited, key) is not None:
            choices[key] = InitChoice(getattr(inherited, key), inherited, ("model", "init", key))
    return choices


def apply_scheme(tensor: torch.Tensor, choice: InitChoice) -> None:
    """Fill ``tensor`` in place by ``choice``; matrix schemes on a 1-D tensor are a SpecError."""
    scheme, p = choice.scheme, choice.params
    if not isinstance(scheme, str):
        nn.init.constant_(tensor, float(scheme))
        return
    if scheme in MATRIX_SCHEMES and tensor.dim() < 2:
        raise SpecError(
            choice.loc,
            f"init {scheme!r} needs a weight matrix (it uses fan-in/fan-out) but this parameter is "
            f"1-D of size {tensor.numel()}; use zeros, ones, constant, normal, uniform or a number",
        )
    match scheme:
        case "default":
            return
        case "zeros":
            nn.init.zeros_(tensor)
        case "ones":
            nn.init.ones_(tensor)
        case "constant":
            nn.init.constant_(tensor, p.value if p.value is not None else 0.0)
        case "normal":
            nn.init.normal_(tensor, mean=p.mean, std=p.std)
        case "uniform":
            nn.init.uniform_(tensor, a=p.a, b=p.b)
        case "xavier_uniform":
            nn.init.xavier_uniform_(tensor, gain=p.gain)
        case "xavier_normal":
            nn.init.xavier_normal_(tensor, gain=p.gain)
        case "kaiming_uniform":
            nn.init.kaiming_uniform_(tensor, nonlinearity="relu")
        case "kaiming_normal":
            nn.init.kaiming_normal_(tensor, nonlinearity="relu")
        case "orthogonal":
            nn.init.orthogonal_(tensor, gain=p.gain)
        case _:
            raise SpecError(choice.loc, f"unknown init scheme {scheme!r}")


def init_layer(index: int, layer: Layer, module: nn.Module, model_init: InitSpec | None) -> None:
    """Initialize ``module`` (built for ``model.layers[index]``) by the spec; a missing bias is skipped."""
    for key, choice in resolve_init(index, layer, model_init).items():
        tensor = getattr(module, key, None)
        if isinstance(tensor, torch.Tensor):
            apply_scheme(tensor, choice)
