"""Inline SVG charts for the HTML report: no script, no fonts, no network.

A chart library would inline megabytes of JavaScript to draw a few lines and bars; these
functions draw them in plain SVG (hover a point or bar for its value, via SVG <title>).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Final

WIDTH: Final = 760
HEIGHT: Final = 280
MARGIN_LEFT: Final = 64
MARGIN_RIGHT: Final = 16
MARGIN_TOP: Final = 16
MARGIN_BOTTOM: Final = 48
BAR_ROW: Final = 22
LABEL_WIDTH: Final = 220
# Colour-blind-safe (Okabe-Ito), then greys.
PALETTE: Final = (
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
    "#777777", "#AAAAAA",
)  # fmt: skip


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return float(step * magnitude)
    return float(10 * magnitude)


def _figure(chart_id: str, title: str, svg_body: str, height: int, legend: str = "") -> str:
    return (
        f'<figure class="chart" id="chart-{escape(chart_id)}">'
        f"<figcaption>{escape(title)}</figcaption>"
        f'<svg role="img" aria-label="{escape(title)}" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}"><title>{escape(title)}</title>{svg_body}</svg>'
        f"{legend}</figure>"
    )


def _empty(chart_id: str, title: str) -> str:
    body = (
        f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" class="empty">'
        "no data in this range</text>"
    )
    return _figure(chart_id, title, body, HEIGHT)


def _legend(names: Sequence[str]) -> str:
    items = "".join(
        f'<li><span class="swatch" style="background:{PALETTE[i % len(PALETTE)]}"></span>'
        f"{escape(name)}</li>"
        for i, name in enumerate(names)
    )
    return f'<ul class="legend">{items}</ul>'


def _axes(x_labels: Sequence[str], top: float) -> tuple[str, float, float]:
    """Grid, y ticks and x labels; returns the SVG and the plot's width and height."""
    plot_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    parts: list[str] = []
    for tick in range(5):
        value = top * tick / 4
        y = MARGIN_TOP + plot_h - plot_h * tick / 4
        parts.append(
            f'<line class="grid" x1="{MARGIN_LEFT}" x2="{MARGIN_LEFT + plot_w}" '
            f'y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{MARGIN_LEFT - 6}" y="{y + 4:.1f}" '
            f'text-anchor="end">{_number(value)}</text>'
        )
    every = max(1, len(x_labels) // 8)
    slot = plot_w / max(1, len(x_labels))
    for i, label in enumerate(x_labels):
        if i % every:
            continue
        x = MARGIN_LEFT + slot * (i + 0.5)
        parts.append(
            f'<text class="tick" x="{x:.1f}" y="{HEIGHT - MARGIN_BOTTOM + 18}" '
            f'text-anchor="middle">{escape(label)}</text>'
        )
    return "".join(parts), plot_w, plot_h


def line_chart(
    chart_id: str, title: str, x_labels: Sequence[str], series: Mapping[str, Sequence[float]]
) -> str:
    """One line per series over `x_labels` (each series has one value per label)."""
    if not x_labels or not series:
        return _empty(chart_id, title)
    top = _nice_max(max((max(values, default=0) for values in series.values()), default=0))
    axes, plot_w, plot_h = _axes(x_labels, top)
    slot = plot_w / len(x_labels)
    parts = [axes]
    for index, (name, values) in enumerate(series.items()):
        colour = PALETTE[index % len(PALETTE)]
        points = [
            (MARGIN_LEFT + slot * (i + 0.5), MARGIN_TOP + plot_h - plot_h * value / top)
            for i, value in enumerate(values)
        ]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>')
        parts.extend(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}">'
            f"<title>{escape(name)} {escape(x_labels[i])}: {_number(values[i])}</title></circle>"
            for i, (x, y) in enumerate(points)
        )
    return _figure(chart_id, title, "".join(parts), HEIGHT, _legend(list(series)))


def stacked_bar_chart(
    chart_id: str, title: str, x_labels: Sequence[str], series: Mapping[str, Sequence[float]]
) -> str:
    """Bars over `x_labels`, each stacking the series' values."""
    if not x_labels or not series:
        return _empty(chart_id, title)
    totals = [sum(values[i] for values in series.values()) for i in range(len(x_labels))]
    top = _nice_max(max(totals, default=0))
    axes, plot_w, plot_h = _axes(x_labels, top)
    slot = plot_w / len(x_labels)
    parts = [axes]
    for i, label in enumerate(x_labels):
        base = 0.0
        for index, (name, values) in enumerate(series.items()):
            value = values[i]
            height = plot_h * value / top
            y = MARGIN_TOP + plot_h - plot_h * (base + value) / top
            parts.append(
                f'<rect x="{MARGIN_LEFT + slot * i + slot * 0.15:.1f}" y="{y:.1f}" '
                f'width="{slot * 0.7:.1f}" height="{height:.1f}" '
                f'fill="{PALETTE[index % len(PALETTE)]}">'
                f"<title>{escape(name)} {escape(label)}: {_number(value)}</title></rect>"
            )
            base += value
    return _figure(chart_id, title, "".join(parts), HEIGHT, _legend(list(series)))


def bar_chart(chart_id: str, title: str, labels: Sequence[str], values: Sequence[float]) -> str:
    """Horizontal bars, one per label, in the order given."""
    if not labels:
        return _empty(chart_id, title)
    top = _nice_max(max(values, default=0))
    height = MARGIN_TOP * 2 + BAR_ROW * len(labels)
    bar_space = WIDTH - LABEL_WIDTH - MARGIN_RIGHT - 70
    parts: list[str] = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = MARGIN_TOP + BAR_ROW * i
        width = bar_space * value / top
        parts.append(
            f'<text class="label" x="{LABEL_WIDTH - 8}" y="{y + BAR_ROW * 0.65:.1f}" '
            f'text-anchor="end">{escape(label)}</text>'
            f'<rect x="{LABEL_WIDTH}" y="{y + 3}" width="{width:.1f}" height="{BAR_ROW - 6}" '
            f'fill="{PALETTE[0]}"><title>{escape(label)}: {_number(value)}</title></rect>'
            f'<text class="value" x="{LABEL_WIDTH + width + 6:.1f}" '
            f'y="{y + BAR_ROW * 0.65:.1f}">{_number(value)}</text>'
        )
    return _figure(chart_id, title, "".join(parts), height)
