"""The interface every job backend implements (``local`` now, ``ray`` later; docs/web.md 2.7).

The job table (:class:`~pantheonrl.jobs.store.JobStore`) is the durable truth; a backend only executes what it
holds. Every method that names a job takes an optional ``owner_id``: given, another owner's job is "not found"
(the web layer's ownership check).
"""

from __future__ import annotations

import abc
import threading
from collections.abc import Mapping
from typing import Any

from pantheonrl.jobs.states import JobStatus
from pantheonrl.jobs.store import JobRecord

__all__ = ["JobBackend"]


class JobBackend(abc.ABC):
    """Submit, inspect, read the log of, cancel and list jobs."""

    #: the name stored in ``jobs.backend``
    name: str = ""

    @abc.abstractmethod
    def submit(self, owner_id: Any, kind: str, config: Mapping[str, Any], submit_token: str | None = None, *,
               max_attempts: int | None = None, group_id: str | None = None) -> JobRecord:
        """Queue a job (idempotent per ``(owner_id, submit_token)``); bad config raises
        :class:`~pantheonrl.errors.ConfigError` before anything is stored."""

    @abc.abstractmethod
    def status(self, job_id: str, *, owner_id: Any = None) -> JobRecord:
        """The job's current record."""

    @abc.abstractmethod
    def logs(self, job_id: str, *, owner_id: Any = None, max_bytes: int = 65536) -> str:
        """The tail of the job's log (at most ``max_bytes``)."""

    @abc.abstractmethod
    def cancel(self, job_id: str, by: str, *, owner_id: Any = None) -> JobRecord:
        """Ask the job to stop (cooperatively first); returns the record after the request."""

    @abc.abstractmethod
    def list(self, *, owner_id: Any = None, status: str | JobStatus | None = None,
             limit: int | None = None) -> list[JobRecord]:
        """Jobs, newest first."""

    # ------------------------------------------------------------------ the dispatcher thread
    #: the dispatcher thread's name, and the seconds between its steps
    thread_name: str = "pantheonrl-dispatcher"
    interval_s: float = 1.0
    _thread: threading.Thread | None = None
    _stop: threading.Event | None = None

    @abc.abstractmethod
    def serve(self, stop: threading.Event, interval: float) -> None:
        """Dispatch every ``interval`` seconds until ``stop`` is set."""

    def start(self, interval: float | None = None) -> threading.Thread:
        """Run :meth:`serve` in a background thread (the embedded dispatcher of the web server)."""
        if self._thread is not None and self._thread.is_alive():
            return self._thread
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.serve, args=(self._stop, interval or self.interval_s),
                                        name=self.thread_name, daemon=True)
        self._thread.start()
        return self._thread

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop the background dispatcher (the jobs keep running)."""
        if self._stop is not None:
            self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
