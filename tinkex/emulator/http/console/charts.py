"""Line charts of a run's metrics, laid out once and drawn twice: as SVG (pages) and PNG.

:func:`run_charts` turns recorded steps into :class:`Chart` values (what to
draw); :func:`layout` places one in a pixel box: axes ranges with round ticks,
a log scale when a positive series spans more than a decade, and each series as
pixel points. The page template and :mod:`.raster` both draw a :class:`Plot`,
so the PNG is the same chart as the page. Long runs are thinned to the min and
max of each pixel column, which keeps the curve's shape at any length.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from tinkex.emulator.state.history import Step

#: Series colours, in order (train, eval, ...).
PALETTE = ("#2563eb", "#ea580c", "#16a34a")


@dataclass(frozen=True)
class Series:
    label: str
    xs: tuple[float, ...]
    ys: tuple[float, ...]


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    series: tuple[Series, ...]

    @property
    def count(self) -> int:
        """Points of the first series (one per step for a run's charts)."""
        return len(self.series[0].xs) if self.series else 0


@dataclass(frozen=True)
class Tick:
    pos: float  # pixels
    label: str


@dataclass(frozen=True)
class Line:
    label: str
    color: str
    points: tuple[tuple[float, float], ...]  # pixels
    count: int  # data points before thinning
    last: float | None  # the last value, for the legend

    @property
    def svg_points(self) -> str:
        return " ".join(f"{x:.1f},{y:.1f}" for x, y in self.points)


@dataclass(frozen=True)
class Plot:
    chart: Chart
    width: int
    height: int
    left: float
    top: float
    right: float
    bottom: float
    xticks: tuple[Tick, ...]
    yticks: tuple[Tick, ...]
    lines: tuple[Line, ...]
    log: bool

    @property
    def empty(self) -> bool:
        return not any(line.points for line in self.lines)


def run_charts(steps: Sequence[Step]) -> list[Chart]:
    """The console's charts of a run: loss, tokens, learning rate, gradient and parameter norms."""
    def series(label: str, values: Sequence[tuple[int, float | None]]) -> Series:
        kept = [(x, y) for x, y in values if y is not None and math.isfinite(y)]
        return Series(label, tuple(float(x) for x, _ in kept), tuple(float(y) for _, y in kept))

    loss = [series("train", [(s.step, s.loss) for s in steps])]
    if any(s.eval_loss is not None for s in steps):
        loss.append(series("forward", [(s.step, s.eval_loss) for s in steps]))
    return [
        Chart("loss", "loss per token", tuple(loss)),
        Chart("tokens", "tokens per step", (series("tokens", [(s.step, s.tokens) for s in steps]),)),
        Chart("learning_rate", "learning rate",
              (series("learning rate", [(s.step, s.learning_rate) for s in steps]),)),
        Chart("grad_norm", "gradient norm",
              (series("gradient norm", [(s.step, s.grad_norm) for s in steps]),)),
        Chart("param_norm", "parameter norm",
              (series("parameter norm", [(s.step, s.param_norm) for s in steps]),)),
    ]


# -- scales ---------------------------------------------------------------------------


def _nice(value: float, nearest: bool) -> float:
    """A 1, 2 or 5 times a power of ten: the nearest one, or the next one up."""
    exponent = math.floor(math.log10(value))
    fraction = value / 10**exponent
    bounds = ((1.5, 1.0), (3.0, 2.0), (7.0, 5.0)) if nearest else \
        ((1.0, 1.0), (2.0, 2.0), (5.0, 5.0))
    scale = 10.0 ** exponent
    for bound, nice in bounds:
        if fraction <= bound:
            return nice * scale
    return 10.0 * scale


def _label(value: float, step: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e5 or abs(value) < 1e-3:
        return f"{value:.2g}".replace("e-0", "e-").replace("e+0", "e").replace("e+", "e")
    decimals = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    return f"{value:.{decimals}f}"


def linear_ticks(lo: float, hi: float, count: int = 5,
                 integer: bool = False) -> tuple[float, float, list[float]]:
    """A range covering [lo, hi] that starts and ends on round ticks, and those ticks."""
    if hi <= lo:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    step = _nice(_nice(hi - lo, nearest=False) / max(1, count - 1), nearest=True)
    if integer:
        step = max(1.0, round(step))
    start, end = math.floor(lo / step) * step, math.ceil(hi / step) * step
    ticks = [start + i * step for i in range(int(round((end - start) / step)) + 1)]
    return start, end, ticks


def log_ticks(lo: float, hi: float) -> tuple[float, float, list[float]]:
    """Decades covering [lo, hi] (with 2 and 5 between them when there are few)."""
    first, last = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    decades = [10.0**e for e in range(first, last + 1)]
    if len(decades) <= 3:
        ticks = [m * d for d in decades for m in (1, 2, 5) if lo <= m * d <= hi]
        ticks = sorted(set(ticks) | {decades[0], decades[-1]})
    else:
        ticks = decades
    return decades[0], decades[-1], ticks


def _uses_log(values: Sequence[float]) -> bool:
    return bool(values) and min(values) > 0 and max(values) / min(values) > 10


def _thin(points: list[tuple[float, float]], columns: int) -> list[tuple[float, float]]:
    """At most two points (min and max, in order) per pixel column once points outnumber them."""
    if len(points) <= 2 * columns:
        return points
    out: list[tuple[float, float]] = []
    bucket: list[tuple[float, float]] = []
    column = None
    for point in points:
        c = int(point[0])
        if c != column and bucket:
            lo, hi = min(bucket, key=lambda p: p[1]), max(bucket, key=lambda p: p[1])
            out.extend(sorted({lo, hi}))
            bucket = []
        column = c
        bucket.append(point)
    if bucket:
        lo, hi = min(bucket, key=lambda p: p[1]), max(bucket, key=lambda p: p[1])
        out.extend(sorted({lo, hi}))
    return out


def layout(chart: Chart, width: int = 480, height: int = 240) -> Plot:
    """Place ``chart`` in a ``width`` x ``height`` pixel box."""
    left, top, right, bottom = 58.0, 44.0, width - 16.0, height - 28.0
    xs = [x for s in chart.series for x in s.xs]
    ys = [y for s in chart.series for y in s.ys]
    # Steps run from 0 to the last one; the axis ends at the last step, not at a round tick.
    x1 = max(max(xs, default=1.0), 1.0)
    x0, _, xt = linear_ticks(0.0, x1, 6, integer=True)
    xt = [x for x in xt if x <= x1]
    log = _uses_log(ys)
    if log:
        y0, y1, yt = log_ticks(min(ys), max(ys))
    else:
        y0, y1, yt = linear_ticks(min(ys, default=0.0), max(ys, default=1.0), 5)

    def fy(v: float) -> float:
        return math.log10(v) if log else v
    ly0, ly1 = fy(y0), fy(y1)

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * (right - left)

    def py(y: float) -> float:
        return bottom - (fy(y) - ly0) / (ly1 - ly0) * (bottom - top)

    ystep = yt[1] - yt[0] if len(yt) > 1 else 1.0
    lines = tuple(
        Line(s.label, PALETTE[i % len(PALETTE)],
             tuple(_thin([(px(x), py(y)) for x, y in zip(s.xs, s.ys, strict=True)],
                         int(right - left))),
             len(s.xs), s.ys[-1] if s.ys else None)
        for i, s in enumerate(chart.series))
    return Plot(chart, width, height, left, top, right, bottom,
                tuple(Tick(px(x), _label(x, 1.0)) for x in xt),
                tuple(Tick(py(y), _label(y, y if log else ystep)) for y in yt),
                lines, log)


def value_label(value: float | None) -> str:
    """A metric for a legend or a table: 4 significant digits."""
    if value is None:
        return "–"
    return f"{value:.4g}"
