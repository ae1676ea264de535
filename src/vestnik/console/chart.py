"""A stacked bar chart as plain geometry for an inline SVG (the template draws it): no script,
no style attributes; colours come from CSS classes ``o-<outcome>`` in console.css."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from vestnik.console.overview_data import OUTCOMES, Bucket
from vestnik.console.render import zone_name

WIDTH, HEIGHT = 960, 240  # the viewBox; the SVG scales to the page's width
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 10, 26  # room for the axis labels


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    outcome: str  # CSS class suffix
    title: str  # the tooltip: the bucket's time, the outcome, the count


@dataclass(frozen=True)
class Tick:
    at: float  # x or y in the viewBox
    text: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    rects: list[Rect]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    left: int
    right: int  # x of the plot's right edge
    baseline: int  # y of the zero line


def _nice_top(peak: int) -> int:
    """The y axis' top: the smallest of 1, 2, 5 × 10^n not below ``peak`` (at least 2)."""
    top = 1
    while True:
        for step in (1, 2, 5):
            if top * step >= max(peak, 2):
                return top * step
        top *= 10


def clock(at: float) -> str:
    return datetime.fromtimestamp(at, ZoneInfo(zone_name())).strftime("%H:%M")


def stacked_bars(buckets: Sequence[Bucket], bucket_minutes: int) -> Chart:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    baseline = TOP + plot_h
    top = _nice_top(max((b.total for b in buckets), default=0))
    step = plot_w / max(1, len(buckets))
    gap = min(1.0, step * 0.15)
    rects: list[Rect] = []
    for i, bucket in enumerate(buckets):
        y = float(baseline)
        for outcome in OUTCOMES:  # answered at the bottom, not finished on top
            count = bucket.counts.get(outcome.key, 0)
            if not count:
                continue
            h = plot_h * count / top
            y -= h
            title = f"{clock(bucket.start)} +{bucket_minutes} min: {outcome.label} {count}"
            rects.append(Rect(round(LEFT + i * step, 2), round(y, 2),
                              round(step - gap, 2), round(h, 2), outcome.key, title))  # fmt: skip
    every = max(1, len(buckets) // 6)
    x_ticks = [Tick(round(LEFT + i * step, 2), clock(buckets[i].start))
               for i in range(0, len(buckets), every)]  # fmt: skip
    y_ticks = [Tick(round(baseline - plot_h * v / top, 2), str(v)) for v in (0, top // 2, top)]
    return Chart(WIDTH, HEIGHT, rects, x_ticks, y_ticks, LEFT, WIDTH - RIGHT, baseline)
