"""Gunicorn configuration shared by the web services.

Import order matters: ``PROMETHEUS_MULTIPROC_DIR`` must be set before ``prometheus_client`` is
imported anywhere, so the services' ``gunicorn_conf`` modules call :func:`config` first thing.
The directory is emptied when the master starts (stale files from a previous run would add up)
and a dead worker's live gauges are removed when it exits.
"""

from __future__ import annotations

import gc
import importlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"{name}: must be an integer (got {raw!r})") from None
    if value < 1:
        raise SystemExit(f"{name}: must be at least 1 (got {value})")
    return value


def metrics_port() -> int:
    """``PACELINE_METRICS_PORT`` as the settings model reads it (one place decides)."""
    from paceline.settings import ConfigError, load_settings

    try:
        return load_settings().metrics_port
    except ConfigError as error:
        raise SystemExit(str(error)) from None


def binds(main: str, metrics: int) -> list[str]:
    """The service bind and the metrics bind (same host, own port)."""
    host, sep, port = main.rpartition(":")
    if not sep or main.startswith("unix:"):
        raise SystemExit(f"GUNICORN_BIND: must be host:port (got {main!r})")
    if port == str(metrics):
        raise SystemExit(
            f"PACELINE_METRICS_PORT: {metrics} is also the service port; metrics need their own"
        )
    return [main, f"{host}:{metrics}"]


def config(service: str) -> dict[str, Any]:
    """Settings for a gunicorn config module: ``globals().update(config("activity-api"))``.

    Two binds: the service port (what the ingress routes) and ``PACELINE_METRICS_PORT``, where
    only ``/metrics`` answers (see :class:`paceline.web.metrics.MetricsPort`)."""
    multiproc = os.environ.setdefault(
        "PROMETHEUS_MULTIPROC_DIR", str(Path(tempfile.gettempdir()) / f"paceline-{service}-prom")
    )
    Path(multiproc).mkdir(parents=True, exist_ok=True)
    fmt = os.environ.get("PACELINE_LOG_FORMAT", "json").lower()
    return {
        "bind": binds(
            os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8080')}"),
            metrics_port(),
        ),
        "workers": _env_int("GUNICORN_WORKERS", 2),
        "threads": _env_int("GUNICORN_THREADS", 4),
        # gthread whose threads get a connection only once its request has arrived: slow
        # clients wait in the poller, not in a thread (see paceline.web.worker).
        "worker_class": os.environ.get(
            "GUNICORN_WORKER_CLASS", "paceline.web.worker.HeadFirstWorker"
        ),
        "timeout": _env_int("GUNICORN_TIMEOUT", 30),
        "graceful_timeout": _env_int("GUNICORN_GRACEFUL_TIMEOUT", 20),
        "keepalive": _env_int("GUNICORN_KEEPALIVE", 5),
        # A safety net against slow leaks (the soak test finds none), not a routine: at a few
        # thousand cached reads a second, 10,000 would replace every worker every few seconds.
        # The wide jitter keeps workers, which share the load evenly, from restarting together.
        "max_requests": _env_int("GUNICORN_MAX_REQUESTS", 50000),
        "max_requests_jitter": _env_int("GUNICORN_MAX_REQUESTS_JITTER", 25000),
        "worker_tmp_dir": os.environ.get("GUNICORN_WORKER_TMP_DIR", tempfile.gettempdir()),
        "proc_name": f"paceline-{service}",
        # gunicorn >= 25.1 opens a control socket (for `gunicornc`) under $XDG_RUNTIME_DIR or
        # $HOME by default; the images' user has no home (/nonexistent) and a read-only root,
        # so it only logged "Control server error: [Errno 13]". Nothing here uses gunicornc:
        # workers are managed by the orchestrator (replicas, rollouts), not at run time.
        "control_socket_disable": True,
        "accesslog": "-" if os.environ.get("GUNICORN_ACCESS_LOG", "1") != "0" else None,
        "logconfig_dict": logconfig(service, fmt),
    }


def logconfig(service: str, fmt: str) -> dict[str, Any]:
    """Route gunicorn's own loggers (including access lines, which carry query strings such as
    ``?code=...``) through paceline's redacting formatter."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "paceline": {"()": "paceline.log.make_formatter", "fmt": fmt, "service": service}
        },
        "filters": {"redact": {"()": "paceline.log.RedactionFilter"}},
        "handlers": {
            "stderr": {
                "class": "paceline.log.LineHandler",
                "formatter": "paceline",
                "filters": ["redact"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": os.environ.get("PACELINE_LOG_LEVEL", "INFO"), "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
        },
    }


def on_starting(server: Any) -> None:
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(directory, ignore_errors=True)
    Path(directory).mkdir(parents=True, exist_ok=True)


def starting(*modules: str) -> Callable[[Any], None]:
    """``on_starting`` that also imports ``modules`` in the master.

    Workers then fork with the code already loaded: a worker recycled after ``max_requests``
    only builds its app (sockets, threads, everything per process stays in the worker, unlike
    ``preload_app``). Importing is most of a worker's start, and while a worker starts, the
    connections the others cannot take wait.
    """

    def hook(server: Any) -> None:
        for module in modules:
            importlib.import_module(module)
        gc.freeze()  # what workers inherit is never collected: keep its pages shared too
        # Then empty the metrics directory: metrics labelled at import made files for the
        # master's pid, which would sit beside the workers' (zeros, but a process that serves
        # nothing has no business there).
        on_starting(server)

    return hook


def post_worker_init(worker: Any) -> None:
    """Chain the draining flag in front of gunicorn's own SIGTERM handling, and move what the
    app's start made out of the garbage collector's way.

    The app is built; what exists now (modules, settings, clients: tens of thousands of
    objects) lives as long as the worker. ``gc.freeze()`` keeps full collections from walking
    it all again: each would stall the worker's requests for milliseconds.
    """
    health = getattr(worker.wsgi, "extensions", {}).get("paceline.health")
    if health is not None:
        health.chain_sigterm()
    gc.freeze()


def worker_exit(server: Any, worker: Any) -> None:
    """In the exiting worker: its last request updates into the metrics files."""
    from paceline import metrics

    metrics.PER_REQUEST.flush()


def child_exit(server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
