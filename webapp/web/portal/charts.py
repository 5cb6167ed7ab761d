"""Charts drawn on the server as SVG: no chart library for the browser to download, and they show
without JavaScript.

Pure functions: the caller gives translated labels and a number formatter; colours come from
classes styled in static/css/portal.css (the CSP forbids inline styles).  Each chart is an image
(`role="img"`) named by its `<title>` and described, numbers included, by its `<desc>`.  Right to
left, the bars grow from the right and the months run from the right; numbers stay left to right.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

NumberFormat = Callable[[int], str]

FUNNEL_WIDTH = 700
FUNNEL_LABEL_WIDTH = 240
FUNNEL_VALUE_WIDTH = 64
FUNNEL_ROW = 30
FUNNEL_BAR = 20

COLUMNS_WIDTH = 640
COLUMNS_HEIGHT = 240
COLUMNS_TOP = 22  # room for the totals above the tallest column
COLUMNS_BOTTOM = 28  # room for the month names


@dataclass(frozen=True)
class Bar:
    """One bar: `key` names its class (`chart-{key}`), `label` is shown beside it."""

    key: str
    label: str
    value: int


@dataclass(frozen=True)
class Column:
    """One column of stacked segments: (series key, value) from the bottom up."""

    label: str
    segments: Sequence[tuple[str, int]]

    @property
    def total(self) -> int:
        return sum(value for _, value in self.segments)


def _number(value: float) -> str:
    """A coordinate, short: "12", "12.5"."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _svg(chart_id: str, width: int, height: int, title: str, description: str, body: list[str]) -> Markup:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{escape(chart_id)}" role="img"'
        f' viewBox="0 0 {width} {height}" preserveAspectRatio="xMinYMin meet"'
        f' aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc">'
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>'
        f'<desc id="{escape(chart_id)}-desc">{escape(description)}</desc>'
    )
    return Markup(head + "".join(body) + "</svg>")  # noqa: S704 - every value above is escaped


def _label_text(x: float, y: float, label: str, *, rtl: bool, anchor: str) -> str:
    direction = "rtl" if rtl else "ltr"
    return (
        f'<text class="chart-label" x="{_number(x)}" y="{_number(y)}" direction="{direction}"'
        f' text-anchor="{anchor}" dominant-baseline="central">{escape(label)}</text>'
    )


def _value_text(x: float, y: float, text: str, *, anchor: str) -> str:
    """A number: always left to right, whatever the page's direction."""
    return (
        f'<text class="chart-value" x="{_number(x)}" y="{_number(y)}" direction="ltr" unicode-bidi="embed"'
        f' text-anchor="{anchor}" dominant-baseline="central">{escape(text)}</text>'
    )


def funnel_svg(
    bars: Sequence[Bar],
    *,
    title: str,
    chart_id: str,
    rtl: bool = False,
    number: NumberFormat = str,
) -> Markup:
    """Horizontal bars, one per stage, scaled to the largest."""
    height = max(1, len(bars)) * FUNNEL_ROW
    plot = FUNNEL_WIDTH - FUNNEL_LABEL_WIDTH - FUNNEL_VALUE_WIDTH
    largest = max((bar.value for bar in bars), default=0) or 1
    body = []
    for row, bar in enumerate(bars):
        middle = row * FUNNEL_ROW + FUNNEL_ROW / 2
        length = plot * bar.value / largest
        # Left to right: label | bar → value.  Right to left, the mirror image.
        label_x: float = FUNNEL_LABEL_WIDTH - 8
        bar_x: float = FUNNEL_LABEL_WIDTH
        value_x: float = FUNNEL_LABEL_WIDTH + length + 6
        value_anchor = "start"
        if rtl:
            label_x, bar_x = FUNNEL_WIDTH - label_x, FUNNEL_WIDTH - FUNNEL_LABEL_WIDTH - length
            value_x, value_anchor = bar_x - 6, "end"
        body.append(
            f'<g class="chart-row">{_label_text(label_x, middle, bar.label, rtl=rtl, anchor="end")}'
            f'<rect class="chart-bar chart-{escape(bar.key)}" x="{_number(bar_x)}"'
            f' y="{_number(middle - FUNNEL_BAR / 2)}" width="{_number(length)}" height="{FUNNEL_BAR}"'
            f' data-key="{escape(bar.key)}" data-value="{bar.value}"></rect>'
            f"{_value_text(value_x, middle, number(bar.value), anchor=value_anchor)}</g>"
        )
    description = "; ".join(f"{bar.label}: {number(bar.value)}" for bar in bars)
    return _svg(chart_id, FUNNEL_WIDTH, height, title, description, body)


def stacked_columns_svg(
    columns: Sequence[Column],
    series_labels: Mapping[str, str],
    *,
    title: str,
    chart_id: str,
    rtl: bool = False,
    number: NumberFormat = str,
) -> Markup:
    """Columns of stacked segments (oldest first; drawn from the right when `rtl`), each topped
    by its total, with its label below."""
    count = max(1, len(columns))
    slot = COLUMNS_WIDTH / count
    width = slot * 0.62
    baseline = COLUMNS_HEIGHT - COLUMNS_BOTTOM
    plot = baseline - COLUMNS_TOP
    largest = max((column.total for column in columns), default=0) or 1
    body = [
        f'<line class="chart-axis" x1="0" y1="{baseline}" x2="{COLUMNS_WIDTH}" y2="{baseline}"></line>',
    ]
    for position, column in enumerate(columns):
        slot_index = count - 1 - position if rtl else position
        centre = slot * slot_index + slot / 2
        top = float(baseline)
        parts = []
        for key, value in column.segments:
            if value <= 0:
                continue
            height = plot * value / largest
            top -= height
            parts.append(
                f'<rect class="chart-bar chart-{escape(key)}" x="{_number(centre - width / 2)}"'
                f' y="{_number(top)}" width="{_number(width)}" height="{_number(height)}"'
                f' data-key="{escape(key)}" data-value="{value}"></rect>'
            )
        body.append(
            f'<g class="chart-column" data-label="{escape(column.label)}" data-total="{column.total}">'
            + "".join(parts)
            + _value_text(centre, top - 10, number(column.total), anchor="middle")
            + _label_text(centre, baseline + COLUMNS_BOTTOM / 2, column.label, rtl=rtl, anchor="middle")
            + "</g>"
        )
    description = "; ".join(
        f"{column.label}: {number(column.total)}"
        + (
            " ("
            + ", ".join(f"{series_labels.get(key, key)} {number(value)}" for key, value in column.segments if value)
            + ")"
            if column.total
            else ""
        )
        for column in columns
    )
    return _svg(chart_id, COLUMNS_WIDTH, COLUMNS_HEIGHT, title, description, body)
