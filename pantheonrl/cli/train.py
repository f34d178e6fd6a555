"""``pantheonrl train ENV EGO ALT [ALT ...]``: train an ego with partners (a superset of the original trainer.py).

The resolved config is built from ``--config FILE`` (YAML/JSON, see :mod:`pantheonrl.config`) with the explicit
flags and positional arguments on top, checked, and the games, partners and ego are built before anything is
written. The run folder then receives ``config.yml``, ``args.yml``, ``command.txt``, ``progress.csv`` (and
``partners/<label>/progress.csv``), TensorBoard logs (``tb/``, or ``--tensorboard-log``), ``checkpoints/``,
``agents/`` (artefacts), ``summary.json`` and ``eval.json``.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any

from pantheonrl.cli._common import add_common, algorithm_names, check_env_id, parse_json_option
from pantheonrl.config import (
    FIXED,
    PARTNER_KINDS,
    POPULATION,
    SAMPLING,
    SELF,
    TrainConfig,
    load_config,
    read_config_data,
)
from pantheonrl.errors import ConfigError

__all__ = ["add_parser", "resolve_config", "run", "train"]

# config field -> the flag that sets it (for messages)
FLAGS = {
    "env": "ENV",
    "ego": "EGO",
    "partners": "ALT / --alt-config",
    "env_config": "--env-config",
    "ego_config": "--ego-config",
    "player": "--player",
    "total_timesteps": "--total-timesteps/-t",
    "n_envs": "--n-envs",
    "seed": "--seed/-s",
    "device": "--device/-d",
    "sampling": "--sampling",
    "self_play_shared": "--share-weights",
    "share_latent": "--share-latent/-l",
    "framestack": "--framestack/-f",
    "checkpoint_every": "--checkpoint-every",
    "keep_checkpoints": "--keep-checkpoints",
    "eval_episodes": "--eval-episodes / --no-eval",
    "progress": "--progress/-P",
    "run_dir": "--run-dir",
    "num_threads": "--num-threads",
    "verbose": "--verbose",
    "verbose_partner": "--verbose-partner",
    "record": "--record/-r",
    "ego_save": "--ego-save",
    "alt_save": "--alt-save",
    "tensorboard_log": "--tensorboard-log",
    "tensorboard_name": "--tensorboard-name",
}
# flags that map one to one onto a config field
_SIMPLE = {
    "total_timesteps": "total_timesteps",
    "device": "device",
    "seed": "seed",
    "framestack": "framestack",
    "record": "record",
    "ego_save": "ego_save",
    "alt_save": "alt_save",
    "tensorboard_log": "tensorboard_log",
    "tensorboard_name": "tensorboard_name",
    "verbose_partner": "verbose_partner",
    "n_envs": "n_envs",
    "sampling": "sampling",
    "checkpoint_every": "checkpoint_every",
    "keep_checkpoints": "keep_checkpoints",
    "progress": "progress",
    "run_dir": "run_dir",
    "num_threads": "num_threads",
    "eval_episodes": "eval_episodes",
    "player": "player",
    "verbose": "verbose",
    "share_latent": "share_latent",
}
# what may change when resuming a run
_RESUMABLE = {"total_timesteps", "device", "progress", "num_threads", "eval_episodes", "checkpoint_every",
              "keep_checkpoints", "verbose"}

EPILOG = """\
partner types (ALT): an algorithm (a learning partner), DEFAULT (the game's scripted partner), FIXED (a saved
agent: --alt-config '{"location": "runs/x/agents/ego"}'; an ADAP one plays "latent_val", default its saved
context), SELF (shared-weight self-play, one model in every seat; with an ADAP ego, ADAP self-play).
EGO: an algorithm (also ADAP, ADAP_MULT = ADAP with AdapPolicyMult, ModularAlgorithm = one partner module per
ALT), or LOAD (fine-tune a saved agent: --ego-config '{"location": ...}'; a ModularAlgorithm gets fresh partner
modules, one per ALT).

examples:
  pantheonrl train LiarsDice-v0 PPO PPO --n-envs 8 -t 20000
  pantheonrl train RPS-v0 PPO DEFAULT FIXED --alt-config '{"r": 1, "p": 0, "s": 0}' '{"location": "my-agent"}'
  pantheonrl train RPS-v0 PPO SELF --share-weights --n-envs 4
  pantheonrl train KArmCoordination-v0 ADAP SELF --n-envs 8 -t 30000
  pantheonrl train OvercookedMultiEnv-v0 ADAP ADAP --env-config '{"layout_name": "random0"}' -l
  pantheonrl train Arms-v0 ModularAlgorithm FIXED FIXED --alt-config '{"location": "a"}' '{"location": "b"}'
  pantheonrl train --config examples/configs/liars_dice_ppo.yaml -t 50000 --seed 1
  pantheonrl train --resume runs/LiarsDice-v0-PPO-PPO-20260101-120000 -t 100000

The run folder (--run-dir, default <log-folder>/<ENV>-<EGO>-<ALT0>-<time>) receives config.yml, args.yml,
command.txt, progress.csv, TensorBoard logs (always: tb/, or --tensorboard-log), checkpoints/, agents/ (saved
agents, loadable as FIXED/LOAD or by pantheonrl eval/xplay), summary.json and eval.json. Create RUN/STOP (or send
SIGTERM) to stop cooperatively after a checkpoint. Exit status: 0 done, 1 unexpected error, 2 bad input.
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train", help="train an ego agent with partners (the original trainer.py, and more)",
        description="Train an ego agent with any SB3 algorithm while partners play the other seat.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("env", nargs="?", metavar="ENV", help="registered game id, e.g. LiarsDice-v0 (pantheonrl list envs)")
    p.add_argument("ego", nargs="?", metavar="EGO", help="ego algorithm (PPO, A2C, DQN, ...) or LOAD")
    p.add_argument("alt", nargs="*", metavar="ALT", help="partner types for seat 1 (a pool, sampled per episode)")
    g = p.add_argument_group("original trainer.py flags")
    g.add_argument("-t", "--total-timesteps", type=int, default=None, help="ego timesteps (default 500000)")
    g.add_argument("-d", "--device", default=None, help="torch device: auto (default), cpu, cuda, cuda:N")
    g.add_argument("-s", "--seed", type=int, default=None, help="seed of models, games and global generators")
    g.add_argument("--ego-config", default=None, metavar="JSON", help="ego kwargs as JSON (LOAD: location)")
    g.add_argument("--alt-config", nargs="+", default=None, metavar="JSON",
                   help="one JSON object per ALT (FIXED: location; DEFAULT: its options; algorithms: kwargs)")
    g.add_argument("--env-config", default=None, metavar="JSON", help="game kwargs as JSON")
    g.add_argument("-f", "--framestack", type=int, default=None, help="stack the last N observations (default 1)")
    g.add_argument("-r", "--record", default=None, metavar="PATH", help="write the games' transitions (.npy) here")
    g.add_argument("--ego-save", default=None, metavar="PATH", help="also save the ego as an SB3 zip here")
    g.add_argument("--alt-save", default=None, metavar="PATH",
                   help="also save the learning partner as an SB3 zip here (PATH/<i> for several)")
    g.add_argument("--tensorboard-log", default=None, metavar="DIR", help="TensorBoard folder (default RUN/tb)")
    g.add_argument("--tensorboard-name", default=None, metavar="NAME", help="TensorBoard run name")
    g.add_argument("--verbose-partner", action="store_true", default=None, help="print the partners' tables too")
    g.add_argument("-l", "--share-latent", action="store_true", default=None,
                   help="ADAP ego and ADAP partners: the partners play with the ego's latent")
    g.add_argument("--preset", type=int, default=None, metavar="N",
                   help="1: logs/ and models/ names of the original (needs --seed)")
    n = p.add_argument_group("new flags")
    n.add_argument("--config", default=None, metavar="FILE", help="YAML/JSON run config; flags override it")
    n.add_argument("--n-envs", type=int, default=None, help="game copies stepped together (1..256, default 1)")
    n.add_argument("--share-weights", action="store_true", default=None,
                   help="shared-weight self-play: one model plays every seat (ALT SELF)")
    n.add_argument("--sampling", default=None, help=f"partner choice per episode: {', '.join(SAMPLING)}")
    n.add_argument("--player", type=int, default=None, help="the partners' seat (default 1; the ego plays 0)")
    n.add_argument("--checkpoint-every", type=int, default=None, metavar="K",
                   help="checkpoint every K timesteps into RUN/checkpoints (0: off)")
    n.add_argument("--keep-checkpoints", type=int, default=None, metavar="N", help="keep the newest N (default 3)")
    n.add_argument("--resume", default=None, metavar="RUN_DIR", help="continue a run from its last checkpoint")
    n.add_argument("-P", "--progress", action="store_true", default=None, help="show a progress bar")
    n.add_argument("--run-dir", default=None, metavar="DIR", help="the run folder (must be new or empty)")
    n.add_argument("--log-folder", default="runs", metavar="DIR", help="root of default run folders (runs)")
    n.add_argument("--num-threads", type=int, default=None, help="torch threads (default 1)")
    n.add_argument("--eval-episodes", type=int, default=None, help="evaluation episodes after training (100)")
    n.add_argument("--no-eval", action="store_true", help="skip the evaluation after training")
    n.add_argument("--verbose", type=int, default=None, help="ego verbosity 0, 1 (default), 2")
    n.add_argument("--agents-dir", default=None, metavar="DIR", help="agent registry for names (FIXED, LOAD)")
    n.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    j = p.add_argument_group("job system (set by 'pantheonrl worker' and the dashboard, not typed by hand)")
    j.add_argument("--job-id", default=None, metavar="ID",
                   help="run as this job of the job table: heartbeats, cancel, resume from the newest checkpoint "
                        "when interrupted, final status (needs --config RUN/config.yml --run-dir RUN)")
    j.add_argument("--jobs-db", default=None, metavar="URL", help="the job table's SQLAlchemy URL (with --job-id)")
    add_common(p)
    p.set_defaults(func=run)
    return p


# ------------------------------------------------------------------------------------------ config
def _partners_from_cli(alts: list[str], alt_configs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    partners = []
    for name, options in zip(alts, alt_configs):
        options = dict(options)
        entry: dict[str, Any] = {"type": name}
        if name in (FIXED, "BC"):
            if "location" in options:
                entry["location"] = options.pop("location")
            if "deterministic" in options:
                entry["deterministic"] = options.pop("deterministic")
        entry["config"] = options
        partners.append(entry)
    return partners


def _check_names(args: argparse.Namespace) -> None:
    """Early, specific messages for positional names (before the config check)."""
    if args.env is not None:
        check_env_id(args.env)


def resolve_config(args: argparse.Namespace) -> TrainConfig:
    """The config from ``--config`` (or ``--resume``'s config.yml) with the explicit flags on top."""
    _check_names(args)
    if args.resume:
        return _resume_config(args)
    base: dict[str, Any] = read_config_data(args.config) if args.config else {}
    data = copy.deepcopy(base)
    overridden: set[str] = set()

    def put(key: str, value: Any) -> None:
        data[key] = value
        overridden.add(key)

    if args.env is not None:
        put("env", args.env)
    if args.ego is not None:
        put("ego", args.ego)
    for flag, key in _SIMPLE.items():
        value = getattr(args, flag)
        if value is not None:
            put(key, value)
    if args.no_eval:
        put("eval_episodes", 0)
    if args.share_weights:
        put("self_play_shared", True)
    if args.env_config is not None:
        put("env_config", parse_json_option(args.env_config, "--env-config", example='{"probegostart": 0.5}'))
    if args.ego_config is not None:
        put("ego_config", parse_json_option(args.ego_config, "--ego-config"))
    alt_configs = [parse_json_option(text, "--alt-config") for text in (args.alt_config or [])]
    if args.alt:
        if args.alt_config is not None and len(alt_configs) != len(args.alt):
            raise ConfigError(
                f"--alt-config: got {len(alt_configs)} JSON value(s) for {len(args.alt)} ALT(s) "
                f"({' '.join(args.alt)}); give one JSON object per ALT, in order ('{{}}' for none)"
            )
        put("partners", _partners_from_cli(args.alt, alt_configs or [{}] * len(args.alt)))
    elif args.alt_config is not None:
        partners = data.get("partners") or []
        if len(partners) != len(alt_configs):
            raise ConfigError(f"--alt-config: got {len(alt_configs)} JSON value(s) but the config has "
                              f"{len(partners)} partner(s); give one per partner, or name the ALTs too")
        types = [p.get("type") if isinstance(p, dict) else p for p in partners]
        put("partners", _partners_from_cli(types, alt_configs))
    if args.share_weights and "partners" not in overridden and args.config:
        data["partners"] = []
    if "env" not in data:
        raise ConfigError("ENV is missing: give ENV EGO ALT (e.g. pantheonrl train LiarsDice-v0 PPO PPO) or "
                          "--config FILE")
    if "ego" not in data and not args.config:
        raise ConfigError(f"EGO is missing: give ENV EGO ALT, e.g. pantheonrl train {data['env']} PPO PPO")
    if not data.get("partners") and not data.get("self_play_shared"):
        raise ConfigError(f"ALT is missing: give at least one partner type after EGO, e.g. pantheonrl train "
                          f"{data['env']} {data.get('ego', 'PPO')} PPO (choose from "
                          f"{', '.join([*algorithm_names(), *PARTNER_KINDS])})")
    if args.preset is not None:
        _apply_preset(args, data, put)
    try:
        return TrainConfig.from_dict(data)
    except ConfigError as exc:
        raise _explain(exc, overridden, args.config) from None


def _explain(exc: ConfigError, overridden: set[str], config_file: str | None) -> ConfigError:
    fld = (getattr(exc, "field", None) or "").split(".")[0].split("[")[0]
    if fld in overridden and fld in FLAGS:
        err = ConfigError(f"{exc} (set by {FLAGS[fld]})")
    elif config_file and fld:
        err = ConfigError(f"{config_file}: {exc}")
    else:
        err = ConfigError(str(exc))
    err.field = getattr(exc, "field", None)  # type: ignore[attr-defined]
    return err


def _apply_preset(args: argparse.Namespace, data: dict[str, Any], put: Any) -> None:
    if args.preset != 1:
        raise ConfigError(f"--preset {args.preset} is not defined; the only preset is 1 (logs/ and models/ names of "
                          f"the original trainer; needs --seed)")
    seed = data.get("seed")
    if seed is None:
        raise ConfigError("--preset 1 names its files after the seed, so it needs --seed, e.g. --preset 1 --seed 0")
    layout = (data.get("env_config") or {}).get("layout_name")
    env = data["env"] + (f"-{layout}" if layout else "")
    ego = data.get("ego", "PPO")
    partners = data.get("partners") or []
    alt0 = SELF if not partners else (partners[0]["type"] if isinstance(partners[0], dict) else partners[0])
    defaults = {
        "tensorboard_log": "logs",
        "tensorboard_name": f"{env}-{ego}{alt0}-{seed}",
        "ego_save": f"models/{env}-{ego}-ego-{seed}",
        "alt_save": None if data.get("self_play_shared") else f"models/{env}-{alt0}-alt-{seed}",
    }
    for key, value in defaults.items():
        if data.get(key) is None and value is not None:
            put(key, value)


def _resume_config(args: argparse.Namespace) -> TrainConfig:
    given = []
    if args.env or args.ego or args.alt:
        given.append("ENV/EGO/ALT")
    for flag in ("config", "env_config", "ego_config", "alt_config", "n_envs", "share_weights", "sampling", "seed",
                 "framestack", "record", "ego_save", "alt_save", "share_latent", "tensorboard_log", "tensorboard_name",
                 "preset", "run_dir", "player", "verbose_partner"):
        if getattr(args, flag) is not None:
            given.append("--" + flag.replace("_", "-"))
    if given:
        raise ConfigError(f"--resume continues a run with its saved config, so {', '.join(given)} cannot be given "
                          f"with it; allowed with --resume: -t, --device, --progress, --num-threads, --no-eval, "
                          f"--eval-episodes, --checkpoint-every, --keep-checkpoints, --verbose")
    run = Path(args.resume).expanduser()
    if not run.is_dir():
        raise ConfigError(f"--resume {args.resume!r}: no such folder; give a run folder written by pantheonrl train "
                          f"(it holds config.yml and checkpoints/)")
    if not (run / "config.yml").is_file():
        raise ConfigError(f"--resume {args.resume!r} is not a run folder: it has no config.yml; give a folder "
                          f"written by pantheonrl train (e.g. runs/LiarsDice-v0-PPO-PPO-<time>)")
    cfg = load_config(run / "config.yml")
    changes: dict[str, Any] = {"run_dir": str(run)}
    for flag, key in _SIMPLE.items():
        if key in _RESUMABLE and getattr(args, flag) is not None:
            changes[key] = getattr(args, flag)
    if args.no_eval:
        changes["eval_episodes"] = 0
    try:
        return cfg.replace(**changes)
    except ConfigError as exc:
        raise _explain(exc, set(changes), None) from None


# ------------------------------------------------------------------------------------------ running
def _plain_args(args: argparse.Namespace) -> dict[str, Any]:
    return {k: v for k, v in sorted(vars(args).items()) if k not in ("func",)}


def _start_run(cfg: TrainConfig, args: argparse.Namespace, argv: list[str], held: Any = None) -> tuple[Path, Any]:
    """A new run folder (``cfg.run_dir`` or a default one), locked (unless the caller ``held`` its lock already),
    with ``config.yml``, ``args.yml`` and ``command.txt`` written; returns it and its lock."""
    from pantheonrl.cli import _runner

    run_dir = Path(cfg.run_dir) if cfg.run_dir else _runner.new_run_dir(cfg, args.log_folder)
    _runner.create_run_dir(run_dir)
    cfg.run_dir = str(run_dir)
    lock = held if held is not None else _runner.lock_run(run_dir)
    try:
        _runner.write_run_files(run_dir, cfg, _plain_args(args), argv)
    except BaseException:
        if lock is not None and lock is not held:
            lock.close()
        raise
    return run_dir, lock


def _run_population(cfg: TrainConfig, args: argparse.Namespace, argv: list[str], held: Any = None) -> int:
    from pantheonrl.cli._population import run_population

    if args.resume:
        raise ConfigError("--resume: a CoMeDi population run cannot be resumed (it writes no checkpoints); start a "
                          "new run")
    run_dir, lock = _start_run(cfg, args, argv, held)
    try:
        k = cfg.ego_config.get("n_conventions", 2)
        print(f"training {k} CoMeDi conventions on {cfg.env}, {cfg.total_timesteps} timesteps each ({cfg.n_envs} "
              f"game cop{'y' if cfg.n_envs == 1 else 'ies'}) -> {run_dir}", flush=True)
        summary = run_population(cfg, run_dir)
        print(f"done in {summary['wall_s']:.0f} s; saved agents: "
              f"{', '.join(f'{k} -> {v}' for k, v in summary['saved'].items())}")
        print(f"run folder: {run_dir}")
        return 0
    finally:
        if lock is not None and lock is not held:
            lock.close()


def run(args: argparse.Namespace, argv: list[str]) -> int:
    if args.job_id is not None or args.jobs_db is not None:
        from pantheonrl.jobs.runtime import run_job

        return run_job(args, argv, train)
    return train(args, argv)


def train(args: argparse.Namespace, argv: list[str], *, lock: Any = None, on_session: Any = None) -> int:
    """The body of ``pantheonrl train``; a job (:func:`pantheonrl.jobs.runtime.run_job`) passes the run folder's
    ``lock`` it already holds and ``on_session``, called with the session once it is attached to the run folder."""
    from pantheonrl.cli import _runner
    from pantheonrl.config import dump_yaml

    cfg = resolve_config(args)
    if args.dry_run:
        sys.stdout.write(dump_yaml(cfg.to_dict()))
        return 0
    held = lock
    if cfg.ego == POPULATION:
        return _run_population(cfg, args, argv, held)
    resume = None
    if args.resume:
        run_dir = Path(cfg.run_dir)
        resume, skipped = _runner.find_checkpoint(run_dir, cfg.partner_labels())
        for reason in skipped:
            print(f"skipping damaged checkpoint {reason}", file=sys.stderr)
        if resume is None:
            raise ConfigError(f"--resume {args.resume!r}: the run has no usable checkpoint (checkpoints/ckpt-*) and "
                              f"no saved agents (agents/ego); nothing to continue: start a new run instead")
    session = _runner.Session(cfg, agents_dir=args.agents_dir, resume=resume).build()
    if args.resume:
        run_dir = Path(cfg.run_dir)
        lock = held if held is not None else _runner.lock_run(run_dir)
        from pantheonrl.config import dump_config

        dump_config(cfg, run_dir / "config.yml")
        _runner.append_command(run_dir, argv)
        (run_dir / _runner.STOP_FILE).unlink(missing_ok=True)
        # a checkpoint taken mid-rollout (a STOP, a kill) is off the rollout grid: SB3 would finish its last rollout
        # past the target, so a resumed run ends at exactly the target (as jobs do)
        session.stop_at = cfg.total_timesteps
        print(f"resuming {run_dir} from {resume.path.name} at {session.start_timesteps} timesteps "
              f"(target {cfg.total_timesteps})")
    else:
        run_dir, lock = _start_run(cfg, args, argv, held)
    try:
        session.attach(run_dir)
        if on_session is not None:
            on_session(session)
        partners = ", ".join(cfg.partner_labels())
        print(f"training {cfg.ego} on {cfg.env} with {partners} for {session.remaining()} timesteps "
              f"({cfg.n_envs} game cop{'y' if cfg.n_envs == 1 else 'ies'}) -> {run_dir}", flush=True)
        try:
            summary = session.learn()
        except KeyboardInterrupt:
            print(f"interrupted; continue with: pantheonrl train --resume {run_dir}", file=sys.stderr)
            return 130
        saved = session.save_outputs()
        summary["saved"] = saved
        _runner.write_json(run_dir / "summary.json", summary)
        rate = summary["trained_timesteps"] / max(summary["wall_s"], 1e-9)
        print(f"trained to {summary['num_timesteps']} timesteps in {summary['wall_s']:.1f} s ({rate:.0f} steps/s)"
              + (f"; stopped early: {summary['stopped']}" if summary["stopped"] else ""))
        print(f"saved agents: {', '.join(f'{k} -> {v}' for k, v in saved.items())}")
        report = None if summary["stopped"] else session.evaluate()
        if report is not None:
            _runner.write_json(run_dir / "eval.json", report)
            print(f"evaluation ({report['episodes']} episodes per partner, seed {report['seed']}), ego return:")
            for label, result in report["results"].items():
                print(_runner.format_stats(label, result))
        print(f"run folder: {run_dir}")
        return 0
    finally:
        if lock is not None and lock is not held:
            lock.close()
