"""Errors as answers: user errors are a 400 with their message, JSON under ``/api/`` and a page elsewhere; anything
unexpected is a 500 with a reference id, the traceback only in the server log (docs/web.md 4.5)."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from flask import Response, jsonify, make_response, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from pantheonrl.errors import UserInputError
from pantheonrl.jobs.errors import IllegalTransitionError, JobNotFoundError, SubmitTokenReusedError

__all__ = ["install"]

log = logging.getLogger("pantheonrl.webui")


def answer(status: int, title: str, message: str, **extra: Any) -> Any:
    if request.path.startswith("/api/"):
        response = jsonify({"error": title, "message": message, "status": status, **extra})
        response.status_code = status
        return response
    try:
        return make_response(render_template("error.html", status=status, title=title, message=message), status)
    except Exception:  # no URL adapter (e.g. an untrusted Host): a plain answer
        return Response(f"{status} {title}: {message}\n", status=status, mimetype="text/plain")


def _user_error(exc: UserInputError) -> Any:
    if isinstance(exc, JobNotFoundError):
        return answer(404, "Not Found", str(exc))
    if isinstance(exc, IllegalTransitionError | SubmitTokenReusedError):
        return answer(409, "Conflict", str(exc))
    return answer(400, "Bad Request", str(exc), **({"field": exc.field} if getattr(exc, "field", None) else {}))


def _csrf_error(exc: CSRFError) -> Any:
    log.warning("CSRF rejection from %s for %s %s: %s", request.remote_addr, request.method, request.path,
                exc.description)
    return answer(400, "Bad Request", f"CSRF check failed: {exc.description} (send the page's csrf_token, or the "
                                      f"X-CSRFToken header; scripts use an API token instead)")


def _http_error(exc: HTTPException) -> Any:
    response = answer(exc.code or 500, exc.name, exc.description or exc.name)
    if exc.code == 405 and getattr(exc, "valid_methods", None):
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    if exc.code == 401 and request.path.startswith("/api/"):
        response.headers["WWW-Authenticate"] = 'Bearer realm="pantheonrl"'
    return response


def _unexpected(exc: Exception) -> Any:
    ref = secrets.token_hex(6)
    log.exception("unexpected error %s on %s %s", ref, request.method, request.path)
    return answer(500, "Internal Server Error", f"an unexpected error happened (reference {ref}); the details are "
                                                f"in the server log")


def install(app: Any) -> None:
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(UserInputError, _user_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)
