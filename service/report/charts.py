"""The report's charts as inline SVG, drawn by this module alone (no plotting library).

Drawing is string formatting: a page of ten charts takes milliseconds, the first one included, where
matplotlib's import and font cache made the first render of a report take seconds on a loaded machine.

Every chart is an ``<svg class="chart" data-chart=KIND>`` element, ``viewBox`` sized in CSS pixels,
with its title in ``<title>`` (a tooltip and what screen readers say). Text in it is escaped. Missing
(non-finite) loss values are gaps in a line; runs whose loss went non-finite are drawn as a red cross
at the top of the chart, labelled "non-finite". A loss axis is logarithmic when every value is
positive and they span more than ``LOG_SCALE_RATIO``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

from worker.contract.result import History

#: Largest/smallest value above which a loss axis becomes logarithmic.
LOG_SCALE_RATIO = 50.0
#: Runs with at most this many points get a marker on every point.
MARKER_MAX_POINTS = 60
#: Chart size in CSS pixels (width, height); the page scales it to its column.
CHART_SIZE = (480, 280)
#: Plot margins inside a chart in px: left, right, top, bottom.
MARGINS = (58, 16, 30, 42)
#: Curve colours: train, validation.
TRAIN_COLOUR, VAL_COLOUR = "#1f5fa8", "#d9711c"
#: Reference lines: the chance-level loss, the baseline.
CHANCE_COLOUR, BASELINE_COLOUR = "#8c959f", "#222222"
#: What a non-finite run is drawn in.
NON_FINITE_COLOUR = "#cf222e"
#: Colours of the runs of a chart with many lines, baseline first.
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
        f = float(v) if isinstance(v, int | float) and not isinstance(v, bool) else math.nan
        out.append(f if math.isfinite(f) else math.nan)
    return out


def wants_log_scale(series: list[list[float]]) -> bool:
    """True when every finite value is positive and they span more than ``LOG_SCALE_RATIO``."""
    finite = [v for s in series for v in s if math.isfinite(v)]
    if not finite or min(finite) <= 0:
        return False
    return max(finite) / min(finite) > LOG_SCALE_RATIO


def _fmt(value: float) -> str:
    """A tick label: short, no trailing zeros (``0.001``, ``2.5``, ``1e+04``)."""
    if value == 0:
        return "0"
    return f"{value:.3g}"


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering [lo, hi] on a linear axis."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(1, count)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step) * step
    ticks, t = [], first
    while t <= hi + step * 1e-9:
        if t >= lo - step * 1e-9:
            ticks.append(round(t, 12))
        t += step
    return ticks


def log_ticks(lo: float, hi: float) -> list[float]:
    """Powers of ten covering [lo, hi] (both > 0); every other one when there are many."""
    a, b = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    every = max(1, (b - a) // 6 + 1)
    return [10.0**e for e in range(a, b + 1, every)]


@dataclass
class Axis:
    """One axis: a value range and whether it is logarithmic; maps values to pixels."""

    lo: float
    hi: float
    log: bool = False
    ticks: list[float] = field(default_factory=list)

    @classmethod
    def fit(cls, values: Sequence[float], log: bool = False, pad: float = 0.05, floor: float | None = None) -> Axis:
        """An axis covering the finite ``values`` (at least a small span), with ticks; ``floor`` is
        a value the range must include (0 for a linear loss axis)."""
        finite = [v for v in values if math.isfinite(v) and (v > 0 or not log)]
        if floor is not None and not log:
            finite.append(floor)
        if not finite:
            return cls(0.0, 1.0, False, [0.0, 0.5, 1.0])
        if log:
            a, b = math.log10(min(finite)), math.log10(max(finite))
            if b - a < 1e-9:
                a, b = a - 0.5, b + 0.5
            span = b - a
            lo, hi = 10 ** (a - pad * span), 10 ** (b + pad * span)
            return cls(lo, hi, True, [t for t in log_ticks(lo, hi) if lo <= t <= hi] or [lo, hi])
        lo, hi = min(finite), max(finite)
        if hi - lo < 1e-12:
            lo, hi = lo - 0.5 if lo != 0 else 0.0, hi + 0.5
        span = hi - lo
        lo = lo - pad * span if lo != floor else lo
        hi = hi + pad * span
        return cls(lo, hi, False, [t for t in nice_ticks(lo, hi) if lo <= t <= hi])

    def frac(self, v: float) -> float:
        """Where ``v`` lies on the axis, 0 (low end) to 1 (high end); may fall outside."""
        if self.log:
            return (math.log10(v) - math.log10(self.lo)) / (math.log10(self.hi) - math.log10(self.lo))
        return (v - self.lo) / (self.hi - self.lo)


@dataclass
class Plot:
    """The plotting area of one chart; collects SVG elements."""

    x: Axis
    y: Axis
    size: tuple[int, int] = CHART_SIZE
    parts: list[str] = field(default_factory=list)
    margins: tuple[int, int, int, int] = MARGINS
    legend_outside: bool = False

    @property
    def box(self) -> tuple[float, float, float, float]:
        """The plotting area in px: left, top, right, bottom."""
        left, right, top, bottom = self.margins
        return left, top, self.size[0] - right, self.size[1] - bottom

    def px(self, x: float, y: float) -> tuple[float, float]:
        """Pixel position of a data point."""
        lft, t, r, b = self.box
        return lft + self.x.frac(x) * (r - lft), b - self.y.frac(y) * (b - t)

    def frame(self, title: str, x_label: str, y_label: str) -> None:
        """Axes, grid lines, tick labels, axis labels and title."""
        lft, t, r, b = self.box
        w, h = self.size
        self.parts.append(f'<text class="title" x="{w / 2:.0f}" y="18" text-anchor="middle">{escape(title)}</text>')
        for tick in self.y.ticks:
            _, y = self.px(self.x.lo, tick)
            self.parts.append(f'<line class="grid" x1="{lft:.1f}" y1="{y:.1f}" x2="{r:.1f}" y2="{y:.1f}"/>')
            self.parts.append(f'<text x="{lft - 5:.1f}" y="{y + 4:.1f}" text-anchor="end">{_fmt(tick)}</text>')
        for tick in self.x.ticks:
            x, _ = self.px(tick, self.y.lo)
            self.parts.append(f'<line class="grid" x1="{x:.1f}" y1="{t:.1f}" x2="{x:.1f}" y2="{b:.1f}"/>')
            self.parts.append(f'<text x="{x:.1f}" y="{b + 15:.1f}" text-anchor="middle">{_fmt(tick)}</text>')
        self.parts.append(f'<rect class="frame" x="{lft:.1f}" y="{t:.1f}" width="{r - lft:.1f}" height="{b - t:.1f}"/>')
        self.parts.append(f'<text x="{(lft + r) / 2:.1f}" y="{h - 6}" text-anchor="middle">{escape(x_label)}</text>')
        self.parts.append(
            f'<text x="14" y="{(t + b) / 2:.1f}" text-anchor="middle" '
            f'transform="rotate(-90 14 {(t + b) / 2:.1f})">{escape(y_label)}</text>'
        )

    def line(
        self,
        xs: Sequence[float],
        ys: Sequence[float],
        colour: str,
        *,
        width: float = 1.6,
        dashed: bool = False,
        markers: bool = False,
        name: str = "",
    ) -> None:
        """A polyline through the finite points; a missing value breaks it."""
        runs: list[list[tuple[float, float]]] = [[]]
        for x, y in zip(xs, ys, strict=False):
            if math.isfinite(x) and math.isfinite(y) and (y > 0 or not self.y.log) and (x > 0 or not self.x.log):
                runs[-1].append(self.px(x, y))
            elif runs[-1]:
                runs.append([])
        dash = ' stroke-dasharray="5 3"' if dashed else ""
        label = f' data-series="{escape(name)}"' if name else ""
        for points in runs:
            if len(points) > 1:
                d = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
                self.parts.append(
                    f'<polyline{label} points="{d}" fill="none" stroke="{colour}" stroke-width="{width}"{dash}/>'
                )
            if markers or len(points) == 1:
                for px, py in points:
                    self.parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2.4" fill="{colour}"/>')

    def hline(self, y: float, colour: str, label: str, dashed: bool = True) -> None:
        """A labelled horizontal reference line (chance level, the baseline), if it is on the axis."""
        if not math.isfinite(y) or (self.y.log and y <= 0) or not 0 <= self.y.frac(y) <= 1:
            return
        lft, _, r, _ = self.box
        _, py = self.px(self.x.lo, y)
        dash = ' stroke-dasharray="6 4"' if dashed else ""
        self.parts.append(
            f'<line class="ref" x1="{lft:.1f}" y1="{py:.1f}" x2="{r:.1f}" y2="{py:.1f}" stroke="{colour}"{dash}/>'
            f'<text x="{r - 4:.1f}" y="{py - 4:.1f}" text-anchor="end" fill="{colour}">{escape(label)}</text>'
        )

    def svg(self, kind: str, title: str, legend: Sequence[tuple[str, str, bool]] = ()) -> str:
        """The chart as an ``<svg>`` element; ``legend``: (label, colour, dashed) entries."""
        w, h = self.size
        lft, t, r, _ = self.box
        if self.legend_outside:
            r = w - 4
        keys = []
        for i, (label, colour, dashed) in enumerate(legend[:22]):
            y = t + 10 + 14 * i
            dash = ' stroke-dasharray="5 3"' if dashed else ""
            keys.append(
                f'<line x1="{r - 118:.1f}" y1="{y - 4:.1f}" x2="{r - 100:.1f}" y2="{y - 4:.1f}" '
                f'stroke="{colour}" stroke-width="2"{dash}/>'
                f'<text x="{r - 96:.1f}" y="{y:.1f}">{escape(label[:18])}</text>'
            )
        legend_box = (
            f'<g class="legend"><rect x="{r - 122:.1f}" y="{t + 1:.1f}" width="120" '
            f'height="{14 * len(keys) + 4}" fill="#ffffff" fill-opacity="0.85"/>{"".join(keys)}</g>'
            if keys
            else ""
        )
        return (
            f'<svg class="chart" data-chart="{escape(kind)}" xmlns="http://www.w3.org/2000/svg" '
            f'viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" font-size="11" '
            f'font-family="system-ui,sans-serif"><title>{escape(title)}</title>'
            f"{''.join(self.parts)}{legend_box}</svg>"
        )


def _epochs(history: History, n: int) -> list[float]:
    epochs = history.epoch
    return [float(e) for e in epochs] if len(epochs) == n else [float(i + 1) for i in range(n)]


def _empty(kind: str, title: str, message: str) -> str:
    w, h = CHART_SIZE
    return (
        f'<svg class="chart" data-chart="{escape(kind)}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" font-size="12" '
        f'font-family="system-ui,sans-serif"><title>{escape(title)}</title>'
        f'<text x="{w / 2}" y="18" text-anchor="middle" class="title">{escape(title)}</text>'
        f'<text x="{w / 2}" y="{h / 2}" text-anchor="middle" fill="#59636e">{escape(message)}</text></svg>'
    )


def curve_svg(history: History, title: str, chance: float | None = None) -> str:
    """One run's train (solid) and validation (dashed) loss per epoch; ``chance`` marked when given."""
    train, val = as_floats(history.train_loss), as_floats(history.val_loss)
    if not any(math.isfinite(v) for v in train + val):
        return _empty("curve", title, "no finite loss recorded" if train else "no epoch finished yet")
    log = wants_log_scale([train, val])
    xs_t, xs_v = _epochs(history, len(train)), _epochs(history, len(val))
    x = Axis.fit(xs_t + xs_v, pad=0.0)
    x.ticks = [t for t in nice_ticks(x.lo, x.hi) if float(t).is_integer()] or [x.lo]
    refs = [chance] if chance is not None and math.isfinite(chance) else []
    plot = Plot(x, Axis.fit(train + val + refs, log=log, floor=None if log else 0.0))
    plot.frame(title, "epoch", "loss")
    if refs:
        plot.hline(refs[0], CHANCE_COLOUR, "chance")
    many = max(len(train), len(val)) <= MARKER_MAX_POINTS
    plot.line(xs_t, train, TRAIN_COLOUR, markers=many, name="train")
    plot.line(xs_v, val, VAL_COLOUR, dashed=True, markers=many, name="validation")
    _non_finite_end(plot, xs_t, train, history.train_loss)
    return plot.svg("curve", title, [("train", TRAIN_COLOUR, False), ("validation", VAL_COLOUR, True)])


def _non_finite_end(plot: Plot, xs: list[float], values: list[float], raw: Sequence[Any]) -> None:
    """A red cross at the top where a run's last recorded loss is non-finite."""
    if raw and values and not math.isfinite(values[-1]):
        px, _ = plot.px(xs[-1], plot.y.hi)
        _, top, _, _ = plot.box
        plot.parts.append(
            _cross(px, top + 6) + f'<text x="{px - 6:.1f}" y="{top + 20:.1f}" text-anchor="end" '
            f'fill="{NON_FINITE_COLOUR}">non-finite</text>'
        )


def _cross(x: float, y: float, r: float = 4.5) -> str:
    return (
        f'<path class="non-finite" d="M{x - r:.1f},{y - r:.1f}L{x + r:.1f},{y + r:.1f}'
        f'M{x - r:.1f},{y + r:.1f}L{x + r:.1f},{y - r:.1f}" stroke="{NON_FINITE_COLOUR}" stroke-width="2.2"/>'
    )


def overview_svg(runs: list[tuple[str, History]], chance: float | None = None) -> str:
    """Every run's train loss per epoch on one chart, the baseline (first) thick and black."""
    title = "train loss of every run"
    series = [as_floats(h.train_loss) for _, h in runs]
    if not any(math.isfinite(v) for s in series for v in s):
        return _empty("overview", title, "no finite loss recorded")
    log = wants_log_scale(series)
    xs = [_epochs(h, len(s)) for (_, h), s in zip(runs, series, strict=True)]
    x = Axis.fit([v for e in xs for v in e], pad=0.0)
    x.ticks = [t for t in nice_ticks(x.lo, x.hi) if float(t).is_integer()] or [x.lo]
    refs = [chance] if chance is not None and math.isfinite(chance) else []
    plot = Plot(
        x,
        Axis.fit([v for s in series for v in s] + refs, log=log, floor=None if log else 0.0),
        size=(760, 360),
        margins=(58, 140, 30, 42),
        legend_outside=True,
    )
    plot.frame(title, "epoch", "train loss")
    if refs:
        plot.hline(refs[0], CHANCE_COLOUR, "chance")
    legend = []
    for i, ((name, _), values, epochs) in enumerate(zip(runs, series, xs, strict=True)):
        colour = PALETTE[i % len(PALETTE)]
        plot.line(epochs, values, colour, width=2.6 if i == 0 else 1.3, name=name)
        legend.append((name, colour, False))
    return plot.svg("overview", title, legend)


@dataclass
class SweepPoint:
    """One run of the lr sweep: its lr, final train loss (None: non-finite) and name."""

    lr: float
    final_loss: float | None
    name: str
    baseline: bool = False


def lr_sweep_svg(points: list[SweepPoint], chance: float | None) -> str:
    """Final train loss against lr on a log axis; chance level and the baseline marked; a run whose
    loss went non-finite is a red cross at the top labelled "non-finite"."""
    title = "final train loss against learning rate"
    points = [p for p in points if math.isfinite(p.lr) and p.lr > 0]
    if not points:
        return _empty("lr-sweep", title, "no lr sweep ran")
    points.sort(key=lambda p: p.lr)
    finite = [p.final_loss for p in points if p.final_loss is not None and math.isfinite(p.final_loss)]
    refs = [chance] if chance is not None and math.isfinite(chance) else []
    log_y = wants_log_scale([finite + refs])
    plot = Plot(
        Axis.fit([p.lr for p in points], log=True, pad=0.08),
        Axis.fit(finite + refs, log=log_y, floor=None if log_y else 0.0, pad=0.14),
        size=(720, 320),
    )
    plot.frame(title, "learning rate (log scale)", "final train loss")
    if refs:
        plot.hline(refs[0], CHANCE_COLOUR, "chance")
    plot.line(
        [p.lr for p in points if p.final_loss is not None],
        [float(p.final_loss) for p in points if p.final_loss is not None],
        TRAIN_COLOUR,
        name="sweep",
    )
    _, top, _, _ = plot.box
    for p in points:
        cls = "point baseline" if p.baseline else "point"
        tip = f"{p.name}: lr {p.lr:g}, final loss " + (
            f"{p.final_loss:.4g}" if p.final_loss is not None else "non-finite"
        )
        if p.final_loss is None or not math.isfinite(p.final_loss):
            x, _ = plot.px(p.lr, plot.y.hi)
            plot.parts.append(
                f'<g class="{cls} non-finite-run" data-lr="{p.lr:g}"><title>{escape(tip)}</title>'
                f'{_cross(x, top + 8)}<text x="{x:.1f}" y="{top + 24:.1f}" text-anchor="middle" '
                f'fill="{NON_FINITE_COLOUR}" font-size="10">non-finite</text></g>'
            )
            continue
        x, y = plot.px(p.lr, p.final_loss)
        if p.baseline:
            plot.parts.append(
                f'<g class="{cls}" data-lr="{p.lr:g}"><title>{escape(tip)}</title>'
                f'<rect x="{x - 5:.1f}" y="{y - 5:.1f}" width="10" height="10" '
                f'fill="{BASELINE_COLOUR}"/><text x="{x + 8:.1f}" y="{y - 7:.1f}">baseline</text></g>'
            )
        else:
            plot.parts.append(
                f'<g class="{cls}" data-lr="{p.lr:g}"><title>{escape(tip)}</title>'
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{TRAIN_COLOUR}"/></g>'
            )
    for p in points:
        if p.baseline:
            x, _ = plot.px(p.lr, plot.y.lo)
            _, t, _, b = plot.box
            plot.parts.append(
                f'<line class="ref" x1="{x:.1f}" y1="{t:.1f}" x2="{x:.1f}" y2="{b:.1f}" '
                f'stroke="{BASELINE_COLOUR}" stroke-dasharray="2 3"/>'
            )
    return plot.svg("lr-sweep", title)


@dataclass
class Bar:
    """One run in the probes chart: its name, final loss as a share of chance (None: non-finite),
    and a note shown after the bar (its stop reason)."""

    name: str
    share: float | None
    note: str = ""
    baseline: bool = False


#: The share of chance drawn at the right end of the probes chart at least (1 = chance level).
MIN_SHARE_AXIS = 1.25
#: Shares above this are drawn cut off at it (with their value written).
MAX_SHARE_AXIS = 3.0


def probes_svg(bars: list[Bar]) -> str:
    """Each run's final train loss as a share of the chance-level loss, on one axis for all: a bar
    per run, the chance level (1.0) as a line, a non-finite run as a red cross labelled "non-finite"."""
    title = "final train loss as a share of chance (1 = no better than chance)"
    if not bars:
        return _empty("probes", title, "no probes ran")
    shares = [b.share for b in bars if b.share is not None and math.isfinite(b.share)]
    top = min(MAX_SHARE_AXIS, max([MIN_SHARE_AXIS, *(s * 1.05 for s in shares)]))
    row, name_w, note_w = 20, 130, 210
    w = 780
    h = 44 + row * len(bars) + 22
    lft, r = name_w, w - note_w
    x = Axis(0.0, top, False, [t for t in nice_ticks(0.0, top) if t <= top])

    def px(v: float) -> float:
        return lft + x.frac(min(v, top)) * (r - lft)

    parts = [f'<text class="title" x="{w / 2:.0f}" y="18" text-anchor="middle">{escape(title)}</text>']
    y0 = 34
    for tick in x.ticks:
        parts.append(
            f'<line class="grid" x1="{px(tick):.1f}" y1="{y0:.1f}" x2="{px(tick):.1f}" '
            f'y2="{y0 + row * len(bars):.1f}"/><text x="{px(tick):.1f}" y="{y0 + row * len(bars) + 14:.1f}" '
            f'text-anchor="middle">{_fmt(tick)}</text>'
        )
    for i, bar in enumerate(bars):
        y = y0 + row * i
        weight = ' font-weight="700"' if bar.baseline else ""
        parts.append(
            f'<g class="bar" data-run="{escape(bar.name)}">'
            f'<text x="{lft - 6}" y="{y + 14:.1f}" text-anchor="end"{weight}>{escape(bar.name[:24])}</text>'
        )
        if bar.share is None or not math.isfinite(bar.share):
            parts.append(
                _cross(lft + 8, y + 10) + f'<text x="{lft + 18}" y="{y + 14:.1f}" '
                f'fill="{NON_FINITE_COLOUR}">non-finite</text>'
            )
        else:
            colour = (
                BASELINE_COLOUR
                if bar.baseline
                else ("#2da44e" if bar.share < 0.6 else "#bf8700" if bar.share < 0.9 else "#8c959f")
            )
            cut = bar.share > top
            value = f"{bar.share:.3g}" + (" ›" if cut else "")
            parts.append(
                f'<rect x="{lft}" y="{y + 4:.1f}" width="{max(1.0, px(bar.share) - lft):.1f}" height="{row - 7}" '
                f'fill="{colour}"/>'
            )
            parts.append(
                f'<text x="{px(bar.share) - 4:.1f}" y="{y + 14:.1f}" text-anchor="end" fill="#ffffff" '
                f'font-weight="600">{value}</text>'
                if cut
                else f'<text x="{px(bar.share) + 4:.1f}" y="{y + 14:.1f}">{value}</text>'
            )
        if bar.note:
            parts.append(f'<text x="{r + 40}" y="{y + 14:.1f}" fill="#59636e">{escape(bar.note)}</text>')
        parts.append("</g>")
    cx = px(1.0)
    parts.append(
        f'<line class="ref" x1="{cx:.1f}" y1="{y0 - 4}" x2="{cx:.1f}" y2="{y0 + row * len(bars):.1f}" '
        f'stroke="{NON_FINITE_COLOUR}" stroke-dasharray="6 4"/>'
        f'<text x="{cx + 3:.1f}" y="{y0 - 6}" fill="{NON_FINITE_COLOUR}">chance</text>'
    )
    return (
        f'<svg class="chart" data-chart="probes" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" '
        f'width="{w}" height="{h}" role="img" font-size="11" font-family="system-ui,sans-serif">'
        f"<title>{escape(title)}</title>{''.join(parts)}</svg>"
    )


def layers_svg(
    layers: Sequence[tuple[str, Sequence[float | None]]],
    kind: str,
    title: str,
    y_label: str,
    x_label: str,
    *,
    fraction: bool = False,
) -> str:
    """One series per layer (its name and values) against its index (instrumented step or epoch), in an
    ``<svg data-chart=kind>``; ``fraction``: the values are shares 0..1 (a fixed axis), else the y axis
    is logarithmic when the values span more than ``LOG_SCALE_RATIO``."""
    series = [(name, as_floats(values)) for name, values in layers]
    series = [(name, values) for name, values in series if values]
    if not any(math.isfinite(v) for _, values in series for v in values):
        return _empty(kind, title, "not recorded for this run")
    log = wants_log_scale([values for _, values in series])
    longest = max(len(values) for _, values in series)
    x = Axis(1.0, float(max(2, longest)), False, [])
    x.ticks = [t for t in nice_ticks(x.lo, x.hi) if float(t).is_integer()]
    y = (
        Axis(0.0, 1.0, False, [0.0, 0.25, 0.5, 0.75, 1.0])
        if fraction
        else Axis.fit([v for _, values in series for v in values], log=log, floor=None if log else 0.0)
    )
    plot = Plot(x, y)
    plot.frame(title, x_label, y_label)
    legend = []
    for i, (name, values) in enumerate(series):
        colour = PALETTE[(i + 1) % len(PALETTE)]
        plot.line([float(k + 1) for k in range(len(values))], values, colour, markers=len(values) <= 30, name=name)
        legend.append((name, colour, False))
    return plot.svg(kind, title, legend)
