"""The card as a self-contained SVG: what ``<paceline-activity>`` shows, without JavaScript.

For places where no script runs (a GitHub README through its image proxy, e-mail, feeds), the
card draws the same content as the element from the same summary: the latest activity (of a
sport), year-to-date totals and goal progress, with "Powered by Strava".

What makes it safe to put anywhere: the SVG is built with :mod:`xml.etree.ElementTree`, which
escapes every text and attribute value, and characters XML cannot carry are dropped first, so
an activity named ``<img src=x onerror=alert(1)>`` is text and the document always parses. It
holds no script, no event attribute, no link and no external reference (no photo, no font, no
``url()``): an ``<img>`` would not load them anyway, and inline they would be a way in.

The module assembles the card: what it says comes from :mod:`activity_api.card_content`,
formatted by :mod:`activity_api.card_format`, its chart drawn by :mod:`activity_api.card_chart`.

Accessibility: ``role="img"`` with ``aria-labelledby`` naming its ``<title>`` and ``<desc>``,
which read the whole card out as sentences; the drawn text is hidden from assistive
technology so it is not read twice. Colours meet WCAG AA contrast in both themes; ``auto``
follows ``prefers-color-scheme``.
"""

from __future__ import annotations

import functools
import hashlib
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from activity_api.card_chart import PAD, Canvas, draw_chart, number
from activity_api.card_content import (
    ATTRIBUTION,
    CHARTS,
    LAYOUTS,
    MEASURES,
    SPORTS,
    STALE_NOTE,
    THEMES,
    UNITS,
    CardContent,
    CardOptions,
    content,
    description,
)
from activity_api.card_format import clean, locale_of, shorten

__all__ = [
    "CHARTS",
    "LAYOUTS",
    "MEASURES",
    "SPORTS",
    "THEMES",
    "UNITS",
    "CardOptions",
    "card_id",
    "draw",
    "locale_of",
    "render_card",
    "unavailable_card",
]

SVG_NS = "http://www.w3.org/2000/svg"
WIDTH = {"card": 420, "compact": 320}
NAME_CHARS = {"card": 40, "compact": 30}

# Text colours reach 4.5:1 on their background (WCAG AA) in each theme.
_LIGHT = {"bg": "#ffffff", "fg": "#1d1d1f", "mu": "#5f5f66", "ln": "#e4e4e7", "ac": "#c43d00"}
_DARK = {"bg": "#1c1c1e", "fg": "#f2f2f7", "mu": "#a1a1aa", "ln": "#3a3a3c", "ac": "#fc4c02"}


def _style(theme: str, scope: str) -> str:
    """The card's CSS. Every rule starts with the card's id: a ``<style>`` in an SVG inlined
    into a page applies to the whole page, and two cards (or the page) must not restyle each
    other."""

    def rules(colours: Mapping[str, str]) -> str:
        return (
            "".join(
                f"{scope} .{name}{{fill:{colour}}}"
                for name, colour in colours.items()
                if name != "bg"
            )
            + f"{scope} .bg{{fill:{colours['bg']};stroke:{colours['ln']}}}"
            + f"{scope} .un{{fill:none;stroke:{colours['mu']};stroke-dasharray:2 2}}"
        )

    base = (
        f"{scope} text{{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}}"
        f"{scope} .h{{font-size:16px;font-weight:600}}{scope} .s{{font-size:12px}}"
        f"{scope} .v{{font-size:15px;font-weight:600}}"
        f"{scope} .l{{font-size:10px;letter-spacing:.04em}}{scope} .b{{font-weight:600}}"
        f"{scope} .end{{text-anchor:end}}"
    )
    if theme == "light":
        return base + rules(_LIGHT)
    if theme == "dark":
        return base + rules(_DARK)
    return base + rules(_LIGHT) + "@media (prefers-color-scheme:dark){" + rules(_DARK) + "}"


def draw(card: CardContent, options: CardOptions, ident: str) -> bytes:
    """The SVG document of ``card``. ``ident`` makes its element ids unique on a page that
    inlines more than one card."""
    width = WIDTH[options.layout]
    compact = options.layout == "compact"
    root = ET.Element(
        "svg",
        {
            "xmlns": SVG_NS,
            "id": ident,
            "role": "img",
            "aria-labelledby": f"{ident}-title {ident}-desc",
            "width": str(width),
            "viewBox": "",  # set once the height is known
        },
    )
    title = ET.SubElement(root, "title", {"id": f"{ident}-title"})
    title.text = f"{card.athlete} on Strava"
    desc = ET.SubElement(root, "desc", {"id": f"{ident}-desc"})
    desc.text = description(card)
    style = ET.SubElement(root, "style")
    style.text = _style(options.theme, f"#{ident}")
    background = ET.SubElement(root, "rect", {"class": "bg", "x": "0.5", "y": "0.5", "rx": "12"})
    canvas = Canvas(root)

    y = 26.0
    canvas.text(PAD, y, shorten(card.athlete, NAME_CHARS[options.layout] + 10), "s mu")
    y += 24
    canvas.text(PAD, y, shorten(card.heading, NAME_CHARS[options.layout]), "h fg")
    if card.subheading:
        y += 19
        canvas.text(PAD, y, card.subheading, "s mu")
    if card.stats:
        if compact:
            y += 22
            canvas.text(PAD, y, " \u00b7 ".join(s.value for s in card.stats), "s fg b")
        else:
            y += 30
            column = (width - 2 * PAD) / len(card.stats)
            for index, item in enumerate(card.stats):
                canvas.text(PAD + index * column, y, item.value, "v fg")
                canvas.text(PAD + index * column, y + 16, item.label.upper(), "l mu")
            y += 16
    for label, value in card.totals:
        y += 24 if compact else 26
        if compact:
            canvas.text(PAD, y, f"{label}: {value}", "s fg")
        else:
            canvas.text(PAD, y, label.upper(), "l mu")
            canvas.text(PAD, y + 16, value, "s fg b")
            y += 16
    if card.chart is not None and not compact:
        y = draw_chart(canvas, card.chart, y, width)
    for index, (text, ratio) in enumerate(card.goals):
        y += 22
        canvas.text(PAD, y, text, "s mu")
        y += 7
        bar = width - 2 * PAD
        canvas.rect(PAD, y, bar, 6, "ln")
        if ratio > 0:
            canvas.rect(PAD, y, max(6.0, bar * ratio), 6, "ac")
        y += 6
        if index < len(card.pacing):
            y += 18
            canvas.text(PAD, y, card.pacing[index], "s mu")
    if card.streaks:
        y += 22
        canvas.text(PAD, y, card.streaks, "s mu")
    if card.stale:
        y += 22
        canvas.text(PAD, y, STALE_NOTE, "s mu")
    y += 26
    canvas.text(PAD, y, ATTRIBUTION, "s ac b")
    height = y + 16
    root.set("height", number(height))
    root.set("viewBox", f"0 0 {width} {number(height)}")
    background.set("width", number(width - 1))
    background.set("height", number(height - 1))
    drawn: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return drawn + b"\n"


@functools.lru_cache(maxsize=1024)
def card_id(key: str) -> str:
    return "paceline-" + hashlib.sha256(key.encode()).hexdigest()[:10]


def render_card(view: Mapping[str, Any], options: CardOptions, stale: bool, ident: str) -> bytes:
    return draw(content(view, options, stale), options, ident)


def unavailable_card(options: CardOptions, message: str) -> bytes:
    """A small card that says nothing can be shown (served with a 503)."""
    card = CardContent(
        athlete="paceline",
        heading="Activity data is unavailable right now.",
        subheading=clean(message),
        stats=(),
        totals=(),
        goals=(),
        stale=False,
    )
    return draw(card, options, card_id("unavailable"))
