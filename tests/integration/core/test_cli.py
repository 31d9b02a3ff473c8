"""The ``paceline`` command, run as a real subprocess against the test Redis and a fake Strava."""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from paceline.cli import main
from paceline.credential import Credential, CredentialState
from paceline.store import TokenStore

from tests.fixtures.redis import RedisServer
from tests.integration.core.fake_strava import FakeStrava

TOKEN = "ref-f00dfeed0123456789abcdef01234567"
Run = Callable[..., "subprocess.CompletedProcess[str]"]
Cli = Callable[..., tuple[int, str, str]]
HEADERS = [
    "PROVIDER",
    "ACCOUNT",
    "NAME",
    "STATE",
    "EXPIRES",
    "SCOPES",
    "LAST REFRESH",
    "PRIVATE HIDDEN",
]


def paceline_command() -> list[str]:
    script = Path(sys.executable).with_name("paceline")
    if script.exists():
        return [str(script)]
    found = shutil.which("paceline")
    return [found] if found else [sys.executable, "-m", "paceline.cli"]


@pytest.fixture
def run(
    redis_server: RedisServer, redis_client: redis.Redis, fake_strava: FakeStrava, tmp_path: Path
) -> Run:
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("PACELINE_")}
    base_env.update(
        PACELINE_REDIS_URL=redis_server.url,
        PACELINE_STRAVA_CLIENT_ID=fake_strava.client_id,
        PACELINE_STRAVA_CLIENT_SECRET=fake_strava.client_secret,
        PACELINE_STRAVA_BASE_URL=fake_strava.url,
        PACELINE_SECRET_BACKEND="file",
        PACELINE_SECRET_DIR=str(tmp_path / "secrets"),
    )

    def invoke(*args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*paceline_command(), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env={**base_env, **env},
            timeout=60,
        )

    return invoke


@pytest.fixture
def cli(
    redis_server: RedisServer,
    redis_client: redis.Redis,
    fake_strava: FakeStrava,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    clean_env: None,
) -> Iterator[Cli]:
    """``paceline`` in this process (faster than a subprocess): returns (code, stdout, stderr)."""
    monkeypatch.setenv("PACELINE_REDIS_URL", redis_server.url)
    monkeypatch.setenv("PACELINE_STRAVA_CLIENT_ID", fake_strava.client_id)
    monkeypatch.setenv("PACELINE_STRAVA_CLIENT_SECRET", fake_strava.client_secret)
    monkeypatch.setenv("PACELINE_STRAVA_BASE_URL", fake_strava.url)
    monkeypatch.setenv("PACELINE_SECRET_BACKEND", "file")
    monkeypatch.setenv("PACELINE_SECRET_DIR", str(tmp_path / "secrets"))
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)

    def invoke(*args: str, stdin: str = "", **env: str) -> tuple[int, str, str]:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    yield invoke
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def seed(client: redis.Redis) -> None:
    store = TokenStore(client)
    now = time.time()
    store.save(
        Credential(
            provider="strava",
            account_id="42",
            access_token="acc-aaaaaaaa11111111",
            refresh_token="ref-bbbbbbbb22222222",
            expires_at=now + 3 * 3600 + 150,
            scopes=("activity:read", "read"),
            last_refresh_at=now - 600,
            display_name="Ada Lovelace",
        ),
        expected_version=0,
    )
    store.save(
        Credential(
            provider="strava",
            account_id="7",
            access_token="acc-cccccccc33333333",
            refresh_token="ref-dddddddd44444444",
            expires_at=now - 7200,
            state=CredentialState.NEEDS_REAUTH,
        ),
        expected_version=0,
    )


def test_status_on_an_empty_store_says_how_to_connect(cli: Cli) -> None:
    code, out, err = cli("status")
    assert code == 0, err
    assert "no connected accounts" in out
    assert "paceline import" in out


def test_status_lists_accounts_as_a_table(cli: Cli, redis_client: redis.Redis) -> None:
    seed(redis_client)
    code, out, err = cli("status")
    assert code == 0, err
    header, *rows = out.strip().splitlines()
    assert header.split() == [w for h in HEADERS for w in h.split()]
    positions = [header.index(h) for h in HEADERS]
    assert positions == sorted(positions)
    ada = next(r for r in rows if " 42 " in r)
    assert ada.startswith("strava")
    for text in ("Ada Lovelace", "active", "in 3h 02m", "activity:read,read", "10m ago"):
        assert text in ada
    # Connected without activity:read_all: no privacy events, so the freshness cap says when.
    assert "within 1h 00m (activity:read_all not granted)" in ada
    lost = next(r for r in rows if " 7 " in r)
    for text in ("needs_reauth", "expired 2h 00m ago", "never"):
        assert text in lost
    assert "acc-" not in out and "ref-" not in out


def test_status_json_is_machine_readable(cli: Cli, redis_client: redis.Redis) -> None:
    seed(redis_client)
    code, out, err = cli("status", "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert {(r["provider"], r["account"], r["state"]) for r in rows} == {
        ("strava", "42", "active"),
        ("strava", "7", "needs_reauth"),
    }
    assert set(rows[0]) == {
        "provider",
        "account",
        "name",
        "state",
        "expires",
        "scopes",
        "last_refresh",
        "privacy",
    }
    assert json.loads(cli("status", "--json", "--provider", "fitbit")[1]) == []


def test_import_reads_the_token_from_stdin_and_status_lists_it(
    run: Run, fake_strava: FakeStrava, tmp_path: Path
) -> None:
    fake_strava.accept_refresh_token(TOKEN)
    result = run("import", "strava", stdin=TOKEN + "\n")
    assert result.returncode == 0, result.stderr
    assert "imported strava account 42 (Ada Lovelace)" in result.stdout
    assert "token expires in 5h" in result.stdout

    status = run("status")
    assert status.returncode == 0
    assert "42" in status.stdout and "Ada Lovelace" in status.stdout and "active" in status.stdout

    issued = fake_strava.issued_tokens() | {TOKEN, fake_strava.client_secret}
    for output in (result.stdout, result.stderr, status.stdout, status.stderr):
        for secret in issued:
            assert secret not in output
    # The durable mirror got it too (file backend).
    assert [p.name for p in (tmp_path / "secrets").glob("*.json")] == ["strava.42.json"]


def test_import_again_updates_the_same_account(cli: Cli, fake_strava: FakeStrava) -> None:
    fake_strava.accept_refresh_token(TOKEN)
    assert cli("import", "strava", stdin=TOKEN)[0] == 0
    (current,) = fake_strava.valid_refresh
    code, out, err = cli("import", "strava", stdin=current)
    assert code == 0, err
    assert "updated strava account 42" in out


def test_import_takes_no_token_argument(run: Run, fake_strava: FakeStrava) -> None:
    result = run("import", "strava", TOKEN)
    assert result.returncode == 2
    assert TOKEN not in result.stderr and TOKEN not in result.stdout
    assert "stdin" in result.stderr
    assert fake_strava.requests == []
    help_text = run("import", "--help").stdout
    assert (
        "standard input" in help_text and "token" not in help_text.split("positional arguments")[1]
    )


def test_refused_token_is_one_clear_line_and_exit_1(run: Run, fake_strava: FakeStrava) -> None:
    result = run("import", "strava", stdin=TOKEN)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("paceline:")]
    assert errors == [
        "paceline: strava refused this refresh token (RefreshToken:refresh_token:invalid); "
        "connect the account in the browser instead"
    ]
    assert TOKEN not in result.stderr + result.stdout


def test_empty_stdin_is_refused_without_calling_strava(cli: Cli, fake_strava: FakeStrava) -> None:
    code, _, err = cli("import", "strava", stdin="\n")
    assert code == 1
    assert "expected one refresh token" in err
    assert fake_strava.requests == []


def test_unconfigured_provider_is_named(cli: Cli) -> None:
    code, _, err = cli("import", "garmin", stdin=TOKEN)
    assert code == 1
    assert "garmin" in err and "strava" in err


def test_bad_config_exits_2_with_one_line_naming_the_variable(run: Run) -> None:
    result = run("status", PACELINE_STRAVA_BASE_URL="not a url")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("paceline: configuration error: PACELINE_STRAVA_BASE_URL")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PACELINE_REDIS_URL", "http://localhost:6379"),
        ("PACELINE_ENCRYPTION_KEY", "nope"),
        ("PACELINE_STRAVA_CLIENT_SECRET", ""),
    ],
)
def test_every_bad_config_is_one_line_naming_a_variable(
    cli: Cli, variable: str, value: str
) -> None:
    code, _, err = cli("status", **{variable: value})
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "PACELINE_" in lines[0]
    assert lines[0].startswith("paceline: configuration error:")


def test_unreachable_redis_is_one_line_and_exit_1(cli: Cli) -> None:
    from paceline_dev.launch import free_port

    code, _, err = cli("status", PACELINE_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("paceline: Redis:")


def test_import_after_redis_lost_its_data_continues_the_mirrored_versions(
    cli: Cli, fake_strava: FakeStrava, redis_client: redis.Redis, tmp_path: Path
) -> None:
    fake_strava.accept_refresh_token(TOKEN)
    assert cli("import", "strava", stdin=TOKEN)[0] == 0
    redis_client.flushall()  # Redis restarted without persistence
    (current,) = fake_strava.valid_refresh
    code, out, err = cli("import", "strava", stdin=current)
    assert code == 0, err
    assert "updated strava account 42" in out
    mirrored = json.loads((tmp_path / "secrets" / "strava.42.json").read_text())
    assert mirrored["version"] == 2
    assert mirrored["refresh_token"] in fake_strava.valid_refresh


def test_status_with_the_wrong_encryption_key_is_one_line_not_garbage(
    cli: Cli, fake_strava: FakeStrava
) -> None:
    from cryptography.fernet import Fernet

    fake_strava.accept_refresh_token(TOKEN)
    first = Fernet.generate_key().decode()
    assert cli("import", "strava", stdin=TOKEN, PACELINE_ENCRYPTION_KEY=first)[0] == 0
    code, out, err = cli("status", PACELINE_ENCRYPTION_KEY=Fernet.generate_key().decode())
    assert code == 1 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "PACELINE_ENCRYPTION_KEY" in lines[0]


def test_interrupted_import_resumes_without_burning_the_rotated_token(
    cli: Cli, fake_strava: FakeStrava
) -> None:
    fake_strava.accept_refresh_token(TOKEN)
    fake_strava.athlete_failures = 1  # refreshed (TOKEN is now invalid), then lookup fails
    code, _, err = cli("import", "strava", stdin=TOKEN)
    assert code == 1
    assert "run the same import again" in err
    assert TOKEN not in fake_strava.valid_refresh

    code, out, err = cli("import", "strava", stdin=TOKEN)
    assert code == 0, err
    assert "imported strava account 42" in out
    code, out, _ = cli("status", "--json")
    (row,) = json.loads(out)
    assert row["account"] == "42" and row["state"] == "active"


def test_status_says_whether_tokens_are_encrypted_at_rest(
    cli: Cli, redis_client: redis.Redis, tmp_path: Path
) -> None:
    from cryptography.fernet import Fernet

    seed(redis_client)  # written before any key was set
    code, out, err = cli("status")
    assert code == 0, err
    assert "tokens at rest: NOT encrypted in Redis and the file mirror" in out
    key = Fernet.generate_key().decode()
    code, out, err = cli("status", PACELINE_ENCRYPTION_KEY=key)
    assert code == 0, err
    assert "tokens at rest: encrypted in Redis and the file mirror (Fernet, 1 key)" in out
    assert "2 record(s) still in plain text until their next write" in out


def test_reencrypt_seals_every_record_with_the_first_key(
    cli: Cli, redis_client: redis.Redis, tmp_path: Path
) -> None:
    from cryptography.fernet import Fernet

    seed(redis_client)
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    assert cli("reencrypt", PACELINE_ENCRYPTION_KEY=old)[0] == 0
    code, out, err = cli("reencrypt", PACELINE_ENCRYPTION_KEY=f"{new},{old}")
    assert code == 0, err
    assert "re-encrypted 2 credential(s)" in out and "(Fernet, 2 keys, the first encrypts)" in out
    assert "plain text" not in out
    code, out, err = cli("status", PACELINE_ENCRYPTION_KEY=new)  # the old key is dropped
    assert code == 0, err
    assert "Ada Lovelace" in out
    for path in (tmp_path / "secrets").glob("*.json"):
        assert "ref-" not in path.read_text(), "the mirror was rewritten too"
