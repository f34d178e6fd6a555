"""``pantheonrl play --data-dir DIR [--study FILE]``: human play served alone (no job pages), e.g. for a user study
(docs/web.md section 3).

The same server as ``pantheonrl web serve`` (gunicorn, one worker with threads; 127.0.0.1 by default) with only the
play page, the recorded games and the login: the experimenter logs in with an account made by ``pantheonrl web
init``/``add-user``, and in study mode each participant types their id and plays the study's games in order.
"""

from __future__ import annotations

import argparse
from typing import Any

from pantheonrl.cli._common import add_common

__all__ = ["add_parser", "run"]

EPILOG = """\
The data dir is the dashboard's (pantheonrl web init makes it). Records go to DIR/trajectories/<user>/ and, in
study mode, also to DIR/studies/<study>/<participant>/ (<episode id>.json, and .npy for pantheonrl bc).

examples:
  pantheonrl play --data-dir data                          # http://127.0.0.1:5000/play
  pantheonrl play --data-dir data --study study.yml --port 5050

study.yml:
  name: pilot
  games:
    - {layout: cramped_room, agent: greedy}
    - {layout: cramped_room, agent: <job id>/ego, seat: 1}
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "play", help="serve human play alone (Overcooked in the browser; study mode for user studies)",
        description="Serve the Overcooked play page on its own: people play with (or beside) trained agents in the "
                    "browser, and every game is recorded for pantheonrl bc and low-rank adaptation.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data-dir", required=True, metavar="DIR", help="the dashboard's data dir (pantheonrl web init)")
    p.add_argument("--study", default=None, metavar="FILE", help="a study file (YAML): a sequence of games that "
                                                                  "each participant plays in order")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1; anything else only behind HTTPS)")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--max-games", type=int, default=4, metavar="N", help="games at once (4)")
    p.add_argument("--session-hours", type=float, default=12.0, metavar="H", help="login lifetime (12)")
    p.add_argument("--https", action="store_true", help="served behind HTTPS: Secure cookies")
    p.add_argument("--dev", action="store_true", help="Flask's development server (no debugger, no reloader)")
    add_common(p)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace, argv: list[str]) -> int:
    from pantheonrl.cli.web import serve_app
    from pantheonrl.errors import ConfigError
    from pantheonrl.play.study import Study

    if not 1 <= args.max_games <= 64:
        raise ConfigError(f"--max-games {args.max_games}: give 1 to 64")
    study = Study.load(args.study) if args.study else None
    if study is not None:
        print(f"pantheonrl play: study {study.name}, {len(study.games)} games: " + "; ".join(study.describe()))
    return serve_app(args, {"play_only": True, "study": study, "config": {"PLAY_MAX_GAMES": args.max_games}},
                     "pantheonrl play")
