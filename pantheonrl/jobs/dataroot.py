"""The data root of the local job system: ``DIR/jobs.sqlite`` and ``DIR/runs/<job id>/``.

Only server-generated job ids (checked) name folders; nothing a user typed becomes part of a path.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from pantheonrl.errors import ConfigError
from pantheonrl.jobs.store import check_job_id, sqlite_url

__all__ = ["DB_FILE", "LOCK_FILE", "RUNS", "DataRoot"]

DB_FILE = "jobs.sqlite"
RUNS = "runs"
LOCK_FILE = "jobs.lock"


class DataRoot:
    """A data folder (created if missing).

    :param path: the folder.
    :param db_url: the job database (default ``sqlite:///<path>/jobs.sqlite``).
    """

    def __init__(self, path: str | os.PathLike[str], db_url: str | None = None) -> None:
        root = Path(path).expanduser()
        if root.exists() and not root.is_dir():
            raise ConfigError(f"data dir {str(root)!r} is a file; give a folder (it will hold {DB_FILE} and {RUNS}/)")
        (root / RUNS).mkdir(parents=True, exist_ok=True)
        self.path = root.resolve()
        self.db_url = db_url or sqlite_url(self.path / DB_FILE)

    @property
    def runs(self) -> Path:
        return self.path / RUNS

    def run_dir(self, job_id: str) -> Path:
        """``runs/<job id>`` (the id checked first: no '/', '..' or leading '-' ever reaches the file system)."""
        return self.runs / check_job_id(job_id)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """The exclusive lock of this data root (one dispatcher step or reconciler pass at a time, across
        threads and processes)."""
        import fcntl

        with open(self.path / LOCK_FILE, "a+") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
