"""The user's model as a ``torch.nn.Sequential``: building, initialization, layer names."""

from worker.engine.model.build import build_model, param_layer_indices
from worker.engine.model.names import layer_names, layer_types

__all__ = ["build_model", "layer_names", "layer_types", "param_layer_indices"]
