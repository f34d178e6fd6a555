"""``pantheonrl list [envs|algorithms|partners|agents]``: what the registries hold."""

from __future__ import annotations

import argparse
import json
import warnings
from typing import Any

from pantheonrl.cli._common import add_common, algorithm_names

__all__ = ["add_parser", "run"]

WHAT = ("envs", "algorithms", "partners", "agents")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "list", help="list games, algorithms, partner types and stored agents",
        description="List the registered games (players and spaces), algorithms, partner types and the agents "
                    "stored in the registry.",
    )
    p.add_argument("what", nargs="*", metavar="WHAT",
                   help=f"any of: {', '.join(WHAT)} (default: all)")
    p.add_argument("--agents-dir", default=None, metavar="DIR",
                   help="agent registry folder (default $PANTHEONRL_AGENTS or ~/.pantheonrl/agents)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    add_common(p)
    p.set_defaults(func=run)
    return p


def _space(space: Any) -> str:
    return str(space).replace("\n", "").replace("  ", " ")


def envs() -> list[dict[str, Any]]:
    import gymnasium as gym

    import pantheonrl.envs  # noqa: F401
    from pantheonrl.envs import DEFAULT_PARTNERS
    from pantheonrl.registry import ENVS

    out = []
    for env_id in ENVS:
        entry: dict[str, Any] = {"id": env_id, "default_partner": env_id in DEFAULT_PARTNERS}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                game = gym.make(env_id).unwrapped
            entry.update({
                "players": game.n_players,
                "kind": next((c.__name__ for c in type(game).__mro__ if c.__name__ in
                              ("TurnBasedEnv", "SimultaneousEnv")), "MultiAgentEnv"),
                "observation_spaces": [_space(s) for s in game.observation_spaces],
                "action_spaces": [_space(s) for s in game.action_spaces],
            })
            game.close()
        except Exception as exc:  # an extension's game that needs options: still list it
            entry["error"] = f"{type(exc).__name__}: {exc}"
        out.append(entry)
    return out


def algorithms() -> list[dict[str, Any]]:
    from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

    from pantheonrl.algos.kinds import EGO_ONLY, KIND_ALIASES, registry_name
    from pantheonrl.registry import ALGORITHMS

    out = []
    for name in algorithm_names():
        cls = ALGORITHMS.get(registry_name(name))
        spaces = getattr(cls, "supported_action_spaces", None)  # not an SB3 attribute on every class
        entry = {"name": name, "kind": "off-policy" if issubclass(cls, OffPolicyAlgorithm) else "on-policy",
                 "policies": sorted(getattr(cls, "policy_aliases", {})),
                 **({"action_spaces": [s.__name__ for s in spaces]} if spaces else {})}
        if name in KIND_ALIASES:
            entry["note"] = f"{KIND_ALIASES[name][0]} with policy {KIND_ALIASES[name][1]}"
            entry["policies"] = [KIND_ALIASES[name][1]]
        if name in EGO_ONLY:
            entry["note"] = "ego only: one partner module per partner"
        out.append(entry)
    return out


def partners() -> list[dict[str, Any]]:
    from pantheonrl.algos.kinds import EGO_ONLY
    from pantheonrl.envs import DEFAULT_PARTNERS

    return [
        *({"type": name, "what": "learning partner (config: the algorithm's kwargs)"} for name in algorithm_names()
          if name not in EGO_ONLY),
        {"type": "DEFAULT", "what": "the game's scripted partner (config: its options, e.g. RPS r/p/s)",
         "envs": list(DEFAULT_PARTNERS)},
        {"type": "FIXED", "what": "a frozen saved agent (location: artefact folder or registry name; config: "
                                  "latent_val for ADAP, partner_idx for ModularAlgorithm)"},
        {"type": "SELF", "what": "shared-weight self-play: the ego's model in every seat (--share-weights)"},
    ]


def agents(agents_dir: str | None) -> dict[str, Any]:
    from pantheonrl.artifacts import AgentRegistry

    registry = AgentRegistry(agents_dir)
    good = [{"name": a.name, "algorithm": a.algorithm, "env": a.env_id, "seed": a.metadata.get("seed"),
             "created": a.metadata.get("created"), "path": str(a.path)} for a in registry.list()]
    bad = [{"name": b.name, "reason": b.reason} for b in registry.broken()]
    return {"root": str(registry.root), "agents": good, "broken": bad}


def run(args: argparse.Namespace, argv: list[str]) -> int:
    for item in args.what:
        if item not in WHAT:
            from pantheonrl.errors import ConfigError, unknown_choice

            raise ConfigError(unknown_choice("list", item, WHAT))
    what = list(dict.fromkeys(args.what)) or list(WHAT)
    data: dict[str, Any] = {}
    if "envs" in what:
        data["envs"] = envs()
    if "algorithms" in what:
        data["algorithms"] = algorithms()
    if "partners" in what:
        data["partners"] = partners()
    if "agents" in what:
        data["agents"] = agents(args.agents_dir)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    if "envs" in data:
        print("environments (ENV):")
        for e in data["envs"]:
            if "error" in e:
                print(f"  {e['id']:<16} (cannot be built without options: {e['error']})")
                continue
            default = ", DEFAULT partner" if e["default_partner"] else ""
            print(f"  {e['id']:<16} {e['players']} players, {e['kind']}{default}")
            for p, (obs, act) in enumerate(zip(e["observation_spaces"], e["action_spaces"])):
                print(f"      player {p}: obs {obs[:70]}{'...' if len(obs) > 70 else ''}  action {act}")
    if "algorithms" in data:
        print("algorithms (EGO, learning ALT):")
        for a in data["algorithms"]:
            extra = f"policies {', '.join(a['policies'])}" if "policies" in a else ""
            extra += f" ({a['note']})" if "note" in a else ""
            print(f"  {a['name']:<16} {a['kind']:<18} {extra}")
    if "partners" in data:
        print("partner types (ALT):")
        for p in data["partners"]:
            envs_note = f" [{', '.join(p['envs'])}]" if "envs" in p else ""
            print(f"  {p['type']:<16} {p['what']}{envs_note}")
    if "agents" in data:
        reg = data["agents"]
        print(f"stored agents ({reg['root']}):")
        if not reg["agents"] and not reg["broken"]:
            print("  (none yet; save one with AgentRegistry.save or copy a run's agents/ego here)")
        for a in reg["agents"]:
            print(f"  {a['name']:<24} {a['algorithm']:<6} {a['env']:<16} seed {a['seed']}  {a['created']}")
        for b in reg["broken"]:
            print(f"  {b['name']:<24} UNREADABLE: {b['reason'][:100]}")
    return 0
