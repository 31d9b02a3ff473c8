"""The ``paceline`` command: look at and feed the token store from a shell.

Secrets never travel on the command line (argv is visible to every user of the machine and
lands in shell history): ``import`` reads the refresh token from standard input.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import TypeAlias

import redis

from paceline import keys
from paceline.credential import Credential
from paceline.credential_intake import ImportFailed, import_refresh_token
from paceline.crypto import TokenDecryptError, split_keys
from paceline.keys import InvalidIdentifier
from paceline.lock import LockBusy
from paceline.mirror import MirrorError
from paceline.privacy import privacy_text
from paceline.providers import UnknownProvider
from paceline.runtime import Runtime, service_runtime
from paceline.settings import ConfigError
from paceline.store import VersionConflict

Command = Callable[[argparse.Namespace, Runtime], int]


def human_duration(seconds: float) -> str:
    seconds = int(abs(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m"


def expires_text(credential: Credential, now: float) -> str:
    left = credential.expires_at - now
    return f"in {human_duration(left)}" if left >= 0 else f"expired {human_duration(left)} ago"


def status_rows(
    credentials: Sequence[Credential], now: float, privacy_cap_seconds: float = 3600
) -> list[dict[str, str]]:
    return [
        {
            "provider": c.provider,
            "account": c.account_id,
            "name": c.display_name or "-",
            "state": c.state.value,
            "expires": expires_text(c, now),
            "scopes": ",".join(c.scopes) or "-",
            "privacy": privacy_text(c.provider, c.scopes, privacy_cap_seconds),
            "last_refresh": (
                f"{human_duration(now - c.last_refresh_at)} ago" if c.last_refresh_at else "never"
            ),
        }
        for c in credentials
    ]


def render_table(rows: list[dict[str, str]], headers: dict[str, str]) -> str:
    widths = {k: max([len(h)] + [len(r[k]) for r in rows]) for k, h in headers.items()}
    lines = ["  ".join(h.ljust(widths[k]) for k, h in headers.items()).rstrip()]
    for row in rows:
        lines.append("  ".join(row[k].ljust(widths[k]) for k in headers).rstrip())
    return "\n".join(lines)


STATUS_HEADERS = {
    "provider": "PROVIDER",
    "account": "ACCOUNT",
    "name": "NAME",
    "state": "STATE",
    "expires": "EXPIRES",
    "scopes": "SCOPES",
    "last_refresh": "LAST REFRESH",
    "privacy": "PRIVATE HIDDEN",
}


def encryption_text(runtime: Runtime) -> str:
    """Whether tokens are encrypted at rest, where, and how many records are not yet."""
    key = runtime.settings.encryption_key
    mirror = runtime.store.mirror.name
    where = "Redis" if mirror == "none" else f"Redis and the {mirror} mirror"
    if key is None:
        return (
            f"tokens at rest: NOT encrypted in {where} "
            "(set PACELINE_ENCRYPTION_KEY; the Helm chart generates one)"
        )
    count = len(split_keys(key.get_secret_value()))
    keys_text = f"{count} keys, the first encrypts" if count > 1 else "1 key"
    plain = runtime.store.plaintext_records()
    pending = f"; {plain} record(s) still in plain text until their next write" if plain else ""
    return f"tokens at rest: encrypted in {where} (Fernet, {keys_text}){pending}"


def cmd_status(args: argparse.Namespace, runtime: Runtime) -> int:
    runtime.store.ensure_restored()
    credentials = runtime.store.list(args.provider)
    rows = status_rows(
        credentials, runtime.clock.now(), runtime.settings.summary_privacy_fresh_seconds
    )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no connected accounts (connect one with the auth-gateway or `paceline import`)")
    else:
        print(render_table(rows, STATUS_HEADERS))
    print(encryption_text(runtime))
    return 0


def cmd_reencrypt(args: argparse.Namespace, runtime: Runtime) -> int:
    """Write every credential again: sealed with the first key in Redis and the mirror (after
    adding a key in front for rotation, or after switching encryption on)."""
    runtime.store.ensure_restored()
    rewritten = 0
    for provider, account in runtime.store.members():
        # Under the refresh lock: a refresh in flight must never lose its rotated token to us.
        with runtime.locks.hold(keys.lock_key(provider, account), wait_seconds=15) as lease:
            current = runtime.store.get(provider, account)
            if current is None:
                continue
            runtime.store.save(current, expected_version=current.version, fence=lease.fence)
            rewritten += 1
    print(f"re-encrypted {rewritten} credential(s) with the first key; {encryption_text(runtime)}")
    return 0


def cmd_import(args: argparse.Namespace, runtime: Runtime) -> int:
    if sys.stdin.isatty():
        print(f"paste the {args.provider} refresh token and press Enter:", file=sys.stderr)
    token = sys.stdin.readline()
    stored = import_refresh_token(runtime, args.provider, token)
    c = stored.credential
    verb = "updated" if stored.replaced else "imported"
    print(
        f"{verb} {c.provider} account {c.account_id}"
        f"{' (' + c.display_name + ')' if c.display_name else ''}; "
        f"token expires {expires_text(c, runtime.clock.now())}"
        f"{'' if stored.mirrored or runtime.store.mirror.name == 'none' else '; mirror pending'}"
    )
    return 0


# Not subscriptable at run time: the alias is for the type checker only.
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def add_command(
    sub: Subcommands, name: str, handler: Command, summary: str, description: str | None = None
) -> argparse.ArgumentParser:
    """One ``paceline`` subcommand answered by ``handler`` (``summary`` for ``--help``); its
    parser, for the arguments."""
    parser = sub.add_parser(name, help=summary, description=description)
    parser.set_defaults(handler=handler)
    return parser


def build_parser(
    extra: Sequence[Callable[[Subcommands], None]] = (),
) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="paceline", description="Keep fitness-API tokens fresh and look after them."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    status = add_command(
        sub, "status", cmd_status, "list connected accounts and their token health"
    )
    status.add_argument("--provider", help="only this provider")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    add_command(
        sub,
        "reencrypt",
        cmd_reencrypt,
        "write every credential again, sealed with the first PACELINE_ENCRYPTION_KEY",
        "After putting a new key first in PACELINE_ENCRYPTION_KEY (new,old), run this once; "
        "then the old key can be dropped.",
    )
    imp = add_command(
        sub,
        "import",
        cmd_import,
        "import an existing refresh token read from stdin (never from arguments)",
        "Reads one refresh token from standard input, refreshes it once with the provider and "
        "stores the result. Example: paceline import strava < token.txt",
    )
    imp.add_argument("provider", help="provider name, e.g. strava")

    for add in extra:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(_plugins())
    args, unexpected = parser.parse_known_args(argv)
    if unexpected:
        # argparse would echo them back, and a stray argument may well be a pasted token.
        print(
            f"paceline: {len(unexpected)} unexpected argument(s), not shown; tokens and secrets "
            "are read from stdin, never from arguments (see --help)",
            file=sys.stderr,
        )
        return 2
    try:
        runtime = service_runtime("paceline-cli")
        handler: Command = args.handler
        return handler(args, runtime)
    except ConfigError as error:
        print(f"paceline: configuration error: {error}", file=sys.stderr)
        return 2
    except (
        ImportFailed,
        UnknownProvider,
        InvalidIdentifier,
        MirrorError,
        TokenDecryptError,
        VersionConflict,
    ) as error:
        print(f"paceline: {error}", file=sys.stderr)
        return 1
    except LockBusy as error:
        print(
            f"paceline: {error} is held by another process (a refresh in progress?); "
            "try again in a minute",
            file=sys.stderr,
        )
        return 1
    except redis.RedisError as error:
        print(f"paceline: Redis: {error}", file=sys.stderr)
        return 1


def _plugins() -> list[Callable[[Subcommands], None]]:
    """Subcommands contributed by installed services (e.g. ``paceline refresh``)."""
    from importlib.metadata import entry_points

    return [ep.load() for ep in entry_points(group="paceline.commands")]


if __name__ == "__main__":
    sys.exit(main())
