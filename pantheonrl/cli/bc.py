"""``pantheonrl bc ENV TRAJECTORY [TRAJECTORY ...]``: behaviour cloning from recorded transitions (bctrainer.py).

The trajectory's format is detected from its number of columns (``--kind`` forces one): one player's rows
(``[obs | acts]``), a turn-based game's (``[obs | acts | flag]``) or a simultaneous game's (``[egoobs | egoacts |
altobs | altacts | flag]``). Unlike sb3_2's bctrainer.py, a simultaneous game's file is read as one. The clone
learns player 0's actions, or player 1's with ``--choose-alt``, for that player's spaces in ENV (after
``--env-config`` and ``--framestack``).
"""

from __future__ import annotations

import argparse
import math
import re
from typing import Any

import numpy as np

from pantheonrl.cli._common import add_common, check_env_id, game_factory, parse_json_option
from pantheonrl.errors import ConfigError, TrajectoryFormatError

__all__ = ["add_parser", "run"]

_DEVICE_RE = re.compile(r"^(auto|cpu|cuda|cuda:\d+|mps)$")

EPILOG = """\
TRAJECTORY: a .npy file written by pantheonrl train/eval --record (both players of a 2-player game), by a recorder's
write_transition, or one player's rows ([obs | acts], e.g. <file>_player<i>.npy of a MultiRecorder).

--save PATH writes the clone as one weights-only file (torch.load(weights_only=True); read it with
pantheonrl.algos.bc.reconstruct_policy or bc_agent). --save-agent PATH also writes it as an agent artefact folder
(a PPO model initialised from the clone), usable as a FIXED partner, a LOAD ego, or by pantheonrl eval/xplay.

examples:
  pantheonrl train LiarsDice-v0 PPO DEFAULT -t 20000 --record liar.npy
  pantheonrl bc LiarsDice-v0 liar.npy --choose-alt -t 20 --save liar_clone.pt --save-agent agents/liar-clone
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "bc", help="behaviour cloning from a trajectory file (the original bctrainer.py)",
        description="Train a behaviour-cloning policy on recorded transitions of one player; print the loss and "
                    "accuracy per epoch.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("env", metavar="ENV", help="registered game id")
    p.add_argument("trajectory", nargs="+", metavar="TRAJECTORY",
                   help="transitions .npy written by --record or by human play (several: their rows together)")
    p.add_argument("--choose-alt", action="store_true", help="clone the partner's (player 1's) actions")
    p.add_argument("-t", "--total-epochs", type=int, default=10, help="training epochs (default 10)")
    p.add_argument("--l2", type=float, default=0.0, help="L2 regularisation weight (default 0.0)")
    p.add_argument("-d", "--device", default="auto", help="torch device (default auto)")
    p.add_argument("--env-config", default=None, metavar="JSON", help="game kwargs as JSON")
    p.add_argument("-f", "--framestack", type=int, default=1, help="stack the last N observations (default 1)")
    p.add_argument("--save", default=None, metavar="PATH", help="where to save the cloned policy (one file)")
    n = p.add_argument_group("new flags")
    n.add_argument("--batch-size", type=int, default=32, help="minibatch size (default 32)")
    n.add_argument("--ent-weight", type=float, default=1e-3, help="entropy bonus weight (default 0.001)")
    n.add_argument("-s", "--seed", type=int, default=None, help="seed of the initial weights and the shuffling")
    n.add_argument("--kind", default="auto", choices=["auto", "minimal", "turnbased", "simultaneous"],
                   help="trajectory format (default auto: detected from the number of columns)")
    n.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 0.001)")
    n.add_argument("--save-agent", default=None, metavar="DIR",
                   help="also save the clone as an agent artefact folder (a PPO model initialised from it)")
    add_common(p)
    p.set_defaults(func=run)
    return p


def _check_args(args: argparse.Namespace) -> None:
    if args.total_epochs < 1:
        raise ConfigError(f"--total-epochs/-t {args.total_epochs} is out of range: train at least 1 epoch, e.g. -t 10")
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size {args.batch_size} is out of range: give a positive integer, e.g. 32")
    if args.framestack < 1:
        raise ConfigError(f"--framestack/-f {args.framestack} is out of range: give 1 (off) or more")
    for flag, value in (("--l2", args.l2), ("--ent-weight", args.ent_weight)):
        if not math.isfinite(value) or value < 0:
            raise ConfigError(f"{flag} {value} is out of range: give a finite number >= 0")
    if not math.isfinite(args.lr) or args.lr <= 0:
        raise ConfigError(f"--lr {args.lr} is out of range: give a positive learning rate, e.g. 0.001")
    if args.seed is not None and args.seed < 0:
        raise ConfigError(f"--seed/-s {args.seed} is out of range: give a non-negative integer, e.g. --seed 0")
    if not _DEVICE_RE.match(str(args.device)):
        raise ConfigError(f"--device/-d {args.device!r} is not a torch device; use auto, cpu, cuda, cuda:N or mps")


def run(args: argparse.Namespace, argv: list[str]) -> int:
    from pantheonrl.algos.bc import BC, detect_trajectory_kind, load_demonstrations, save_bc_agent
    from pantheonrl.common.multiagentenv import SimultaneousEnv, TurnBasedEnv
    from pantheonrl.common.trajsaver import TransitionsMinimal

    env_id = check_env_id(args.env)
    _check_args(args)
    env_config = parse_json_option(args.env_config, "--env-config", example='{"probegostart": 0.5}')
    game = game_factory(env_id, env_config, args.framestack)()
    player = 1 if args.choose_alt else 0
    if player >= game.n_players:
        raise ConfigError(f"--choose-alt clones player 1, but {env_id} has {game.n_players} player(s)")
    obs_space, act_space = game.observation_spaces[player], game.action_spaces[player]

    who = f"player {player} ({'alt' if player else 'ego'})"
    parts, kinds = [], []
    for trajectory in args.trajectory:
        kind = args.kind
        if kind == "auto":
            kind = detect_trajectory_kind(trajectory, obs_space, act_space)
            family = ("turnbased" if isinstance(game, TurnBasedEnv)
                      else "simultaneous" if isinstance(game, SimultaneousEnv) else None)
            if kind in ("turnbased", "simultaneous") and family is not None and kind != family:
                raise TrajectoryFormatError(
                    f"TRAJECTORY {trajectory!r} has the width of a {kind} trajectory, but {env_id} is a "
                    f"{family} game: was it recorded on another game? (force the format with --kind)"
                )
        parts.append(load_demonstrations(trajectory, obs_space, act_space, kind=kind,
                                         player="alt" if args.choose_alt else "ego"))
        kinds.append(kind)
    data = parts[0] if len(parts) == 1 else TransitionsMinimal(np.concatenate([d.obs for d in parts]),
                                                                 np.concatenate([d.acts for d in parts]))
    kind = "/".join(sorted(set(kinds)))
    source = args.trajectory[0] if len(args.trajectory) == 1 else f"{len(args.trajectory)} files"
    if len(data) == 0:
        raise TrajectoryFormatError(f"TRAJECTORY {source!r} has no rows of {who}; record some games first"
                                    + ("" if args.choose_alt else ", or clone the partner with --choose-alt"))
    clone = BC(obs_space, act_space, expert_data=data, l2_weight=args.l2, ent_weight=args.ent_weight,
               device=args.device, batch_size=args.batch_size, seed=args.seed,
               optimizer_kwargs={"lr": args.lr})
    print(f"{env_id}: cloning {who} from {len(data)} rows of {source} ({kind}); observation space "
          f"{obs_space}, action space {act_space}")

    def report(epoch: int, loss: float, accuracy: float) -> None:
        print(f"epoch {epoch}/{args.total_epochs}  loss {loss:.4f}  accuracy {accuracy:.4f}", flush=True)

    stats: dict[str, list] = {"loss": [], "accuracy": []}
    for epoch in range(1, args.total_epochs + 1):
        result = clone.train(n_epochs=1)
        stats["loss"].append(result["loss"][0])
        stats["accuracy"].append(result["accuracy"][0])
        report(epoch, result["loss"][0], result["accuracy"][0])
    final = clone.evaluate(data)
    print(f"final: loss {final['loss']:.4f}  accuracy {final['accuracy']:.4f} on the {final['n']} training rows")
    if args.save:
        try:
            path = clone.save_policy(args.save)
        except OSError as exc:
            raise ConfigError(
                f"--save {args.save!r}: cannot write the policy there ({exc}); choose another path"
            ) from None
        print(f"saved the BC policy to {path} (load with pantheonrl.algos.bc.reconstruct_policy)")
    if args.save_agent:
        artifact = save_bc_agent(clone, args.save_agent, env_id=env_id, seed=args.seed,
                                 config={"trajectory": [str(t) for t in args.trajectory], "player": player,
                                         "epochs": args.total_epochs, "framestack": args.framestack,
                                         "env_config": env_config})
        print(f"saved the clone as an agent artefact at {artifact.path} (usable as FIXED / --alt-load)")
    return 0
