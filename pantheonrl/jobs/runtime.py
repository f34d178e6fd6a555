"""Inside the training process of a job: heartbeats, cooperative stop, progress, and recording its own end
(docs/web.md 2.3 to 2.5).

``pantheonrl train --config RUN/config.yml --run-dir RUN --job-id ID --jobs-db URL`` runs through :func:`run_job`:
it takes the run folder's lock (a second copy exits at once, touching nothing), checks the job is RUNNING, starts
a heartbeat thread (every ``heartbeat_s`` seconds, independent of training speed), continues from the newest
verified checkpoint when the job was interrupted before, and records the end: SUCCEEDED, CANCELLED (after a final
checkpoint), INTERRUPTED (stopped by a signal nobody asked for: the reconciler resumes it) or FAILED with a
one-line reason, in the job table and in ``RUN/status.json`` (readable after a server restart without the exit
code).

The stop itself is the training loop's callback (:class:`pantheonrl.cli._runner.RunCallback`): about once a
second it checks ``RUN/STOP`` and the session's stop flag, and ``_on_step`` returns ``False``; SIGTERM sets the
same flag, and so does the heartbeat thread when it reads a cancel request from the job table.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import math
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from stable_baselines3.common.logger import KVWriter

from pantheonrl.errors import ConfigError, UserInputError
from pantheonrl.jobs.errors import RunInUseError
from pantheonrl.jobs.reconciler import STATUS_FILE
from pantheonrl.jobs.states import CANCELLED, FAILED, INTERRUPTED, RUNNING, SUCCEEDED, JobStatus
from pantheonrl.jobs.store import JobRecord, JobStore, _one_line, check_job_id, utcnow

__all__ = ["DEFAULT_HEARTBEAT_S", "JobRuntime", "job_process", "run_job"]

DEFAULT_HEARTBEAT_S = 10.0
STOP_FILE = "STOP"


class MetricsSink(KVWriter):
    """An SB3 logger output that keeps the last dumped row's numbers (``last_metrics`` of the job)."""

    def __init__(self) -> None:
        self.last: dict[str, float] | None = None

    def write(self, key_values: dict[str, Any], key_excluded: dict[str, Any], step: int = 0) -> None:
        row = {}
        for key, value in key_values.items():
            if isinstance(value, bool) or not hasattr(value, "__float__"):
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue
            if math.isfinite(number):
                row[key] = number
        if row:
            self.last = row

    def close(self) -> None:
        pass


class JobRuntime:
    """The job side of a training process.

    :param store: the job table.
    :param job_id: this process's job.
    :param run_dir: its run folder.
    :param heartbeat_s: seconds between heartbeats (each also writes progress and reads the cancel flag).
    """

    def __init__(self, store: JobStore, job_id: str, run_dir: str | Path, *,
                 heartbeat_s: float = DEFAULT_HEARTBEAT_S) -> None:
        self.store = store
        self.job_id = check_job_id(job_id)
        self.run = Path(run_dir)
        self.heartbeat_s = heartbeat_s
        self.actor = f"job:{self.job_id[:8]}"
        self.attempt: int | None = None
        self.session: Any = None
        self.sink = MetricsSink()
        self.stop_reason: str | None = None  # why the job side asked training to stop
        #: the job's progress when it has no training session (e.g. episodes played by a cross-play job)
        self.count: Callable[[], int | None] | None = None
        self._thread: threading.Thread | None = None
        self._done = threading.Event()

    # -------------------------------------------------------------------- life cycle
    def begin(self) -> JobRecord:
        """Check the job is RUNNING (only the dispatcher starts jobs) and start the heartbeat thread."""
        job = self.store.get(self.job_id)
        if job.status is not RUNNING:
            raise ConfigError(f"job {self.job_id} is {job.status}, not RUNNING: only the job dispatcher starts a "
                              f"job's training process")
        self.attempt = job.attempt
        if job.cancel_requested:
            self.stop_reason = f"cancel requested by {job.cancel_requested_by}"
        self._thread = threading.Thread(target=self._beat_loop, name="pantheonrl-heartbeat", daemon=True)
        self._thread.start()
        return job

    def attach(self, session: Any) -> None:
        """Called by ``pantheonrl train`` once the session is built and its loggers point at the run folder."""
        self.session = session
        ego = getattr(session, "ego", None)
        if ego is not None and getattr(ego, "logger", None) is not None:
            ego.logger.output_formats.append(self.sink)
        # steps_total exactly: a stop mid-rollout leaves a checkpoint off the rollout grid, and SB3 would finish the
        # resumed run's last rollout past the target
        cfg = getattr(session, "cfg", None)
        if cfg is not None:
            session.stop_at = cfg.total_timesteps
        if self.stop_reason is not None:
            session.stop_reason = self.stop_reason

    def close(self) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    # -------------------------------------------------------------------- heartbeats
    def _beat_loop(self) -> None:
        while True:
            try:
                self.beat()
            except Exception as exc:  # a busy or unreachable database: try again at the next beat
                print(f"job heartbeat failed: {type(exc).__name__}: {_one_line(str(exc))}", file=sys.stderr)
            if self._done.wait(self.heartbeat_s):
                return

    def steps_done(self) -> int | None:
        if self.count is not None:
            return self.count()
        ego = getattr(self.session, "ego", None)
        return None if ego is None else int(ego.num_timesteps)

    def beat(self) -> JobRecord | None:
        """One heartbeat with the progress so far; reads the cancel flag back."""
        from pantheonrl.cli._runner import list_checkpoints

        checkpoints = list_checkpoints(self.run)
        job = self.store.heartbeat(self.job_id, attempt=self.attempt, steps_done=self.steps_done(),
                                   last_metrics=self.sink.last,
                                   last_checkpoint=f"checkpoints/{checkpoints[-1].name}" if checkpoints else None)
        if job is None:
            self._request_stop("the job is no longer RUNNING in the job table")
        elif job.cancel_requested:
            self._request_stop(f"cancel requested by {job.cancel_requested_by}")
        return job

    def stop_requested(self) -> str | None:
        """Why the job should stop (a cancel read by the heartbeat, ``RUN/STOP``, a signal), or ``None``: for
        job kinds without a training loop, which check it between units of work."""
        if self.stop_reason is None and (self.run / STOP_FILE).exists():
            self.stop_reason = f"{STOP_FILE} file"
        return self.stop_reason

    def _request_stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
        if self.session is not None and self.session.stop_reason is None:
            self.session.stop_reason = reason

    # -------------------------------------------------------------------- the end
    def outcome(self, exit_code: int) -> tuple[JobStatus, str | None]:
        """What a training run that returned ``exit_code`` means for the job."""
        steps = self.steps_done()
        at = f" at step {steps}" if steps is not None else ""
        if exit_code == 130:
            return INTERRUPTED, f"interrupted (Ctrl-C){at}"
        if exit_code != 0:
            return FAILED, f"training exited with status {exit_code}"
        stopped = getattr(self.session, "stop_reason", None)
        if stopped is None:
            return SUCCEEDED, None
        job = self.store.get(self.job_id)
        if job.cancel_requested:
            return CANCELLED, f"cancelled by {job.cancel_requested_by}{at}"
        if stopped.startswith(STOP_FILE) or (self.run / STOP_FILE).exists():
            return CANCELLED, f"cancelled with the STOP file{at}"
        if stopped == "SIGTERM":  # nobody asked: the machine is shutting down, say; the reconciler resumes it
            return INTERRUPTED, f"stopped by SIGTERM{at} (no cancel was requested)"
        return CANCELLED, f"{stopped}{at}"

    def finish(self, status: JobStatus, reason: str | None, exit_code: int) -> bool:
        """Record the end: ``status.json`` first (it survives a database outage), then the job row (a
        compare-and-set from RUNNING at this attempt). ``False`` if the row had already moved."""
        from pantheonrl.cli._runner import list_checkpoints, write_json

        self.close()
        steps = self.steps_done()
        reason = _one_line(reason) if reason else None
        write_json(self.run / STATUS_FILE, {
            "job_id": self.job_id, "attempt": self.attempt, "status": status.value, "reason": reason,
            "steps_done": steps, "exit_code": exit_code, "finished_at": utcnow().isoformat(timespec="seconds"),
        })
        values: dict[str, Any] = {"steps_done": steps} if steps is not None else {}
        checkpoints = list_checkpoints(self.run)
        if checkpoints:
            values["last_checkpoint"] = f"checkpoints/{checkpoints[-1].name}"
        if self.sink.last is not None:
            values["last_metrics"] = self.sink.last
        moved = self.store.transition(self.job_id, RUNNING, status, actor=self.actor, attempt=self.attempt,
                                      reason=reason, data={"exit_code": exit_code}, **values)
        if not moved:
            print(f"job {self.job_id}: could not record {status} (the job is no longer RUNNING at attempt "
                  f"{self.attempt})", file=sys.stderr)
        return moved


def _check_job_args(args: argparse.Namespace) -> None:
    if not args.jobs_db:
        raise ConfigError("--job-id needs --jobs-db URL (the job database, e.g. sqlite:////data/jobs.sqlite); "
                          "jobs are started by 'pantheonrl worker' or the dashboard")
    if args.job_id is None:
        raise ConfigError("--jobs-db needs --job-id ID (the job to run); jobs are started by 'pantheonrl worker' or "
                          "the dashboard")
    check_job_id(args.job_id)
    if not args.config or not args.run_dir:
        raise ConfigError("--job-id needs --config RUN/config.yml and --run-dir RUN (the job's folder)")
    given = [name for name, value in (("ENV/EGO/ALT", args.env or args.ego or args.alt), ("--resume", args.resume))
             if value]
    if given:
        raise ConfigError(f"--job-id runs the job's config file as it is, so {', '.join(given)} cannot be given "
                          f"with it (a job resumes by itself)")


def run_job(args: argparse.Namespace, argv: list[str], train: Callable[..., int]) -> int:
    """Run ``train(args, argv, lock=..., on_session=...)`` (``pantheonrl train``'s body) as job ``args.job_id``."""
    from pantheonrl.cli._runner import list_checkpoints, lock_run

    _check_job_args(args)
    run_dir = Path(args.run_dir)
    if not (run_dir / "config.yml").is_file():
        raise ConfigError(f"--run-dir {args.run_dir!r}: not a job folder (it has no config.yml)")
    store = JobStore(args.jobs_db)
    try:
        store.get(args.job_id)
        lock = lock_run(run_dir)  # RunInUseError: another copy runs this job; leave everything to it
        try:
            runtime = JobRuntime(store, args.job_id, run_dir)
            job = runtime.begin()
            if job.attempt > 1 or list_checkpoints(run_dir):  # continue from the newest verified checkpoint
                args = copy.copy(args)
                args.resume, args.config, args.run_dir = str(run_dir), None, None
            try:
                code = train(args, argv, lock=lock, on_session=runtime.attach)
            except RunInUseError:
                runtime.close()
                raise
            except UserInputError as exc:
                runtime.finish(FAILED, str(exc), 2)
                raise
            except KeyboardInterrupt:
                runtime.finish(INTERRUPTED, "interrupted (Ctrl-C)", 130)
                raise
            except Exception as exc:
                runtime.finish(FAILED, f"{type(exc).__name__}: {exc}", 1)
                raise
            except BaseException:
                runtime.close()
                raise
            status, reason = runtime.outcome(code)
            runtime.finish(status, reason, code)
            return code
        finally:
            if lock is not None:
                lock.close()
    finally:
        store.close()


@contextlib.contextmanager
def job_process(argv: list[str] | None, prog: str, description: str,
                flags: tuple[tuple[str, str], ...] = ()) -> Iterator[tuple[argparse.Namespace, JobRuntime]]:
    """The frame of a job kind's process without a training loop (``python -m pantheonrl.jobs.<kind>_job
    --job-id ID --jobs-db URL --run-dir RUN``): parse those (and ``flags``, ``(--flag, help)`` switches), take the
    run folder's lock, start the heartbeats (:meth:`JobRuntime.begin`); the body records the end with
    :meth:`JobRuntime.finish`. The lock and the database are released afterwards."""
    from pantheonrl.cli._runner import lock_run

    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--job-id", required=True)
    parser.add_argument("--jobs-db", required=True)
    parser.add_argument("--run-dir", required=True)
    for flag, text in flags:
        parser.add_argument(flag, action="store_true", help=text)
    args = parser.parse_args(argv)
    job_id = check_job_id(args.job_id)
    store = JobStore(args.jobs_db)
    lock = None
    try:
        run_dir = Path(args.run_dir).resolve()
        lock = lock_run(run_dir)
        runtime = JobRuntime(store, job_id, run_dir)
        runtime.begin()
        yield args, runtime
    finally:
        if lock is not None:
            lock.close()
        store.close()
