"""The reconciler: make the job table agree with the processes that really run (docs/web.md 2.3).

A RUNNING job whose heartbeat is older than ``stale_after_s`` and whose process is gone (pid *and* start time)
becomes INTERRUPTED, then QUEUED again (``attempt + 1``) when it can resume from a verified checkpoint within its
retry budget, else FAILED with a one-line reason. A job that is alive but silent stays RUNNING: a second copy of a
job that may be alive is never started. Runs at start and periodically, under the data root's lock; ``now`` is a
parameter so tests fake staleness instead of sleeping.
"""

from __future__ import annotations

import datetime as dt
import json
import signal
from dataclasses import dataclass
from pathlib import Path

from pantheonrl.jobs.dataroot import DataRoot
from pantheonrl.jobs.process import ProcessRef
from pantheonrl.jobs.states import CANCELLED, FAILED, INTERRUPTED, QUEUED, RUNNING, TERMINAL, JobStatus
from pantheonrl.jobs.store import JobRecord, JobStore, utcnow

__all__ = ["DEFAULT_STALE_AFTER_S", "Outcome", "end_lost_job", "latest_checkpoint", "reconcile", "settle_interrupted"]

DEFAULT_STALE_AFTER_S = 60.0
STATUS_FILE = "status.json"


@dataclass(frozen=True)
class Outcome:
    """What the reconciler did to (or saw of) a job."""

    job_id: str
    status: JobStatus  # the status the job ended up in
    reason: str | None = None


def latest_checkpoint(run: Path) -> tuple[str, int] | None:
    """The newest checkpoint of a run folder whose files match their manifest hashes (damaged newer ones are
    skipped): ``(folder name, timesteps)``; ``None`` if there is none."""
    from pantheonrl.cli._runner import find_checkpoint

    found, _skipped = find_checkpoint(run, [])
    if found is None or found.num_timesteps < 0:  # no checkpoint (a finished run's agents/ does not count)
        return None
    return found.path.name, found.num_timesteps


def _status_file(run: Path, job: JobRecord) -> dict | None:
    """The terminal status the job's process wrote for this attempt, if it did (the database write may not have
    happened)."""
    try:
        data = json.loads((run / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("job_id") != job.id or data.get("attempt") != job.attempt:
        return None
    try:
        status = JobStatus(data.get("status"))
    except ValueError:
        return None
    return data if status in TERMINAL or status is INTERRUPTED else None


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with status {returncode}"


def end_lost_job(store: JobStore, root: DataRoot, job: JobRecord, *, actor: str, now: dt.datetime | None = None,
                 returncode: int | None = None, last_line: str | None = None) -> Outcome | None:
    """A RUNNING job whose process is gone without recording its end: apply its ``status.json``; else CANCELLED
    if a stop was requested; FAILED for a non-zero exit status; otherwise INTERRUPTED and then
    :func:`settle_interrupted`. ``None`` if someone else moved the job first."""
    now = now or utcnow()
    run = root.run_dir(job.id)
    recorded = _status_file(run, job)
    how = "the process is gone" if returncode is None else f"the process {describe_exit(returncode)}"
    steps = int(recorded.get("steps_done", job.steps_done) if recorded else job.steps_done)
    if recorded is not None:
        target, reason = JobStatus(recorded["status"]), recorded.get("reason")
    elif job.cancel_requested:
        target, reason = CANCELLED, f"cancelled by {job.cancel_requested_by} at step {steps}; {how}"
    elif returncode is not None and returncode > 0:
        target = FAILED
        reason = f"training {describe_exit(returncode)}" + (f": {last_line}" if last_line else "; see the job log")
    else:
        target, reason = INTERRUPTED, f"process lost at step {steps} ({how})"
    if not store.transition(job.id, RUNNING, target, actor=actor, attempt=job.attempt, reason=reason, now=now,
                            steps_done=steps):
        return None
    if target is INTERRUPTED:
        return settle_interrupted(store, root, store.get(job.id), actor=actor, now=now)
    return Outcome(job.id, target, reason)


def settle_interrupted(store: JobStore, root: DataRoot, job: JobRecord, *, actor: str,
                       now: dt.datetime | None = None) -> Outcome | None:
    """INTERRUPTED -> QUEUED (resumable, a verified checkpoint, ``attempt < max_attempts``), else FAILED with the
    reason (CANCELLED when a stop was requested meanwhile)."""
    now = now or utcnow()
    lost = job.reason or f"process lost at step {job.steps_done}"
    checkpoint = None
    if job.cancel_requested:
        target, reason = CANCELLED, f"cancelled by {job.cancel_requested_by} while interrupted ({lost})"
    elif not job.resumable:
        target, reason = FAILED, f"{lost}; this kind of job cannot resume"
    elif job.attempt >= job.max_attempts:
        target, reason = FAILED, f"{lost}; gave up after {job.attempt} attempt{'s' * (job.attempt > 1)}"
    else:
        checkpoint = latest_checkpoint(root.run_dir(job.id))
        if checkpoint is None:
            target, reason = FAILED, f"{lost}; no checkpoint"
        else:
            target = QUEUED
            reason = (f"resuming from {checkpoint[0]} (attempt {job.attempt + 1} of {job.max_attempts}) after: "
                      f"{lost}")
    extra = {"last_checkpoint": f"checkpoints/{checkpoint[0]}"} if checkpoint else {}
    if not store.transition(job.id, INTERRUPTED, target, actor=actor, reason=reason, attempt=job.attempt, now=now,
                            **extra):
        return None
    return Outcome(job.id, target, reason)


def reconcile(store: JobStore, root: DataRoot, *, now: dt.datetime | None = None,
              stale_after_s: float = DEFAULT_STALE_AFTER_S, actor: str = "reconciler") -> list[Outcome]:
    """One pass over the local backend's RUNNING and INTERRUPTED jobs (under the data root's lock); returns what
    changed, and ``RUNNING`` outcomes for jobs that are silent but alive ("unresponsive")."""
    now = now or utcnow()
    outcomes: list[Outcome] = []
    with root.lock():
        for job in store.list(status=RUNNING, backend="local"):
            last = job.heartbeat_at or job.started_at or job.created_at
            if (now - last).total_seconds() < stale_after_s:
                continue
            ref = ProcessRef.from_dict(job.backend_ref)
            if ref is not None and (not ref.local or ref.alive()):
                # alive but silent (or on a host we cannot see): never start a second copy
                outcomes.append(Outcome(job.id, RUNNING, "unresponsive"))
                continue
            outcome = end_lost_job(store, root, job, actor=actor, now=now)
            if outcome is not None:
                outcomes.append(outcome)
        for job in store.list(status=INTERRUPTED, backend="local"):
            outcome = settle_interrupted(store, root, job, actor=actor, now=now)
            if outcome is not None:
                outcomes.append(outcome)
    return outcomes
