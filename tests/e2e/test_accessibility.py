"""Every documented variant of the widget and of the SVG card, checked by axe-core in headless
Chromium against the demo stack: zero violations, light and dark. A screenshot of each
variant is saved under test-output/e2e/a11y/.

axe-core comes from the npm registry (``make npm-deps``, which ``make test`` runs) and is
injected into the page by the test; the pages are the demo's own ``/widget/demo`` (every
element variant added to it) and a page holding the card as ``<img>`` and inline.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.demo_stack import DemoStack, start_demo
from tests.e2e.test_demo_and_widget import BROWSER_ARGS, CHROMIUM

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / ".tools" / "npm" / "node_modules" / "axe-core" / "axe.min.js"
VARIANTS = [
    dict(zip(("sport", "units", "theme", "layout"), values, strict=True))
    for values in itertools.product(
        ("all", "run", "ride", "swim"),
        ("metric", "imperial"),
        ("light", "dark"),
        ("card", "compact"),
    )
] + [
    # the chart's variants (the ones above draw the default: weeks of distance)
    {"sport": sport, "units": "metric", "theme": theme, "layout": "card", **chart}
    for sport, theme, chart in itertools.product(
        ("all", "run", "ride", "swim"),
        ("light", "dark"),
        (
            {"chart": "months", "measure": "distance"},
            {"chart": "weeks", "measure": "time"},
            {"chart": "months", "measure": "time"},
            {"chart": "none"},
        ),
    )
]

# theme="auto" follows the page's colour scheme: drawn under both
AUTO_VARIANTS = [
    {"sport": "all", "units": "metric", "theme": "auto", "layout": "card"},
    {"sport": "run", "units": "imperial", "theme": "auto", "layout": "card", "chart": "months"},
]


def variant_name(variant: dict[str, str]) -> str:
    return "-".join(variant.values())


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    stack = start_demo(tmp_path_factory.mktemp("demo-a11y"))
    yield stack
    if stack.process.poll() is None:
        stack.interrupt()


@pytest.fixture(scope="module")
def shots() -> Path:
    path = ROOT / "test-output" / "e2e" / "a11y"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def axe_source() -> str:
    if not AXE.exists():
        pytest.fail(f"axe-core is not installed at {AXE}: run `make npm-deps` (make test does)")
    return AXE.read_text()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: run `make test` (it installs it with apt-get)")
    from playwright import sync_api as playwright_api

    with playwright_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        yield instance
        instance.close()


def run_axe(page: Any, axe_source: str, context: str = "document") -> list[dict[str, Any]]:
    """axe-core's violations on the page (every rule axe runs by default)."""
    page.add_script_tag(content=axe_source)
    result = page.evaluate(f"axe.run({context}, {{resultTypes: ['violations']}})")
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:5],
        }
        for v in result["violations"]
    ]


def api_url(demo: DemoStack) -> str:
    return demo.urls["widget demo"].removesuffix("/widget/demo")


def test_every_widget_variant_has_no_accessibility_violations(
    browser: Any, demo: DemoStack, axe_source: str, shots: Path
) -> None:
    for scheme in ("light", "dark"):
        page = browser.new_page(
            viewport={"width": 1100, "height": 900}, bypass_csp=True, color_scheme=scheme
        )
        page.goto(demo.urls["widget demo"])
        variants = [
            *VARIANTS,
            *AUTO_VARIANTS,
        ]
        page.evaluate(
            """([variants, api]) => {
                const box = document.createElement('section');
                box.setAttribute('aria-label', 'variants');
                box.id = 'variants';
                for (const v of variants) {
                    const fig = document.createElement('figure');
                    fig.id = 'fig-' + Object.values(v).join('-');
                    if (v.theme === 'dark') fig.className = 'dark';
                    const el = document.createElement('paceline-activity');
                    el.setAttribute('api', api);
                    for (const [k, value] of Object.entries(v)) el.setAttribute(k, value);
                    fig.appendChild(el);
                    box.appendChild(fig);
                }
                (document.querySelector('main') || document.body).appendChild(box);
            }""",
            [variants, api_url(demo)],
        )
        page.wait_for_function(
            "[...document.querySelectorAll('paceline-activity')]"
            ".every(e => e.getAttribute('data-state') === 'ready')",
            timeout=30_000,
        )
        violations = run_axe(page, axe_source)
        assert violations == [], json.dumps(violations, indent=1)
        # Links show where the keyboard focus is.
        page.keyboard.press("Tab")
        for variant in variants:
            if scheme == "dark" and variant["theme"] != "auto":
                continue  # the explicit themes look the same whatever the scheme
            name = variant_name(variant) + (f"-{scheme}" if variant["theme"] == "auto" else "")
            page.locator(f"#fig-{variant_name(variant)}").screenshot(
                path=str(shots / f"widget-{name}.png")
            )
        page.close()


def test_widget_links_show_focus(browser: Any, demo: DemoStack) -> None:
    page = browser.new_page(bypass_csp=True)
    page.goto(demo.urls["widget demo"])
    page.wait_for_function(
        "document.querySelector('#widget-default').getAttribute('data-state') === 'ready'",
        timeout=20_000,
    )
    page.focus("#widget-default")
    link = page.evaluate_handle(
        "document.querySelector('#widget-default').shadowRoot.querySelector('a[href]')"
    )
    link.as_element().focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    outline = page.evaluate(
        "(() => { const root = document.querySelector('#widget-default').shadowRoot;"
        " const a = root.activeElement; const s = getComputedStyle(a);"
        " return [a.tagName, s.outlineStyle, s.outlineWidth]; })()"
    )
    assert outline[0] == "A"
    assert outline[1] == "solid" and outline[2] == "2px", outline  # the widget's own ring
    # focus order: the activity's link, then the attribution; the chart takes no stop
    page.keyboard.press("Tab")
    focused = page.evaluate(
        "document.querySelector('#widget-default').shadowRoot.activeElement?.textContent"
    )
    assert focused == "Powered by Strava"
    page.close()


def test_every_card_variant_has_no_accessibility_violations(
    browser: Any, demo: DemoStack, axe_source: str, shots: Path
) -> None:
    base = api_url(demo) + "/v1/strava/card.svg"
    for scheme in ("light", "dark"):
        page = browser.new_page(
            viewport={"width": 1000, "height": 900}, bypass_csp=True, color_scheme=scheme
        )
        variants = [
            *VARIANTS,
            *AUTO_VARIANTS,
        ]
        figures = []
        for variant in variants:
            url = base + "?" + "&".join(f"{k}={v}" for k, v in variant.items())
            svg = requests.get(url, timeout=10)
            assert svg.status_code == 200 and svg.headers["Content-Type"] == "image/svg+xml"
            name = variant_name(variant)
            figures.append(
                f'<figure id="fig-{name}"><img src="{url}" '
                f'alt="Latest activity and totals on Strava ({name})">'
                f"<div>{svg.text}</div></figure>"
            )
        page.set_content(
            '<!doctype html><html lang="en"><head><title>paceline cards</title></head>'
            f"<body><main><h1>Cards</h1>{''.join(figures)}</main></body></html>"
        )
        page.wait_for_function(
            "[...document.images].every(i => i.complete && i.naturalWidth > 0)", timeout=20_000
        )
        violations = run_axe(page, axe_source)
        assert violations == [], json.dumps(violations, indent=1)
        names = page.evaluate(
            "[...document.querySelectorAll('svg[role=img]')].map(s => s.getAttribute("
            "'aria-labelledby').split(' ').map(id => document.getElementById(id).textContent)"
            ".join(' '))"
        )
        assert len(names) == len(variants)
        assert all("on Strava" in n and "Powered by Strava" in n for n in names)
        for variant in variants:
            if scheme == "dark" and variant["theme"] != "auto":
                continue
            name = variant_name(variant) + (f"-{scheme}" if variant["theme"] == "auto" else "")
            page.locator(f"#fig-{variant_name(variant)}").screenshot(
                path=str(shots / f"card-{name}.png")
            )
        page.close()


def test_widget_and_card_format_numbers_for_the_locale(
    browser: Any, demo: DemoStack, shots: Path
) -> None:
    summary = requests.get(demo.urls["summary JSON"], timeout=10).json()
    km = summary["latest_activity"]["distance_m"] / 1000
    page = browser.new_page(bypass_csp=True, locale="en-US")
    page.goto(demo.urls["widget demo"])
    page.evaluate(
        """(api) => {
            const el = document.createElement('paceline-activity');
            el.id = 'widget-de';
            el.setAttribute('api', api);
            el.setAttribute('locale', 'de-DE');
            document.querySelector('main').appendChild(el);
        }""",
        api_url(demo),
    )
    page.wait_for_function(
        "document.querySelector('#widget-de').getAttribute('data-state') === 'ready'",
        timeout=20_000,
    )
    german = page.evaluate("document.querySelector('#widget-de').shadowRoot.textContent")
    english = page.evaluate("document.querySelector('#widget-default').shadowRoot.textContent")
    assert f"{km:.2f} km".replace(".", ",") in german
    assert f"{km:.2f} km" in english
    # the chart's text alternative too: German decimals, English ones by default
    labels = page.evaluate(
        "['#widget-de', '#widget-default'].map(id => document.querySelector(id).shadowRoot"
        ".querySelector('.chart svg').getAttribute('aria-label'))"
    )
    week = next(v for v in summary["history"]["weekly"]["all"]["distance_m"] if v)
    assert f"{week / 1000:.1f}".replace(".", ",") in labels[0].split(": ")[1].split(", ")
    assert f"{week / 1000:,.1f}" in labels[1].split(": ")[1].split(", ")
    page.locator("#widget-de").screenshot(path=str(shots / "widget-locale-de.png"))
    page.close()
    card = requests.get(api_url(demo) + "/v1/strava/card.svg?locale=de-DE", timeout=10)
    assert f"{km:.2f} km".replace(".", ",") in card.text
