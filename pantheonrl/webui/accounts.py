"""Dashboard accounts: the ``users`` and ``api_tokens`` tables (and ``job_labels``), in the job database.

They have their own SQLAlchemy metadata (the job tables know nothing of accounts) and are created on the engine of
the :class:`~pantheonrl.jobs.store.JobStore`, so one SQLite file (or one server database) holds everything.
Accounts are created explicitly (``pantheonrl web init`` / ``add-user``), never at login. Passwords are stored as
werkzeug scrypt hashes; API tokens are random (256 bits), shown once and stored as their SHA-256.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import Boolean, ForeignKey, Integer, String, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash

from pantheonrl.errors import ConfigError
from pantheonrl.jobs.store import JobStore, UTCDateTime, check_job_id, utcnow
from pantheonrl.webui.names import check_label

__all__ = ["MIN_PASSWORD_LENGTH", "TOKEN_PREFIX", "AccountStore", "UserRecord"]

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
TOKEN_PREFIX = "prl_"
# a hash to check against when the user does not exist, so a login takes as long for unknown names
_DUMMY_HASH = generate_password_hash(secrets.token_hex(16), method="scrypt")


class WebBase(DeclarativeBase):
    pass


class User(WebBase):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class ApiToken(WebBase):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class JobLabel(WebBase):
    """A user's label for a job (names live in the database only, never in paths)."""

    __tablename__ = "job_labels"

    job_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    label: Mapped[str] = mapped_column(String(64))


@dataclass(frozen=True)
class UserRecord:
    """What a request knows of its user (loaded from the database on every request)."""

    id: int
    name: str
    is_admin: bool
    session_version: int


def _record(row: User) -> UserRecord:
    return UserRecord(id=row.id, name=row.name, is_admin=row.is_admin, session_version=row.session_version)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def check_password_value(password: object) -> str:
    if not isinstance(password, str) or not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise ConfigError(f"a password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters")
    return password


class AccountStore:
    """Users, their API tokens and job labels, beside the jobs of ``store``."""

    def __init__(self, store: JobStore) -> None:
        self.engine = store.engine
        self._store = store
        WebBase.metadata.create_all(self.engine)

    # -------------------------------------------------------------------- users
    def add_user(self, name: str, password: str, *, admin: bool = False) -> UserRecord:
        """A new account; an existing name raises :class:`ConfigError`."""
        name = check_label(name, "user name")
        check_password_value(password)
        try:
            with self._store.writing() as session:
                row = User(name=name, password_hash=generate_password_hash(password, method="scrypt"),
                           is_admin=admin, session_version=1, created_at=utcnow())
                session.add(row)
                session.flush()
                return _record(row)
        except IntegrityError:
            raise ConfigError(f"user {name!r} already exists; choose another name") from None

    def get(self, user_id: object) -> UserRecord | None:
        if isinstance(user_id, bool) or not isinstance(user_id, int):
            return None
        with self._store.reading() as session:
            row = session.get(User, user_id)
            return None if row is None else _record(row)

    def by_name(self, name: str) -> UserRecord | None:
        with self._store.reading() as session:
            row = session.scalar(select(User).where(User.name == name))
            return None if row is None else _record(row)

    def count(self) -> int:
        with self._store.reading() as session:
            return len(session.scalars(select(User.id)).all())

    def authenticate(self, name: str, password: str) -> UserRecord | None:
        """The user if ``password`` is theirs, else ``None`` (as slow for an unknown name as for a wrong password)."""
        with self._store.reading() as session:
            row = session.scalar(select(User).where(User.name == name)) if isinstance(name, str) else None
            stored = row.password_hash if row is not None else _DUMMY_HASH
            good = check_password_hash(stored, password if isinstance(password, str) else "")
            return _record(row) if good and row is not None else None

    def set_password(self, user_id: int, password: str) -> None:
        """A new password; the session version goes up, so every existing session of the user ends."""
        check_password_value(password)
        with self._store.writing() as session:
            session.execute(update(User).where(User.id == user_id).values(
                password_hash=generate_password_hash(password, method="scrypt"),
                session_version=User.session_version + 1))

    # -------------------------------------------------------------------- API tokens
    def new_token(self, user_id: int) -> str:
        """A new API token for the user: returned once, stored only as its SHA-256."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._store.writing() as session:
            if session.get(User, user_id) is None:
                raise ConfigError(f"no user with id {user_id}")
            session.add(ApiToken(user_id=user_id, token_sha256=_token_hash(token), created_at=utcnow()))
        return token

    def user_for_token(self, token: str) -> UserRecord | None:
        if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        digest = _token_hash(token)
        with self._store.writing() as session:
            row = session.scalar(select(ApiToken).where(ApiToken.token_sha256 == digest))
            if row is None or not hmac.compare_digest(row.token_sha256, digest):
                return None
            row.last_used_at = utcnow()
            user = session.get(User, row.user_id)
            return None if user is None else _record(user)

    # -------------------------------------------------------------------- labels
    def set_label(self, job_id: str, label: str) -> None:
        check_job_id(job_id)
        label = check_label(label, "label")
        with self._store.writing() as session:
            row = session.get(JobLabel, job_id)
            if row is None:
                session.add(JobLabel(job_id=job_id, label=label))
            else:
                row.label = label

    def labels(self, job_ids: list[str]) -> dict[str, str]:
        if not job_ids:
            return {}
        with self._store.reading() as session:
            rows = session.scalars(select(JobLabel).where(JobLabel.job_id.in_(job_ids)))
            return {row.job_id: row.label for row in rows}
