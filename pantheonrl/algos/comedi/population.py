"""A population of conventions trained one after another with CoMeDi, its cross-play matrix and a
best-response agent to it (the paper's "convention best-response")."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from stable_baselines3 import PPO

from pantheonrl.algos.comedi.comedi import CoMeDi
from pantheonrl.errors import ConfigError
from pantheonrl.vec.vecenv import EnvFns

__all__ = ["ConventionPopulation", "convention_seed"]


def convention_seed(seed: int | None, n: int) -> int | None:
    """The seed of convention ``n`` of a population seeded ``seed`` (distinct across seeds and conventions)."""
    return None if seed is None else seed * 1000 + n


class ConventionPopulation:
    """``n_conventions`` conventions, each trained with :class:`CoMeDi` against the ones before it.

    :param env_fns: the game factory (two players, same spaces in both seats).
    :param n_conventions: K.
    :param seed: convention n is seeded with :func:`convention_seed`.
    :param comedi_kwargs: :class:`CoMeDi`'s keyword arguments (alpha, beta, n_envs, n_steps, ...).
    """

    def __init__(self, env_fns: EnvFns, n_conventions: int = 2, *, seed: int | None = 0, **comedi_kwargs: Any) -> None:
        if isinstance(n_conventions, bool) or not isinstance(n_conventions, int) or n_conventions < 1:
            raise ConfigError(f"n_conventions must be a positive integer, got {n_conventions!r}; e.g. 2")
        self.env_fns = env_fns
        self.n_conventions = n_conventions
        self.seed = seed
        self.comedi_kwargs = comedi_kwargs
        self.conventions: list[PPO] = []
        self.histories: list[list[dict]] = []

    def learn(self, timesteps_per_convention: int,
              callback: Callable[[int, CoMeDi, dict], bool | None] | None = None) -> list[PPO]:
        """Train the conventions still missing; ``callback(n, trainer, record)`` after each update."""
        while len(self.conventions) < self.n_conventions:
            self.learn_next(timesteps_per_convention, callback)
        return self.conventions

    def learn_next(self, timesteps: int, callback: Callable[[int, CoMeDi, dict], bool | None] | None = None) -> PPO:
        """Train the next convention against all the ones before it; return it."""
        n = len(self.conventions)
        trainer = CoMeDi(self.env_fns, [m.policy for m in self.conventions], seed=convention_seed(self.seed, n),
                         **self.comedi_kwargs)
        cb = None if callback is None else (lambda t, rec: callback(n, t, rec))
        trainer.learn(timesteps, callback=cb)
        self.conventions.append(trainer.model)
        self.histories.append(trainer.history)
        return trainer.model

    def names(self) -> list[str]:
        return [f"convention-{n}" for n in range(len(self.conventions))]

    def crossplay(self, env_fn: Callable[[], Any] | str, episodes: int, *, seed: int = 0,
                  deterministic: bool | None = None) -> Any:
        """The K x K cross-play matrix (:func:`pantheonrl.eval.crossplay`, both seats): M[i][j] = XP(pi_i, pi_j),
        the diagonal is self-play."""
        from pantheonrl.common.agents import StaticPolicyAgent
        from pantheonrl.eval import crossplay

        agents = {name: (lambda m=model: StaticPolicyAgent(m.policy))
                  for name, model in zip(self.names(), self.conventions)}
        return crossplay(agents, None, env_fn, episodes, both_seats=True, seed=seed, deterministic=deterministic)

    def save(self, folder: str | Path, *, env_id: str, config: dict | None = None) -> list[Path]:
        """Save each convention as an artefact ``folder/convention-<n>`` (loadable as FIXED, by eval and xplay)."""
        from pantheonrl.artifacts import save_agent

        paths = []
        for n, (name, model) in enumerate(zip(self.names(), self.conventions)):
            paths.append(save_agent(model, Path(folder) / name, env_id=env_id, seed=convention_seed(self.seed, n),
                                    config=config, partners_seen=self.names()[:n] or ["self"]).path)
        return paths
