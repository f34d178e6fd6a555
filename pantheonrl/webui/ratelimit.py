"""Failed-login counting: at most N failures per user name and M per client address in a sliding window.

In memory: ``pantheonrl web serve`` runs one worker process, so one counter sees every login attempt.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["LoginLimiter"]


class LoginLimiter:
    """:param per_name: failures allowed per user name in ``window_s``.
    :param per_address: failures allowed per client address in ``window_s``.
    :param window_s: the sliding window in seconds.
    """

    def __init__(self, per_name: int = 5, per_address: int = 30, window_s: float = 900.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.per_name = per_name
        self.per_address = per_address
        self.window_s = window_s
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and now - times[0] > self.window_s:
            times.popleft()
        return times

    def retry_after(self, name: str, address: str) -> float:
        """Seconds until this name/address may try again (0: now)."""
        now = self.clock()
        with self._lock:
            waits = []
            for key, limit in ((f"n:{name}", self.per_name), (f"a:{address}", self.per_address)):
                times = self._recent(key, now)
                if len(times) >= limit:
                    waits.append(self.window_s - (now - times[-limit]))
            return max(waits, default=0.0)

    def failed(self, name: str, address: str) -> None:
        now = self.clock()
        with self._lock:
            for key in (f"n:{name}", f"a:{address}"):
                self._recent(key, now).append(now)
            if len(self._failures) > 10000:  # forget idle keys
                for key in [k for k, v in self._failures.items() if not v]:
                    del self._failures[key]

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(f"n:{name}", None)
