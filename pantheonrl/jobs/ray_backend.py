"""The ``ray`` backend: training jobs on an existing Ray cluster through the Ray Jobs API (docs/web.md 2.7).

The job table stays the durable truth; Ray only executes. Each attempt of a job is one Ray job whose
``submission_id`` is the job id (``<id>-<attempt>`` for a resumed attempt), so submitting it again is a no-op.
Its entrypoint is a shell string, built with :func:`shlex.join` from server-generated values only (the
interpreter, this module, the job id, the database URL, the run folder, the attempt): everything the user chose
is in ``runs/<id>/config.yml``. The entrypoint (:func:`main`) moves the row QUEUED -> RUNNING when Ray actually
starts it (so the row stays QUEUED while Ray says PENDING), then runs ``pantheonrl train --job-id ...`` as
locally: the training process writes heartbeats, checkpoints, ``status.json`` and its own end into the shared
data root and database, and its output goes both to Ray's job log and to ``runs/<id>/job.log``.

The dispatcher step (:meth:`RayBackend.dispatch_once`) submits queued attempts, follows Ray's status and settles
a job whose process ended without recording its end: Ray STOPPED ends CANCELLED when a cancel was requested, else
INTERRUPTED (resumed from its last checkpoint within the retry budget, as locally); Ray FAILED ends FAILED with
the log's last line. Cancel is cooperative first (the ``STOP`` file and the cancel flag); after ``grace_s`` it
calls ``stop_job`` (Ray sends SIGTERM, then SIGKILL after the cluster's ``RAY_JOB_STOP_WAIT_TIME_S``).

The cluster must see the data root and the database at the same paths, run the same Python environment, and be
reachable only by trusted users: Ray runs whatever reaches its dashboard port, so off loopback this backend
requires Ray's token authentication (``RAY_AUTH_MODE=token``; GHSA-q279-jhrf-cc6v). The database URL is part of
the entrypoint (shown in Ray's dashboard): give a URL without a password (a ``.pgpass`` file, a socket).

Ray is imported on first use; without it a :class:`~pantheonrl.errors.ConfigError` names the ``pantheonrl[ray]``
extra.
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import logging
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pantheonrl.errors import ConfigError
from pantheonrl.jobs.backend import JobBackend
from pantheonrl.jobs.dataroot import DataRoot
from pantheonrl.jobs.kinds import job_kind
from pantheonrl.jobs.local import ENV_ALLOWLIST, LOG_FILE, LocalBackend, _last_line, _tail, request_stop
from pantheonrl.jobs.reconciler import DEFAULT_STALE_AFTER_S, end_lost_job, settle_interrupted
from pantheonrl.jobs.states import CANCELLED, INTERRUPTED, QUEUED, RUNNING, JobStatus
from pantheonrl.jobs.store import DEFAULT_MAX_ATTEMPTS, JobRecord, JobStore, check_job_id, utcnow

__all__ = ["MIN_RAY_VERSION", "RAY_EXTRA_HINT", "RayBackend", "import_ray", "main", "submission_id"]

log = logging.getLogger("pantheonrl.jobs")

MIN_RAY_VERSION = (2, 52)
RAY_EXTRA_HINT = ("the ray backend needs Ray with its Jobs API: install the extra with pip install 'pantheonrl[ray]' "
                  "(ray[default] >= 2.52)")
_RAY_TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")


def import_ray() -> Any:
    """``ray``, or a :class:`ConfigError` naming the ``pantheonrl[ray]`` extra (missing or older than 2.52)."""
    try:
        import ray
        import ray.job_submission  # needs ray[default]
    except ImportError as exc:
        raise ConfigError(f"{RAY_EXTRA_HINT} ({exc})") from None
    version = tuple(int(part) for part in ray.__version__.split(".")[:2] if part.isdigit())
    if version < MIN_RAY_VERSION:
        raise ConfigError(f"ray {ray.__version__} is too old: {RAY_EXTRA_HINT}; older versions let any web page "
                          f"that reaches the dashboard run code (GHSA-q279-jhrf-cc6v)")
    return ray


def submission_id(job: JobRecord) -> str:
    """The Ray submission id of the job's current attempt: the job id, ``<id>-<attempt>`` after a resume."""
    return job.id if job.attempt <= 1 else f"{job.id}-{job.attempt}"


def _is_loopback(address: str) -> bool:
    host = urllib.parse.urlsplit(address if "://" in address else f"http://{address}").hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _missing(exc: Exception) -> bool:
    text = str(exc).lower()
    return "does not exist" in text or "not found" in text or "404" in text


class RayBackend(JobBackend):
    """Jobs on the Ray cluster at ``address``, their record in ``store``, their folders under ``root``.

    :param root: the data root (shared with the cluster at the same path), or its path.
    :param address: the cluster's dashboard (Jobs API) address, e.g. ``http://127.0.0.1:8265``.
    :param store: the job table (default: the data root's SQLite file).
    :param grace_s: how long a running job may take to stop by itself after a cancel before ``stop_job``.
    :param max_attempts: the default retry budget of a job.
    :param stale_after_s: heartbeat age after which a RUNNING job that Ray no longer knows counts as lost.
    :param env: extra environment for the training processes (on top of :data:`ENV_ALLOWLIST`).
    :param python: the interpreter on the cluster (default: this one; the cluster shares the environment).
    :param entrypoint_num_cpus: CPUs Ray reserves for each training job.
    :param client: a ``JobSubmissionClient`` (default: made on first use).
    """

    name = "ray"
    thread_name = "pantheonrl-ray"
    interval_s = 2.0

    def __init__(self, root: DataRoot | str | os.PathLike[str], address: str, store: JobStore | None = None, *,
                 grace_s: float = 60.0, max_attempts: int = DEFAULT_MAX_ATTEMPTS,
                 stale_after_s: float = DEFAULT_STALE_AFTER_S, env: Mapping[str, str] | None = None,
                 python: str = sys.executable, entrypoint_num_cpus: float = 1, client: Any = None) -> None:
        if not isinstance(address, str) or not address.strip():
            raise ConfigError("the ray backend needs the cluster's dashboard address, e.g. http://127.0.0.1:8265")
        if not _is_loopback(address) and os.environ.get("RAY_AUTH_MODE", "").lower() != "token":
            raise ConfigError(f"ray address {address!r} is not on loopback: Ray runs whatever reaches that port, so "
                              f"turn on its token authentication (RAY_AUTH_MODE=token and RAY_AUTH_TOKEN, on the "
                              f"cluster and here)")
        self.root = root if isinstance(root, DataRoot) else DataRoot(root)
        self.store = store or JobStore(self.root.db_url)
        self.address = address.strip()
        self.grace_s = grace_s
        self.max_attempts = max_attempts
        self.stale_after_s = stale_after_s
        self.extra_env = dict(env or {})
        self.python = python
        self.entrypoint_num_cpus = entrypoint_num_cpus
        self._client = client
        self.actor = f"ray-dispatcher@{socket.gethostname()}:{os.getpid()}"

    @property
    def client(self) -> Any:
        """The Jobs API client (``ray.job_submission.JobSubmissionClient``), made on first use."""
        if self._client is None:
            import_ray()
            from ray.job_submission import JobSubmissionClient

            self._client = JobSubmissionClient(self.address)
        return self._client

    # -------------------------------------------------------------------- the backend interface
    def submit(self, owner_id: Any, kind: str, config: Mapping[str, Any], submit_token: str | None = None, *,
               max_attempts: int | None = None, group_id: str | None = None) -> JobRecord:
        """Check the config and queue the job exactly as the local backend does (``runs/<id>/config.yml``), then
        hand it to Ray; if Ray cannot be reached the job stays QUEUED and the dispatcher submits it later."""
        if self._client is None:
            import_ray()  # a missing extra is an error before anything is stored
        job = LocalBackend.submit(self, owner_id, kind, config, submit_token,  # type: ignore[arg-type]
                                  max_attempts=max_attempts, group_id=group_id)
        if job.status is QUEUED and not job.cancel_requested:
            try:
                self.launch(job)
            except ConfigError:
                raise
            except Exception as exc:  # the cluster is down: the dispatcher retries
                log.warning("could not submit job %s to Ray at %s: %s", job.id, self.address, exc)
        return self.store.get(job.id)

    def status(self, job_id: str, *, owner_id: Any = None) -> JobRecord:
        """The job's record, after one look at Ray (when it can be reached)."""
        job = self.store.get(job_id, owner_id=owner_id)
        if job.backend == self.name and not job.terminal:
            try:
                self.sync(job)
            except ConfigError:
                raise
            except Exception as exc:
                log.warning("could not read job %s from Ray: %s", job.id, exc)
        return self.store.get(job.id)

    def logs(self, job_id: str, *, owner_id: Any = None, max_bytes: int = 65536) -> str:
        """The tail of ``runs/<id>/job.log`` (every attempt, kept after the cluster is gone), or of Ray's log of
        the current attempt while the former is empty (e.g. Ray could not start it)."""
        job = self.store.get(job_id, owner_id=owner_id)
        text = _tail(self.root.run_dir(job.id) / LOG_FILE, max_bytes)
        if text.strip():
            return text
        try:
            ray_text = self.client.get_job_logs(submission_id(job))
        except ConfigError:
            raise
        except Exception:
            return text
        data = ray_text.encode("utf-8", "replace")[-max_bytes:]
        return data.decode("utf-8", "replace")

    def list(self, *, owner_id: Any = None, status: str | JobStatus | None = None,
             limit: int | None = None) -> list[JobRecord]:
        return self.store.list(owner_id=owner_id, status=status, backend=self.name, limit=limit)

    def cancel(self, job_id: str, by: str, *, owner_id: Any = None, now: dt.datetime | None = None) -> JobRecord:
        """Record the request; a queued job is stopped in Ray and ends CANCELLED now, a running one gets the
        ``STOP`` file (cooperative: final checkpoint, CANCELLED) and ``stop_job`` after ``grace_s``."""
        self.store.get(job_id, owner_id=owner_id)
        now = now or utcnow()

        def on_waiting(job: JobRecord) -> None:
            if job.status is QUEUED:
                self._stop_in_ray(job, f"cancel requested by {job.cancel_requested_by} before it started")

        def on_running(job: JobRecord) -> None:
            if self.grace_s <= 0:
                self.escalate(now)

        return request_stop(self.store, self.root, job_id, by, now, on_waiting=on_waiting, on_running=on_running)

    # -------------------------------------------------------------------- Ray
    def command(self, job: JobRecord) -> list[str]:
        """The entrypoint's argument list: server-generated values only."""
        return [self.python, "-m", "pantheonrl.jobs.ray_backend", "--job-id", job.id, "--jobs-db",
                self.store.url_text, "--run-dir", str(self.root.run_dir(job.id)), "--attempt", str(job.attempt),
                "--submission-id", submission_id(job)]

    def environment(self) -> dict[str, str]:
        env = {key: os.environ[key] for key in ENV_ALLOWLIST if key in os.environ and key != "HOME"}
        env.update(self.extra_env)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def launch(self, job: JobRecord) -> str:
        """Submit the job's current attempt to Ray (a no-op when that submission exists); its submission id."""
        sid = submission_id(job)
        try:
            self.client.submit_job(
                entrypoint=shlex.join(self.command(job)), submission_id=sid,
                metadata={"pantheonrl_job": job.id, "attempt": str(job.attempt), "owner": str(job.owner_id)[:64]},
                entrypoint_num_cpus=self.entrypoint_num_cpus, runtime_env={"env_vars": self.environment()})
        except RuntimeError as exc:
            if "already exists" not in str(exc):
                raise
            return sid  # submitted before (a repeated submit, a racing dispatcher)
        ref = {"submission_id": sid, "address": self.address, "attempt": job.attempt}
        self.store.update(job.id, actor=self.actor, event="submitted", data=ref,
                          message=f"submitted to Ray at {self.address} as {sid} (attempt {job.attempt})")
        self.store.update(job.id, actor=self.actor, status=QUEUED, attempt=job.attempt, backend_ref=ref)
        return sid

    def _ray_info(self, job: JobRecord) -> Any | None:
        try:
            return self.client.get_job_info(submission_id(job))
        except RuntimeError as exc:
            if _missing(exc):
                return None
            raise

    def _stop_in_ray(self, job: JobRecord, why: str) -> bool:
        try:
            stopped = bool(self.client.stop_job(submission_id(job)))
        except ConfigError:
            raise
        except Exception as exc:  # not submitted yet, or already over
            log.info("stop_job %s: %s", submission_id(job), exc)
            return False
        if stopped:
            self.store.update(job.id, actor=self.actor, event="signal", message=f"Ray stop_job: {why}",
                              data={"signal": "stop_job", "attempt": job.attempt})
        return stopped

    def sync(self, job: JobRecord, now: dt.datetime | None = None) -> JobRecord:
        """Make the job's row follow Ray's status of its current attempt (see the module docs)."""
        info = self._ray_info(job)
        if info is None:
            if job.status is QUEUED and not job.cancel_requested:
                self.launch(job)
            elif job.status is RUNNING:  # Ray lost it (a restarted cluster): lost once its heartbeat is stale
                last = job.heartbeat_at or job.started_at or job.created_at
                if ((now or utcnow()) - last).total_seconds() >= self.stale_after_s:
                    end_lost_job(self.store, self.root, job, actor=self.actor, now=now)
            return self.store.get(job.id)
        ray_status = str(getattr(info.status, "value", info.status))
        if ray_status == "PENDING":
            return job
        if job.status is QUEUED:
            if ray_status in _RAY_TERMINAL and job.cancel_requested:
                self.store.transition(job.id, QUEUED, CANCELLED, actor=self.actor, attempt=job.attempt, now=now,
                                      reason=f"cancelled by {job.cancel_requested_by} before it started")
                return self.store.get(job.id)
            self.store.transition(job.id, QUEUED, RUNNING, actor=self.actor, attempt=job.attempt, now=now,
                                  backend=self.name, message=f"Ray reports {ray_status}")
            job = self.store.get(job.id)
        if job.status is RUNNING and ray_status in _RAY_TERMINAL:
            job = self.store.get(job.id)  # the process may have recorded its end meanwhile
            if job.status is not RUNNING:
                return job
            code = getattr(info, "driver_exit_code", None)
            if ray_status == "STOPPED":
                code = None  # STOPPED: CANCELLED when we asked, else INTERRUPTED (then resumed or failed)
            elif code is None:
                code = 1 if ray_status == "FAILED" else 0
            last = None
            if ray_status == "FAILED":
                last = _last_line(self.root.run_dir(job.id) / LOG_FILE) or (getattr(info, "message", None) or None)
            end_lost_job(self.store, self.root, job, actor=self.actor, now=now, returncode=code, last_line=last)
        return self.store.get(job.id)

    def escalate(self, now: dt.datetime | None = None) -> list[str]:
        """``stop_job`` for RUNNING jobs whose cancel request is older than ``grace_s`` (once per attempt)."""
        now = now or utcnow()
        stopped = []
        for job in self.store.list(status=RUNNING, backend=self.name):
            if not job.cancel_requested or (now - job.cancel_requested_at).total_seconds() < self.grace_s:
                continue
            if any(e.kind == "signal" and e.data and e.data.get("attempt") == job.attempt
                   for e in self.store.events(job.id)):
                continue
            if self._stop_in_ray(job, f"still running {self.grace_s:g} s after the cancel request"):
                stopped.append(job.id)
        return stopped

    def dispatch_once(self, now: dt.datetime | None = None) -> list[str]:
        """Submit queued attempts, follow Ray's status of active jobs, escalate cancels, requeue or fail
        interrupted jobs; returns the ids whose row changed."""
        changed = []
        for job in self.store.list(status=INTERRUPTED, backend=self.name):
            if settle_interrupted(self.store, self.root, job, actor=self.actor, now=now) is not None:
                changed.append(job.id)
        for status in (QUEUED, RUNNING):
            for job in self.store.list(status=status, backend=self.name, oldest_first=True):
                try:
                    after = self.sync(job, now)
                except ConfigError:
                    raise
                except Exception as exc:
                    log.warning("could not follow job %s in Ray: %s", job.id, exc)
                    continue
                if after.status is not job.status or after.attempt != job.attempt:
                    changed.append(job.id)
        self.escalate(now)
        return changed

    def serve(self, stop: threading.Event, interval: float = 2.0) -> None:
        """Dispatch every ``interval`` seconds until ``stop`` is set (Ray jobs go on without it)."""
        while not stop.is_set():
            try:
                for job_id in self.dispatch_once():
                    log.info("ray job %s changed: %s", job_id, self.store.get(job_id).status)
            except Exception:
                log.exception("ray dispatcher step failed; retrying")
            stop.wait(interval)


# ------------------------------------------------------------------------ the entrypoint, on the cluster
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pantheonrl.jobs.ray_backend",
                                     description="Run one attempt of a pantheonrl job inside a Ray job (started by "
                                                 "the ray backend, not by hand).")
    parser.add_argument("--job-id", required=True)
    parser.add_argument("--jobs-db", required=True)
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--attempt", required=True, type=int)
    parser.add_argument("--submission-id", required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Mark the job RUNNING (Ray started this attempt), then run ``pantheonrl train --job-id ...`` with its output
    copied to ``runs/<id>/job.log``; exits with the training's status (0 without training if the job is no longer
    this attempt's to run, e.g. cancelled while Ray had it pending)."""
    args = _parser().parse_args(argv)
    job_id = check_job_id(args.job_id)
    store = JobStore(args.jobs_db)
    actor = f"ray:{args.submission_id}"
    try:
        ref = {"submission_id": args.submission_id, "host": socket.gethostname(), "pid": os.getpid(),
               "attempt": args.attempt}
        moved = store.transition(job_id, QUEUED, RUNNING, actor=actor, attempt=args.attempt, backend="ray",
                                 backend_ref=ref, message=f"Ray started {args.submission_id}")
        job = store.get(job_id)
        if not moved and not (job.status is RUNNING and job.attempt == args.attempt):
            print(f"job {job_id} is {job.status} at attempt {job.attempt}: nothing to run for attempt {args.attempt}")
            return 0
        if not moved:
            store.update(job_id, actor=actor, status=RUNNING, attempt=args.attempt, backend_ref=ref)
    finally:
        store.close()
    run = os.path.abspath(args.run_dir)
    command = job_kind(job.kind).argv(sys.executable, Path(run), job_id, args.jobs_db, True)
    with open(os.path.join(run, LOG_FILE), "ab") as out:
        out.write(f"--- attempt {args.attempt} on Ray ({args.submission_id}), {utcnow().isoformat()} ---\n".encode())
        out.flush()
        child = subprocess.Popen(command, shell=False, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, cwd=run)
        # Ray's stop_job signals this process and its children: the training process handles SIGTERM (final
        # checkpoint, its own end); this one waits for it
        signal.signal(signal.SIGTERM, lambda signum, frame: None)
        assert child.stdout is not None
        for line in iter(child.stdout.readline, b""):
            sys.stdout.buffer.write(line)
            sys.stdout.flush()
            out.write(line)
            out.flush()
        return child.wait()


if __name__ == "__main__":
    sys.exit(main())
