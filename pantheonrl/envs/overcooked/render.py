"""Episode recordings: RGB frames of Overcooked states as an animated GIF and numbered PNG files."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pantheonrl.errors import ConfigError

__all__ = ["write_episode"]


def _atomic_image(path: Path, save) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(fd)
    try:
        save(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_episode(frames: Sequence[np.ndarray], gif_path: str | os.PathLike, *, fps: float = 10.0,
                  png_dir: str | os.PathLike | None = None) -> Path:
    """Write ``frames`` (H x W x 3 uint8 arrays, e.g. from ``env.render()``) as an animated GIF, and as
    ``frame_0000.png``, ... in ``png_dir`` when given. Files are written atomically; an existing GIF is not
    overwritten (choose another name)."""
    from PIL import Image

    if not frames:
        raise ConfigError("no frames to write: render at least one state (env.render()) first")
    if not fps > 0:
        raise ConfigError(f"fps must be positive, got {fps!r}; e.g. 10")
    gif = Path(gif_path)
    if gif.suffix.lower() != ".gif":
        raise ConfigError(f"the episode file must end in .gif, got {str(gif)!r}")
    if gif.exists():
        raise ConfigError(f"{gif} already exists; choose a new file name (episodes are never overwritten)")
    images = [Image.fromarray(np.asarray(frame, dtype=np.uint8), mode="RGB") for frame in frames]
    gif.parent.mkdir(parents=True, exist_ok=True)
    duration = round(1000 / fps)
    _atomic_image(gif, lambda tmp: images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                                                     duration=duration, loop=0))
    if png_dir is not None:
        folder = Path(png_dir)
        folder.mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(images):
            target = folder / f"frame_{i:04d}.png"
            if target.exists():
                raise ConfigError(f"{target} already exists; give an empty folder for the PNG frames")
            _atomic_image(target, lambda tmp, image=image: image.save(tmp, format="PNG"))
    return gif
