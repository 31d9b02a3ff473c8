"""``paceline webhook subscribe|list|delete|consume``: Strava's push subscription, and the
event consumer as its own process.

Contributed to the ``paceline`` command through the ``paceline.commands`` entry point. The
verify token comes from settings (``PACELINE_WEBHOOK_VERIFY_TOKEN``), never from arguments.
``subscribe`` records the new subscription's id in Redis, where activity-api reads it to
accept events (``PACELINE_WEBHOOK_SUBSCRIPTION_ID`` overrides it). Strava validates the
callback while ``subscribe`` waits, so activity-api must be reachable at the callback URL.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from paceline.runtime import Runtime
from paceline.strava_api import StravaAPI
from paceline.upstream import UpstreamError

from activity_api.callback import BASE_PATH as CALLBACK_PATH
from activity_api.callback import callback_path, callback_token
from activity_api.consumer import WebhookConsumer
from activity_api.events import SUBSCRIPTION_KEY, expected_subscription


def default_callback(runtime: Runtime) -> str | None:
    settings = runtime.settings
    if settings.public_url is None:
        return None
    base = str(settings.public_url).rstrip("/")
    return f"{base}{settings.path_prefix}{callback_path(settings)}"


def shown(runtime: Runtime, url: str) -> str:
    """A callback URL as printed: the secret path segment masked."""
    token = callback_token(runtime.settings)
    return url.replace(token, "<secret path>") if token else url


def cmd_subscribe(args: argparse.Namespace, runtime: Runtime) -> int:
    token = runtime.settings.webhook_verify_token
    if token is None:
        print("paceline: set PACELINE_WEBHOOK_VERIFY_TOKEN first", file=sys.stderr)
        return 2
    callback = args.callback_url or default_callback(runtime)
    if not callback:
        print(
            "paceline: give --callback-url or set PACELINE_PUBLIC_URL "
            f"(the callback is <public url><path prefix>{CALLBACK_PATH}[/<secret path>])",
            file=sys.stderr,
        )
        return 2
    subscription_id = StravaAPI(runtime).create_subscription(callback, token.get_secret_value())
    runtime.redis.set(SUBSCRIPTION_KEY, subscription_id)
    print(f"subscribed: id {subscription_id}, callback {shown(runtime, callback)}")
    configured = runtime.settings.webhook_subscription_id
    if configured is not None and configured != subscription_id:
        print(
            f"note: PACELINE_WEBHOOK_SUBSCRIPTION_ID is {configured}; set it to "
            f"{subscription_id} or unset it, or events will be refused",
            file=sys.stderr,
        )
    return 0


def cmd_list(args: argparse.Namespace, runtime: Runtime) -> int:
    subscriptions = StravaAPI(runtime).list_subscriptions()
    accepted = expected_subscription(runtime)
    if not subscriptions:
        print("no push subscription (create one with: paceline webhook subscribe)")
        return 0
    for item in subscriptions:
        mark = "  (accepted by activity-api)" if item.get("id") == accepted else ""
        print(
            f"{item.get('id')}  {shown(runtime, str(item.get('callback_url')))}  "
            f"created {item.get('created_at')}{mark}"
        )
    return 0


def cmd_delete(args: argparse.Namespace, runtime: Runtime) -> int:
    api = StravaAPI(runtime)
    subscription_id = args.id
    if subscription_id is None:
        existing = api.list_subscriptions()
        if not existing:
            print("no push subscription to delete")
            return 0
        subscription_id = int(existing[0]["id"])
    api.delete_subscription(subscription_id)
    recorded = runtime.redis.get(SUBSCRIPTION_KEY)
    if recorded is not None and int(recorded) == subscription_id:
        runtime.redis.delete(SUBSCRIPTION_KEY)
    print(f"deleted push subscription {subscription_id}")
    return 0


def cmd_consume(args: argparse.Namespace, runtime: Runtime) -> int:
    """Run one consumer in this process until SIGTERM/SIGINT: the event in hand is finished
    (at-least-once: anything read but not acknowledged is reclaimed by another consumer)."""
    from paceline.cache import SummaryCache

    from activity_api.summary_service import Summaries

    settings = runtime.settings
    cache = SummaryCache(
        runtime.redis, runtime.clock, keep_seconds=settings.summary_keep_seconds, memo_seconds=0
    )
    summaries = Summaries(runtime, cache)
    consumer = WebhookConsumer(runtime, summaries, cache, block_ms=args.block_ms)
    if args.heartbeat_file:
        beat = Path(args.heartbeat_file)
        consumer.heartbeat = beat.touch  # the chart's probes check that it is recent

    def stop(signum: int, frame: FrameType | None) -> None:
        consumer.request_stop()  # the loop ends after the round in hand

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"consuming webhook events as {consumer.name}", flush=True)
    try:
        consumer.run()
    finally:
        summaries.close()
    print("webhook consumer stopped", flush=True)
    return 0


Handler = Callable[[argparse.Namespace, Runtime], int]


def _guarded(handler: Handler) -> Handler:
    def run(args: argparse.Namespace, runtime: Runtime) -> int:
        try:
            return handler(args, runtime)
        except UpstreamError as error:
            print(f"paceline: Strava: {error}", file=sys.stderr)
            return 1

    return run


def add_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("webhook", help="manage the Strava push subscription (webhooks)")
    actions = parser.add_subparsers(dest="webhook_action", required=True, metavar="ACTION")

    subscribe = actions.add_parser(
        "subscribe", help="create the subscription (Strava validates the callback at once)"
    )
    subscribe.add_argument(
        "--callback-url",
        help=f"where Strava posts events (default: PACELINE_PUBLIC_URL + prefix + {CALLBACK_PATH})",
    )
    subscribe.set_defaults(handler=_guarded(cmd_subscribe))

    listing = actions.add_parser("list", help="show the application's subscription")
    listing.set_defaults(handler=_guarded(cmd_list))

    delete = actions.add_parser("delete", help="delete the subscription")
    delete.add_argument("id", nargs="?", type=int, help="subscription id (default: the one)")
    delete.set_defaults(handler=_guarded(cmd_delete))

    consume = actions.add_parser(
        "consume", help="process queued webhook events until SIGTERM (its own process)"
    )
    consume.add_argument(
        "--block-ms", type=int, default=2000, help="longest wait for new events (ms)"
    )
    consume.add_argument(
        "--heartbeat-file",
        help="touch this file every round (a liveness probe checks its age)",
    )
    consume.set_defaults(handler=cmd_consume)
