"""Knowing a job's process for sure: pid *and* start time (a reused pid is never mistaken for ours), its process
group, and signals sent only after that check (docs/web.md 2.3, 2.5).

Start times come from ``/proc/<pid>/stat`` (Linux); elsewhere only the pid can be checked.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["ProcessRef", "process_start_time"]


def process_start_time(pid: int) -> int | None:
    """The start time of ``pid`` in clock ticks since boot (``/proc/<pid>/stat`` field 22); ``None`` if there is
    no such process, it is a zombie (exited, not yet reaped), or ``/proc`` is not available."""
    try:
        with open(f"/proc/{int(pid)}/stat", "rb") as handle:
            text = handle.read().decode("ascii", "replace")
    except OSError:
        return None
    # the command name (field 2) is in parentheses and may hold spaces or ')': split after the last ')'
    rest = text[text.rfind(")") + 2:].split()
    if not rest or rest[0] in ("Z", "X"):
        return None
    return int(rest[19])


def _has_proc() -> bool:
    return os.path.isdir("/proc/self")


@dataclass(frozen=True)
class ProcessRef:
    """A started training process as the local backend records it (``backend_ref``)."""

    pid: int
    pgid: int
    start_time: int | None
    host: str

    @classmethod
    def of(cls, pid: int) -> ProcessRef:
        """The process ``pid`` just started in its own session (so its group id is its pid)."""
        return cls(pid=pid, pgid=pid, start_time=process_start_time(pid), host=socket.gethostname())

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ProcessRef | None:
        if not data or "pid" not in data:
            return None
        return cls(pid=int(data["pid"]), pgid=int(data.get("pgid", data["pid"])), start_time=data.get("start_time"),
                   host=str(data.get("host", "")))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def local(self) -> bool:
        return self.host == socket.gethostname()

    def alive(self) -> bool:
        """The recorded process still runs (same pid and start time; a zombie counts as gone)."""
        if self.start_time is not None and _has_proc():
            return process_start_time(self.pid) == self.start_time
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # someone else's process now holds the pid
            return False
        return True

    def signal_group(self, signum: int = signal.SIGTERM) -> bool:
        """Send ``signum`` to the process group, only if the process is still the recorded one; ``True`` if sent."""
        if not self.alive():
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pgid, signum)
            return True
        return False
