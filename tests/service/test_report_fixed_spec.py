"""The corrected spec the report offers to copy: the job's spec with a fix's concrete values set."""

from __future__ import annotations

import json
from typing import Any

import pytest

from service.report.fixed_spec import LEFT_OUT, MAX_INLINE_DATA_CHARS, fixed_spec

SPEC: dict[str, Any] = {
    "data": {"source": "inline", "x": [[1.0, 2.0], [3.0, 4.0]], "y": [0, 1]},
    "model": {"layers": [{"type": "linear", "out_features": 4}, {"type": "sigmoid"}], "init": None},
    "training": {"loss": "cross_entropy", "optimizer": "adam", "lr": 3.0, "l2": 0.5},
}


@pytest.mark.parametrize(
    ("fix", "path", "value"),
    [
        ({"training.lr": 0.001}, ("training", "lr"), 0.001),
        ({"training.grad_clip_norm": 1.0}, ("training", "grad_clip_norm"), 1.0),  # a setting not in the spec yet
        ({"training.optimizer": "sgd"}, ("training", "optimizer"), "sgd"),
        ({"model.layers.1.type": "relu"}, ("model", "layers", 1, "type"), "relu"),
        ({"model.init": {"weight": "kaiming_normal"}}, ("model", "init"), {"weight": "kaiming_normal"}),
    ],
)
def test_concrete_values_are_set(fix: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    out = fixed_spec(SPEC, fix)
    doc: Any = json.loads(out.text)
    for part in path:
        doc = doc[part]
    assert doc == value and list(out.applied) == list(fix) and not out.skipped
    assert SPEC["training"]["lr"] == 3.0  # the job's spec is not changed


@pytest.mark.parametrize(
    "fix",
    [
        {"data": "check that the labels belong to the inputs"},  # advice in words
        {"training.lr": "lower"},  # a word where the spec holds a number
        {"nowhere.lr": 0.1},  # a path that does not lead into the spec
        {"model.layers.9.type": "relu"},  # past the end of a list
    ],
)
def test_advice_and_paths_outside_the_spec_are_not_applied(fix: dict[str, Any]) -> None:
    out = fixed_spec(SPEC, fix)
    assert not out.applied and len(out.skipped) == 1 and json.loads(out.text) == SPEC


def test_inline_data_stays_compact_or_is_left_out_when_too_long() -> None:
    out = fixed_spec(SPEC, {"training.lr": 0.01})
    assert '"x": [[1.0,2.0],[3.0,4.0]]' in out.text and json.loads(out.text)["data"]["y"] == [0, 1]
    big = {**SPEC, "data": {"source": "inline", "x": [[0.5] * 10] * (MAX_INLINE_DATA_CHARS // 40), "y": [0, 1]}}
    out = fixed_spec(big, {"training.lr": 0.01})
    assert json.loads(out.text)["data"]["x"] == LEFT_OUT and out.left_out == ["data.x"]
