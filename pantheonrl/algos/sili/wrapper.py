"""``LatentStrategyVecWrapper``: the latent and the stability reward on an SB3 ``VecEnv`` (docs/algorithms.md,
section 5.3).

Per env of the vector, an interaction is one episode. The wrapper

* keeps the current interaction's transitions ``(s, a, s', r_task)`` (the raw observations, without the latent);
* at an interaction's start appends ``z_i = E(tau_{i-1})`` (the argmax one-hot; zeros for a stream's first
  interaction) to every observation of that interaction (also to ``terminal_observation``);
* returns shaped rewards: ``(1 - beta) * r_task``, and on the final step also ``- beta * ||z_{i+1} - z_i||``
  where ``z_{i+1} = E(tau_i)`` is computed right there and becomes the next interaction's latent (no penalty on a
  stream's first interaction);
* keeps a FIFO of the last ``buffer_size`` consecutive interaction pairs ``(tau_{i-1}, tau_i)`` to train ``E`` and
  ``D`` (:class:`~pantheonrl.algos.sili.callback.SILICallback`), and a :attr:`history` of every finished
  interaction (task return, ``r_stab``, ``beta``, and the env's final-step ``info`` entries named in
  ``info_keys``, e.g. the driving game's oracle ``mode``/``stabilized``/``collisions``).

``model=None`` is the "no latent" baseline: nothing is appended and rewards are the task rewards.

**Repeated interactions are one stream** (``continuing=True``, the default): the ego maximises its long-term reward
across interactions (LILI's objective), so an interaction's end is reported to the algorithm as an ordinary step
(``done = False``) whose next observation is the next interaction's first one, carrying ``z_{i+1}``; the value of
an interaction's last step then bootstraps from the next interaction, which is how the ego learns what its
behaviour does to the partner's next strategy. The game's own end is in ``info["interaction_end"]`` and its
final observation in ``info["terminal_observation"]``; monitors inside the vector still count interactions as
episodes. ``continuing=False`` passes the game's episode ends through (each interaction its own episode).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from pantheonrl.algos.sili.latent import LatentStrategyModel
from pantheonrl.algos.sili.shaping import BetaSchedule, shaped_reward, stability_reward
from pantheonrl.errors import ConfigError

__all__ = ["LatentStrategyVecWrapper", "flat_action_size", "flat_obs_size"]


def flat_obs_size(space: spaces.Space) -> int:
    """The size of one observation: SILI appends the latent to a flat ``Box``."""
    if not isinstance(space, spaces.Box) or len(space.shape) != 1:
        raise ConfigError(
            f"SILI needs a flat Box observation space (the latent is appended to it), got {space}; "
            "flatten the observation with gymnasium.wrappers.FlattenObservation"
        )
    return int(space.shape[0])


def flat_action_size(space: spaces.Space) -> int:
    """The encoder's width for one action: a one-hot for ``Discrete``, the flat size of a ``Box``."""
    if isinstance(space, spaces.Discrete):
        return int(space.n)
    if isinstance(space, spaces.Box):
        return int(np.prod(space.shape))
    raise ConfigError(f"SILI supports Box and Discrete action spaces, got {space}")


class LatentStrategyVecWrapper(VecEnvWrapper):
    """See the module docstring.

    :param venv: the vector of games (each a single-agent view: the ego's observations and rewards).
    :param model: the latent strategy model, or None for the "no latent" baseline.
    :param beta: the stability weight, a number or a :class:`BetaSchedule` (0: LILI).
    :param buffer_size: how many consecutive interaction pairs the training FIFO keeps (section 5.3: ~500).
    :param info_keys: final-step ``info`` entries copied into :attr:`history`.
    :param continuing: report interaction ends as ordinary steps (see the module docstring).
    """

    def __init__(
        self,
        venv: VecEnv,
        model: LatentStrategyModel | None,
        beta: float | BetaSchedule = 0.0,
        *,
        buffer_size: int = 500,
        info_keys: Sequence[str] = (),
        continuing: bool = True,
    ) -> None:
        obs_space = venv.observation_space
        self.obs_dim = flat_obs_size(obs_space)
        self.act_dim = flat_action_size(venv.action_space)
        if model is not None:
            if not isinstance(model, LatentStrategyModel):
                raise ConfigError(f"model must be a LatentStrategyModel or None, got {type(model).__name__}")
            if (model.obs_dim, model.act_dim) != (self.obs_dim, self.act_dim):
                raise ConfigError(
                    f"the model reads obs_dim={model.obs_dim}, act_dim={model.act_dim} but the env has "
                    f"{self.obs_dim} and {self.act_dim}"
                )
            low = np.concatenate([obs_space.low, np.zeros(model.latent_dim, np.float32)]).astype(np.float32)
            high = np.concatenate([obs_space.high, np.ones(model.latent_dim, np.float32)]).astype(np.float32)
            if model.latent == "continuous":
                low[self.obs_dim :], high[self.obs_dim :] = -np.inf, np.inf
            obs_space = spaces.Box(low, high, dtype=np.float32)
        super().__init__(venv, observation_space=obs_space)
        self.model = model
        self.schedule = beta if isinstance(beta, BetaSchedule) else BetaSchedule(beta)
        if isinstance(buffer_size, bool) or not isinstance(buffer_size, int) or buffer_size < 1:
            raise ConfigError(f"buffer_size must be an integer >= 1, got {buffer_size!r}")
        self.pairs: deque[tuple[np.ndarray, np.ndarray]] = deque(maxlen=buffer_size)
        self.info_keys = tuple(info_keys)
        self.continuing = bool(continuing)
        self.history: list[dict[str, Any]] = []
        self.horizon = model.horizon if model is not None else 0
        latent_dim = model.latent_dim if model is not None else 0
        n = self.num_envs
        self._z = np.zeros((n, latent_dim), np.float32)
        self._first = np.ones(n, bool)
        self._cur: list[list[np.ndarray]] = [[] for _ in range(n)]
        self._prev: list[np.ndarray | None] = [None] * n
        self._obs = np.zeros((n, self.obs_dim), np.float32)
        self._actions: np.ndarray | None = None
        self._returns = np.zeros(n)

    # -------------------------------------------------------------------------------------------- public

    @property
    def beta(self) -> float:
        """The stability weight now (after :attr:`n_interactions` interactions)."""
        return self.schedule(len(self.history))

    @property
    def n_interactions(self) -> int:
        return len(self.history)

    @property
    def latents(self) -> np.ndarray:
        """The latent each env's current interaction plays with, ``(n_envs, latent_dim)``."""
        return self._z.copy()

    def interaction_array(self, rows: Sequence[np.ndarray]) -> np.ndarray:
        """``(K, step_dim)``: an interaction's transition rows in order, zero-padded (the last ``K`` if longer)."""
        out = np.zeros((self.horizon, 2 * self.obs_dim + self.act_dim + 1), np.float32)
        rows = list(rows)[-self.horizon :]
        if rows:
            out[: len(rows)] = np.stack(rows)
        return out

    # ------------------------------------------------------------------------------------------- VecEnv

    def _augment(self, obs: np.ndarray, z: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, np.float32).reshape(-1, self.obs_dim)
        return np.concatenate([obs, z.reshape(obs.shape[0], -1)], axis=1) if self.model is not None else obs

    def reset(self) -> np.ndarray:
        obs = self.venv.reset()
        self._obs = np.asarray(obs, np.float32).reshape(self.num_envs, self.obs_dim).copy()
        self._z[:] = 0.0
        self._first[:] = True
        self._cur = [[] for _ in range(self.num_envs)]
        self._prev = [None] * self.num_envs
        self._returns[:] = 0.0
        return self._augment(self._obs, self._z)

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)
        self.venv.step_async(actions)

    def _action_row(self, action: Any) -> np.ndarray:
        if isinstance(self.venv.action_space, spaces.Discrete):
            row = np.zeros(self.act_dim, np.float32)
            row[int(np.asarray(action).reshape(-1)[0])] = 1.0
            return row
        return np.asarray(action, np.float32).reshape(self.act_dim)

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        obs, rewards, dones, infos = self.venv.step_wait()
        obs = np.asarray(obs, np.float32).reshape(self.num_envs, self.obs_dim)
        shaped = np.zeros(self.num_envs, np.float32)
        beta = self.beta
        for i in range(self.num_envs):
            done = bool(dones[i])
            next_obs = infos[i].get("terminal_observation", obs[i]) if done else obs[i]
            next_obs = np.asarray(next_obs, np.float32).reshape(self.obs_dim)
            r = float(rewards[i])
            self._returns[i] += r
            if self.model is not None:
                row = np.concatenate([self._obs[i], self._action_row(self._actions[i]), next_obs, [r]])
                self._cur[i].append(row.astype(np.float32))
            if not done:
                shaped[i] = shaped_reward(r, beta, final=False) if self.model is not None else r
                continue
            shaped[i], z_next = self._finish(i, r, beta, infos[i])
            if "terminal_observation" in infos[i]:
                infos[i]["terminal_observation"] = self._augment(next_obs, self._z[i])[0]
            infos[i]["interaction_end"] = True
            self._z[i] = z_next
        self._obs = obs.copy()
        if self.continuing:
            dones = np.zeros_like(dones)
        return self._augment(obs, self._z), shaped, dones, infos

    def _finish(self, i: int, r: float, beta: float, info: dict[str, Any]) -> tuple[float, np.ndarray]:
        """End env ``i``'s interaction: the final step's shaped reward and the next interaction's latent."""
        record: dict[str, Any] = {"env": i, "task_return": float(self._returns[i]), "beta": beta}
        record.update({k: info[k] for k in self.info_keys if k in info})
        self._returns[i] = 0.0
        if self.model is None:
            record["r_stab"] = 0.0
            self.history.append(record)
            return r, self._z[i]
        tau = self.interaction_array(self._cur[i])
        self._cur[i] = []
        z_next = self.model.encode(tau)[0]
        r_stab = 0.0 if self._first[i] else stability_reward(z_next, self._z[i])
        if self._prev[i] is not None:
            self.pairs.append((self._prev[i], tau))
        self._prev[i] = tau
        self._first[i] = False
        record.update(r_stab=r_stab, latent=int(self._z[i].argmax()) if self.model.latent == "discrete" else None)
        self.history.append(record)
        info["sili"] = {"r_stab": r_stab, "beta": beta}
        return shaped_reward(r, beta, final=True, r_stab=r_stab), z_next

    def sample_pairs(self, batch_size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray] | None:
        """``batch_size`` random consecutive pairs ``(tau_{i-1}, tau_i)`` from the FIFO (None while empty)."""
        if not self.pairs:
            return None
        idx = rng.integers(len(self.pairs), size=batch_size)
        prev = np.stack([self.pairs[j][0] for j in idx])
        cur = np.stack([self.pairs[j][1] for j in idx])
        return prev, cur
