"""The new-experiment form, generated from the registries and :class:`~pantheonrl.config.TrainConfig`: registry
keys as choices, ranged numbers with the field's docstring as help, the Overcooked layout only for Overcooked, and
the form's answer turned into the same config dict the API takes (then the same checks)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from pantheonrl.errors import ConfigError, unknown_choice
from pantheonrl.webui.catalog import OVERCOOKED_ENV, field_help, layouts, registry

__all__ = ["NUMBER_FIELDS", "config_from_form", "crossplay_from_form", "form_number", "form_spec",
           "members_from_form"]

# field -> (minimum, maximum or None, whether empty means null)
NUMBER_FIELDS: dict[str, tuple[int, int | None, bool]] = {
    "total_timesteps": (1, 10**9, False),
    "n_envs": (1, 256, False),
    "seed": (0, 2**32 - 1, True),
    "checkpoint_every": (0, 10**9, False),
    "eval_episodes": (0, 10**6, False),
}
POPULATION_SIZE = (1, 64)
MEMBERS = (1, 64)  # a population of seeds: that many training jobs, one group


def _defaults() -> dict[str, Any]:
    from pantheonrl.config import TrainConfig

    out = {}
    for f in dataclasses.fields(TrainConfig):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
    out["total_timesteps"] = 20000  # a first run of minutes, not hours
    out["seed"] = 0
    return out


def form_spec(agents: list[dict[str, Any]], populations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """What the template needs: choices, numbers with ranges and help, the user's agents and finished populations
    for FIXED partners (several make a partner pool)."""
    from pantheonrl.config import POPULATION, SAMPLING

    reg = registry()
    defaults = _defaults()
    helps = field_help()
    numbers = [{"name": name, "min": low, "max": high, "optional": optional, "value": defaults.get(name),
                "help": helps.get(name, "")} for name, (low, high, optional) in NUMBER_FIELDS.items()]
    return {
        "envs": [e["id"] for e in reg["envs"]],
        "egos": [t for t in reg["ego_types"] if t != "LOAD"],
        "partner_types": [p["type"] for p in reg["partner_types"]],
        "layouts": list(layouts()),
        "overcooked_env": OVERCOOKED_ENV,
        "population": POPULATION,
        "population_size": POPULATION_SIZE,
        "members": MEMBERS,
        "samplings": list(SAMPLING),
        "populations": [p for p in populations or [] if p["succeeded"]],
        "numbers": numbers,
        "agents": [a["id"] for a in agents if not a.get("problem")],
        "help": {name: helps.get(name, "") for name in ("env", "ego", "partners", "env_config", "sampling")},
    }


def form_number(form: Mapping[str, str], name: str, low: int, high: int | None, optional: bool) -> int | None:
    """A whole number from a form field (``None`` for an empty optional one), or a ConfigError with its range."""
    text = (form.get(name) or "").strip()
    if text == "" and optional:
        return None
    if not text.isdigit() or len(text) > 12:
        raise ConfigError(f"{name}: {text!r:.40} is not a whole number; give {low} to {high}")
    value = int(text)
    if value < low or (high is not None and value > high):
        raise ConfigError(f"{name}: {value} is out of range: give {low} to {high}")
    return value


def members_from_form(form: Mapping[str, str]) -> int:
    """How many seeds the form asks for (1: a single job; more: a population experiment)."""
    if not (form.get("members") or "").strip():
        return 1
    return form_number(form, "members", *MEMBERS, False) or 1


def config_from_form(form: Any) -> dict[str, Any]:
    """The training config the form describes (checked afterwards like any submission). ``form`` is the request's
    form (a multi-dict: several saved agents make a FIXED partner pool)."""
    from pantheonrl.config import FIXED, POPULATION, SAMPLING, SELF

    config: dict[str, Any] = {"env": form.get("env", ""), "ego": form.get("ego", "")}
    for name, (low, high, optional) in NUMBER_FIELDS.items():
        config[name] = form_number(form, name, low, high, optional)
    if config["env"] == OVERCOOKED_ENV and form.get("layout"):
        config["env_config"] = {"layout_name": form["layout"]}
    partner_type = form.get("partner_type", "")
    if config["ego"] == POPULATION:
        low, high = POPULATION_SIZE
        config["ego_config"] = {"n_conventions": form_number(form, "population_size", low, high, False)}
        config["partners"] = [SELF]
        config["checkpoint_every"] = 0
    elif partner_type == FIXED:
        chosen = [ref for ref in form.getlist("partner_agent") if ref] if hasattr(form, "getlist") else \
            [form.get("partner_agent")]
        config["partners"] = [{"type": FIXED, "location": ref or None} for ref in chosen or [None]]
        sampling = form.get("sampling") or "robin"
        if sampling not in SAMPLING:
            raise ConfigError(unknown_choice("partner sampling", sampling, SAMPLING))
        config["sampling"] = sampling
    else:
        config["partners"] = [partner_type]
    return config


def crossplay_from_form(form: Any) -> dict[str, Any]:
    """The cross-play experiment the cross-play form describes (checked afterwards like an API submission)."""
    from pantheonrl.jobs.crossplay_job import MAX_EPISODES

    data: dict[str, Any] = {
        "kind": "crossplay",
        "rows": [ref for ref in form.getlist("rows") if ref],
        "cols": [ref for ref in form.getlist("cols") if ref] or None,
        "episodes": form_number(form, "episodes", 1, MAX_EPISODES, False),
        "seed": form_number(form, "seed", 0, 2**32 - 1, False),
        "both_seats": form.get("both_seats") == "on",
        "deterministic": form.get("deterministic") == "on",
    }
    if not data["rows"]:
        raise ConfigError("rows: choose at least one agent or population")
    return data
