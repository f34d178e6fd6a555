"""What a job may use, from the registries (the same lists as ``pantheonrl list``), and the help of each
:class:`~pantheonrl.config.TrainConfig` field (its docstring), for the API and the experiment form."""

from __future__ import annotations

import functools
import re
from typing import Any

__all__ = ["OVERCOOKED_ENV", "field_help", "layouts", "registry"]

OVERCOOKED_ENV = "OvercookedMultiEnv-v0"


@functools.lru_cache(maxsize=1)
def layouts() -> tuple[str, ...]:
    """Overcooked layouts when the ``overcooked`` extra is installed, else none."""
    try:
        from pantheonrl.envs.overcooked import LAYOUT_LIST
    except Exception:  # the extra is missing or broken: offer no layouts
        return ()
    return tuple(LAYOUT_LIST)


@functools.lru_cache(maxsize=1)
def _registry() -> dict[str, Any]:
    from pantheonrl.cli import listing
    from pantheonrl.cli._common import algorithm_names
    from pantheonrl.config import EGO_KINDS

    return {"envs": listing.envs(), "algorithms": listing.algorithms(), "partner_types": listing.partners(),
            "ego_types": [*algorithm_names(), *EGO_KINDS], "layouts": list(layouts()),
            "layout_option": {"env": OVERCOOKED_ENV, "key": "env_config.layout_name"}}


def registry() -> dict[str, Any]:
    """Games, algorithms, partner types, ego types, layouts (computed once: building every game takes seconds)."""
    import copy

    return copy.deepcopy(_registry())


@functools.lru_cache(maxsize=1)
def field_help() -> dict[str, str]:
    """``{field: help}`` from the ``:param field: text`` lines of :class:`TrainConfig`'s docstring."""
    from pantheonrl.config import TrainConfig

    doc = TrainConfig.__doc__ or ""
    out = {}
    for match in re.finditer(r":param (\w+): (.*?)(?=\n\s*:param |\Z)", doc, re.S):
        out[match.group(1)] = plain(" ".join(match.group(2).split()))
    return out


def plain(text: str) -> str:
    """Docstring text without its reStructuredText markup: ``:class:`~a.b.C``` -> ``C``, ````x```` -> ``x``."""
    text = re.sub(r":\w+:`~?([^`]*?)`", lambda m: m.group(1).rsplit(".", 1)[-1] if "~" in m.group(0) else m.group(1),
                  text)
    return re.sub(r"``([^`]*)``", r"\1", text)
