"""``token-refresher`` (also ``paceline refresh``): one pass, then exit.

The exit code is the CronJob's verdict: 0 when nothing failed; 1 when any credential failed to
refresh, needs re-authorization, lost its chain or is backing off, when the provider refused the
application's client id or secret (one line on stderr names the setting to fix), when a mirror
write is still pending, or when Redis could not be reached; 2 for bad configuration.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import redis
from paceline import cli
from paceline.cli import Subcommands
from paceline.runtime import Runtime, service_runtime
from paceline.settings import ConfigError

from token_refresher import crashpoints
from token_refresher.refresher import PassOptions, run_pass

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--provider", help="only credentials of this provider")
    parser.add_argument("--account", help="only this account id")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print what would be refreshed; call nothing, change nothing",
    )
    parser.add_argument(
        "--force", action="store_true", help="refresh even if not due or backing off"
    )
    parser.add_argument(
        "--workers",
        type=positive,
        default=None,
        help="concurrent refreshes (default: PACELINE_REFRESHER_WORKERS)",
    )


def run(args: argparse.Namespace, runtime: Runtime) -> int:
    options = PassOptions(
        provider=args.provider,
        account=args.account,
        dry_run=args.dry_run,
        force=args.force,
        workers=args.workers,
        checkpoint=crashpoints.from_environment(),
    )
    try:
        report = run_pass(runtime, options)
    except redis.RedisError as error:
        print(f"token-refresher: Redis unreachable: {error}", file=sys.stderr)
        return EXIT_FAILED
    if args.dry_run:
        for planned in report.planned:
            print(planned.describe())
        print(f"{len(report.planned)} to refresh, {report.counts['skipped']} not due")
        return EXIT_OK
    for provider, setting in sorted(report.application_errors.items()):
        print(
            f"token-refresher: {provider} refused the application's credentials: fix {setting} "
            "(no credential was changed)",
            file=sys.stderr,
        )
    return EXIT_FAILED if report.failed else EXIT_OK


def add_command(sub: Subcommands) -> None:
    """``paceline refresh``: the same pass, from the paceline command."""
    add_arguments(cli.add_command(sub, "refresh", run, "run one token-refresher pass"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="token-refresher", description="Refresh every credential that is due, once."
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(args, service_runtime("token-refresher"))
    except ConfigError as error:
        print(f"token-refresher: configuration error: {error}", file=sys.stderr)
        return EXIT_CONFIG


if __name__ == "__main__":
    sys.exit(main())
