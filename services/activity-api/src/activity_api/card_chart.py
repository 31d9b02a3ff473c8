"""Drawing on the card: the canvas (text and rectangles, hidden from assistive technology, as
the card's ``<desc>`` reads it all out) and the bar chart of the last 12 weeks or months."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from activity_api.card_content import Chart

PAD = 16


class Canvas:
    def __init__(self, root: ET.Element) -> None:
        self.root = root
        self.group = ET.SubElement(root, "g", {"aria-hidden": "true"})

    def text(self, x: float, y: float, value: str, cls: str) -> None:
        node = ET.SubElement(self.group, "text", {"x": number(x), "y": number(y), "class": cls})
        node.text = value

    def rect(self, x: float, y: float, w: float, h: float, cls: str, r: float = 3) -> None:
        attributes = {
            "x": number(x),
            "y": number(y),
            "width": number(w),
            "height": number(h),
            "rx": number(r),
        }
        ET.SubElement(self.group, "rect", {**attributes, "class": cls})


def number(value: float) -> str:
    """A coordinate, at most one decimal and no trailing zeros."""
    return f"{value:.1f}".rstrip("0").rstrip(".")


def draw_chart(canvas: Canvas, chart: Chart, y: float, width: int) -> float:
    """The bars of ``chart`` below ``y`` (its text alternative is in ``desc``); returns the new
    baseline. Every period has a baseline tick; an unknown one gets a dashed outline instead
    of a bar, so it does not read as zero."""
    y += 24
    count = len(chart.bars)
    canvas.text(PAD, y, f"LAST {count} {chart.period.upper()}S ({chart.unit})", "l mu")
    height, gap = 36.0, 4.0
    top = y + 6
    known = [v for v in chart.bars if v is not None]
    largest = max(known, default=0.0) or 1.0
    slot = (width - 2 * PAD) / count
    for index, value in enumerate(chart.bars):
        x = PAD + index * slot
        if value is None:
            canvas.rect(x + 0.5, top + 0.5, slot - gap - 1, height - 1, "un", r=1.5)
            continue
        canvas.rect(x, top + height - 1, slot - gap, 1, "ln", r=0)
        if value:
            bar = max(2.0, height * value / largest)
            canvas.rect(x, top + height - bar, slot - gap, bar, "ac", r=1.5)
    peak = max(range(count), key=lambda i: chart.bars[i] or 0.0)
    canvas.text(width - PAD, y, f"max {chart.labels[peak] if known else 0}", "l mu end")
    return top + height
