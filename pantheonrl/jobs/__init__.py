"""Durable jobs: a job table in a real database, a state machine, heartbeats, a reconciler, and backends that run
training as separate processes (docs/web.md section 2, docs/design.md section 8).

>>> from pantheonrl.jobs import DataRoot, LocalBackend
>>> backend = LocalBackend(DataRoot("data"), max_workers=2)          # doctest: +SKIP
>>> job = backend.submit("alice", "train", {"env": "RPS-v0", "ego": "PPO", "partners": ["DEFAULT"]})  # doctest: +SKIP
>>> backend.start()                                                  # doctest: +SKIP

The names that need SQLAlchemy (the ``web`` extra) are imported on first use, so ``pantheonrl train`` works
without it; ``RayBackend`` (and ``pantheonrl.jobs.ray_crossplay``) import Ray, the ``ray`` extra, only when they talk
to a cluster.
"""

from __future__ import annotations

import importlib
from typing import Any

from pantheonrl.jobs.errors import (
    IllegalTransitionError,
    InvalidJobIdError,
    JobError,
    JobNotFoundError,
    RunInUseError,
    SubmitTokenReusedError,
)
from pantheonrl.jobs.states import TERMINAL, TRANSITIONS, JobStatus, check_transition, parse_status

_LAZY = {
    "JobStore": "store",
    "JobRecord": "store",
    "EventRecord": "store",
    "check_job_id": "store",
    "new_job_id": "store",
    "sqlite_url": "store",
    "DataRoot": "dataroot",
    "JobBackend": "backend",
    "LocalBackend": "local",
    "RayBackend": "ray_backend",
    "default_max_workers": "local",
    "reconcile": "reconciler",
    "Outcome": "reconciler",
    "JobRuntime": "runtime",
    "run_job": "runtime",
    "ProcessRef": "process",
}

__all__ = [
    "TERMINAL",
    "TRANSITIONS",
    "DataRoot",
    "EventRecord",
    "IllegalTransitionError",
    "InvalidJobIdError",
    "JobBackend",
    "JobError",
    "JobNotFoundError",
    "JobRecord",
    "JobRuntime",
    "JobStatus",
    "JobStore",
    "LocalBackend",
    "Outcome",
    "ProcessRef",
    "RayBackend",
    "RunInUseError",
    "SubmitTokenReusedError",
    "check_job_id",
    "check_transition",
    "default_max_workers",
    "new_job_id",
    "parse_status",
    "reconcile",
    "run_job",
    "sqlite_url",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f"pantheonrl.jobs.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'pantheonrl.jobs' has no attribute {name!r}")
