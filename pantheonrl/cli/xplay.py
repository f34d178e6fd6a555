"""``pantheonrl xplay AGENT [AGENT ...]``: the cross-play matrix of saved agents (both seats), its files and
the self-play vs cross-play gap."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from pantheonrl.cli._common import (
    add_common,
    check_env_id,
    frozen_agent,
    game_factory,
    parse_json_option,
    resolve_artifact,
)
from pantheonrl.errors import ConfigError

__all__ = ["add_parser", "run"]

EPILOG = """\
AGENT: an artefact folder (runs/<run>/agents/ego), a run folder (its agents/ego), or a registry name
(pantheonrl list agents). Agents load weights-only (no pickled code runs) and act as frozen policies.

example:
  pantheonrl xplay runs/seed0 runs/seed1 runs/seed2 --env LiarsDice-v0 --episodes 200 --out xplay/
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "xplay", help="cross-play matrix of saved agents (CSV, JSON, heatmap PNG)",
        description="Play every saved agent with every other in a 2-player game, in both seats, and report the "
                    "mean return matrix and the self-play vs cross-play gap.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("agents", nargs="+", metavar="AGENT", help="saved agents (folders or registry names)")
    p.add_argument("--env", default=None, help="game id (default: the one the agents were trained on)")
    p.add_argument("--env-config", default=None, metavar="JSON", help="game kwargs (default: the agents')")
    p.add_argument("-f", "--framestack", type=int, default=None, help="frames (default: the agents' framestack)")
    p.add_argument("--episodes", type=int, default=100, help="episodes per cell and seat (default 100)")
    p.add_argument("-s", "--seed", type=int, default=0, help="seed of the run (default 0)")
    p.add_argument("--one-seat", action="store_true", help="row agents play seat 0 only")
    p.add_argument("--deterministic", action="store_true", help="agents take their most likely action")
    p.add_argument("--out", default=None, metavar="DIR", help="write crossplay.csv, crossplay.json, crossplay.png")
    p.add_argument("--agents-dir", default=None, metavar="DIR", help="agent registry for names")
    p.add_argument("-d", "--device", default="cpu", help="torch device for the policies (default cpu)")
    add_common(p)
    p.set_defaults(func=run)
    return p


def _resolve(spec: str, agents_dir: str | None) -> Any:
    folder = Path(spec).expanduser()
    if folder.is_dir() and (folder / "config.yml").is_file() and (folder / "agents" / "ego").is_dir():
        spec = str(folder / "agents" / "ego")  # a run folder: its ego
    return resolve_artifact(spec, agents_dir, "AGENT")


def _names(artifacts: list[Any]) -> list[str]:
    """Short unique names: the artefact's folder name (a run's ``agents/<x>`` is named after the run)."""
    names = []
    for artifact in artifacts:
        path = artifact.path.resolve()
        name = path.name
        if path.parent.name == "agents" and path.parent.parent.name:
            name = path.parent.parent.name + ("" if name == "ego" else f"/{name}")
        names.append(name)
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return out


def run(args: argparse.Namespace, argv: list[str]) -> int:
    from pantheonrl.artifacts import agreed_setting
    from pantheonrl.eval import crossplay, plot_heatmap

    if args.episodes < 1:
        raise ConfigError(f"--episodes {args.episodes} is out of range: give at least 1, e.g. --episodes 100")
    if args.seed < 0:
        raise ConfigError(f"--seed {args.seed} is out of range: give a non-negative integer, e.g. --seed 0")
    artifacts = [_resolve(spec, args.agents_dir) for spec in args.agents]
    trained_on = sorted({a.env_id for a in artifacts})
    env_id = check_env_id(args.env, "--env") if args.env else None
    if env_id is None:
        if len(trained_on) != 1:
            raise ConfigError(f"the agents were trained on different games ({', '.join(trained_on)}); pick one with "
                              f"--env")
        env_id = check_env_id(trained_on[0], "the agents' env")
    wrong = [spec for spec, a in zip(args.agents, artifacts) if a.env_id != env_id]
    if wrong:
        raise ConfigError(f"AGENT {wrong[0]!r} was trained on {artifacts[args.agents.index(wrong[0])].env_id}, not "
                          f"{env_id}; cross-play agents of one game")
    framestack = args.framestack if args.framestack is not None else agreed_setting(artifacts, "framestack", 1)
    if framestack < 1:
        raise ConfigError(f"--framestack/-f {framestack} is out of range: give 1 (off) or more")
    env_config = (parse_json_option(args.env_config, "--env-config") if args.env_config is not None
                  else agreed_setting(artifacts, "env_config", {}))
    names = _names(artifacts)
    policies = {name: a.load_policy(device=args.device) for name, a in zip(names, artifacts)}
    agents = {name: (lambda p=policy: frozen_agent(p)) for name, policy in policies.items()}
    env_fn = game_factory(env_id, env_config, framestack)
    result = crossplay(agents, None, env_fn, args.episodes, both_seats=not args.one_seat, seed=args.seed,
                       deterministic=True if args.deterministic else None)
    result.metadata.update({"env": env_id, "agents": dict(zip(names, map(str, (a.path for a in artifacts)))),
                            "framestack": framestack})
    _print_matrix(result, env_id)
    if args.out:
        out = Path(args.out).expanduser()
        out.mkdir(parents=True, exist_ok=True)
        result.write_csv(out / "crossplay.csv")
        result.write_json(out / "crossplay.json")
        plot_heatmap(result, out / "crossplay.png", title=f"cross-play on {env_id} (row agent's return)")
        print(f"wrote {out / 'crossplay.csv'}, {out / 'crossplay.json'}, {out / 'crossplay.png'}")
    return 0


def _print_matrix(result: Any, env_id: str) -> None:
    means, sems = result.means, result.sems
    names = list(result.names_a)
    width = max(12, *(len(n) for n in names)) + 1
    cell = 16
    seats = "both seats" if len(result.seats) == 2 else "seat 0"
    print(f"cross-play on {env_id}: row agent's mean return ± sem ({result.episodes} episodes per cell and seat, "
          f"{seats})")
    print(" " * width + "".join(f"{n[:cell - 1]:>{cell}}" for n in names))
    for i, row in enumerate(names):
        cells = "".join(f"{f'{means[i, j]:.3f}±{sems[i, j]:.3f}':>{cell}}" for j in range(len(names)))
        print(f"{row:<{width}}{cells}")
    if len(names) >= 2:
        gap = result.selfplay_gap()
        print(f"self-play (diagonal) {gap['diagonal']:.4f}  cross-play (off-diagonal) {gap['off_diagonal']:.4f}  "
              f"gap {gap['gap']:.4f}")
    elif not math.isnan(float(means[0, 0])):
        print("one agent: no cross-play gap (give two or more agents)")
