"""The exception hierarchy of pantheonrl.

Every error a user can cause derives from :class:`PantheonRLError` and says which value was bad, what is
allowed, and a likely fix. Compat names of the original (``PlayerException``, ``SpaceException``) are kept
as subclasses so that ``except PlayerException`` in old scripts still catches them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class PantheonRLError(Exception):
    """Base class of all pantheonrl errors."""


class UserInputError(PantheonRLError, ValueError):
    """A value given by the user is not allowed (maps to CLI exit status 2 and HTTP 400)."""


class ConfigError(UserInputError):
    """A configuration value is unknown, malformed or out of range."""


class PlayerException(UserInputError):
    """A seat, partner or player index is not valid for this game."""


class SpaceException(UserInputError):
    """An observation or action space is unsupported or does not match."""


class TrajectoryFormatError(UserInputError):
    """A trajectory file cannot be read with the given spaces."""


class LearnerStoppedError(PantheonRLError, RuntimeError):
    """A threaded single-agent learner stopped (or timed out) while the game waited for it."""


class KillEnvException(PantheonRLError):
    """Raised inside a threaded learner's ``step``/``reset`` to end its thread."""


def did_you_mean(value: object, allowed: Iterable[object]) -> str:
    """Return ``"; did you mean X?"`` for the closest allowed name, or ``""``."""
    names = [str(a) for a in allowed]
    close = difflib.get_close_matches(str(value), names, n=1, cutoff=0.5)
    if not close:
        lowered = {n.lower(): n for n in names}
        if str(value).lower() in lowered:
            close = [lowered[str(value).lower()]]
    return f"; did you mean {close[0]}?" if close else ""


def unknown_choice(kind: str, value: object, allowed: Iterable[object]) -> str:
    """The standard message for a value that is not one of ``allowed``."""
    allowed = list(allowed)
    return (
        f"unknown {kind} {value!r}; choose one of: {', '.join(str(a) for a in allowed)}"
        f"{did_you_mean(value, allowed)}"
    )


def check_known_keys(data: Iterable[object], allowed: Iterable[object], kind: str, where: str = "") -> None:
    """A :class:`ConfigError` (:func:`unknown_choice`, after ``where: `` when given) for the first key of ``data``
    that is not in ``allowed``."""
    allowed = list(allowed)
    unknown = [key for key in data if key not in allowed]
    if unknown:
        message = unknown_choice(kind, str(unknown[0]), allowed)
        raise ConfigError(f"{where}: {message}" if where else message)


def check_whole(value: object, name: str, low: int, high: int) -> int:
    """``value`` if it is an integer (not a bool) from ``low`` to ``high``, else a :class:`ConfigError`."""
    import numpy as np

    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not low <= value <= high:
        raise ConfigError(f"{name}: {value!r} must be a whole number from {low} to {high}")
    return int(value)
