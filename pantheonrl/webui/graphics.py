"""The Overcooked sprite sheets for the human-play page (docs/web.md 3.3): ``GET /play/graphics/<name>`` serves the
``overcooked`` package's own art from ``overcooked.static.GRAPHICS_DIR``, by names from the fixed
:data:`GRAPHICS_FILES` only; ``static/play/render.js`` draws the game from them.

Public (the package's art, no user data), so no login; cacheable. The name from the URL is only a key into the
allowlist: the file name handed to ``send_from_directory`` is the allowlist's own string, and anything else is a
404. ``overcooked`` is an optional extra, imported on the first request (a missing package is a 404 too), so
registering the blueprint costs nothing: ``app.register_blueprint(graphics_bp)``.
"""

from __future__ import annotations

import functools
from typing import Any

from flask import Blueprint, abort, send_from_directory

__all__ = ["GRAPHICS_FILES", "graphics_bp"]

GRAPHICS_FILES = (
    "terrain.png", "terrain.json",
    "chefs.png", "chefs.json",
    "objects.png", "objects.json",
    "soups.png", "soups.json",
    "arrow.png", "interact.png", "stay.png",
)
CACHE_SECONDS = 86400  # the art changes only with the pinned package

_BY_NAME = {name: name for name in GRAPHICS_FILES}
_MIMETYPES = {"png": "image/png", "json": "application/json"}

graphics_bp = Blueprint("graphics", __name__)


@functools.cache
def _graphics_dir() -> str | None:
    try:
        from overcooked.static import GRAPHICS_DIR
    except ImportError:
        return None
    return GRAPHICS_DIR


@graphics_bp.get("/play/graphics/<name>")
def graphics(name: str) -> Any:
    filename = _BY_NAME.get(name)
    directory = _graphics_dir()
    if filename is None or directory is None:
        abort(404)
    return send_from_directory(directory, filename, mimetype=_MIMETYPES[filename.rsplit(".", 1)[1]],
                               max_age=CACHE_SECONDS)
