"""Overcooked layout names: every layout the ``overcooked`` package ships, plus the original PantheonRL's names.

The original PantheonRL used the 2019 overcooked_ai names; five of its classic layouts were renamed since.
``random0`` and ``random3`` still exist in the package with the same grids as their modern names.
"""

from __future__ import annotations

from importlib import resources

from pantheonrl.errors import ConfigError, unknown_choice

__all__ = [
    "CLASSIC_LAYOUTS",
    "LAYOUT_ALIASES",
    "LAYOUT_LIST",
    "NAME_TRANSLATION",
    "available_layouts",
    "resolve_layout",
]

LAYOUT_ALIASES: dict[str, str] = {
    "simple": "cramped_room",
    "unident_s": "asymmetric_advantages",
    "random1": "coordination_ring",
    "random0": "forced_coordination",
    "random3": "counter_circuit_o_1order",
}
"""Legacy name -> modern name. The package's own ``counter_circuit`` is a different, multi-recipe map."""

NAME_TRANSLATION: dict[str, str] = {modern: legacy for legacy, modern in LAYOUT_ALIASES.items()}
"""Modern name -> the original's name (the original's ``overcooked_utils.NAME_TRANSLATION``)."""

CLASSIC_LAYOUTS = (
    "cramped_room",
    "asymmetric_advantages",
    "coordination_ring",
    "forced_coordination",
    "counter_circuit_o_1order",
)


def available_layouts() -> list[str]:
    """The layouts the installed ``overcooked`` package ships (modern names)."""
    folder = resources.files("overcooked") / "data" / "layouts"
    return sorted(p.name[: -len(".layout")] for p in folder.iterdir() if p.name.endswith(".layout"))


LAYOUT_LIST: list[str] = sorted({*available_layouts(), *LAYOUT_ALIASES})
"""Every accepted layout name: the package's layouts and the legacy aliases."""


def resolve_layout(name: object) -> str:
    """The package layout for ``name`` (a modern name or a legacy alias); unknown names raise ``ConfigError``."""
    if not isinstance(name, str):
        raise ConfigError(f"layout_name must be a string such as 'cramped_room', got {type(name).__name__} {name!r}")
    if name in LAYOUT_ALIASES:
        return LAYOUT_ALIASES[name]
    if name in LAYOUT_LIST:
        return name
    raise ConfigError(unknown_choice("layout", name, LAYOUT_LIST))
