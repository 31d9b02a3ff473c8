"""The embeddable widget: ``/widget.js`` and a demo page at ``/widget/demo``.

The script is static and dependency-free; it is read once at start (trimmed: see
:func:`served`) and served with a strong ETag, so browsers and CDNs revalidate cheaply.
"""

from __future__ import annotations

import hashlib
from importlib.resources import files
from typing import Any

from flask import Blueprint, Response, render_template, request
from paceline.web.app import runtime_of

bp = Blueprint("widget", __name__, template_folder="templates")


def served(source: str) -> bytes:
    """The script as browsers get it: its opening comment (the attributes, for a reader of the
    file; the README has them too) cut to its first line, and no indentation. Line breaks stay,
    so the code means the same; it saves about 650 of the 6 KB gzipped the element may weigh."""
    if source.startswith("/*"):
        source = source.split("\n", 1)[0].rstrip() + " */\n" + source.split("*/", 1)[1]
    return "\n".join(line.strip() for line in source.splitlines() if line.strip()).encode()


WIDGET_JS = served(files("activity_api").joinpath("static/widget.js").read_text("utf-8"))
WIDGET_ETAG = hashlib.sha256(WIDGET_JS).hexdigest()[:20]


@bp.get("/widget.js")
def widget_js() -> Any:
    response = Response(WIDGET_JS, mimetype="application/javascript")
    response.set_etag(WIDGET_ETAG)
    response.headers["Cache-Control"] = "public, max-age=3600, stale-while-revalidate=86400"
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response.make_conditional(request)


@bp.get("/widget/demo")
def widget_demo() -> Any:
    """The demo page. Its URLs come from ``PACELINE_PUBLIC_URL`` or are relative, never from the
    request's ``Host`` (which anyone can set: a cache in front would serve their page)."""
    public = runtime_of().settings.public_url
    base = request.script_root  # "/api" behind the ingress, "" locally
    api_url = (str(public).rstrip("/") if public else "") + base
    widget_url = f"{api_url}/widget.js"
    snippet = (
        f'<script src="{widget_url}" defer></script>\n'
        '<paceline-activity sport="run" units="metric" theme="auto"></paceline-activity>'
    )
    html = render_template(
        "widget_demo.html", api_url=api_url, widget_url=widget_url, snippet=snippet
    )
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self' https://strava-embeds.com; connect-src 'self'; "
        "frame-src https://strava-embeds.com https://www.strava.com; img-src * data:; "
        "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"
    )
    return response
