"""Helpers shared by the benchmark scripts: argument types, verdicts, atomic JSON output."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["benchmark_parser", "positive", "resolve_sizes", "verdict", "write_json_atomic"]


def positive(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` as JSON to ``path`` through a temporary file and ``os.replace``."""
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes it private
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(payload, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def benchmark_parser(description: str, quick_help: str, sizes: dict[str, str]) -> argparse.ArgumentParser:
    """``--quick``, one positive-integer flag per entry of ``sizes`` (``{"seeds": help}``), ``--workers`` and
    ``--json PATH``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help=quick_help)
    for name, text in sizes.items():
        parser.add_argument(f"--{name}", type=positive, help=text)
    parser.add_argument("--workers", type=positive, default=1, help="processes running seeds (default 1)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results to PATH (atomically)")
    return parser


def resolve_sizes(args: argparse.Namespace, full: dict[str, int], quick: dict[str, int]) -> dict[str, int]:
    """The full (or ``--quick``) sizes with the flags given on top."""
    cfg = dict(quick if args.quick else full)
    for key in full:
        if getattr(args, key, None) is not None:
            cfg[key] = getattr(args, key)
    return cfg
