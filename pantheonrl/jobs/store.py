"""The durable job record: the ``jobs`` table and the append-only ``job_events`` table (docs/web.md 2.2).

The database is the truth; backends only execute. SQLite file by default (WAL, a busy timeout, write transactions
that take the write lock up front), any SQLAlchemy URL for a shared server database. Every status change is a
compare-and-set (``UPDATE jobs SET status=:to ... WHERE id=:id AND status=:from``) committed together with its event
row, so of two actors racing for the same job exactly one wins.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
    func,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from pantheonrl.jobs.errors import InvalidJobIdError, JobNotFoundError, SubmitTokenReusedError
from pantheonrl.jobs.states import QUEUED, RUNNING, TERMINAL, JobStatus, check_transition, parse_status

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "EventRecord",
    "JobRecord",
    "JobStore",
    "check_job_id",
    "new_job_id",
    "sqlite_url",
    "utcnow",
]

DEFAULT_MAX_ATTEMPTS = 3
_JOB_ID = re.compile(r"[0-9a-f]{32}")
_KIND = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_MAX_OWNER, _MAX_TOKEN = 64, 128
# columns an actor may set along with a transition or on its own (never id, owner, config, status)
_SETTABLE = frozenset({
    "reason", "backend", "backend_ref", "started_at", "finished_at", "heartbeat_at", "steps_done", "steps_total",
    "last_metrics", "last_checkpoint", "resumable", "max_attempts",
})


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def new_job_id() -> str:
    """A server-generated job id (uuid4 hex): the only name used for a job in URLs, argv and paths."""
    return uuid.uuid4().hex


def check_job_id(value: Any) -> str:
    """``value`` if it is a job id as :func:`new_job_id` makes them; else :class:`InvalidJobIdError`."""
    if isinstance(value, str) and _JOB_ID.fullmatch(value):
        return value
    raise InvalidJobIdError(f"job id {value!r} is not valid: a job id is the 32 lowercase hex characters shown in the "
                            f"job list (e.g. {'0' * 32}); names, paths ('/', '..') and options (leading '-') are "
                            f"not accepted")


def sqlite_url(path: str | os.PathLike[str]) -> str:
    """The SQLAlchemy URL of a SQLite file (absolute, so a process in another folder opens the same file)."""
    return f"sqlite:///{Path(path).expanduser().resolve()}"


# ------------------------------------------------------------------------------------------ tables
class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every database (stored naive UTC; SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("job times must be timezone-aware (UTC)")
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.timezone.utc)


class Base(DeclarativeBase):
    pass


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (UniqueConstraint("owner_id", "submit_token", name="uq_jobs_owner_token"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(_MAX_OWNER), index=True)
    group_id: Mapped[str | None] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    config: Mapped[dict] = mapped_column(JSON)
    config_sha256: Mapped[str] = mapped_column(String(64))
    submit_token: Mapped[str | None] = mapped_column(String(_MAX_TOKEN))
    status: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str | None] = mapped_column(Text)
    cancel_requested_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    cancel_requested_by: Mapped[str | None] = mapped_column(String(_MAX_OWNER))
    backend: Mapped[str] = mapped_column(String(16))
    backend_ref: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    steps_done: Mapped[int] = mapped_column(Integer, default=0)
    steps_total: Mapped[int | None] = mapped_column(Integer)
    last_metrics: Mapped[dict | None] = mapped_column(JSON)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    max_attempts: Mapped[int] = mapped_column(Integer, default=DEFAULT_MAX_ATTEMPTS)
    resumable: Mapped[bool] = mapped_column(Boolean, default=True)
    last_checkpoint: Mapped[str | None] = mapped_column(String(255))


class JobEvent(Base):
    """One row per thing that happened to a job (append-only: never updated or deleted)."""

    __tablename__ = "job_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))  # submitted, transition, cancel_requested, signal, exited, note
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    message: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict | None] = mapped_column(JSON)


# ------------------------------------------------------------------------------------------ records
@dataclass(frozen=True)
class JobRecord:
    """A snapshot of one job row (what :class:`JobStore` hands out; never attached to a session)."""

    id: str
    owner_id: str
    group_id: str | None
    kind: str
    config: dict
    config_sha256: str
    submit_token: str | None
    status: JobStatus
    reason: str | None
    cancel_requested_at: dt.datetime | None
    cancel_requested_by: str | None
    backend: str
    backend_ref: dict | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    heartbeat_at: dt.datetime | None
    steps_done: int
    steps_total: int | None
    last_metrics: dict | None
    attempt: int
    max_attempts: int
    resumable: bool
    last_checkpoint: str | None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def cancel_requested(self) -> bool:
        return self.cancel_requested_at is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (ISO 8601 times, status as its name); the submit token is left out."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "submit_token":
                continue
            value = getattr(self, f.name)
            out[f.name] = value.isoformat() if isinstance(value, dt.datetime) else value
        out["status"] = self.status.value
        return out

    @classmethod
    def _from_row(cls, row: Job) -> JobRecord:
        values = {f.name: getattr(row, f.name) for f in fields(cls)}
        values["status"] = JobStatus(row.status)
        return cls(**values)


@dataclass(frozen=True)
class EventRecord:
    id: int
    job_id: str
    at: dt.datetime
    actor: str
    kind: str
    from_status: str | None
    to_status: str | None
    message: str | None
    data: dict | None

    @classmethod
    def _from_row(cls, row: JobEvent) -> EventRecord:
        return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})


def config_sha256(config: Mapping[str, Any]) -> str:
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


# ------------------------------------------------------------------------------------------ the store
class JobStore:
    """The job table behind a SQLAlchemy URL (or the path of a SQLite file).

    :param url: ``sqlite:////abs/jobs.sqlite``, ``postgresql+psycopg://...``, or a file path (SQLite).
    :param busy_timeout_s: how long a SQLite writer waits for the write lock held by another process.
    """

    def __init__(self, url: str | os.PathLike[str], *, busy_timeout_s: float = 30.0) -> None:
        text = os.fspath(url)
        if "://" not in text:
            text = sqlite_url(text)
        self.url = make_url(text)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        if self.is_sqlite and self.url.database not in (None, "", ":memory:"):
            Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
        self.engine = create_engine(self.url)
        if self.is_sqlite:
            self._sqlite_setup(busy_timeout_s)
        self._writer = self.engine.execution_options(pantheonrl_write=True)
        Base.metadata.create_all(self.engine)

    def _sqlite_setup(self, busy_timeout_s: float) -> None:
        # pysqlite's own transaction handling is bypassed (SQLAlchemy's recipe) so that write transactions can
        # BEGIN IMMEDIATE: a deferred transaction that reads and then writes fails at once when another process
        # committed in between (SQLITE_BUSY_SNAPSHOT), whatever the busy timeout.
        @event.listens_for(self.engine, "connect")
        def _connect(dbapi_connection: Any, record: Any) -> None:
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.close()

        @event.listens_for(self.engine, "begin")
        def _begin(connection: Any) -> None:
            write = connection.get_execution_options().get("pantheonrl_write")
            connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    @property
    def url_text(self) -> str:
        """The URL with its password (for the training process this store starts)."""
        return self.url.render_as_string(hide_password=False)

    def close(self) -> None:
        self.engine.dispose()

    @contextlib.contextmanager
    def writing(self) -> Iterator[Session]:
        """A session in a write transaction (``BEGIN IMMEDIATE`` on SQLite: the write lock from the start)."""
        with Session(self._writer) as session, session.begin():
            yield session

    @contextlib.contextmanager
    def reading(self) -> Iterator[Session]:
        """A session in a read transaction."""
        with Session(self.engine) as session, session.begin():
            yield session

    @staticmethod
    def _event(session: Session, job_id: str, kind: str, actor: str, *, now: dt.datetime,
               source: str | None = None, target: str | None = None, message: str | None = None,
               data: dict | None = None) -> None:
        session.add(JobEvent(job_id=job_id, at=now, actor=str(actor)[:64], kind=kind, from_status=source,
                             to_status=target, message=message, data=data))

    # -------------------------------------------------------------------- submit and read
    def submit(self, owner_id: Any, kind: str, config: Mapping[str, Any], submit_token: str | None = None, *,
               group_id: str | None = None, steps_total: int | None = None, max_attempts: int = DEFAULT_MAX_ATTEMPTS,
               resumable: bool = True, backend: str = "local", job_id: str | None = None,
               now: dt.datetime | None = None) -> JobRecord:
        """A new QUEUED job, or the owner's existing job for a repeated ``submit_token`` (idempotent).

        A token reused with a different config raises :class:`SubmitTokenReusedError`.
        """
        from pantheonrl.errors import ConfigError

        owner = str(owner_id)
        if not owner or len(owner) > _MAX_OWNER:
            raise ConfigError(f"owner_id: {owner!r} must be 1 to {_MAX_OWNER} characters")
        if not isinstance(kind, str) or not _KIND.fullmatch(kind):
            raise ConfigError(f"kind: {kind!r} is not a job kind (lowercase letters, digits, '-', '_'), e.g. 'train'")
        if submit_token is not None and (not isinstance(submit_token, str) or not 0 < len(submit_token) <= _MAX_TOKEN
                                         or not submit_token.isprintable()):
            raise ConfigError(f"submit_token: must be 1 to {_MAX_TOKEN} printable characters")
        if not isinstance(max_attempts, int) or max_attempts < 1:
            raise ConfigError(f"max_attempts: {max_attempts!r} must be an integer >= 1")
        if group_id is not None:
            check_job_id(group_id)
        job_id = check_job_id(job_id) if job_id is not None else new_job_id()
        config = json.loads(json.dumps(dict(config)))  # plain JSON, a copy
        sha = config_sha256(config)
        now = now or utcnow()
        for _ in range(2):
            try:
                with self.writing() as session:
                    if submit_token is not None:
                        existing = session.scalar(select(Job).where(Job.owner_id == owner,
                                                                    Job.submit_token == submit_token))
                        if existing is not None:
                            if existing.config_sha256 != sha:
                                raise SubmitTokenReusedError(
                                    f"submit token {submit_token!r} was already used for job {existing.id} with a "
                                    f"different config; use a new token for a new job")
                            return JobRecord._from_row(existing)
                    row = Job(id=job_id, owner_id=owner, group_id=group_id, kind=kind, config=config,
                              config_sha256=sha, submit_token=submit_token, status=QUEUED.value, backend=backend,
                              created_at=now, steps_done=0, steps_total=steps_total, attempt=1,
                              max_attempts=max_attempts, resumable=bool(resumable))
                    session.add(row)
                    session.flush()
                    self._event(session, job_id, "submitted", owner, now=now, target=QUEUED.value,
                                data={"kind": kind, "config_sha256": sha})
                    return JobRecord._from_row(row)
            except IntegrityError:  # a racing submit with the same token won (server databases)
                if submit_token is None:
                    raise
        raise RuntimeError("submit: could not insert or find the job")  # pragma: no cover

    def get(self, job_id: str, *, owner_id: Any = None) -> JobRecord:
        """The job; :class:`JobNotFoundError` if there is none (or it is not ``owner_id``'s, when given)."""
        check_job_id(job_id)
        with self.reading() as session:
            row = session.get(Job, job_id)
            if row is None or (owner_id is not None and row.owner_id != str(owner_id)):
                raise JobNotFoundError(f"no job {job_id}")
            return JobRecord._from_row(row)

    def list(self, *, owner_id: Any = None, status: str | JobStatus | None = None, backend: str | None = None,
             limit: int | None = None, oldest_first: bool = False, group_id: str | None = None) -> list[JobRecord]:
        """Jobs, newest first (``oldest_first``: in submission order), optionally one owner's / one status / one
        group's (a population experiment)."""
        query = select(Job)
        if group_id is not None:
            query = query.where(Job.group_id == check_job_id(group_id))
        if owner_id is not None:
            query = query.where(Job.owner_id == str(owner_id))
        if status is not None:
            query = query.where(Job.status == parse_status(status).value)
        if backend is not None:
            query = query.where(Job.backend == backend)
        order = (Job.created_at.asc(), Job.id.asc()) if oldest_first else (Job.created_at.desc(), Job.id.desc())
        query = query.order_by(*order)
        if limit is not None:
            query = query.limit(limit)
        with self.reading() as session:
            return [JobRecord._from_row(row) for row in session.scalars(query)]

    def count(self, status: str | JobStatus, *, backend: str | None = None) -> int:
        query = select(func.count()).select_from(Job).where(Job.status == parse_status(status).value)
        if backend is not None:
            query = query.where(Job.backend == backend)
        with self.reading() as session:
            return int(session.scalar(query) or 0)

    def events(self, job_id: str) -> list[EventRecord]:
        check_job_id(job_id)
        with self.reading() as session:
            rows = session.scalars(select(JobEvent).where(JobEvent.job_id == job_id).order_by(JobEvent.id))
            return [EventRecord._from_row(row) for row in rows]

    # -------------------------------------------------------------------- changes
    def transition(self, job_id: str, source: str | JobStatus, target: str | JobStatus, *, actor: str,
                   reason: str | None = None, attempt: int | None = None, message: str | None = None,
                   data: dict | None = None, now: dt.datetime | None = None, **values: Any) -> bool:
        """Compare-and-set ``source -> target`` (and ``values``), committed with its event; ``True`` if this call
        moved the job, ``False`` if it was not in ``source`` (or not at ``attempt``, when given): someone else won.

        Illegal transitions raise :class:`~pantheonrl.jobs.errors.IllegalTransitionError` before touching the
        database. Entering RUNNING stamps ``started_at`` and the first heartbeat, a terminal status
        ``finished_at``; INTERRUPTED -> QUEUED counts an attempt.
        """
        check_job_id(job_id)
        source, target = check_transition(source, target)
        bad = set(values) - _SETTABLE
        if bad:
            raise TypeError(f"transition: cannot set {', '.join(sorted(bad))}")
        now = now or utcnow()
        changes: dict[str, Any] = {"status": target.value, **values}
        if reason is not None:
            changes["reason"] = _one_line(reason)
        if target is RUNNING:
            changes.setdefault("started_at", now)
            changes.setdefault("heartbeat_at", now)
        elif target in TERMINAL:
            changes.setdefault("finished_at", now)
        elif target is QUEUED:
            changes["attempt"] = Job.attempt + 1
            changes.setdefault("backend_ref", None)
            changes.setdefault("heartbeat_at", None)
        query = update(Job).where(Job.id == job_id, Job.status == source.value)
        if attempt is not None:
            query = query.where(Job.attempt == attempt)
        with self.writing() as session:
            result = session.execute(query.values(**changes).execution_options(synchronize_session=False))
            if result.rowcount != 1:
                return False
            self._event(session, job_id, "transition", actor, now=now, source=source.value, target=target.value,
                        message=_one_line(message or reason) if (message or reason) else None, data=data)
            return True

    def update(self, job_id: str, *, actor: str, status: str | JobStatus | None = None, attempt: int | None = None,
               event: str | None = None, message: str | None = None, data: dict | None = None,
               now: dt.datetime | None = None, **values: Any) -> bool:
        """Set non-status ``values`` (only while the job is in ``status`` / at ``attempt``, when given) and, with
        ``event``, append an event of that kind; ``True`` if the row matched."""
        check_job_id(job_id)
        bad = set(values) - _SETTABLE
        if bad:
            raise TypeError(f"update: cannot set {', '.join(sorted(bad))}")
        now = now or utcnow()
        query = update(Job).where(Job.id == job_id)
        if status is not None:
            query = query.where(Job.status == parse_status(status).value)
        if attempt is not None:
            query = query.where(Job.attempt == attempt)
        with self.writing() as session:
            if values:
                matched = session.execute(query.values(**values).execution_options(synchronize_session=False))
                if matched.rowcount != 1:
                    return False
            elif session.get(Job, job_id) is None:
                return False
            if event is not None:
                self._event(session, job_id, event, actor, now=now, message=message, data=data)
            return True

    def request_cancel(self, job_id: str, by: str, *, now: dt.datetime | None = None) -> JobRecord:
        """Record that ``by`` asked to stop the job (the first request counts; a terminal job is left alone)."""
        check_job_id(job_id)
        now = now or utcnow()
        active = [s.value for s in JobStatus if s not in TERMINAL]
        with self.writing() as session:
            result = session.execute(
                update(Job)
                .where(Job.id == job_id, Job.cancel_requested_at.is_(None), Job.status.in_(active))
                .values(cancel_requested_at=now, cancel_requested_by=str(by)[:_MAX_OWNER])
                .execution_options(synchronize_session=False)
            )
            row = session.get(Job, job_id)
            if row is None:
                raise JobNotFoundError(f"no job {job_id}")
            if result.rowcount == 1:
                self._event(session, job_id, "cancel_requested", by, now=now, message=f"cancel requested by {by}")
            session.flush()
            session.refresh(row)
            return JobRecord._from_row(row)

    def heartbeat(self, job_id: str, *, attempt: int | None = None, now: dt.datetime | None = None,
                  **progress: Any) -> JobRecord | None:
        """The training process is alive: stamp ``heartbeat_at`` (and progress: ``steps_done``, ``last_metrics``,
        ``last_checkpoint``) while the job is RUNNING (at ``attempt``); returns the fresh row, or ``None`` if the
        job is no longer this process's to run."""
        check_job_id(job_id)
        bad = set(progress) - {"steps_done", "last_metrics", "last_checkpoint"}
        if bad:
            raise TypeError(f"heartbeat: cannot set {', '.join(sorted(bad))}")
        values = {"heartbeat_at": now or utcnow(), **{k: v for k, v in progress.items() if v is not None}}
        query = update(Job).where(Job.id == job_id, Job.status == RUNNING.value)
        if attempt is not None:
            query = query.where(Job.attempt == attempt)
        with self.writing() as session:
            result = session.execute(query.values(**values).execution_options(synchronize_session=False))
            if result.rowcount != 1:
                return None
            row = session.get(Job, job_id)
            session.refresh(row)
            return JobRecord._from_row(row)


def _one_line(text: str, limit: int = 500) -> str:
    """A user-safe reason: one line, bounded."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."
