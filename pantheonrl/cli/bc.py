"""``pantheonrl bc ENV TRAJECTORY``: behaviour cloning from recorded transitions (the original bctrainer.py).

The flags are parsed and checked already; training arrives with the BC issue, until then the command exits with
status 2 and says so.
"""

from __future__ import annotations

import argparse
from typing import Any

from pantheonrl.cli._common import add_common
from pantheonrl.config import NOT_AVAILABLE_YET
from pantheonrl.errors import ConfigError

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "bc", help="behaviour cloning from a trajectory file (the original bctrainer.py; not available yet)",
        description="Train a behaviour-cloning agent on recorded transitions. Not available yet: BC lands with "
                    "the BC issue.",
    )
    p.add_argument("env", metavar="ENV", help="registered game id")
    p.add_argument("trajectory", metavar="TRAJECTORY", help="transitions .npy written by --record")
    p.add_argument("--choose-alt", action="store_true", help="clone the partner's (player 1's) actions")
    p.add_argument("-t", "--total-epochs", type=int, default=10, help="training epochs (default 10)")
    p.add_argument("--l2", type=float, default=0.0, help="L2 regularisation weight (default 0.0)")
    p.add_argument("-d", "--device", default="auto", help="torch device (default auto)")
    p.add_argument("--env-config", default=None, metavar="JSON", help="game kwargs as JSON")
    p.add_argument("-f", "--framestack", type=int, default=1, help="stack the last N observations (default 1)")
    p.add_argument("--save", default=None, metavar="PATH", help="where to save the cloned agent")
    add_common(p)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace, argv: list[str]) -> int:
    raise ConfigError(
        f"behaviour cloning is not available yet: {NOT_AVAILABLE_YET['BC']}; not available yet. Available "
        f"now: pantheonrl train, eval, xplay, list; record transitions for later with pantheonrl train ... --record "
        f"{args.trajectory}"
    )
