"""The file mirror (PACELINE_SECRET_BACKEND=file): atomic, private, never backwards, crash-safe."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest
from paceline.credential import Credential
from paceline.mirror import FileMirror, MirrorError, NullMirror, mirror_from_settings
from paceline.settings import load_settings


def cred(account: str = "42", version: int = 1) -> Credential:
    return Credential(
        provider="strava",
        account_id=account,
        access_token=f"access-{account}-{version}",
        refresh_token=f"refresh-{account}-{version}",
        expires_at=1_767_247_200.0,
        version=version,
    )


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "state" / "secrets"


def test_put_then_load_all_round_trips(directory: Path) -> None:
    mirror = FileMirror(directory)
    assert mirror.load_all() == []  # no directory yet: nothing, not an error
    assert mirror.put(cred("1"))
    assert mirror.put(cred("2"))
    assert mirror.load_all() == [cred("1"), cred("2")]


def test_files_are_private_to_the_owner(directory: Path) -> None:
    previous = os.umask(0o022)  # a typical, permissive umask
    try:
        FileMirror(directory).put(cred())
    finally:
        os.umask(previous)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    files = [p for p in directory.iterdir() if p.suffix == ".json"]
    assert [p.name for p in files] == ["strava.42.json"]
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600


def test_an_existing_open_directory_is_made_private(directory: Path) -> None:
    directory.mkdir(parents=True, mode=0o755)
    directory.chmod(0o755)
    FileMirror(directory).put(cred())
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_never_downgrades(directory: Path) -> None:
    mirror = FileMirror(directory)
    assert mirror.put(cred(version=3))
    assert not mirror.put(cred(version=2))
    assert not mirror.put(cred(version=3))
    assert [c.version for c in mirror.load_all()] == [3]
    assert mirror.put(cred(version=4))
    assert [c.version for c in mirror.load_all()] == [4]


def test_concurrent_writers_leave_the_newest_version(directory: Path) -> None:
    versions = list(range(1, 41))
    threads = [
        threading.Thread(target=FileMirror(directory).put, args=(cred(version=v),))
        for v in reversed(versions)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [c.version for c in FileMirror(directory).load_all()] == [40]


def test_write_replaces_the_file_atomically(directory: Path) -> None:
    mirror = FileMirror(directory)
    mirror.put(cred(version=1))
    path = directory / "strava.42.json"
    before = path.stat().st_ino
    mirror.put(cred(version=2))
    assert path.stat().st_ino != before, "a new file renamed over the old, not rewritten in place"
    assert json.loads(path.read_text())["version"] == 2
    assert not [p for p in directory.iterdir() if p.name.startswith(".tmp-")]


def test_leftover_temp_file_from_a_crash_mid_write_is_ignored(directory: Path) -> None:
    mirror = FileMirror(directory)
    mirror.put(cred(version=1))
    # A crash after the temp file was (partly) written, before the rename.
    (directory / ".tmp-abc123.json").write_text('{"provider": "strava", "account_id": "4')
    (directory / ".tmp-def456.json").write_text(cred(version=9).to_json())
    assert mirror.load_all() == [cred(version=1)]
    assert mirror.put(cred(version=2))
    assert [c.version for c in mirror.load_all()] == [2]


def test_failed_write_keeps_the_previous_file_and_leaves_no_temp(
    directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = FileMirror(directory)
    mirror.put(cred(version=1))

    def crash(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(MirrorError) as caught:
        mirror.put(cred(version=2))
    monkeypatch.undo()
    assert "No space left" in str(caught.value)
    assert mirror.load_all() == [cred(version=1)]
    assert sorted(p.name for p in directory.iterdir()) == [".lock", "strava.42.json"]


def test_unwritable_location_is_a_mirror_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    mirror = FileMirror(blocker / "secrets")
    with pytest.raises(MirrorError):
        mirror.put(cred())
    with pytest.raises(MirrorError):
        mirror.delete("strava", "42")


def test_one_corrupt_file_does_not_hide_the_others(directory: Path) -> None:
    mirror = FileMirror(directory)
    mirror.put(cred("1"))
    (directory / "strava.2.json").write_text("{not json")
    assert mirror.load_all() == [cred("1")]
    assert mirror.put(cred("2", version=5)), "a corrupt entry is replaced by a good one"
    assert [c.account_id for c in mirror.load_all()] == ["1", "2"]


def test_delete_removes_only_that_credential(directory: Path) -> None:
    mirror = FileMirror(directory)
    mirror.put(cred("1"))
    mirror.put(cred("2"))
    mirror.delete("strava", "1")
    mirror.delete("strava", "1")  # idempotent
    assert mirror.load_all() == [cred("2")]


def test_backend_is_chosen_by_settings(directory: Path, clean_env: None) -> None:
    chosen = mirror_from_settings(load_settings(secret_backend="file", secret_dir=str(directory)))
    assert isinstance(chosen, FileMirror) and chosen.directory == directory
    assert isinstance(mirror_from_settings(load_settings()), NullMirror)
