"""Load a script of ``benchmarks/`` as a module (its helpers and constants), for the benchmark tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark(filename: str) -> ModuleType:
    """Import ``benchmarks/<filename>`` as ``benchmarks_<stem>`` (registered in ``sys.modules``, which
    dataclasses and pickling look modules up in)."""
    path = BENCHMARKS / filename
    name = f"benchmarks_{path.stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
