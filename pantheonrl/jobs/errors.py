"""The errors of the job system (all under :class:`pantheonrl.errors.PantheonRLError`).

User-caused ones derive from :class:`~pantheonrl.errors.UserInputError`, so the CLI exits with status 2 and the web
layer answers 400 (404 for :class:`JobNotFoundError`, 409 for :class:`IllegalTransitionError`).
"""

from __future__ import annotations

from pantheonrl.errors import ConfigError, PantheonRLError, UserInputError

__all__ = [
    "IllegalTransitionError",
    "InvalidJobIdError",
    "JobError",
    "JobNotFoundError",
    "RunInUseError",
    "SubmitTokenReusedError",
]


class JobError(PantheonRLError):
    """Base class of the job system's errors."""


class InvalidJobIdError(JobError, UserInputError):
    """A job id that is not a server-generated one (32 lowercase hex characters)."""


class JobNotFoundError(JobError, UserInputError, LookupError):
    """No job has this id (or it belongs to someone else)."""


class IllegalTransitionError(JobError, UserInputError):
    """A status change the state machine does not allow (e.g. SUCCEEDED -> RUNNING), or an unknown status."""


class RunInUseError(JobError, ConfigError):
    """The run folder is locked by another live training process (never start a second copy of a job)."""


class SubmitTokenReusedError(JobError, UserInputError):
    """A submit token (``Idempotency-Key``) already used by this owner for a different config."""
