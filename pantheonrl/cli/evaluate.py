"""``pantheonrl eval ENV EGO ALT``: play saved agents against each other (the original tester.py)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from pantheonrl.algos.kinds import FROZEN_OPTIONS
from pantheonrl.cli._common import (
    add_common,
    algorithm_names,
    check_env_id,
    frozen_agent,
    game_factory,
    load_frozen_policy,
    parse_json_option,
)
from pantheonrl.config import DEFAULT, FIXED, LOAD, atomic_write_text
from pantheonrl.errors import ConfigError

__all__ = ["add_parser", "run"]

EPILOG = """\
EGO / ALT: the algorithm of the saved agent (PPO, A2C, ...; checked against the artefact), or FIXED / LOAD (take
it from the artefact); ALT may also be DEFAULT (the game's scripted partner, --alt-config holds its options).
--ego-load / --alt-load: an artefact folder (e.g. runs/<run>/agents/ego), a registry name (pantheonrl list agents),
or an SB3 .zip saved by --ego-save/--alt-save (a full load: only for your own files).
An ADAP agent plays one latent: --ego-config '{"latent_val": [1, 0, 0]}' (default: the context saved with it); a
ModularAlgorithm agent one partner module: '{"partner_idx": 2}' (default: its active one).

example:
  pantheonrl eval LiarsDice-v0 PPO PPO --ego-load runs/a/agents/ego --alt-load runs/b/agents/ego -t 200 --seed 1
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "eval", help="evaluate a saved ego with a partner (the original tester.py)",
        description="Play episodes between a saved ego (seat 0) and a partner (seat 1); print the ego's mean, "
                    "std and sem return.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("env", metavar="ENV", help="registered game id")
    p.add_argument("ego", metavar="EGO", help="algorithm of the saved ego, or FIXED")
    p.add_argument("alt", metavar="ALT", help="algorithm of the saved partner, FIXED, or DEFAULT")
    p.add_argument("-t", "--total-episodes", type=int, default=100, help="episodes to play (default 100)")
    p.add_argument("-d", "--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("-s", "--seed", type=int, default=0, help="seed of the games and the agents' sampling (0)")
    p.add_argument("--ego-config", default=None, metavar="JSON",
                   help="JSON: deterministic, latent_val (ADAP), partner_idx (ModularAlgorithm)")
    p.add_argument("--alt-config", default=None, metavar="JSON",
                   help="JSON: DEFAULT options, or deterministic, latent_val, partner_idx")
    p.add_argument("--env-config", default=None, metavar="JSON", help="game kwargs as JSON")
    p.add_argument("-f", "--framestack", type=int, default=1, help="stack the last N observations (default 1)")
    p.add_argument("-r", "--record", default=None, metavar="PATH", help="write the played transitions (.npy)")
    p.add_argument("--render", action="store_true", help="accepted for compatibility (rendering is not shown)")
    p.add_argument("--ego-load", default=None, metavar="AGENT", help="the saved ego (required)")
    p.add_argument("--alt-load", default=None, metavar="AGENT", help="the saved partner (unless ALT is DEFAULT)")
    p.add_argument("--deterministic", action="store_true", help="both agents take their most likely action")
    p.add_argument("--agents-dir", default=None, metavar="DIR", help="agent registry for names")
    p.add_argument("--json", default=None, metavar="PATH", help="also write the result as JSON")
    add_common(p)
    p.set_defaults(func=run)
    return p


def _kind(name: str, role: str, extra: tuple[str, ...]) -> str | None:
    """The algorithm named (None: take it from the artefact)."""
    algos = algorithm_names()
    if name in algos or name == "BC":
        return name
    if name in extra:
        return None
    from pantheonrl.errors import unknown_choice

    raise ConfigError(unknown_choice(role, name, [*algos, *extra]))


FROZEN = ("deterministic", "type", *FROZEN_OPTIONS)


def _frozen(options: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if k in FROZEN_OPTIONS}


def _options(text: str | None, flag: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    options = parse_json_option(text, flag, example='{"deterministic": true}')
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(f"{flag}: unknown option {unknown[0]!r} here; allowed: {', '.join(allowed) or 'none'}")
    return options


def run(args: argparse.Namespace, argv: list[str]) -> int:
    from pantheonrl.envs import DEFAULT_PARTNERS, make_default_partner
    from pantheonrl.eval import evaluate

    env_id = check_env_id(args.env)
    ego_algo = _kind(args.ego, "EGO", (FIXED, LOAD))
    alt_algo = _kind(args.alt, "ALT", (FIXED, DEFAULT))
    if isinstance(args.total_episodes, int) and args.total_episodes < 1:
        raise ConfigError(f"--total-episodes/-t {args.total_episodes} is out of range: play at least 1 episode, "
                          f"e.g. -t 100")
    if args.seed < 0:
        raise ConfigError(f"--seed/-s {args.seed} is out of range: give a non-negative integer, e.g. --seed 0")
    if args.framestack < 1:
        raise ConfigError(f"--framestack/-f {args.framestack} is out of range: give 1 (off) or more")
    env_config = parse_json_option(args.env_config, "--env-config", example='{"probegostart": 0.5}')
    ego_options = _options(args.ego_config, "--ego-config", FROZEN)
    if args.ego_load is None:
        raise ConfigError("--ego-load is required: give the saved ego (artefact folder, registry name or SB3 zip), "
                          "e.g. --ego-load runs/<run>/agents/ego")
    if args.alt == DEFAULT:
        if env_id not in DEFAULT_PARTNERS:
            raise ConfigError(f"ALT DEFAULT: {env_id} has no scripted partner; games with one: "
                              f"{', '.join(DEFAULT_PARTNERS)}")
        alt_options = parse_json_option(args.alt_config, "--alt-config", example='{"r": 1, "p": 0, "s": 0}')
        if args.alt_load is not None:
            raise ConfigError("--alt-load is not used with ALT DEFAULT (the game's scripted partner); drop it, or "
                              "name the partner's algorithm (or FIXED) as ALT")
    else:
        alt_options = _options(args.alt_config, "--alt-config", FROZEN)
        if args.alt_load is None:
            raise ConfigError(f"--alt-load is required with ALT {args.alt}: give the saved partner (artefact folder, "
                              f"registry name or SB3 zip), or use ALT DEFAULT")
    env_fn = game_factory(env_id, env_config, args.framestack)
    game = env_fn()  # checks env_config now
    if game.n_players != 2:
        raise ConfigError(f"ENV {env_id} has {game.n_players} players; eval plays 2-player games")
    ego_policy, ego_meta = load_frozen_policy(args.ego_load, ego_algo or ego_options.get("type"), args.agents_dir,
                                              args.device, "--ego-load", _frozen(ego_options))
    _warn_env(ego_meta, env_id, "--ego-load")
    ego = frozen_agent(ego_policy, deterministic=bool(ego_options.get("deterministic", False)))
    if args.alt == DEFAULT:
        try:
            partner = make_default_partner(env_id, game, 1, seed=args.seed, **alt_options)
        except TypeError as exc:
            raise ConfigError(f"--alt-config: bad option for {env_id}'s DEFAULT partner: {exc}") from None
        alt_name = "DEFAULT"
    else:
        alt_policy, alt_meta = load_frozen_policy(args.alt_load, alt_algo or alt_options.get("type"),
                                                  args.agents_dir, args.device, "--alt-load", _frozen(alt_options))
        _warn_env(alt_meta, env_id, "--alt-load")
        partner = frozen_agent(alt_policy, deterministic=bool(alt_options.get("deterministic", False)))
        alt_name = args.alt_load
    if args.render:
        print("note: --render is accepted for compatibility; episodes are not drawn", file=sys.stderr)
    recorders: list = []
    play_fn = game_factory(env_id, env_config, args.framestack, recorders) if args.record else env_fn
    stats = evaluate(play_fn, ego, [partner], args.total_episodes, seed=args.seed,
                     deterministic=True if args.deterministic else None)
    result = {
        "env": env_id, "ego": args.ego_load, "alt": alt_name, "episodes": stats.n, "seed": args.seed,
        "deterministic": bool(args.deterministic), "mean": stats.mean, "std": stats.std, "sem": stats.sem,
        "ci95": list(stats.ci95), "mean_length": float(stats.lengths.mean()), "returns": stats.returns.tolist(),
    }
    print(f"{env_id}: ego {args.ego_load} vs {alt_name}, {stats.n} episodes (seed {args.seed})")
    print(f"mean {stats.mean:.4f}  std {stats.std:.4f}  sem {stats.sem:.4f}  "
          f"95% CI [{stats.ci95[0]:.4f}, {stats.ci95[1]:.4f}]  mean length {result['mean_length']:.1f}")
    if args.record and recorders:
        out = recorders[-1].write_transition(args.record)
        print(f"transitions: {', '.join(map(str, out)) if isinstance(out, list) else out}")
    if args.json:
        atomic_write_text(args.json, json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


def _warn_env(metadata: dict[str, Any], env_id: str, flag: str) -> None:
    trained = metadata.get("env_id")
    if trained and trained != env_id:
        raise ConfigError(f"{flag}: this agent was trained on {trained}, not {env_id}; evaluate it on {trained} "
                          f"(or pass an agent trained on {env_id})")
