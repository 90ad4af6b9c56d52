"""Bar charts as SVG geometry (server-rendered: no chart library, nothing fetched by the browser)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    series: str
    value: float
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True, slots=True)
class BarChart:
    title: str
    unit: str
    width: float
    height: float
    bars: tuple[Bar, ...]
    groups: tuple[tuple[str, float], ...]  # label, centre x
    series: tuple[str, ...]
    max_value: float
    ticks: tuple[tuple[float, float], ...]  # value, y


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** len(str(int(value))) / 10
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return value


def bar_chart(
    title: str,
    unit: str,
    groups: Sequence[tuple[str, Sequence[float]]],
    series: Sequence[str],
    *,
    width: float = 640.0,
    height: float = 260.0,
) -> BarChart:
    """Grouped bars: one group per label, one bar per series; the axis starts at 0 and ends at a round
    value above the largest bar (values are quantities such as km, never shares squeezed onto 0-1)."""
    left, bottom, top = 50.0, 40.0, 20.0
    plot_h = height - bottom - top
    top_value = _nice_max(max((v for _, values in groups for v in values), default=0.0))
    group_w = (width - left - 10.0) / max(len(groups), 1)
    bar_w = group_w * 0.8 / max(len(series), 1)
    bars: list[Bar] = []
    centres: list[tuple[str, float]] = []
    for i, (label, values) in enumerate(groups):
        x0 = left + i * group_w + group_w * 0.1
        centres.append((label, round(x0 + group_w * 0.4, 1)))
        for j, value in enumerate(values):
            h = plot_h * max(value, 0.0) / top_value
            bars.append(Bar(label, series[j], value, round(x0 + j * bar_w, 1), round(top + plot_h - h, 1),
                            round(bar_w * 0.95, 1), round(h, 1)))
    ticks = tuple((round(top_value * k / 4, 3), round(top + plot_h - plot_h * k / 4, 1)) for k in range(5))
    return BarChart(title, unit, width, height, tuple(bars), tuple(centres), tuple(series), top_value, ticks)
