"""Response headers and the id converter (docs/web.md 4.1, 4.3).

No inline scripts or styles anywhere: the CSP allows only files served by the app itself.
"""

from __future__ import annotations

from typing import Any

from flask import request
from werkzeug.routing import BaseConverter

__all__ = ["CSP", "HexIdConverter", "install"]

CSP = "default-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


class HexIdConverter(BaseConverter):
    """``<hex32:job_id>``: exactly 32 lowercase hex characters (anything else does not match the route: 404)."""

    regex = "[0-9a-f]{32}"


def _headers(response: Any) -> Any:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def install(app: Any) -> None:
    app.url_map.converters["hex32"] = HexIdConverter
    app.after_request(_headers)
