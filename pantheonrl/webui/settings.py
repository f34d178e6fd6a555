"""The dashboard instance's configuration: its secret key, cookie and host settings (docs/web.md 4.1).

The secret key signs the session cookie (signed, not encrypted): ``pantheonrl web init`` writes a random one
(``secrets.token_hex(32)``) to ``DATA_DIR/secret_key`` with mode 0600; ``PANTHEONRL_SECRET_KEY`` overrides it. It
never lives in the code or the repository. Startup refuses Flask's ``'dev'``, other well-known defaults and short
keys unless the app is in testing mode.

``pantheonrl web rotate-key`` (:func:`rotate_secret_key`) replaces the key and keeps the previous ones (at most
:data:`MAX_PREVIOUS_KEYS`) in ``DATA_DIR/secret_key.previous``, which the app passes to Flask as
``SECRET_KEY_FALLBACKS``: sessions signed with an old key stay valid until they expire, new ones use the new key.
Remove that file to end the old sessions too.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from pantheonrl.errors import ConfigError

__all__ = [
    "DEFAULT_SESSION_HOURS",
    "ENV_SECRET_KEY",
    "KNOWN_DEFAULT_KEYS",
    "MAX_PREVIOUS_KEYS",
    "MIN_SECRET_LENGTH",
    "PREVIOUS_FILE",
    "SECRET_FILE",
    "check_secret_key",
    "create_secret_key",
    "load_secret_fallbacks",
    "load_secret_key",
    "rotate_secret_key",
    "trusted_hosts",
]

SECRET_FILE = "secret_key"
PREVIOUS_FILE = "secret_key.previous"
MAX_PREVIOUS_KEYS = 3
ENV_SECRET_KEY = "PANTHEONRL_SECRET_KEY"
MIN_SECRET_LENGTH = 32
DEFAULT_SESSION_HOURS = 12
# keys seen in tutorials, templates and the original PantheonRL ('dev')
KNOWN_DEFAULT_KEYS = frozenset({
    "dev", "development", "secret", "secret-key", "secret_key", "secretkey", "changeme", "change-me", "change_me",
    "default", "test", "testing", "key", "password", "flask", "super-secret", "supersecret", "your-secret-key",
    "you-will-never-guess", "replace-me", "pantheonrl",
})


def check_secret_key(key: object, *, testing: bool = False) -> str:
    """``key`` if it may sign sessions; a known default or a short key raises :class:`ConfigError` (unless
    ``testing``)."""
    if not isinstance(key, str) or not key:
        raise ConfigError("the secret key is empty; run 'pantheonrl web init --data-dir DIR ...' (it writes a random "
                          f"key to DIR/{SECRET_FILE}) or set {ENV_SECRET_KEY}")
    if testing:
        return key
    if key.strip().lower() in KNOWN_DEFAULT_KEYS:
        raise ConfigError(f"the secret key {key!r} is a well-known default: anyone could forge a session cookie; use "
                          f"a random key (python -c 'import secrets; print(secrets.token_hex(32))')")
    if len(key) < MIN_SECRET_LENGTH:
        raise ConfigError(f"the secret key has {len(key)} characters, fewer than {MIN_SECRET_LENGTH}; use a random key "
                          f"(python -c 'import secrets; print(secrets.token_hex(32))')")
    return key


def create_secret_key(data_dir: str | os.PathLike[str]) -> Path:
    """Write a new random key to ``DATA_DIR/secret_key`` (mode 0600); an existing file is kept as it is."""
    path = Path(data_dir) / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_hex(32) + "\n")
    return path


def load_secret_key(data_dir: str | os.PathLike[str], *, testing: bool = False) -> str:
    """``PANTHEONRL_SECRET_KEY``, else ``DATA_DIR/secret_key`` (which must not be readable by others); checked."""
    key = os.environ.get(ENV_SECRET_KEY)
    if key:
        return check_secret_key(key, testing=testing)
    path = Path(data_dir) / SECRET_FILE
    if not path.is_file():
        raise ConfigError(f"no secret key: {path} does not exist; run 'pantheonrl web init --data-dir {data_dir} "
                          f"--admin NAME --password-file FILE' first, or set {ENV_SECRET_KEY}")
    return check_secret_key(_private_text(path).strip(), testing=testing)


def _private_text(path: Path) -> str:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ConfigError(f"{path} is readable by other users (mode {mode:o}); run: chmod 600 {path}")
    return path.read_text(encoding="ascii")


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically with mode 0600."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def load_secret_fallbacks(data_dir: str | os.PathLike[str]) -> list[str]:
    """The previous keys (newest first) that still verify existing sessions; none without the file."""
    path = Path(data_dir) / PREVIOUS_FILE
    if not path.is_file():
        return []
    return [line.strip() for line in _private_text(path).splitlines() if line.strip()][:MAX_PREVIOUS_KEYS]


def rotate_secret_key(data_dir: str | os.PathLike[str]) -> Path:
    """A new random key in ``DATA_DIR/secret_key``; the old one first in ``secret_key.previous`` (at most
    :data:`MAX_PREVIOUS_KEYS` kept). Restart the server to use it."""
    if os.environ.get(ENV_SECRET_KEY):
        raise ConfigError(f"{ENV_SECRET_KEY} is set: it overrides the key file, so rotate that variable instead "
                          f"(and list the old value in Flask's SECRET_KEY_FALLBACKS)")
    root = Path(data_dir)
    path = root / SECRET_FILE
    if not path.is_file():
        raise ConfigError(f"no secret key to rotate: {path} does not exist; run 'pantheonrl web init --data-dir "
                          f"{data_dir} ...' first")
    old = _private_text(path).strip()
    previous = [old, *[k for k in load_secret_fallbacks(root) if k != old]][:MAX_PREVIOUS_KEYS]
    _write_private(root / PREVIOUS_FILE, "\n".join(previous) + "\n")  # first: a crash leaves the old key valid
    _write_private(path, secrets.token_hex(32) + "\n")
    return path


def trusted_hosts(host: str) -> list[str]:
    """The host names a server bound to ``host`` answers to (Flask's ``TRUSTED_HOSTS``; stops DNS rebinding)."""
    loopback = ["127.0.0.1", "localhost", "::1"]
    if host in ("127.0.0.1", "localhost", "::1", ""):
        return loopback
    return [host, *loopback]
