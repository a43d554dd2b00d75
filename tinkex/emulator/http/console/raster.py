"""The charts as a PNG, drawn with numpy and encoded with zlib (no imaging library needed).

:func:`charts_png` draws the same :class:`~.charts.Plot` layouts the pages
draw as SVG. Everything is drawn at twice the final size and averaged down
2 x 2, which smooths lines and the bitmap font's edges.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

import numpy as np

from . import font
from .charts import Chart, Plot, layout, value_label

_SS = 2  # supersampling factor
_WHITE = (255, 255, 255)
_FRAME = (203, 213, 225)
_GRID = (236, 240, 245)
_TEXT = (71, 85, 105)
_TITLE = (15, 23, 42)


def _rgb(color: str) -> tuple[int, int, int]:
    value = int(color.lstrip("#"), 16)
    return (value >> 16) & 255, (value >> 8) & 255, value & 255


class Canvas:
    """An RGB image at ``_SS`` times the requested size; coordinates are final pixels."""

    def __init__(self, width: int, height: int):
        self.width, self.height = width, height
        self.pixels = np.full((height * _SS, width * _SS, 3), 255, dtype=np.uint8)

    def rect(self, x0: float, y0: float, x1: float, y1: float,
             color: tuple[int, int, int]) -> None:
        ys, ye = sorted((int(round(y0 * _SS)), int(round(y1 * _SS))))
        xs, xe = sorted((int(round(x0 * _SS)), int(round(x1 * _SS))))
        self.pixels[max(ys, 0):max(ye, ys + 1), max(xs, 0):max(xe, xs + 1)] = color

    def hline(self, x0: float, x1: float, y: float, color: tuple[int, int, int]) -> None:
        self.rect(x0, y - 0.5, x1, y + 0.5, color)

    def vline(self, x: float, y0: float, y1: float, color: tuple[int, int, int]) -> None:
        self.rect(x - 0.5, y0, x + 0.5, y1, color)

    def polyline(self, points: Sequence[tuple[float, float]], color: tuple[int, int, int],
                 width: float = 2.0) -> None:
        """A round-capped line through ``points``: discs stamped every half pixel."""
        if not points:
            return
        p = np.asarray(points, dtype=np.float64) * _SS
        if len(p) == 1:
            samples = p
        else:
            seg = np.diff(p, axis=0)
            counts = np.maximum(1, np.ceil(np.hypot(seg[:, 0], seg[:, 1]) * 2)).astype(int)
            starts = np.repeat(p[:-1], counts, axis=0)
            steps = np.repeat(seg / counts[:, None], counts, axis=0)
            offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
            samples = np.vstack([starts + steps * offsets[:, None], p[-1:]])
        radius = width * _SS / 2
        r = int(np.ceil(radius))
        dy, dx = np.mgrid[-r:r + 1, -r:r + 1]
        disc = (dx * dx + dy * dy) <= radius * radius
        centres = np.round(samples).astype(int)
        h, w = self.pixels.shape[:2]
        xs = (centres[:, 0][:, None] + dx[disc][None, :]).ravel()
        ys = (centres[:, 1][:, None] + dy[disc][None, :]).ravel()
        inside = (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h)
        self.pixels[ys[inside], xs[inside]] = color

    def text(self, x: float, y: float, text: str, color: tuple[int, int, int],
             scale: int = 3, anchor: str = "start") -> None:
        """``text`` with its baseline at ``y``; ``scale`` is in supersampled pixels per dot."""
        width = font.text_width(text, scale) / _SS
        if anchor == "middle":
            x -= width / 2
        elif anchor == "end":
            x -= width
        left = int(round(x * _SS))
        top = int(round(y * _SS)) - 7 * scale  # rows 0-6 sit above the baseline
        for i, char in enumerate(text):
            self._blit(font.glyph(char, scale), left + i * font.ADVANCE * scale, top, color)

    def _blit(self, mask: np.ndarray, x: int, y: int, color: tuple[int, int, int]) -> None:
        h, w = self.pixels.shape[:2]
        y0, x0 = max(y, 0), max(x, 0)
        y1, x1 = min(y + mask.shape[0], h), min(x + mask.shape[1], w)
        if y1 <= y0 or x1 <= x0:
            return
        region = self.pixels[y0:y1, x0:x1]
        region[mask[y0 - y:y1 - y, x0 - x:x1 - x]] = color

    def downsampled(self) -> np.ndarray:
        """Each final pixel the mean of its ``_SS`` x ``_SS`` block."""
        total = np.zeros((self.height, self.width, 3), dtype=np.uint16)
        for dy in range(_SS):
            for dx in range(_SS):
                total += self.pixels[dy::_SS, dx::_SS]
        return (total // (_SS * _SS)).astype(np.uint8)


def draw_plot(canvas: Canvas, plot: Plot, dx: float = 0.0, dy: float = 0.0) -> None:
    """One chart with its top-left corner at (dx, dy)."""
    left, right, top, bottom = plot.left + dx, plot.right + dx, plot.top + dy, plot.bottom + dy
    for tick in plot.yticks:
        canvas.hline(left, right, tick.pos + dy, _GRID)
        canvas.text(left - 6, tick.pos + dy + 4, tick.label, _TEXT, anchor="end")
    for tick in plot.xticks:
        canvas.vline(tick.pos + dx, top, bottom, _GRID)
        canvas.text(tick.pos + dx, bottom + 16, tick.label, _TEXT, anchor="middle")
    canvas.hline(left, right, bottom, _FRAME)
    canvas.vline(left, top, bottom, _FRAME)
    canvas.text(left, top - 24, plot.chart.title, _TITLE, scale=4)
    legend_x = right
    for line in reversed(plot.lines):
        label = f"{line.label} {value_label(line.last)}"
        canvas.text(legend_x, top - 8, label, _rgb(line.color), anchor="end")
        legend_x -= font.text_width(label, 3) / _SS + 12
        canvas.polyline([(x + dx, y + dy) for x, y in line.points], _rgb(line.color))
    if plot.empty:
        canvas.text((left + right) / 2, (top + bottom) / 2, "no steps yet", _TEXT,
                    anchor="middle")


def encode_png(rgb: np.ndarray) -> bytes:
    """An 8-bit RGB PNG of an ``(height, width, 3)`` uint8 array."""
    height, width, _ = rgb.shape
    rows = np.hstack([np.zeros((height, 1), dtype=np.uint8), rgb.reshape(height, width * 3)])

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + chunk(b"IEND", b""))


def charts_png(charts: Sequence[Chart], title: str, cell: tuple[int, int] = (480, 250)) -> bytes:
    """The first chart across the top, the others two by two below it, as PNG bytes."""
    header = 36
    width, height = cell
    rows = 1 + -(-(len(charts) - 1) // 2)
    canvas = Canvas(2 * width, header + height * rows)
    canvas.text(16, 24, title, _TITLE, scale=4)
    for i, chart in enumerate(charts):
        if i == 0:
            draw_plot(canvas, layout(chart, 2 * width, height), 0, header)
        else:
            row, col = divmod(i - 1, 2)
            draw_plot(canvas, layout(chart, width, height), col * width,
                      header + (row + 1) * height)
    return encode_png(canvas.downsampled())
