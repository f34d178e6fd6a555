"""The application factory: one data dir (``jobs.sqlite`` with the job and account tables, ``runs/``, the secret
key), the job backend (the embedded local one by default, or a Ray cluster), and the security settings of
docs/web.md section 4."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from typing import Any

from flask import Flask, redirect, url_for

from pantheonrl.errors import ConfigError, unknown_choice
from pantheonrl.jobs import DataRoot, JobBackend, JobStore, LocalBackend
from pantheonrl.webui.accounts import AccountStore
from pantheonrl.webui.metrics import MetricsReader
from pantheonrl.webui.ratelimit import LoginLimiter
from pantheonrl.webui.settings import DEFAULT_SESSION_HOURS, load_secret_fallbacks, load_secret_key, trusted_hosts

__all__ = ["WebState", "create_app"]

MAX_REQUEST_BYTES = 1 << 20  # JSON configs and forms; there is no upload route


@dataclass
class WebState:
    """What the routes share (``app.extensions["pantheonrl"]``)."""

    root: DataRoot
    store: JobStore
    backend: JobBackend
    accounts: AccountStore
    limiter: LoginLimiter
    metrics: MetricsReader
    play: Any = None  # pantheonrl.webui.play.PlayService (with the overcooked extra)
    socketio: Any = None  # flask_socketio.SocketIO of the play page

    def close(self) -> None:
        """End running games (their records are written), stop the embedded dispatcher (running jobs go on in their
        own process groups) and close the database."""
        if self.play is not None:
            self.play.shutdown()
        self.backend.stop()
        self.store.close()


def create_app(data_dir: str | os.PathLike[str], *, testing: bool = False, start_backend: bool = True,
               secret_key: str | None = None, host: str = "127.0.0.1", session_hours: float = DEFAULT_SESSION_HOURS,
               secure_cookies: bool = False, max_workers: int | None = None, db_url: str | None = None,
               limiter: LoginLimiter | None = None, config: dict[str, Any] | None = None,
               backend: str = "local", ray_address: str | None = None, play_only: bool = False,
               study: Any = None) -> Flask:
    """The dashboard for ``data_dir``.

    :param testing: Flask's TESTING (allows a short or default ``secret_key``).
    :param start_backend: start the local dispatcher thread (the embedded backend); tests drive it themselves.
    :param secret_key: the key (default: ``PANTHEONRL_SECRET_KEY`` or ``DATA_DIR/secret_key``), checked.
    :param host: the address served (its names make ``TRUSTED_HOSTS``).
    :param session_hours: how long a login lasts.
    :param secure_cookies: send cookies over HTTPS only (set behind HTTPS).
    :param max_workers: training processes at once (default half the cores).
    :param db_url: the job database (default ``DATA_DIR/jobs.sqlite``).
    :param limiter: the failed-login limiter (default 5 per name, 30 per address per 15 min).
    :param config: more Flask settings.
    :param backend: where jobs run: ``"local"`` (this machine, a bounded pool) or ``"ray"`` (the Ray cluster at
        ``ray_address``, which must see the data dir and database at the same paths).
    :param ray_address: the Ray cluster's dashboard (Jobs API) address, e.g. ``http://127.0.0.1:8265``.
    :param play_only: serve only human play (``pantheonrl play``): no job pages or API, no job dispatcher.
    :param study: a :class:`pantheonrl.play.study.Study` the play page runs (study mode).
    """
    from pantheonrl.webui import api, auth, errors, pages, security
    from pantheonrl.webui.graphics import graphics_bp
    from pantheonrl.webui.settings import check_secret_key

    root = DataRoot(data_dir, db_url)
    key = check_secret_key(secret_key, testing=testing) if secret_key is not None else \
        load_secret_key(root.path, testing=testing)
    app = Flask("pantheonrl.webui", static_folder="static", template_folder="templates")
    app.config.update(
        SECRET_KEY=key,
        SECRET_KEY_FALLBACKS=[] if secret_key is not None else load_secret_fallbacks(root.path),
        TESTING=testing,
        DEBUG=False,
        SESSION_COOKIE_NAME="session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure_cookies,
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=session_hours),
        WTF_CSRF_TIME_LIMIT=int(session_hours * 3600),
        WTF_CSRF_SSL_STRICT=True,
        TRUSTED_HOSTS=trusted_hosts(host),
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
        SEND_FILE_MAX_AGE_DEFAULT=300,
    )
    app.config.update(PLAY_ONLY=play_only, PLAY_STUDY=study)
    app.config.update(config or {})
    store = JobStore(root.db_url)
    try:
        jobs = _backend(backend, root, store, max_workers, ray_address)
    except BaseException:
        store.close()
        raise
    state = WebState(root=root, store=store, backend=jobs, accounts=AccountStore(store),
                     limiter=limiter or LoginLimiter(), metrics=MetricsReader())
    app.extensions["pantheonrl"] = state
    app.json.sort_keys = False  # type: ignore[attr-defined]  (keep configs in their order: cross-play rows)
    app.jinja_env.autoescape = True
    security.install(app)
    errors.install(app)
    auth.install(app)
    if not play_only:
        app.register_blueprint(api.api_bp)
        app.register_blueprint(pages.pages_bp)
    app.register_blueprint(graphics_bp)
    if play_available():
        from pantheonrl.webui import play

        state.socketio = play.install(app)
    elif play_only:
        raise ConfigError("human play needs the overcooked extra and Flask-SocketIO: pip install "
                          "'pantheonrl[overcooked,web]'")
    if play_only:
        app.add_url_rule("/", "home", lambda: redirect(url_for("play.play_page")))
    app.context_processor(lambda: {"has_play": state.play is not None, "play_only": play_only,
                                   "home": url_for("play.play_page") if play_only else url_for("pages.jobs")})
    if start_backend and not play_only:
        jobs.start()
    return app


def play_available() -> bool:
    """Human play needs the ``overcooked`` extra and Flask-SocketIO (the ``web`` extra)."""
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("overcooked", "flask_socketio"))


def _backend(name: str, root: DataRoot, store: JobStore, max_workers: int | None,
             ray_address: str | None) -> JobBackend:
    if name == "local":
        return LocalBackend(root, store, max_workers=max_workers)
    if name == "ray":
        from pantheonrl.jobs import RayBackend
        from pantheonrl.jobs.ray_backend import import_ray

        if not ray_address:
            raise ConfigError("the ray backend needs the cluster's dashboard address (--ray-address), e.g. "
                              "http://127.0.0.1:8265")
        import_ray()  # a missing extra is a clear error now, not at the first submission
        return RayBackend(root, ray_address, store)
    raise ConfigError(unknown_choice("job backend", str(name), ("local", "ray")))
