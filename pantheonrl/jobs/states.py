"""The job state machine: QUEUED -> RUNNING -> SUCCEEDED / FAILED / CANCELLED / INTERRUPTED (docs/web.md 2.2).

SUCCEEDED, FAILED and CANCELLED are terminal. An INTERRUPTED job (its process died unasked) goes back to QUEUED
when it can resume (a verified checkpoint, ``attempt < max_attempts``) and to FAILED otherwise; a cancel that
arrives while it waits ends it CANCELLED (the one transition added to the table of docs/web.md).
"""

from __future__ import annotations

from enum import Enum

from pantheonrl.errors import unknown_choice
from pantheonrl.jobs.errors import IllegalTransitionError

__all__ = ["ACTIVE", "TERMINAL", "TRANSITIONS", "JobStatus", "check_transition", "parse_status"]


class JobStatus(str, Enum):
    """A job's status; the value is what the database and the API hold."""

    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    INTERRUPTED = "INTERRUPTED"

    def __str__(self) -> str:
        return self.value

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED, INTERRUPTED = JobStatus

TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED})
ACTIVE = frozenset({QUEUED, RUNNING, INTERRUPTED})

# from -> the statuses it may move to (and who moves it: docs/web.md 2.2)
TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    QUEUED: frozenset({RUNNING, CANCELLED}),  # dispatcher; cancel before start
    RUNNING: frozenset({SUCCEEDED, FAILED, CANCELLED, INTERRUPTED}),  # the process, its parent, the reconciler
    INTERRUPTED: frozenset({QUEUED, FAILED, CANCELLED}),  # reconciler: retry, give up; cancel while waiting
    SUCCEEDED: frozenset(),
    FAILED: frozenset(),
    CANCELLED: frozenset(),
}


def parse_status(value: str | JobStatus) -> JobStatus:
    """``value`` as a :class:`JobStatus`; an unknown name raises :class:`IllegalTransitionError` naming the allowed."""
    if isinstance(value, JobStatus):
        return value
    try:
        return JobStatus(value)
    except ValueError:
        raise IllegalTransitionError(unknown_choice("job status", value, [s.value for s in JobStatus])) from None


def check_transition(source: str | JobStatus, target: str | JobStatus) -> tuple[JobStatus, JobStatus]:
    """Both statuses parsed; raises :class:`IllegalTransitionError` unless ``source -> target`` is allowed."""
    source, target = parse_status(source), parse_status(target)
    if target not in TRANSITIONS[source]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[source])) or f"none: {source} is terminal"
        raise IllegalTransitionError(f"a job cannot go from {source} to {target}; from {source} it may go to: "
                                     f"{allowed}")
    return source, target
