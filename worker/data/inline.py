"""Small data sent in the request: ``x`` a list of rows (numbers or nested lists), ``y`` a list.

JSON has no NaN, so a ``null`` stands for one missing value and becomes NaN; a whole ``null`` row
of ``x`` becomes a sample of NaNs. Anything else that is not a number (strings, booleans), ragged
rows and rows nested deeper than ``MAX_ROW_DEPTH`` are refused, naming the row.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any

import numpy as np

from worker.contract.errors import SpecError
from worker.contract.spec import InlineData
from worker.data.raw import RawData, as_features, as_labels

#: How deeply one row of ``x`` may nest (4: e.g. ``[channels, depth, height, width]``).
MAX_ROW_DEPTH = 4


def _describe(value: Any) -> str:
    """A short, quoted rendering of a bad value for an error message."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _flatten(value: Any, depth: int, out: list[float], field: str, row: int) -> tuple[int, ...]:
    """Append ``value``'s numbers to ``out`` and return its shape; ``depth`` counts list levels."""
    if value is None:
        out.append(math.nan)
        return ()
    if isinstance(value, list):
        if depth >= MAX_ROW_DEPTH:
            raise SpecError(
                ("data", field, row),
                f"data.{field}[{row}] nests lists deeper than {MAX_ROW_DEPTH} levels",
            )
        shapes = {_flatten(item, depth + 1, out, field, row) for item in value}
        if len(shapes) > 1:
            raise SpecError(
                ("data", field, row),
                f"data.{field}[{row}] is ragged: its lists hold items of shapes "
                f"{sorted(list(s) for s in shapes)}; every item must have the same shape",
            )
        inner = shapes.pop() if shapes else ()
        return (len(value), *inner)
    if isinstance(value, bool) or not isinstance(value, Real):
        raise SpecError(
            ("data", field, row),
            f"data.{field}[{row}] holds {_describe(value)} ({type(value).__name__}); "
            "only numbers and null (a missing value) are allowed",
        )
    out.append(float(value))
    return ()


def _rows(rows: list[Any], field: str, max_depth: int) -> np.ndarray:
    """Stack ``rows`` into one float64 array ``[N, *row_shape]``; all rows must share a shape."""
    flat: list[list[float]] = []
    shapes: list[tuple[int, ...] | None] = []
    for i, row in enumerate(rows):
        if row is None:
            flat.append([])
            shapes.append(None)
            continue
        values: list[float] = []
        shape = _flatten(row, 0, values, field, i)
        if len(shape) > max_depth:
            raise SpecError(
                ("data", field, i),
                f"data.{field}[{i}] has shape {list(shape)}; {field} rows may nest at most {max_depth} deep",
            )
        flat.append(values)
        shapes.append(shape)
    first = next((i for i, s in enumerate(shapes) if s is not None), None)
    common: tuple[int, ...] = (shapes[first] or ()) if first is not None else ()
    for i, other in enumerate(shapes):
        if other is not None and other != common:
            raise SpecError(
                ("data", field, i),
                f"data.{field}[{i}] has shape {list(other)} but data.{field}[{first}] has "
                f"{list(common)}; every row must have the same shape",
            )
    size = int(np.prod(common))
    if size == 0 and common:
        raise SpecError(("data", field, first or 0), f"data.{field}[{first}] is empty; rows need values")
    out = np.empty((len(rows), size), dtype=np.float64)
    for i, values in enumerate(flat):
        out[i] = values if shapes[i] is not None else math.nan
    return out.reshape(len(rows), *common)


def load_inline(data: InlineData) -> RawData:
    """Parse the request's ``x`` (float32 ``[N, *row_shape]``) and ``y`` (``[N]`` or ``[N, k]``)."""
    x = _rows(data.x, "x", MAX_ROW_DEPTH)
    y = _rows(data.y, "y", 1)
    return RawData(x=as_features(x), y=as_labels(y))
