"""The durable mirror of credentials: a Kubernetes Secret, a directory, or nothing.

Redis is the working store; the mirror is what survives when Redis loses its data. Every
backend keeps the newest version of each credential: ``put`` of a version not newer than the
one held is a no-op, so concurrent writers (two pods, a retry) can never move a credential
backwards. Records are JSON whose tokens pass through the same codec as Redis's: encrypted
whenever ``PACELINE_ENCRYPTION_KEY`` is set (the Secret's RBAC and the 0600 files are a second
layer, not the only one). Entries written in plain text before a key was set are read as they are
and sealed on their next write.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import logging
import os
import stat
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import tenacity

from paceline.credential import Credential, TokenCodec
from paceline.crypto import StrictPlainCodec, TokenDecryptError, codec_from_settings
from paceline.keys import check_ident
from paceline.settings import Settings

log = logging.getLogger(__name__)

# Kubernetes refuses Secrets over 1 MiB; keep headroom for metadata.
SECRET_DATA_LIMIT = 1_000_000
REQUEST_TIMEOUT = 10.0


class MirrorError(Exception):
    """The mirror could not be read or written; the message says what to fix."""


class SecretMirror(Protocol):
    name: str

    def load_all(self) -> list[Credential]: ...

    def put(self, credential: Credential) -> bool:
        """Store if newer than what the mirror holds; True when written."""
        ...

    def delete(self, provider: str, account_id: str) -> None: ...


def entry_name(provider: str, account_id: str) -> str:
    """The data key of a credential (valid as a Secret key and as a file name)."""
    return f"{check_ident(provider, 'provider')}.{check_ident(account_id, 'account id')}"


class NullMirror:
    """No durable copy (``PACELINE_SECRET_BACKEND=none``): Redis is all there is."""

    name = "none"

    def load_all(self) -> list[Credential]:
        return []

    def put(self, credential: Credential) -> bool:
        return False

    def delete(self, provider: str, account_id: str) -> None:
        return None


class FileMirror:
    """One JSON file per credential in a directory; atomic replace, mode 0600, directory 0700.

    A write goes to a hidden temp file that is renamed over the entry, so a crash leaves either
    the old or the new file; leftover temp files (hidden) are never read.
    """

    name = "file"

    def __init__(self, directory: Path, codec: TokenCodec | None = None) -> None:
        self.directory = Path(directory)
        self.codec: TokenCodec = codec or StrictPlainCodec()

    def _ensure_dir(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        if stat.S_IMODE(self.directory.stat().st_mode) != 0o700:
            # mkdir's mode is cut by the umask, or the directory pre-existed. A mounted volume
            # we do not own stays as it is (the files themselves are still 0600).
            with contextlib.suppress(PermissionError):
                os.chmod(self.directory, 0o700)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self._ensure_dir()
        fd = os.open(self.directory / ".lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _path(self, provider: str, account_id: str) -> Path:
        return self.directory / f"{entry_name(provider, account_id)}.json"

    def _read(self, path: Path) -> Credential | None:
        """The credential in ``path``; None if absent or unreadable (logged)."""
        try:
            return Credential.from_json(path.read_bytes(), self.codec)
        except TokenDecryptError as error:
            raise MirrorError(f"{path}: {error}") from None
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as error:
            log.warning(
                "skipping unreadable mirror file",
                extra={"path": str(path), "error": type(error).__name__},
            )
            return None

    def load_all(self) -> list[Credential]:
        try:
            if not self.directory.exists():
                return []
            paths = sorted(p for p in self.directory.glob("*.json") if not p.name.startswith("."))
            return [c for c in map(self._read, paths) if c is not None]
        except OSError as error:
            raise MirrorError(f"cannot read mirror directory {self.directory}: {error}") from None

    def put(self, credential: Credential) -> bool:
        path = self._path(credential.provider, credential.account_id)
        try:
            with self._locked():
                held = _version_of(path.read_bytes()) if path.exists() else 0
                if held >= credential.version:
                    return False
                self._write(path, credential.to_json(self.codec))
        except OSError as error:
            raise MirrorError(f"cannot write mirror file {path}: {error}") from None
        return True

    def _write(self, path: Path, text: str) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as handle:
                os.fchmod(handle.fileno(), 0o600)
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def delete(self, provider: str, account_id: str) -> None:
        path = self._path(provider, account_id)
        try:
            with self._locked(), contextlib.suppress(FileNotFoundError):
                path.unlink()
        except OSError as error:
            raise MirrorError(f"cannot delete mirror file {path}: {error}") from None


class KubernetesSecretMirror:
    """A pre-created Secret, read with ``get`` and written with ``patch`` only.

    Each patch carries the ``resourceVersion`` it was computed from, so the API server answers
    409 when someone else wrote in between; we then re-read and try again. The chart grants
    exactly get/patch on this one Secret by name, so 403 and 404 are configuration errors and
    are reported as such.
    """

    name = "kubernetes"

    def __init__(
        self,
        secret_name: str,
        namespace: str,
        api: Any = None,
        *,
        conflict_retries: int = 8,
        codec: TokenCodec | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.secret_name = secret_name
        self.namespace = namespace
        self._api = api
        self._conflict_retries = conflict_retries
        self._sleep = sleep  # injected: tests of endless conflicts do not wait the back-off
        self.codec: TokenCodec = codec or StrictPlainCodec()

    @property
    def api(self) -> Any:
        if self._api is None:
            self._api = _core_v1_api()
        return self._api

    def _read(self) -> tuple[str, dict[str, str]]:
        from kubernetes.client.exceptions import ApiException

        try:
            secret = self.api.read_namespaced_secret(
                self.secret_name, self.namespace, _request_timeout=REQUEST_TIMEOUT
            )
        except ApiException as error:
            raise self._explain(error, "get") from None
        except Exception as error:  # urllib3 connection errors and the like
            raise MirrorError(f"kubernetes API unreachable: {type(error).__name__}") from None
        return secret.metadata.resource_version, dict(secret.data or {})

    def _explain(self, error: Any, verb: str) -> MirrorError:
        where = f"Secret {self.namespace}/{self.secret_name}"
        if error.status == 404:
            return MirrorError(f"{where} not found: the Helm chart pre-creates it; create it")
        if error.status == 403:
            return MirrorError(f"forbidden to {verb} {where}: the Role must allow get and patch")
        return MirrorError(f"{verb} {where} failed with HTTP {error.status}")

    def _decode(self, value: str) -> Credential:
        return Credential.from_json(base64.b64decode(value), self.codec)

    @staticmethod
    def _held_version(value: str | None) -> int:
        """Version of an entry (no token is opened); an unreadable one counts as absent (a good
        write replaces it)."""
        if value is None:
            return 0
        try:
            return _version_of(base64.b64decode(value))
        except ValueError:
            return 0

    def load_all(self) -> list[Credential]:
        _, data = self._read()
        found = []
        for key, value in sorted(data.items()):
            try:
                found.append(self._decode(value))
            except TokenDecryptError as error:
                raise MirrorError(f"Secret entry {key}: {error}") from None
            except (ValueError, KeyError, TypeError):
                log.warning("skipping unreadable mirror entry", extra={"entry": key})
        return found

    def _patch(self, resource_version: str, data: dict[str, str | None]) -> bool:
        """One optimistic write; False on 409 (someone else wrote first)."""
        from kubernetes.client.exceptions import ApiException

        body = {"metadata": {"resourceVersion": resource_version}, "data": data}
        try:
            # The client would default to JSON Patch; ours is a JSON merge patch.
            self.api.patch_namespaced_secret(
                self.secret_name,
                self.namespace,
                body,
                _content_type="application/merge-patch+json",
                _request_timeout=REQUEST_TIMEOUT,
            )
        except ApiException as error:
            if error.status == 409:
                return False
            raise self._explain(error, "patch") from None
        except Exception as error:
            raise MirrorError(f"kubernetes API unreachable: {type(error).__name__}") from None
        return True

    def _patch_until_applied(
        self, patch_for: Callable[[dict[str, str]], dict[str, str | None] | None], what: str
    ) -> bool:
        """Read the Secret, let ``patch_for`` say what to change (None: nothing to do) and
        patch it; when someone else wrote in between (409), read and try again, backing off
        0.05 s, 0.1 s, ... up to 1 s, ``conflict_retries`` attempts in all. False when there
        was nothing to do."""

        def attempt() -> bool:
            resource_version, data = self._read()
            patch = patch_for(data)
            if patch is None:
                return False
            if not self._patch(resource_version, patch):
                raise _Conflict
            return True

        try:
            return tenacity.Retrying(
                retry=tenacity.retry_if_exception_type(_Conflict),
                stop=tenacity.stop_after_attempt(self._conflict_retries),
                wait=tenacity.wait_exponential(multiplier=0.05, max=1.0),
                sleep=self._sleep,
            )(attempt)
        except tenacity.RetryError:
            raise MirrorError(
                f"Secret {self.namespace}/{self.secret_name}: {what} still conflicting after "
                f"{self._conflict_retries} attempts"
            ) from None

    def put(self, credential: Credential) -> bool:
        key = entry_name(credential.provider, credential.account_id)
        encoded = base64.b64encode(credential.to_json(self.codec).encode()).decode()

        def patch_for(data: dict[str, str]) -> dict[str, str | None] | None:
            if key in data and self._held_version(data[key]) >= credential.version:
                return None
            size = sum(len(v) for k, v in data.items() if k != key) + len(encoded)
            if size > SECRET_DATA_LIMIT:
                raise MirrorError(
                    f"Secret {self.namespace}/{self.secret_name} would exceed the 1 MiB limit "
                    f"({size} bytes); use PACELINE_SECRET_BACKEND=file for this many accounts"
                )
            return {key: encoded}

        return self._patch_until_applied(patch_for, "write")

    def delete(self, provider: str, account_id: str) -> None:
        key = entry_name(provider, account_id)
        # In a JSON merge patch, null removes the key.
        self._patch_until_applied(lambda data: {key: None} if key in data else None, "delete")


class _Conflict(Exception):
    """409 from the API server: the Secret changed between our read and our patch."""


def _version_of(raw: bytes) -> int:
    """The version of a stored record, read without opening its tokens; 0 when unreadable."""
    try:
        return int(json.loads(raw).get("version", 0))
    except (ValueError, TypeError, AttributeError):
        return 0


def _core_v1_api() -> Any:
    """In-cluster configuration, falling back to the local kubeconfig."""
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except ConfigException:
        try:
            config.load_kube_config()  # type: ignore[no-untyped-call]
        except (ConfigException, FileNotFoundError, TypeError) as error:
            raise MirrorError(
                "PACELINE_SECRET_BACKEND=kubernetes but neither in-cluster config nor a "
                f"kubeconfig is available ({error})"
            ) from None
    return client.CoreV1Api()


def _current_namespace() -> str:
    path = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
    try:
        return path.read_text().strip() or "default"
    except OSError:
        return "default"


def mirror_from_settings(settings: Settings, api: Any = None) -> SecretMirror:
    """The configured mirror, sealing tokens with the same key(s) as Redis."""
    codec = codec_from_settings(settings)
    if settings.secret_backend == "kubernetes":  # noqa: S105 (a backend name)
        namespace = settings.secret_namespace or _current_namespace()
        return KubernetesSecretMirror(settings.secret_name, namespace, api, codec=codec)
    if settings.secret_backend == "file":  # noqa: S105
        return FileMirror(settings.secret_dir, codec)
    return NullMirror()
