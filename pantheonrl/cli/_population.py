"""``pantheonrl train ENV CoMeDi SELF``: a population of conventions, its cross-play matrix and (optionally) a
best-response agent, written into a run folder.

The run folder receives ``config.yml``, ``args.yml``, ``command.txt`` (as any run), ``agents/convention-<k>``
(artefacts, loadable as FIXED and by ``eval``/``xplay``), ``comedi.json`` (each convention's per-update
self-play return, cross-play scores and i*), ``crossplay.csv``/``.json``/``.png`` (the K x K matrix, both seat
orders), and with ``best_response``: ``agents/best-response`` and ``eval.json`` (its return with each
convention); ``summary.json`` last.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from pantheonrl.cli._common import game_factory
from pantheonrl.cli._runner import write_json
from pantheonrl.config import TrainConfig
from pantheonrl.errors import ConfigError

__all__ = ["COMEDI_DEFAULTS", "run_population"]

COMEDI_DEFAULTS = {"n_conventions": 2, "xplay_episodes": 100}
_EXTRA = ("n_conventions", "xplay_episodes", "best_response")


def _best_response_spec(value: Any) -> dict[str, Any]:
    spec = {"total_timesteps": value} if isinstance(value, int) else dict(value)
    return {"algorithm": spec.pop("algorithm", "PPO"), "total_timesteps": spec.pop("total_timesteps"), "kwargs": spec}


def run_population(cfg: TrainConfig, run_dir: Path, log: Any = print) -> dict[str, Any]:
    """Train, save and evaluate the population of ``cfg`` (``cfg.ego == "CoMeDi"``) into ``run_dir``."""
    import torch

    from pantheonrl.algos.comedi import ConventionPopulation, convention_seed
    from pantheonrl.artifacts import save_agent
    from pantheonrl.eval import evaluate

    torch.set_num_threads(cfg.num_threads)
    options = {**COMEDI_DEFAULTS, **cfg.ego_config}
    comedi_kwargs = {k: v for k, v in options.items() if k not in _EXTRA}
    factory = game_factory(cfg.env, cfg.env_config, cfg.framestack)
    probe = factory()
    if probe.n_players != 2:
        raise ConfigError(f"env: CoMeDi needs a 2-player game, {cfg.env} has {probe.n_players} players")
    started = time.time()
    population = ConventionPopulation(factory, options["n_conventions"], seed=cfg.seed,
                                      n_envs=cfg.n_envs, device="cpu" if cfg.device == "auto" else cfg.device,
                                      verbose=cfg.verbose if cfg.verbose >= 2 else 0, **comedi_kwargs)

    def progress(n: int, trainer: Any, record: dict) -> None:
        if cfg.verbose and (record["update"] % 10 == 0 or record["timesteps"] >= cfg.total_timesteps):
            xp = record.get("xp")
            extra = f", XP {', '.join(f'{i}: {v:.2f}' for i, v in xp.items())}, i* {record['i_star']}" if xp else ""
            log(f"convention {n}: update {record['update']}, {record['timesteps']} steps, SP {record['sp']:.3f}"
                f"{extra}", flush=True)

    config = cfg.to_dict()
    saved: dict[str, str] = {}
    for n in range(population.n_conventions):
        model = population.learn_next(cfg.total_timesteps, callback=progress)  # each is saved as soon as it is done
        name = population.names()[n]
        saved[name] = str(save_agent(model, run_dir / "agents" / name, env_id=cfg.env,
                                     seed=convention_seed(population.seed, n), config=config,
                                     partners_seen=population.names()[:n] or ["self"]).path)
        log(f"saved {name} -> {saved[name]}", flush=True)
    write_json(run_dir / "comedi.json", {"histories": population.histories, "options": options})
    result = population.crossplay(factory, options["xplay_episodes"], seed=cfg.seed or 0)
    result.metadata.update({"env": cfg.env, "run": str(run_dir)})
    result.write_csv(run_dir / "crossplay.csv")
    result.write_json(run_dir / "crossplay.json")
    result.plot_heatmap(run_dir / "crossplay.png", title=f"{cfg.env}: CoMeDi conventions (cross-play)")
    log("cross-play matrix (row convention's mean return with the column convention, both seat orders):")
    for name, row in zip(population.names(), result.means):
        log(f"  {name:<14} " + "  ".join(f"{v:7.3f}" for v in row))
    summary: dict[str, Any] = {"env": cfg.env, "conventions": saved, "crossplay": result.means.round(6).tolist()}
    if "best_response" in options:
        from pantheonrl.common.agents import StaticPolicyAgent
        from pantheonrl.training import best_response

        spec = _best_response_spec(options["best_response"])
        log(f"training a {spec['algorithm']} best response to the {len(saved)} conventions for "
            f"{spec['total_timesteps']} timesteps", flush=True)
        br = best_response(factory, list(population.conventions), spec["algorithm"],
                           total_timesteps=spec["total_timesteps"], n_envs=cfg.n_envs, seed=cfg.seed,
                           ego_kwargs={"verbose": 0, **spec["kwargs"]}, device=cfg.device)
        saved["best-response"] = str(save_agent(br.ego, run_dir / "agents" / "best-response", env_id=cfg.env,
                                                seed=cfg.seed, config=config, partners_seen=list(saved)).path)
        episodes = max(cfg.eval_episodes, 1)
        report = {}
        for name, model in zip(population.names(), population.conventions):
            stats = evaluate(factory, StaticPolicyAgent(br.ego.policy), [StaticPolicyAgent(model.policy)],
                             episodes, seed=cfg.seed or 0)
            report[name] = {"mean": stats.mean, "sem": stats.sem, "episodes": stats.n}
            log(f"  best response with {name}: {stats.mean:.3f} +- {stats.sem:.3f}")
        write_json(run_dir / "eval.json", {"ego": "best-response", "episodes": episodes, "results": report})
        summary["best_response"] = report
    summary.update({"saved": saved, "wall_s": round(time.time() - started, 1)})
    write_json(run_dir / "summary.json", summary)
    return summary
