"""``pantheonrl web init|add-user|rotate-key|serve``: the dashboard's data dir, accounts and server (docs/web.md 4).

Everything is non-interactive: passwords come from files (never from the command line, where other users could
read them in the process list), a new API token goes to a file created with mode 0600.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from pantheonrl.cli._common import ArgumentParser, add_common

__all__ = ["add_parser", "run"]

EPILOG = """\
commands:
  init      --data-dir DIR --admin NAME --password-file FILE   the database, a random secret key, the first admin
  add-user  --data-dir DIR NAME --password-file FILE [--token-file FILE]
  rotate-key --data-dir DIR   (a new secret key; sessions signed with the old one stay valid until they expire)
  serve     --data-dir DIR [--host 127.0.0.1] [--port 5000] [--backend local|ray --ray-address URL] [--dev]

examples:
  pantheonrl web init --data-dir data --admin alice --password-file alice.pw
  pantheonrl web add-user --data-dir data bob --password-file bob.pw --token-file bob.token
  pantheonrl web serve --data-dir data            # http://127.0.0.1:5000
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "web", help="the dashboard: init a data dir, add users, serve it",
        description="The web dashboard and JSON API: accounts, experiment form, live jobs, saved agents.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_common(p)
    sub = p.add_subparsers(dest="web_command", metavar="WEB_COMMAND", parser_class=ArgumentParser)

    init = sub.add_parser("init", help="create the database, the secret key and the first admin")
    init.add_argument("--data-dir", required=True, metavar="DIR")
    init.add_argument("--admin", required=True, metavar="NAME", help="the first admin's user name")
    init.add_argument("--password-file", required=True, metavar="FILE", help="a file holding the password")
    add_common(init)

    add = sub.add_parser("add-user", help="create an account (there is no registration page)")
    add.add_argument("--data-dir", required=True, metavar="DIR")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--password-file", required=True, metavar="FILE")
    add.add_argument("--token-file", metavar="FILE", help="write a new API token for the user to FILE (mode 0600)")
    add.add_argument("--admin", action="store_true", help="make the user an admin")
    add_common(add)

    rotate = sub.add_parser("rotate-key", help="replace the secret key (the old one keeps existing sessions valid)")
    rotate.add_argument("--data-dir", required=True, metavar="DIR")
    add_common(rotate)
    serve = sub.add_parser("serve", help="serve the dashboard (gunicorn, one worker; the job dispatcher inside)")
    serve.add_argument("--data-dir", required=True, metavar="DIR")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1; anything else only behind "
                                                           "HTTPS)")
    serve.add_argument("--port", type=int, default=5000)
    serve.add_argument("--max-workers", type=int, default=None, metavar="N",
                       help="training jobs at once (default half the cores)")
    serve.add_argument("--session-hours", type=float, default=12.0, metavar="H", help="login lifetime (12)")
    serve.add_argument("--https", action="store_true", help="served behind HTTPS: Secure cookies")
    serve.add_argument("--backend", choices=("local", "ray"), default="local",
                       help="where jobs run: this machine (local, default) or an existing Ray cluster (ray)")
    serve.add_argument("--ray-address", default=None, metavar="URL",
                       help="the Ray cluster's dashboard (Jobs API) address, e.g. http://127.0.0.1:8265 (with "
                            "--backend ray; it must see the data dir at the same path)")
    serve.add_argument("--dev", action="store_true", help="Flask's development server (no debugger, no reloader)")
    add_common(serve)
    p.set_defaults(func=run)
    return p


def _password(path: str) -> str:
    from pantheonrl.errors import ConfigError
    from pantheonrl.webui.accounts import check_password_value

    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"--password-file {path!r}: no such file; write the password into a file first") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--password-file {path!r}: cannot read it ({exc})") from None
    return check_password_value(text.rstrip("\r\n"))


def _write_token(path: str, token: str) -> None:
    from pantheonrl.errors import ConfigError

    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"--token-file {path!r} already exists; give a new file (a token is shown once)") from None
    except OSError as exc:
        raise ConfigError(f"--token-file {path!r}: cannot create it ({exc.strerror})") from None
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(token + "\n")


def _accounts(data_dir: str) -> Any:
    from pantheonrl.jobs import DataRoot, JobStore
    from pantheonrl.webui.accounts import AccountStore

    root = DataRoot(data_dir)
    store = JobStore(root.db_url)
    return root, store, AccountStore(store)


def _init(args: argparse.Namespace) -> int:
    from pantheonrl.errors import ConfigError
    from pantheonrl.webui.names import check_label
    from pantheonrl.webui.settings import create_secret_key

    check_label(args.admin, "user name")
    password = _password(args.password_file)
    root, store, accounts = _accounts(args.data_dir)
    try:
        if accounts.count():
            raise ConfigError(f"{root.path} is already initialised (it has users); add more with 'pantheonrl web "
                              f"add-user --data-dir {args.data_dir} NAME --password-file FILE'")
        key = create_secret_key(root.path)
        accounts.add_user(args.admin, password, admin=True)
    finally:
        store.close()
    print(f"pantheonrl web: initialised {root.path} (database {root.db_url}, secret key {key}, "
          f"admin {args.admin}); start it with: pantheonrl web serve --data-dir {args.data_dir}")
    return 0


def _add_user(args: argparse.Namespace) -> int:
    from pantheonrl.errors import ConfigError
    from pantheonrl.webui.names import check_label

    check_label(args.name, "user name")
    password = _password(args.password_file)
    if args.token_file and Path(args.token_file).exists():  # refuse before the account is made
        raise ConfigError(f"--token-file {args.token_file!r} already exists; give a new file (a token is shown once)")
    _, store, accounts = _accounts(args.data_dir)
    try:
        user = accounts.add_user(args.name, password, admin=args.admin)
        if args.token_file:
            _write_token(args.token_file, accounts.new_token(user.id))
    finally:
        store.close()
    extra = f"; API token written to {args.token_file}" if args.token_file else ""
    print(f"pantheonrl web: added user {user.name}{extra}")
    return 0


def _rotate_key(args: argparse.Namespace) -> int:
    from pantheonrl.webui.settings import MAX_PREVIOUS_KEYS, PREVIOUS_FILE, rotate_secret_key

    path = rotate_secret_key(args.data_dir)
    print(f"pantheonrl web: new secret key in {path}; the previous {MAX_PREVIOUS_KEYS} at most in "
          f"{path.with_name(PREVIOUS_FILE)} keep existing sessions valid (delete that file to end them); restart "
          f"the server to use it")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from pantheonrl.errors import ConfigError

    if args.max_workers is not None and args.max_workers < 1:
        raise ConfigError(f"--max-workers {args.max_workers}: give at least 1 (default half the cores)")
    if (args.backend == "ray") != (args.ray_address is not None):
        raise ConfigError("--backend ray needs --ray-address URL (the cluster's dashboard, e.g. "
                          "http://127.0.0.1:8265), and --ray-address goes with --backend ray")
    return serve_app(args, {"max_workers": args.max_workers, "backend": args.backend,
                            "ray_address": args.ray_address}, "pantheonrl web")


def serve_app(args: argparse.Namespace, options: dict[str, Any], name: str) -> int:
    """Check the server options every server command shares, build the app once (configuration errors exit 2
    before anything listens), then serve it (gunicorn, or Flask's server with ``--dev``)."""
    from pantheonrl.errors import ConfigError
    from pantheonrl.webui import create_app
    from pantheonrl.webui.server import serve_dev, serve_production

    if not 1 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port}: give 1 to 65535")
    if not 0 < args.session_hours <= 24 * 30:
        raise ConfigError(f"--session-hours {args.session_hours}: give more than 0 and at most 720")
    if not Path(args.data_dir).is_dir():
        raise ConfigError(f"--data-dir {args.data_dir!r} does not exist; create it with 'pantheonrl web init "
                          f"--data-dir {args.data_dir} --admin NAME --password-file FILE'")

    def factory() -> Any:
        return create_app(args.data_dir, host=args.host, session_hours=args.session_hours,
                          secure_cookies=args.https, **options)

    probe = create_app(args.data_dir, host=args.host, start_backend=False, session_hours=args.session_hours,
                       **{k: v for k, v in options.items() if k != "max_workers"})
    probe.extensions["pantheonrl"].close()
    where = f"http://{args.host}:{args.port}"
    if args.dev:
        print(f"{name}: development server on {where} (no debugger); stop with Ctrl-C", flush=True)
        serve_dev(factory(), args.host, args.port)
    else:
        print(f"{name}: serving {where}; stop with SIGTERM or Ctrl-C", flush=True)
        serve_production(factory, args.host, args.port)
    return 0


def run(args: argparse.Namespace, argv: list[str]) -> int:
    from pantheonrl.errors import ConfigError

    try:
        import flask  # noqa: F401
        import flask_wtf  # noqa: F401
    except ImportError as exc:  # pragma: no cover - the web extra is missing
        raise ConfigError(f"pantheonrl web needs the web extra ({exc}); pip install 'pantheonrl[web]'") from None
    if args.web_command is None:
        print("pantheonrl web: give a command: init, add-user, rotate-key or serve (see pantheonrl web --help)",
              file=sys.stderr)
        return 2
    return {"init": _init, "add-user": _add_user, "rotate-key": _rotate_key, "serve": _serve}[args.web_command](args)
