"""``pantheonrl worker --data-dir DIR``: the local job backend as a separate process (docs/web.md 2.7).

Reconciles the job table with the processes that really run (at start and every 30 s), then starts queued jobs,
at most ``--max-workers`` at a time, until SIGTERM or SIGINT. Running jobs keep running when it stops (each has its
own session and process group); the next worker picks them up.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import Any

from pantheonrl.cli._common import add_common

__all__ = ["add_parser", "run"]

EPILOG = """\
The data dir holds jobs.sqlite (the job table; --jobs-db for another database) and runs/<job id>/ (each job's
config.yml, job.log, checkpoints/, agents/, status.json). Jobs are submitted by the dashboard or its API.

examples:
  pantheonrl worker --data-dir /srv/pantheonrl --max-workers 4
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "worker", help="run queued jobs on this machine (the local job backend), until SIGTERM/SIGINT",
        description="Start queued training jobs as separate processes, a bounded number at a time; resume or fail "
                    "jobs whose process died.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data-dir", required=True, metavar="DIR", help="the data root (jobs.sqlite, runs/)")
    p.add_argument("--max-workers", type=int, default=None, metavar="N",
                   help="most jobs running at once (default half the cores, at least 1)")
    p.add_argument("--jobs-db", default=None, metavar="URL", help="the job table's SQLAlchemy URL (default "
                   "sqlite:///DIR/jobs.sqlite)")
    p.add_argument("--poll", type=float, default=1.0, metavar="S", help="seconds between dispatcher steps (1)")
    p.add_argument("--grace", type=float, default=60.0, metavar="S",
                   help="seconds a cancelled job may take to stop before SIGTERM, then SIGKILL (60)")
    add_common(p)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace, argv: list[str]) -> int:
    from pantheonrl.errors import ConfigError

    if args.max_workers is not None and args.max_workers < 1:
        raise ConfigError(f"--max-workers {args.max_workers}: give at least 1 (default half the cores)")
    if not 0.05 <= args.poll <= 60:
        raise ConfigError(f"--poll {args.poll}: give 0.05 to 60 seconds")
    if args.grace < 0:
        raise ConfigError(f"--grace {args.grace}: give 0 or more seconds")
    try:
        from pantheonrl.jobs.dataroot import DataRoot
        from pantheonrl.jobs.local import LocalBackend
    except ImportError as exc:  # pragma: no cover - the web extra is missing
        raise ConfigError(f"pantheonrl worker needs the web extra ({exc}); pip install 'pantheonrl[web]'") from None

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    root = DataRoot(args.data_dir, args.jobs_db)
    backend = LocalBackend(root, max_workers=args.max_workers, grace_s=args.grace)
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    old = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    print(f"pantheonrl worker: {root.path} (up to {backend.max_workers} job(s) at once); stop with SIGTERM or "
          f"Ctrl-C", flush=True)
    try:
        backend.serve(stop, interval=args.poll)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        backend.store.close()
    print("pantheonrl worker: stopped (running jobs continue)", flush=True)
    return 0

