"""The rule for every name a user types (labels, user names, idempotency keys; docs/web.md 4.3).

Names live in the database only and never become part of a path or an argument list; still, anything that could
be read as a path ('../', '/abs') or an option (leading '-') is refused with the rule stated.
"""

from __future__ import annotations

import re
from typing import Any

from pantheonrl.errors import ConfigError

__all__ = ["LABEL_RULE", "check_label", "is_label"]

MAX_LABEL = 64
_LABEL = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
LABEL_RULE = (f"at most {MAX_LABEL} characters of A-Z, a-z, 0-9, '_', '.' and '-', not starting with '-' or '.' "
              f"(no '/', spaces or paths)")


def is_label(value: Any) -> bool:
    return isinstance(value, str) and _LABEL.fullmatch(value) is not None


def check_label(value: Any, what: str = "name") -> str:
    """``value`` if it follows :data:`LABEL_RULE`, else :class:`ConfigError` stating the rule."""
    if is_label(value):
        return value
    shown = repr(value) if isinstance(value, str) and len(value) <= 80 else f"{type(value).__name__} value"
    raise ConfigError(f"{what} {shown} is not allowed: a {what} is {LABEL_RULE}")
