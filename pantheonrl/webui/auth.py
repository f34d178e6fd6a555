"""Who is asking: the session user or an API token's user, CSRF for everything else, login and logout
(docs/web.md 4.2).

The session holds only the user id and the user's session version; the user is loaded from the database on every
request, and a session whose version is old (the password changed) is dropped. A request with an
``Authorization`` header is authenticated by that header alone (a bad token is a 401, never a fall-back to the
cookie) and only such requests skip the CSRF check: a cookie-authenticated POST always needs the ``X-CSRFToken``
header or the form's ``csrf_token``.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFProtect

from pantheonrl.webui.accounts import UserRecord

__all__ = ["auth_bp", "csrf", "current_user", "install", "login_required"]

log = logging.getLogger("pantheonrl.webui")
csrf = CSRFProtect()
auth_bp = Blueprint("auth", __name__)
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def state() -> Any:
    return current_app.extensions["pantheonrl"]


def current_user() -> UserRecord | None:
    return g.get("user")


def client_address() -> str:
    return request.remote_addr or "-"


def _authenticate() -> None:
    g.user, g.via = None, None
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        user = state().accounts.user_for_token(token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            log.warning("rejected API token from %s for %s %s", client_address(), request.method, request.path)
            abort(401, description="invalid API token: send 'Authorization: Bearer <token>' with a token from "
                                   "'pantheonrl web add-user --token-file FILE'")
        g.user, g.via = user, "token"
        return  # bearer requests carry no ambient credentials: no CSRF check
    uid, version = session.get("uid"), session.get("sv")
    if uid is not None:
        user = state().accounts.get(uid)
        if user is None or user.session_version != version:
            session.clear()
        else:
            g.user, g.via = user, "session"
    if request.method in _UNSAFE:
        csrf.protect()  # CSRFError (400) without a valid token


def install(app: Any) -> None:
    """CSRF protection with the check run by :func:`_authenticate` (after deciding how the request is
    authenticated), and the login pages."""
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    csrf.init_app(app)
    app.before_request(_authenticate)
    app.register_blueprint(auth_bp)


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            if request.path.startswith("/api/"):
                abort(401, description="log in first, or send 'Authorization: Bearer <token>'")
            return redirect(url_for("auth.login", next=request.path))
        return view(*args, **kwargs)

    return wrapper


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith(("//", "/\\")) and "\\" not in target:
        return target
    return url_for("play.play_page") if current_app.config.get("PLAY_ONLY") else url_for("pages.jobs")


@auth_bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method == "GET":
        return render_template("login.html", next=_safe_next(request.args.get("next")), error=None)
    name = request.form.get("username", "")[:200]
    password = request.form.get("password", "")[:2000]
    target = _safe_next(request.form.get("next"))
    limiter, address = state().limiter, client_address()
    wait = limiter.retry_after(name, address)
    if wait > 0:
        log.warning("login refused (rate limit) for %r from %s", name, address)
        minutes = max(1, round(wait / 60))
        return render_template("login.html", next=target,
                               error=f"too many failed logins; try again in about {minutes} minute(s)"), 429
    user = state().accounts.authenticate(name, password)
    if user is None:
        limiter.failed(name, address)
        log.warning("login failed for %r from %s", name, address)
        return render_template("login.html", next=target, error="wrong user name or password"), 401
    limiter.succeeded(name)
    log.info("login of %r from %s", user.name, address)
    session.clear()
    session["uid"], session["sv"] = user.id, user.session_version
    session.permanent = True
    return redirect(target)


@auth_bp.route("/logout", methods=["POST"])
def logout() -> Any:
    user = current_user()
    if user is not None:
        log.info("logout of %r", user.name)
    session.clear()
    return redirect(url_for("auth.login"))
