"""The baseline of ``cached_read.py``: a bare Flask route returning fixed bytes from memory.

Served by gunicorn with activity-api's own configuration module, so the only difference from
``/v1/strava/summary`` is what the route does. The bytes (an answer the real route gave) are
read once, at start, from the file named by ``BENCH_BARE_BODY_FILE``.
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, Response


def create_app() -> Flask:
    body = Path(os.environ["BENCH_BARE_BODY_FILE"]).read_bytes()
    app = Flask(__name__)

    @app.get("/healthz")
    def healthz() -> Response:
        return Response(b'{"status":"ok"}', mimetype="application/json")

    @app.get("/v1/strava/summary")
    def summary() -> Response:
        return Response(body, mimetype="application/json")

    card_file = os.environ.get("BENCH_BARE_CARD_FILE")
    if card_file:
        card = Path(card_file).read_bytes()

        @app.get("/v1/strava/card.svg")
        def card_svg() -> Response:
            return Response(card, mimetype="image/svg+xml")

    redis_url = os.environ.get("BENCH_BARE_REDIS_URL")
    if redis_url:
        import redis

        client = redis.Redis.from_url(redis_url)

        @app.get("/v1/strava/summary-after-redis")
        def summary_after_redis() -> Response:
            client.hmget("bench:bare", ["body", "fetched_at"])  # one round trip, small answer
            return Response(body, mimetype="application/json")

    return app
