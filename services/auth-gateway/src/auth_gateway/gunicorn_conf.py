"""Gunicorn configuration for auth-gateway.

Run it with ``gunicorn --config python:auth_gateway.gunicorn_conf "auth_gateway.app:create_app()"``.
"""

from paceline.web import gunicorn as _shared

globals().update(_shared.config("auth-gateway"))

on_starting = _shared.starting("auth_gateway.app")
post_worker_init = _shared.post_worker_init
worker_exit = _shared.worker_exit
child_exit = _shared.child_exit
