"""The job's spec with a finding's ``fix`` applied: what the report offers to copy.

A fix maps dotted spec paths to values (``{"training.lr": 0.001}``, ``{"model.layers.2.type": "relu"}``;
a number segment indexes a list). A value is applied when it is a concrete value: a number, a bool,
null, a list or object, or a one-word string where the spec holds a string (``"sgd"`` for
``training.optimizer``). Advice in words (``"check the label column"``, ``"lower"`` for a number) is
left out, as is a path that does not lead into the spec.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

#: Inline data longer than this, as JSON characters, is left out of the shown spec.
MAX_INLINE_DATA_CHARS = 100_000
#: What stands in for inline data left out.
LEFT_OUT = "<your inline data: too long to show here>"


@dataclass
class FixedSpec:
    """The corrected spec as JSON text, the settings applied (path → value as JSON), the fix entries not
    applied (in words) and the spec paths left out of the text for length."""

    text: str
    applied: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)


_MISSING = object()


def get_path(doc: Any, path: str) -> Any:
    """The value at dotted ``path`` in ``doc``, or ``_MISSING``."""
    node = doc
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def concrete(value: Any, current: Any = _MISSING) -> bool:
    """Whether a fix's value is one to set, not advice in words; ``current`` is the spec's value there."""
    if not isinstance(value, str):
        return True
    return bool(value.strip()) and " " not in value.strip() and isinstance(current, str)


def set_path(doc: Any, path: str, value: Any) -> bool:
    """Set ``doc`` at dotted ``path`` to ``value``; False (and ``doc`` unchanged) when the path's parent
    is not in ``doc``."""
    *parents, last = path.split(".")
    node = doc
    for part in parents:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    if isinstance(node, dict):
        node[last] = copy.deepcopy(value)
        return True
    if isinstance(node, list) and last.isdigit() and int(last) < len(node):
        node[int(last)] = copy.deepcopy(value)
        return True
    return False


def fixed_spec(spec: dict[str, Any], fix: Any) -> FixedSpec:
    """``spec`` (not changed) with ``fix``'s concrete values set, as indented JSON."""
    out = copy.deepcopy(spec)
    result = FixedSpec(text="")
    entries = fix.items() if isinstance(fix, dict) else []
    for path, value in entries:
        if isinstance(path, str) and concrete(value, get_path(out, path)) and set_path(out, path, value):
            result.applied[path] = json.dumps(value)
        else:
            result.skipped.append(f"{path}: {value}")
    # inline data stays on one line each (indented, a sample per line would be thousands of lines)
    compact: dict[str, str] = {}
    data = out.get("data")
    if isinstance(data, dict):
        for key in ("x", "y"):
            if key not in data:
                continue
            text = json.dumps(data[key], separators=(",", ":"))
            if len(text) > MAX_INLINE_DATA_CHARS:
                data[key] = LEFT_OUT
                result.left_out.append(f"data.{key}")
            else:
                marker = f"@@inline-data-{key}@@"
                compact[json.dumps(marker)] = text
                data[key] = marker
    text = json.dumps(out, indent=2)
    for marker, value in compact.items():
        text = text.replace(marker, value, 1)
    result.text = text
    return result
