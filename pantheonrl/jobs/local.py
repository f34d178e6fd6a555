"""The ``local`` backend: a bounded pool of training processes on this machine (docs/web.md 2.4, 2.5, 2.7).

The dispatcher starts at most ``max_workers`` jobs at a time, oldest QUEUED first. Only the dispatcher that wins
the QUEUED -> RUNNING compare-and-set spawns, with an argument list (never a shell) holding only server-generated
values, in a new session and process group (it outlives a restart of the server or worker), output to
``runs/<id>/job.log``, an allowlisted environment. It reaps its children; cancel asks cooperatively (flag and
``STOP`` file), then after a grace period sends SIGTERM and later SIGKILL to the process group, each only after
checking the pid still belongs to the job (its start time).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pantheonrl.errors import ConfigError
from pantheonrl.jobs.backend import JobBackend
from pantheonrl.jobs.dataroot import DataRoot
from pantheonrl.jobs.kinds import job_kind
from pantheonrl.jobs.process import ProcessRef
from pantheonrl.jobs.reconciler import DEFAULT_STALE_AFTER_S, end_lost_job, reconcile, settle_interrupted
from pantheonrl.jobs.states import CANCELLED, FAILED, INTERRUPTED, QUEUED, RUNNING, JobStatus
from pantheonrl.jobs.store import DEFAULT_MAX_ATTEMPTS, JobRecord, JobStore, new_job_id, utcnow

__all__ = ["ENV_ALLOWLIST", "LocalBackend", "default_max_workers", "request_stop"]

log = logging.getLogger("pantheonrl.jobs")

LOG_FILE = "job.log"
STOP_FILE = "STOP"
# what a training process inherits from the server's environment (nothing else: no secrets, no LD_PRELOAD)
ENV_ALLOWLIST = (
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "PYTHONPATH", "VIRTUAL_ENV",
    "CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "PANTHEONRL_AGENTS", "SDL_VIDEODRIVER",
    "XDG_CACHE_HOME", "MPLCONFIGDIR", "TORCH_HOME",
)


def default_max_workers() -> int:
    """Half the cores, at least 1."""
    return max(1, (os.cpu_count() or 1) // 2)


def request_stop(store: JobStore, root: DataRoot, job_id: str, by: str, now: dt.datetime, *,
                 on_waiting: Callable[[JobRecord], Any] | None = None,
                 on_running: Callable[[JobRecord], Any] | None = None) -> JobRecord:
    """Record ``by``'s cancel request; a QUEUED or INTERRUPTED job ends CANCELLED now (``on_waiting`` runs first),
    a RUNNING one gets ``runs/<id>/STOP`` (then ``on_running``). Returns the record after it."""
    from pantheonrl.config import atomic_write_text

    job = store.request_cancel(job_id, by, now=now)
    for _ in range(5):  # the job may move under us (e.g. QUEUED -> RUNNING): act on what it is now
        if job.status in (QUEUED, INTERRUPTED):
            if on_waiting is not None:
                on_waiting(job)
            when = "before it started" if job.status is QUEUED else "while it waited to resume"
            if store.transition(job.id, job.status, CANCELLED, actor=str(by), now=now,
                                reason=f"cancelled by {job.cancel_requested_by} {when}"):
                break
        elif job.status is RUNNING:
            atomic_write_text(root.run_dir(job.id) / STOP_FILE,
                              f"cancel requested by {job.cancel_requested_by} at {now.isoformat()}\n")
            if on_running is not None:
                on_running(job)
            break
        else:
            break
        job = store.get(job_id)
    return store.get(job_id)


class LocalBackend(JobBackend):
    """Jobs as processes on this machine, their record in ``store``, their folders under ``root``.

    :param root: the data root (``DIR`` holds ``jobs.sqlite`` and ``runs/<id>/``), or its path.
    :param store: the job table (default: the data root's SQLite file).
    :param max_workers: the most jobs running at once (default half the cores, at least 1).
    :param grace_s: how long a cancelled job may take to stop by itself before SIGTERM to its group.
    :param kill_after_s: how long after that SIGTERM before SIGKILL.
    :param stale_after_s: heartbeat age after which the reconciler checks whether the process is gone.
    :param reconcile_every_s: how often :meth:`serve` reconciles.
    :param env: extra environment for the training processes (on top of :data:`ENV_ALLOWLIST`).
    """

    name = "local"

    def __init__(self, root: DataRoot | str | os.PathLike[str], store: JobStore | None = None, *,
                 max_workers: int | None = None, grace_s: float = 60.0, kill_after_s: float = 10.0,
                 stale_after_s: float = DEFAULT_STALE_AFTER_S, reconcile_every_s: float = 30.0,
                 max_attempts: int = DEFAULT_MAX_ATTEMPTS, env: Mapping[str, str] | None = None,
                 python: str = sys.executable) -> None:
        self.root = root if isinstance(root, DataRoot) else DataRoot(root)
        self.store = store or JobStore(self.root.db_url)
        if max_workers is None:
            max_workers = default_max_workers()
        if not isinstance(max_workers, int) or isinstance(max_workers, bool) or max_workers < 1:
            raise ConfigError(f"max_workers: {max_workers!r} must be an integer >= 1 (default half the cores: "
                              f"{default_max_workers()})")
        self.max_workers = max_workers
        self.grace_s = grace_s
        self.kill_after_s = kill_after_s
        self.stale_after_s = stale_after_s
        self.reconcile_every_s = reconcile_every_s
        self.max_attempts = max_attempts
        self.extra_env = dict(env or {})
        self.python = python
        self.actor = f"dispatcher@{socket.gethostname()}:{os.getpid()}"
        self._children: dict[int, tuple[str, subprocess.Popen, int]] = {}  # pid -> (job id, process, attempt)

    # -------------------------------------------------------------------- the backend interface
    def submit(self, owner_id: Any, kind: str, config: Mapping[str, Any], submit_token: str | None = None, *,
               max_attempts: int | None = None, group_id: str | None = None) -> JobRecord:
        """Check ``config`` for the job ``kind`` (:data:`~pantheonrl.jobs.kinds.KINDS`: a training config, a
        cross-play config), prepare ``runs/<id>/config.yml`` and queue the job; a repeated ``submit_token`` returns
        the owner's existing job."""
        prepared = job_kind(kind).prepare(config)
        job_id = new_job_id()
        run = self.root.run_dir(job_id)
        run.mkdir(parents=True)
        try:
            prepared.write(run)
            job = self.store.submit(owner_id, kind, prepared.config, submit_token, group_id=group_id,
                                    steps_total=prepared.steps_total, resumable=prepared.resumable,
                                    max_attempts=max_attempts or self.max_attempts, backend=self.name, job_id=job_id)
        except BaseException:
            shutil.rmtree(run, ignore_errors=True)
            raise
        if job.id != job_id:  # a repeated submit: the folder prepared for a new job is not needed
            shutil.rmtree(run, ignore_errors=True)
        return job

    def status(self, job_id: str, *, owner_id: Any = None) -> JobRecord:
        return self.store.get(job_id, owner_id=owner_id)

    def logs(self, job_id: str, *, owner_id: Any = None, max_bytes: int = 65536) -> str:
        job = self.store.get(job_id, owner_id=owner_id)
        return _tail(self.root.run_dir(job.id) / LOG_FILE, max_bytes)

    def list(self, *, owner_id: Any = None, status: str | JobStatus | None = None,
             limit: int | None = None) -> list[JobRecord]:
        return self.store.list(owner_id=owner_id, status=status, backend=self.name, limit=limit)

    def cancel(self, job_id: str, by: str, *, owner_id: Any = None, now: dt.datetime | None = None) -> JobRecord:
        """Record the request and create ``runs/<id>/STOP``: a queued or interrupted job ends CANCELLED now, a running
        one stops at its next step check after a final checkpoint (escalation in :meth:`escalate`)."""
        self.store.get(job_id, owner_id=owner_id)
        return request_stop(self.store, self.root, job_id, by, now or utcnow())

    # -------------------------------------------------------------------- dispatching
    def command(self, job: JobRecord) -> list[str]:
        """The training process's argument list: only server-generated values (the user's choices are in the
        config file)."""
        return job_kind(job.kind).argv(self.python, self.root.run_dir(job.id), job.id, self.store.url_text, False)

    def environment(self) -> dict[str, str]:
        env = {key: os.environ[key] for key in ENV_ALLOWLIST if key in os.environ}
        env.update(self.extra_env)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _spawn(self, job: JobRecord) -> subprocess.Popen:
        run = self.root.run_dir(job.id)
        with open(run / LOG_FILE, "ab") as out:
            out.write(f"--- attempt {job.attempt} of {job.max_attempts}, {utcnow().isoformat()} ---\n".encode())
            out.flush()
            return subprocess.Popen(self.command(job), shell=False, start_new_session=True,
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=run,
                                    env=self.environment(), close_fds=True)

    def start_queued(self, now: dt.datetime | None = None) -> list[str]:
        """Start the oldest QUEUED jobs while fewer than ``max_workers`` run; returns the started ids."""
        started = []
        with self.root.lock():  # one dispatcher step at a time per data root: the pool bound holds across workers
            free = self.max_workers - self.store.count(RUNNING, backend=self.name)
            if free <= 0:
                return started
            for job in self.store.list(status=QUEUED, backend=self.name, oldest_first=True, limit=free):
                if job.cancel_requested:
                    self.store.transition(job.id, QUEUED, CANCELLED, actor=self.actor, attempt=job.attempt, now=now,
                                          reason=f"cancelled by {job.cancel_requested_by} before it started")
                    continue
                if not self.store.transition(job.id, QUEUED, RUNNING, actor=self.actor, attempt=job.attempt,
                                             now=now, backend=self.name):
                    continue  # another dispatcher won
                try:
                    proc = self._spawn(job)
                except OSError as exc:
                    self.store.transition(job.id, RUNNING, FAILED, actor=self.actor, attempt=job.attempt, now=now,
                                          reason=f"could not start the training process: {exc}")
                    continue
                ref = ProcessRef.of(proc.pid)
                self._children[proc.pid] = (job.id, proc, job.attempt)
                self.store.update(job.id, actor=self.actor, status=RUNNING, attempt=job.attempt,
                                  backend_ref=ref.to_dict(), event="spawned", now=now,
                                  message=f"started process {proc.pid} (attempt {job.attempt})",
                                  data={**ref.to_dict(), "attempt": job.attempt})
                started.append(job.id)
        return started

    def reap(self, now: dt.datetime | None = None) -> list[str]:
        """Collect the exit status of finished children; a job whose process ended without recording its end is
        settled (FAILED for an error exit, INTERRUPTED and resumed or failed when killed unasked, CANCELLED when a
        stop was requested). Returns the reaped ids."""
        reaped = []
        for pid, (job_id, proc, attempt) in list(self._children.items()):
            code = proc.poll()
            if code is None:
                continue
            del self._children[pid]
            reaped.append(job_id)
            self.store.update(job_id, actor=self.actor, event="exited", now=now,
                              message=f"process {proc.pid} (attempt {attempt}) exited with {code}",
                              data={"returncode": code, "attempt": attempt, "pid": proc.pid})
            job = self.store.get(job_id)
            if job.attempt != attempt:
                continue
            with self.root.lock():
                if job.status is RUNNING:
                    last = _last_line(self.root.run_dir(job_id) / LOG_FILE) if code > 0 else None
                    end_lost_job(self.store, self.root, job, actor=self.actor, now=now, returncode=code,
                                 last_line=last)
                elif job.status is INTERRUPTED:  # it stopped itself unasked (SIGTERM from the system): resume
                    settle_interrupted(self.store, self.root, job, actor=self.actor, now=now)
        return reaped

    def escalate(self, now: dt.datetime | None = None) -> list[tuple[str, str]]:
        """For RUNNING jobs whose cancel request is older than ``grace_s``: SIGTERM to the process group, and
        ``kill_after_s`` later SIGKILL, each only if the recorded process (pid and start time) still runs.
        Returns ``(job id, signal name)`` for each signal sent."""
        now = now or utcnow()
        sent = []
        for job in self.store.list(status=RUNNING, backend=self.name):
            ref = ProcessRef.from_dict(job.backend_ref)
            if not job.cancel_requested or ref is None or not ref.local:
                continue
            if (now - job.cancel_requested_at).total_seconds() < self.grace_s:
                continue
            signals = {e.data["signal"]: e for e in self.store.events(job.id)
                       if e.kind == "signal" and e.data and e.data.get("attempt") == job.attempt}
            if "SIGTERM" not in signals:
                signum, why = signal.SIGTERM, f"still running {self.grace_s:g} s after the cancel request"
            elif "SIGKILL" not in signals and (now - signals["SIGTERM"].at).total_seconds() >= self.kill_after_s:
                signum, why = signal.SIGKILL, f"still running {self.kill_after_s:g} s after SIGTERM"
            else:
                continue
            if ref.signal_group(signum):
                name = signal.Signals(signum).name
                sent.append((job.id, name))
                self.store.update(job.id, actor=self.actor, event="signal", now=now,
                                  message=f"{name} to process group {ref.pgid}: {why}",
                                  data={"signal": name, "attempt": job.attempt, "pgid": ref.pgid})
        return sent

    def dispatch_once(self, now: dt.datetime | None = None) -> list[str]:
        """One dispatcher step: reap, escalate cancels, start queued jobs; returns the started ids."""
        self.reap(now)
        self.escalate(now)
        return self.start_queued(now)

    def reconcile(self, now: dt.datetime | None = None) -> list[Any]:
        return reconcile(self.store, self.root, now=now, stale_after_s=self.stale_after_s, actor=f"reconciler:"
                         f"{self.actor}")

    def serve(self, stop: threading.Event, interval: float = 1.0) -> None:
        """Reconcile now and every ``reconcile_every_s``, dispatch every ``interval``, until ``stop`` is set.
        Running jobs are left running when it returns (their own sessions outlive the dispatcher)."""
        last_reconcile = None
        while not stop.is_set():
            try:
                clock = utcnow()
                if last_reconcile is None or (clock - last_reconcile).total_seconds() >= self.reconcile_every_s:
                    for outcome in self.reconcile():
                        log.info("reconciled job %s: %s %s", outcome.job_id, outcome.status, outcome.reason or "")
                    last_reconcile = clock
                for job_id in self.dispatch_once():
                    log.info("started job %s", job_id)
            except Exception:  # a locked or unreachable database must not end the dispatcher
                log.exception("dispatcher step failed; retrying")
            stop.wait(interval)

    def children(self) -> dict[int, str]:
        """Pid -> job id of the processes this dispatcher started and has not reaped yet."""
        return {pid: job_id for pid, (job_id, _, _) in self._children.items()}


def _tail(path: Path, max_bytes: int) -> str:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - max_bytes))
            data = handle.read()
    except FileNotFoundError:
        return ""
    text = data.decode("utf-8", "replace")
    if size > max_bytes and "\n" in text:  # start at a whole line
        text = text[text.index("\n") + 1:]
    return text


def _last_line(path: Path) -> str | None:
    with contextlib.suppress(OSError):
        lines = [line.strip() for line in _tail(path, 4096).splitlines() if line.strip()]
        if lines:
            return lines[-1][:300]
    return None
