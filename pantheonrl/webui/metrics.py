"""The reward curve of a job, read from its ``progress.csv`` (docs/web.md section 6).

SB3's CSV writer rewrites the whole file with a wider header when a new key appears and does not fix the column
order, so rows are parsed by header name, and the parsed curve is cached by file size and mtime (re-read from the
top whenever either changes). A resumed job continues the same file (``ContinuingCSV``).
"""

from __future__ import annotations

import csv
import io
import math
import threading
from pathlib import Path
from typing import Any

__all__ = ["REWARD_KEY", "STEPS_KEY", "MetricsReader"]

STEPS_KEY = "time/total_timesteps"
REWARD_KEY = "rollout/ep_rew_mean"
_MAX_BYTES = 32 << 20


def _number(text: str | None) -> float | None:
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


class MetricsReader:
    """Curves of ``progress.csv`` files, cached per path by (size, mtime)."""

    def __init__(self, max_entries: int = 64) -> None:
        self.max_entries = max_entries
        self._cache: dict[Path, tuple[tuple[int, int], list[dict[str, float]]]] = {}
        self._lock = threading.Lock()

    def curve(self, path: Path) -> list[dict[str, float]]:
        """``[{"timesteps": t, "ep_rew_mean": r}, ...]`` for the rows that have both."""
        try:
            info = path.stat()
        except OSError:
            return []
        key = (info.st_size, info.st_mtime_ns)
        with self._lock:
            hit = self._cache.get(path)
            if hit is not None and hit[0] == key:
                return hit[1]
        rows = self._parse(path)
        with self._lock:
            if len(self._cache) >= self.max_entries:
                self._cache.pop(next(iter(self._cache)))
            self._cache[path] = (key, rows)
        return rows

    @staticmethod
    def _parse(path: Path) -> list[dict[str, float]]:
        try:
            with open(path, "rb") as handle:
                data = handle.read(_MAX_BYTES)
        except OSError:
            return []
        rows = []
        for record in csv.DictReader(io.StringIO(data.decode("utf-8", "replace"))):
            steps, reward = _number(record.get(STEPS_KEY)), _number(record.get(REWARD_KEY))
            if steps is not None and reward is not None:
                rows.append({"timesteps": int(steps), "ep_rew_mean": reward})
        return rows

    def since(self, path: Path, after: int) -> dict[str, Any]:
        """Rows from index ``after`` on, and the index to ask from next time."""
        rows = self.curve(path)
        if after > len(rows):  # the file was rewritten shorter: start again
            after = 0
        return {"after": after, "next": len(rows), "rows": rows[after:], "x": STEPS_KEY, "y": REWARD_KEY}
