"""The ``pantheonrl`` command: ``train``, ``eval``, ``xplay``, ``bc``, ``list``, ``worker``, ``web`` and ``play``.

``main(argv)`` returns the exit status: 0 success, 1 an unexpected error (a short message; the traceback with
``--debug``), 2 bad input (a message naming the bad value, what is allowed and a likely fix; never a traceback),
130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from pantheonrl.cli import bc, evaluate, listing, play, train, web, worker, xplay
from pantheonrl.cli._common import ArgumentParser

__all__ = ["build_parser", "main"]

DESCRIPTION = """\
Multi-agent RL for coordination: train an ego agent with any StableBaselines3 algorithm while partner agents
play the other seats, evaluate saved agents, and cross-play populations."""

EPILOG = """\
commands:
  train   ENV EGO ALT [ALT ...]   train (the original trainer.py flags, plus --n-envs, --share-weights, --config,
                                  --checkpoint-every, --resume, ...)
  eval    ENV EGO ALT             play a saved ego with a partner (the original tester.py)
  xplay   AGENT [AGENT ...]       cross-play matrix of saved agents (CSV, JSON, heatmap PNG)
  bc      ENV TRAJECTORY...       behaviour cloning from trajectory files (the original bctrainer.py)
  list    [envs|algorithms|partners|agents]
  worker  --data-dir DIR          run queued jobs on this machine (the local job backend of the dashboard)
  web     init|add-user|serve     the dashboard: data dir and first admin, accounts, the server (127.0.0.1:5000)
  play    --data-dir DIR          human play served alone (Overcooked in the browser; --study FILE for a study)

Run 'pantheonrl COMMAND --help' for a command's flags. Exit status: 0 ok, 1 unexpected error, 2 bad input."""


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="pantheonrl", description=DESCRIPTION, epilog=EPILOG,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", default=False,
                        help="show the traceback of unexpected errors")
    from pantheonrl import __version__

    parser.add_argument("--version", action="version", version=f"pantheonrl {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (train, evaluate, xplay, bc, listing, worker, web, play):
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``pantheonrl`` command with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help/--version (0) or a usage error (2, message already printed)
        return exc.code if isinstance(exc.code, int) else 2
    if args.command is None:
        parser.print_help(sys.stderr)
        print("\npantheonrl: error: give a command, e.g. pantheonrl train LiarsDice-v0 PPO PPO", file=sys.stderr)
        return 2
    from pantheonrl.errors import UserInputError

    try:
        return int(args.func(args, argv) or 0)
    except UserInputError as exc:
        print(f"pantheonrl {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"pantheonrl {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        print(f"pantheonrl {args.command}: unexpected error: {type(exc).__name__}: {exc}"
              + ("" if args.debug else "\n(this is a bug or a problem of the environment; rerun with --debug "
                                       "for the traceback)"), file=sys.stderr)
        return 1
