"""An off-policy learner's replay buffer in a checkpoint, without pickle (docs/web.md 2.6).

SB3's ``save_replay_buffer`` pickles the whole buffer object, preallocated rows included (a million rows of a
96-float Overcooked observation, twice, is about 770 MB per checkpoint), and ``load_replay_buffer`` unpickles it.
Here only the rows written so far go into an ``.npz`` of plain arrays (plus ``pos`` and ``full``), read back with
``allow_pickle=False`` into the buffer a resumed model made for itself. ``ReplayBuffer`` and ``DictReplayBuffer``
are supported; other buffer classes (HER) are reported as not saved.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from pantheonrl.errors import ConfigError

__all__ = ["ARRAYS", "load_replay_buffer", "replay_rows", "save_replay_buffer", "supports"]

ARRAYS = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")


def supports(buffer: Any) -> bool:
    """Whether :func:`save_replay_buffer` can save ``buffer`` (SB3's ``ReplayBuffer`` or ``DictReplayBuffer``)."""
    from stable_baselines3.common.buffers import DictReplayBuffer, ReplayBuffer

    return type(buffer) in (ReplayBuffer, DictReplayBuffer)


def replay_rows(buffer: Any) -> int:
    """Rows holding data (with ``optimize_memory_usage`` the next observation of the last row too)."""
    if buffer.full:
        return int(buffer.buffer_size)
    return min(int(buffer.pos) + (1 if getattr(buffer, "optimize_memory_usage", False) else 0), buffer.buffer_size)


def _arrays(buffer: Any) -> dict[str, np.ndarray]:
    out = {}
    for name in ARRAYS:
        value = getattr(buffer, name, None)
        if isinstance(value, dict):
            out.update({f"{name}/{key}": array for key, array in value.items()})
        elif isinstance(value, np.ndarray):
            out[name] = value
    return out


def save_replay_buffer(buffer: Any, path: str | os.PathLike[str]) -> Path:
    """Write the filled rows of ``buffer`` to ``path`` (an ``.npz``; the caller makes it atomic)."""
    if not supports(buffer):
        raise ConfigError(f"cannot save a {type(buffer).__name__} (only ReplayBuffer and DictReplayBuffer)")
    n = replay_rows(buffer)
    data = {name: array[:n] for name, array in _arrays(buffer).items()}
    path = Path(path)
    with open(path, "wb") as handle:
        np.savez(handle, __pos__=np.asarray(buffer.pos), __full__=np.asarray(bool(buffer.full)),
                 __size__=np.asarray(buffer.buffer_size), **data)
        handle.flush()
        os.fsync(handle.fileno())
    return path


def load_replay_buffer(buffer: Any, path: str | os.PathLike[str]) -> int:
    """Fill ``buffer`` (a resumed model's own, same sizes) from ``path``; the number of rows restored. A file that
    does not fit the buffer raises :class:`ConfigError` naming the difference."""
    if not supports(buffer):
        raise ConfigError(f"cannot load into a {type(buffer).__name__} (only ReplayBuffer and DictReplayBuffer)")
    with np.load(path, allow_pickle=False) as data:
        size = int(data["__size__"])
        if size != buffer.buffer_size:
            raise ConfigError(f"{path}: a buffer of {size} rows, not {buffer.buffer_size}; resume with the same "
                              f"buffer_size")
        arrays = _arrays(buffer)
        missing = sorted(set(arrays) ^ {k for k in data.files if not k.startswith("__")})
        if missing:
            raise ConfigError(f"{path}: arrays {missing} do not match the model's replay buffer")
        rows = 0
        for name, array in arrays.items():
            saved = data[name]
            if saved.shape[1:] != array.shape[1:] or saved.shape[0] > array.shape[0]:
                raise ConfigError(f"{path}: {name} has shape {saved.shape}, the buffer {array.shape}")
            array[: saved.shape[0]] = saved
            rows = saved.shape[0]
        buffer.pos = int(data["__pos__"])
        buffer.full = bool(data["__full__"])
    return rows
