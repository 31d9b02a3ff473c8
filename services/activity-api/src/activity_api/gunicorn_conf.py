"""Gunicorn configuration for activity-api (`gunicorn --config python:activity_api.gunicorn_conf`).

The app is loaded in each worker after the fork (no ``preload_app``), so every worker runs its
own background refresh pool and webhook consumer thread; ``worker_exit`` stops them.
"""

from typing import Any

from paceline.web import gunicorn as _shared

globals().update(_shared.config("activity-api"))

on_starting = _shared.starting("activity_api.app")
post_worker_init = _shared.post_worker_init
child_exit = _shared.child_exit


def worker_exit(server: Any, worker: Any) -> None:
    from activity_api.app import stop_background

    app = getattr(worker, "wsgi", None)
    if app is not None and hasattr(app, "extensions"):
        stop_background(app, timeout=2.0)
    _shared.worker_exit(server, worker)
