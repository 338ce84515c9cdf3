"""The job spec: what a team sends to ``POST /v1/jobs`` (see CONTRACT.md, "Job spec").

Torch-free on purpose: the HTTP service imports this module to validate requests at the edge.
Every model forbids unknown fields, so a typo is a 422 naming the field instead of a silent
change to the job.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

# the plug-ins' vocabularies, stated once in worker.contract.vocabulary; imported here for the spec's users
from worker.contract.vocabulary import (  # noqa: F401
    CAUSES,
    MONITOR_CAUSES,
    PROBE_NAMES,
    CauseName,
    ProbeName,
)

#: The data sets scikit-learn ships, used as given (unscaled).
BuiltinName = Literal["iris", "wine", "digits", "breast_cancer", "diabetes"]
#: scikit-learn's generators.
SyntheticName = Literal["blobs", "moons", "circles", "classification", "regression"]
InitName = Literal[
    "default",
    "zeros",
    "ones",
    "constant",
    "normal",
    "uniform",
    "xavier_uniform",
    "xavier_normal",
    "kaiming_uniform",
    "kaiming_normal",
    "orthogonal",
]
LossName = Literal["cross_entropy", "nll", "bce_with_logits", "bce", "mse", "l1", "huber"]
OptimizerName = Literal["sgd", "adam", "adamw", "rmsprop", "adagrad"]
DeviceName = Literal["auto", "cpu", "cuda"]
LOSS_NAMES: tuple[str, ...] = get_args(LossName)
CLASS_INDEX_LOSSES: frozenset[str] = frozenset({"cross_entropy", "nll"})

#: Upper bounds that keep one job from swallowing a worker; the service may tighten them.
MAX_EPOCHS = 10_000
MAX_BUDGET_SECONDS = 3_600.0
#: Largest seed: what numpy's and scikit-learn's RandomState and torch all accept (0 .. 2**32 - 1).
MAX_SEED = 2**32 - 1


class Strict(BaseModel):
    """Base for every spec model: unknown fields are errors, values are not coerced silently.

    Strict validation: a string where a number belongs (``"lr": "0.01"``), a number where a string or a
    boolean belongs, a boolean where a number belongs are all errors. A whole number where a float
    belongs (``"lr": 1``) is still a float, as in JSON itself.
    """

    model_config = ConfigDict(extra="forbid", strict=True)


class InitSpec(Strict):
    """An init scheme for a layer's weight and bias, with the scheme's parameters beside them.

    ``bias`` may be a number: a constant bias. Keys left out keep PyTorch's default.
    """

    weight: InitName | None = None
    bias: InitName | float | None = None
    mean: float = 0.0
    std: float = Field(1.0, ge=0.0)
    value: float | None = None
    a: float = 0.0
    b: float = 1.0
    gain: float = Field(1.0, gt=0.0)

    @model_validator(mode="after")
    def _parameters_fit_scheme(self) -> InitSpec:
        uses_constant = "constant" in (self.weight, self.bias)
        if uses_constant and self.value is None:
            raise ValueError('init \'constant\' needs \'value\', e.g. {"weight": "constant", "value": 0.5}')
        if "uniform" in (self.weight, self.bias) and not self.a < self.b:
            raise ValueError(f"init 'uniform' needs a < b, got a={self.a}, b={self.b}")
        return self


class _ParamLayer(Strict):
    init: InitSpec | None = None
    frozen: bool = False


class Linear(_ParamLayer):
    type: Literal["linear"]
    out_features: int = Field(ge=1, le=65_536)
    bias: bool = True


class Conv2d(_ParamLayer):
    type: Literal["conv2d"]
    out_channels: int = Field(ge=1, le=4_096)
    kernel_size: int = Field(3, ge=1, le=64)
    stride: int = Field(1, ge=1, le=64)
    padding: int = Field(0, ge=0, le=64)
    bias: bool = True


class MaxPool2d(Strict):
    type: Literal["maxpool2d"]
    kernel_size: int = Field(2, ge=1, le=64)
    stride: int | None = Field(None, ge=1, le=64)


class AvgPool2d(Strict):
    type: Literal["avgpool2d"]
    kernel_size: int = Field(2, ge=1, le=64)
    stride: int | None = Field(None, ge=1, le=64)


class Flatten(Strict):
    type: Literal["flatten"]


class Dropout(Strict):
    type: Literal["dropout"]
    p: float = Field(0.5, ge=0.0, lt=1.0)


class BatchNorm(_ParamLayer):
    type: Literal["batchnorm"]


class LayerNorm(_ParamLayer):
    type: Literal["layernorm"]


class Activation(Strict):
    """A parameter-free elementwise or normalizing activation."""

    type: Literal["relu", "gelu", "tanh", "sigmoid", "softmax", "log_softmax"]


class LeakyReLU(Strict):
    type: Literal["leaky_relu"]
    negative_slope: float = Field(0.01, ge=0.0, le=1.0)


class ELU(Strict):
    type: Literal["elu"]
    alpha: float = Field(1.0, gt=0.0)


Layer = Annotated[
    Linear | Conv2d | MaxPool2d | AvgPool2d | Flatten | Dropout | BatchNorm | LayerNorm | Activation | LeakyReLU | ELU,
    Field(discriminator="type"),
]
PARAM_LAYER_TYPES: frozenset[str] = frozenset({"linear", "conv2d", "batchnorm", "layernorm"})
WEIGHT_LAYER_TYPES: frozenset[str] = frozenset({"linear", "conv2d"})


#: An uploaded model's id (``POST /v1/models``).
MODEL_ID_PATTERN = r"^mdl_[0-9a-f]{24}$"


class ModelSpec(Strict):
    """The model: a list of ``layers``, or an uploaded ONNX graph by id (``onnx``); exactly one of them.

    With ``onnx`` the exported weights are the baseline's init; an ``init`` given beside it replaces
    them: every parameter is first drawn as PyTorch draws its layer type, then the schemes apply.
    """

    layers: list[Layer] = Field(default_factory=list, max_length=256)
    onnx: str | None = Field(None, pattern=MODEL_ID_PATTERN, description="id of an uploaded ONNX model (mdl_...)")
    init: InitSpec | None = None
    #: The uploaded graph once the worker has read it (``worker.onnx``); in memory only, never serialized.
    _program: Any = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _layers_or_onnx(self) -> ModelSpec:
        if self.onnx is None and not self.layers:
            raise ValueError("model needs 'layers' (at least one) or 'onnx' (the id of an uploaded model)")
        if self.onnx is not None and self.layers:
            raise ValueError("model takes 'layers' or 'onnx', not both")
        return self

    @property
    def program(self) -> Any:
        """The resolved ONNX program (``worker.data.onnx.program.Program``), or None."""
        return self._program

    def with_program(self, program: Any) -> ModelSpec:
        """This spec with its ONNX program attached (the worker reads the upload once per job)."""
        self._program = program
        return self


class _DataCommon(Strict):
    validation_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    seed: int = Field(0, ge=0, le=MAX_SEED)
    shape: list[Annotated[int, Field(ge=1)]] | None = Field(None, min_length=1, max_length=4)


class BuiltinData(_DataCommon):
    source: Literal["builtin"]
    name: BuiltinName


class SyntheticData(_DataCommon):
    """scikit-learn generators; parameters left out take scikit-learn's defaults."""

    source: Literal["synthetic"]
    name: SyntheticName
    n_samples: int | None = Field(None, ge=4, le=1_000_000)
    n_features: int | None = Field(None, ge=1, le=10_000)
    n_classes: int | None = Field(None, ge=2, le=1_000)
    noise: float | None = Field(None, ge=0.0)


Number = float | None


class InlineData(_DataCommon):
    """Small data sent in the request. ``null`` stands for a missing, non-finite value."""

    source: Literal["inline"]
    x: list[Any] = Field(min_length=2)
    y: list[Any] = Field(min_length=2)

    @model_validator(mode="after")
    def _same_length(self) -> InlineData:
        if len(self.x) != len(self.y):
            raise ValueError(f"data.x has {len(self.x)} rows but data.y has {len(self.y)}; they must match")
        return self


class DatasetRef(_DataCommon):
    source: Literal["dataset"]
    id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")


DataSpec = Annotated[BuiltinData | SyntheticData | InlineData | DatasetRef, Field(discriminator="source")]


class TrainingSpec(Strict):
    """How the user trains. ``l1``/``l2`` are penalties added to the loss over all parameters."""

    loss: LossName
    optimizer: OptimizerName = "adam"
    lr: float = Field(1e-3, ge=0.0, le=1e4)
    momentum: float = Field(0.0, ge=0.0, lt=1.0)
    weight_decay: float = Field(0.0, ge=0.0)
    l1: float = Field(0.0, ge=0.0)
    l2: float = Field(0.0, ge=0.0)
    batch_size: int = Field(32, ge=1, le=1_000_000)
    epochs: int = Field(10, ge=1, le=MAX_EPOCHS)
    grad_clip_norm: float | None = Field(None, gt=0.0)
    seed: int = Field(0, ge=0, le=MAX_SEED)


#: URL schemes a webhook may use.
WEBHOOK_SCHEMES = ("http", "https")


class WebhookSpec(Strict):
    """Where the service POSTs the job once it has ended (signed the Standard Webhooks way).

    Only the URL's form is checked here; whether its host may be reached (not loopback or private,
    unless the service allows it) is the service's check, at submission and again at delivery.
    """

    url: str = Field(min_length=1, max_length=2048, description="http(s) URL that receives job.* events")

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme.lower() not in WEBHOOK_SCHEMES:
            scheme = repr(parts.scheme) if parts.scheme else "a URL without a scheme"
            raise ValueError(f"webhook.url must be an http or https URL, not {scheme}")
        if not parts.hostname:
            raise ValueError("webhook.url has no host")
        if parts.username or parts.password:
            raise ValueError("webhook.url must not carry credentials; put a secret in the path instead")
        try:
            _ = parts.port
        except ValueError as exc:
            raise ValueError(f"webhook.url has an invalid port: {exc}") from None
        return v


class JobSpec(Strict):
    name: str | None = Field(None, max_length=200)
    data: DataSpec
    model: ModelSpec
    training: TrainingSpec
    probes: Literal["auto"] | list[ProbeName] = "auto"
    budget_seconds: float = Field(60.0, gt=0.0, le=MAX_BUDGET_SECONDS)
    device: DeviceName = "auto"
    webhook: WebhookSpec | None = None

    @field_validator("probes")
    @classmethod
    def _no_repeats(cls, v: Literal["auto"] | list[str]) -> Literal["auto"] | list[str]:
        if isinstance(v, list) and len(set(v)) != len(v):
            raise ValueError("probes lists a probe twice")
        return v
