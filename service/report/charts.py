"""Loss curves drawn as inline SVG with matplotlib (no pyplot, so concurrent requests do not share state).

Missing (non-finite) points are gaps in the line. The y axis is logarithmic when every value is
positive and they span more than ``LOG_SCALE_RATIO``.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib.backends.backend_svg import FigureCanvasSVG  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

#: Largest/smallest value above which the loss axis becomes logarithmic.
LOG_SCALE_RATIO = 50.0
#: Runs with at most this many epochs get a marker on every point.
MARKER_MAX_POINTS = 60
#: Chart size in inches (at 96 px per inch in a browser).
CHART_SIZE = (5.0, 3.0)
#: Curve colours: train, validation.
TRAIN_COLOUR, VAL_COLOUR = "#1f5fa8", "#d9711c"
#: Colours of the runs in the overview chart, baseline first.
PALETTE = (
    "#222222",
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)


def as_floats(values: Sequence[Any] | None) -> list[float]:
    """The values as floats, with None and non-finite values as NaN (drawn as gaps)."""
    out = []
    for v in values or ():
        f = float(v) if isinstance(v, int | float) else math.nan
        out.append(f if math.isfinite(f) else math.nan)
    return out


def wants_log_scale(series: list[list[float]]) -> bool:
    """True when every finite value is positive and they span more than ``LOG_SCALE_RATIO``."""
    finite = [v for s in series for v in s if math.isfinite(v)]
    if not finite or min(finite) <= 0:
        return False
    return max(finite) / min(finite) > LOG_SCALE_RATIO


def _svg(fig: Figure) -> str:
    buffer = io.StringIO()
    FigureCanvasSVG(fig).print_svg(buffer)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def _epochs(history: dict[str, Any], n: int) -> list[float]:
    epochs = history.get("epoch") or []
    return [float(e) for e in epochs] if len(epochs) == n else [float(i + 1) for i in range(n)]


def _new_axes(title: str) -> tuple[Figure, Any]:
    fig = Figure(figsize=CHART_SIZE)
    ax = fig.add_subplot()
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("loss")
    ax.grid(True, alpha=0.3)
    return fig, ax


def curve_svg(history: dict[str, Any], title: str) -> str:
    """One run's train and validation loss per epoch as an SVG element."""
    train, val = as_floats(history.get("train_loss")), as_floats(history.get("val_loss"))
    fig, ax = _new_axes(title)
    drawn = False
    for values, label, colour, style in (
        (train, "train", TRAIN_COLOUR, "-"),
        (val, "validation", VAL_COLOUR, "--"),
    ):
        if values:
            ax.plot(
                _epochs(history, len(values)),
                values,
                style,
                color=colour,
                label=label,
                marker="." if len(values) <= MARKER_MAX_POINTS else None,
            )
            drawn = drawn or any(math.isfinite(v) for v in values)
    if not drawn:
        ax.text(0.5, 0.5, "no finite loss recorded", ha="center", va="center", transform=ax.transAxes)
    elif wants_log_scale([train, val]):
        ax.set_yscale("log")
    if drawn:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return _svg(fig)


def overview_svg(runs: list[tuple[str, dict[str, Any]]]) -> str:
    """Every run's train loss on one chart, the baseline in black."""
    fig, ax = _new_axes("train loss of every run")
    series = []
    for i, (name, history) in enumerate(runs):
        values = as_floats(history.get("train_loss"))
        series.append(values)
        if values:
            ax.plot(
                _epochs(history, len(values)),
                values,
                color=PALETTE[i % len(PALETTE)],
                label=name,
                linewidth=2.2 if i == 0 else 1.2,
            )
    if wants_log_scale(series):
        ax.set_yscale("log")
    if any(series):
        ax.legend(fontsize=7, ncol=2)
    fig.set_size_inches(CHART_SIZE[0] * 1.6, CHART_SIZE[1] * 1.3)
    fig.tight_layout()
    return _svg(fig)
