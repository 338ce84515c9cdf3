"""Export a PyTorch module to the ONNX file ``POST /v1/models`` accepts, with the recipe it expects.

    lossdoctor.export_model(model, example_input, "model.onnx")

The recipe: the TorchScript exporter (``dynamo=False``) at opset 17, in training mode (so Dropout stays
a node and BatchNormalization keeps training statistics), without constant folding (so BatchNorm is
not fused into the convolution before it), with the initializers listed as inputs, and the batch
dimension of the input and the output left free. The module's mode (train/eval) is left as it was.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: The ONNX opset the service's interpreter is written and tested against.
OPSET = 17
#: Names the exported graph gives its one input and one output.
INPUT_NAME, OUTPUT_NAME = "input", "output"


def export_model(model: Any, example_input: Any, path: str | Path) -> Path:
    """Write ``model`` (a ``torch.nn.Module``) traced on ``example_input`` (a batch, ``[B, *sample]``)
    to ``path`` as ONNX; returns the path. Needs ``torch`` and ``onnx`` installed."""
    import torch

    out = Path(path)
    was_training = model.training
    try:
        torch.onnx.export(
            model,
            (example_input,),
            str(out),
            dynamo=False,
            opset_version=OPSET,
            training=torch.onnx.TrainingMode.TRAINING,
            do_constant_folding=False,
            keep_initializers_as_inputs=True,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
        )
    finally:
        model.train(was_training)
    return out
