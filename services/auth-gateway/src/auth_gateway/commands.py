"""Subcommands this package adds to ``paceline`` (entry-point group ``paceline.commands``).

* ``paceline connect <provider>``: the OAuth bootstrap for people with no ingress yet. It prints
  the authorize URL, waits for the callback on a loopback port and stores the credential, with
  the very checks of the web gateway (:class:`auth_gateway.oauth_flow.AuthorizationFlow`):
  one-time state in Redis with a 10-minute expiry, PKCE where supported, binding to this
  process (it holds the nonce the web gateway would put in a cookie), scope and allow-list.
* ``paceline hash-password``: reads a password from stdin and prints the hash to put in
  ``PACELINE_ADMIN_PASSWORD_HASH`` (werkzeug's scrypt format). Never from argv.
"""

from __future__ import annotations

import argparse
import getpass
import hmac
import sys
import webbrowser
from dataclasses import dataclass

from paceline import keys
from paceline.cli import Subcommands, add_command
from paceline.runtime import Runtime
from werkzeug.security import generate_password_hash

from auth_gateway.formatting import relative_text, scope_label, utc_text
from auth_gateway.loopback import LOOPBACK_HOSTS, LoopbackReceiver, Page
from auth_gateway.oauth_flow import (
    AuthorizationFlow,
    AuthorizationRejected,
    Connected,
    new_binding,
)

DEFAULT_PORT = 8765
MIN_PASSWORD_LENGTH = 12


def cmd_connect(args: argparse.Namespace, runtime: Runtime) -> int:
    provider = runtime.providers.get(args.provider).name  # UnknownProvider -> exit 1
    path = f"/callback/{keys.check_ident(provider, 'provider')}"
    try:
        receiver = LoopbackReceiver(args.host, args.port, path)
    except OSError as error:
        print(f"paceline: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    host = f"[{args.host}]" if ":" in args.host else args.host
    redirect_uri = f"http://{host}:{receiver.port}{path}"
    flow = AuthorizationFlow(runtime)
    binding = new_binding()
    begun = flow.begin(provider, redirect_uri=redirect_uri, binding=binding)
    print(f"Listening on {redirect_uri} for {args.timeout} seconds.", file=sys.stderr)
    print(f"Open this URL in a browser to connect {provider}:", file=sys.stderr)
    print(begun.url, flush=True)
    if args.open:
        webbrowser.open(begun.url)
    outcome = _Outcome()

    def on_callback(params: dict[str, str]) -> tuple[Page, bool]:
        if not hmac.compare_digest(params.get("state", "").encode(), begun.state.encode()):
            # Not the connection this command started: refuse it and keep waiting.
            return Page(400, "Not connected", "This is not the connection paceline started."), False
        try:
            outcome.connected = flow.complete(provider, params, binding=binding)
        except AuthorizationRejected as rejected:
            outcome.rejected = rejected
            return Page(rejected.status, "Not connected", rejected.message), True
        return Page(
            200,
            f"Connected {provider} account {outcome.connected.account_id}",
            "You can close this tab and go back to the terminal.",
        ), True

    if not receiver.wait(on_callback, args.timeout):
        print(f"paceline: no callback within {args.timeout:g} s; nothing stored", file=sys.stderr)
        return 1
    if outcome.rejected is not None:
        rejected = outcome.rejected
        print(f"paceline: not connected ({rejected.reason}): {rejected.message}", file=sys.stderr)
        for scope in rejected.missing_scopes:
            print(f"  keep ticked: {scope_label(provider, scope)}", file=sys.stderr)
        return 1
    connected = outcome.connected
    assert connected is not None
    name = f" ({connected.display_name})" if connected.display_name else ""
    verb = "reconnected" if connected.replaced else "connected"
    now = runtime.clock.now()
    print(
        f"{verb} {provider} account {connected.account_id}{name}; token expires "
        f"{utc_text(connected.expires_at)} ({relative_text(connected.expires_at, now)}); "
        f"the token-refresher renews it from {utc_text(connected.next_refresh_at)}"
    )
    return 0


@dataclass
class _Outcome:
    connected: Connected | None = None
    rejected: AuthorizationRejected | None = None


def add_connect_command(sub: Subcommands) -> None:
    parser = add_command(
        sub,
        "connect",
        cmd_connect,
        "connect an account in a browser, receiving the callback on a loopback port",
        "Prints the provider's authorize URL and waits on a loopback port for the callback, "
        "then stores the credential (same checks as the auth-gateway). Register "
        "http://127.0.0.1:PORT/callback/PROVIDER with the provider if it wants exact redirect "
        "URIs (Strava accepts any 127.0.0.1 or localhost redirect).",
    )
    parser.add_argument("provider", help="provider name, e.g. strava")
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"loopback port (default {DEFAULT_PORT}; 0 = any free port)",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", choices=LOOPBACK_HOSTS, help="loopback address"
    )
    parser.add_argument(
        "--timeout", type=float, default=600, help="seconds to wait for the callback (default 600)"
    )
    parser.add_argument("--open", action="store_true", help="also open the URL in a browser")


def read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("admin password: ")
        if getpass.getpass("again: ") != first:
            raise SystemExit("paceline: the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def cmd_hash_password(args: argparse.Namespace, runtime: Runtime | None = None) -> int:
    password = read_password()
    if len(password) < MIN_PASSWORD_LENGTH:
        print(
            f"paceline: use a password of at least {MIN_PASSWORD_LENGTH} characters",
            file=sys.stderr,
        )
        return 1
    print(generate_password_hash(password, method="scrypt"))
    return 0


def add_hash_password_command(sub: Subcommands) -> None:
    add_command(
        sub,
        "hash-password",
        cmd_hash_password,
        "hash an admin password read from stdin, for PACELINE_ADMIN_PASSWORD_HASH",
        "Reads the password from standard input (prompts twice on a terminal) and prints its "
        "scrypt hash. Example: paceline hash-password < password.txt",
    )
