"""``token-refresher`` (also ``paceline refresh``): one pass, then exit.

The exit code is the CronJob's verdict: 0 when nothing failed, 1 when any credential failed to
refresh or needs re-authorization, 2 for bad configuration.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from paceline.log import setup_logging
from paceline.runtime import Runtime, build_runtime
from paceline.settings import ConfigError, load_settings
from token_refresher.refresher import PassOptions, run_pass


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--provider", help="only credentials of this provider")
    parser.add_argument("--account", help="only this account id")
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would be refreshed; call nothing"
    )
    parser.add_argument("--force", action="store_true", help="refresh even if not due")
    parser.add_argument(
        "--workers", type=int, default=None, help="concurrent refreshes (default from settings)"
    )


def run(args: argparse.Namespace, runtime: Runtime) -> int:
    options = PassOptions(
        provider=args.provider,
        account=args.account,
        dry_run=args.dry_run,
        force=args.force,
        workers=args.workers,
    )
    report = run_pass(runtime, options)
    if args.dry_run:
        for provider, account, expires_in in report.would_refresh:
            print(f"would refresh {provider}:{account} (expires in {int(expires_in)}s)")
    print(json.dumps(report.summary()), file=sys.stdout)
    return 1 if report.failed else 0


def add_command(sub: argparse._SubParsersAction) -> None:
    """``paceline refresh``: the same pass, from the paceline command."""
    parser = sub.add_parser("refresh", help="run one token-refresher pass")
    add_arguments(parser)
    parser.set_defaults(handler=run)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="token-refresher", description="Refresh every credential that is due, once."
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as error:
        print(f"token-refresher: configuration error: {error}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level, settings.log_format, service="token-refresher")
    return run(args, build_runtime(settings))


if __name__ == "__main__":
    sys.exit(main())
