"""Serving the dashboard: gunicorn in-process (one worker with threads, the embedded job dispatcher started inside
that worker), or Flask's own server for development (never with the debugger; docs/web.md 4.1)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["THREADS", "serve_dev", "serve_production"]

THREADS = 32  # each play websocket holds a thread for its lifetime
log = logging.getLogger("pantheonrl.webui")


def _close(app: Any) -> None:
    state = getattr(app, "extensions", {}).get("pantheonrl")
    if state is not None:
        state.close()


def serve_production(factory: Callable[[], Any], host: str, port: int, *, threads: int = THREADS) -> None:
    """Run gunicorn (one ``gthread`` worker): ``factory()`` builds the app in the worker, so the dispatcher thread
    lives there; SIGTERM or Ctrl-C to the server stops it (running jobs go on in their own process groups)."""
    from gunicorn.app.base import BaseApplication

    def worker_exit(server: Any, worker: Any) -> None:
        app = getattr(worker, "wsgi", None)
        if app is not None:
            _close(app)

    options = {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": 1,  # one process: the login limiter, the dispatcher and (later) Socket.IO need a single worker
        "worker_class": "gthread",
        "threads": threads,
        "timeout": 60,
        "graceful_timeout": 20,
        "accesslog": "-",
        "errorlog": "-",
        "loglevel": "info",
        "preload_app": False,
        "proc_name": "pantheonrl-web",
        "worker_exit": worker_exit,
        "control_socket_disable": True,
    }

    class _Server(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                if key in self.cfg.settings:  # settings of newer gunicorn releases only where they exist
                    self.cfg.set(key, value)

        def load(self) -> Any:
            logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                                stream=sys.stderr)
            return factory()

    _Server().run()


def serve_dev(app: Any, host: str, port: int) -> None:
    """Flask's development server, threaded, without the debugger or the reloader."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    socketio = app.extensions["pantheonrl"].socketio
    try:
        if socketio is not None:  # websockets need Flask-SocketIO's runner (still Werkzeug: --dev only)
            socketio.run(app, host=host, port=port, debug=False, use_reloader=False, allow_unsafe_werkzeug=True)
        else:
            app.run(host=host, port=port, debug=False, use_debugger=False, use_reloader=False, threaded=True)
    finally:
        _close(app)
