"""One-slot boxes between the outside world and the game's tick (docs/web.md sections 3.1 and 3.2).

* :class:`Mailbox`: a seat's next action. A new token replaces the pending one and each tick takes at most one,
  so a held key (browser auto-repeat) moves a chef once per tick and stops on release: there is never a backlog
  (the overcooked-demo's unbounded queues played auto-repeat out late).
* :class:`LatestBox`: the freshest game state for an AI seat's thread; older states are overwritten unread.
"""

from __future__ import annotations

import threading
from typing import Any

from pantheonrl.play.config import TOKEN_ACTIONS

__all__ = ["LatestBox", "Mailbox"]

_N_ACTIONS = len(TOKEN_ACTIONS)


class Mailbox:
    """A thread-safe one-slot mailbox of Overcooked action indices.

    Counters (read them for monitoring): ``received`` (valid inputs), ``dropped`` (invalid tokens, not stored),
    ``replaced`` (pending actions overwritten before a tick took them) and ``taken``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: int | None = None
        self.received = 0
        self.dropped = 0
        self.replaced = 0
        self.taken = 0

    def put(self, token: Any) -> bool:
        """Store a key token (one of :data:`~pantheonrl.play.config.KEY_TOKENS`), replacing any pending one.

        Anything else is dropped and counted; returns whether the token was accepted.
        """
        action = TOKEN_ACTIONS.get(token) if isinstance(token, str) else None
        if action is None:
            with self._lock:
                self.dropped += 1
            return False
        self.put_action(action)
        return True

    def put_action(self, action: int) -> None:
        """Store an action index (0..5), replacing any pending one (AI seats post here)."""
        if isinstance(action, bool) or not isinstance(action, int) or not 0 <= action < _N_ACTIONS:
            raise ValueError(f"an Overcooked action index is an int in 0..{_N_ACTIONS - 1}, got {action!r}")
        with self._lock:
            if self._pending is not None:
                self.replaced += 1
            self._pending = action
            self.received += 1

    def take(self) -> int | None:
        """The pending action (and clear the slot), or ``None`` when there is none."""
        with self._lock:
            action, self._pending = self._pending, None
            if action is not None:
                self.taken += 1
            return action

    def clear(self) -> None:
        """Forget the pending action."""
        with self._lock:
            self._pending = None

    def counters(self) -> dict[str, int]:
        with self._lock:
            return {"received": self.received, "dropped": self.dropped, "replaced": self.replaced,
                    "taken": self.taken}


class LatestBox:
    """A one-slot box that keeps only the newest item; :meth:`take` waits for one (or for :meth:`close`)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Any = None
        self._full = False
        self._closed = False
        self.overwritten = 0

    def put(self, item: Any) -> None:
        with self._cond:
            if self._full:
                self.overwritten += 1
            self._item, self._full = item, True
            self._cond.notify_all()

    def take(self, timeout: float | None = None) -> tuple[bool, Any]:
        """``(True, item)`` with the newest item (the box is emptied), or ``(False, None)`` after ``timeout``
        seconds or once the box is closed."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._full or self._closed, timeout=timeout) or not self._full:
                return False, None
            item, self._item, self._full = self._item, None, False
            return True, item

    def close(self) -> None:
        """Wake every waiting :meth:`take`; later takes return at once."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed
