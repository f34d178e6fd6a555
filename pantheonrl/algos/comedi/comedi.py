"""CoMeDi: one convention trained by cross-play minimisation with mixed-play (docs/algorithms.md, section 3).

For convention n with frozen earlier conventions pi_0 .. pi_{n-1}, every update collects, on a
:class:`~pantheonrl.vec.twoseat.TwoSeatCollector`:

* ``sp``: self-play, the current policy in both seats;
* ``xp{i}/seat{s}``: the current policy in seat s with pi_i in the other seat, for every i at the refresh
  cadence (``update % n == 0``, which re-chooses ``i* = argmax_i XP_i``), else for i* only;
* ``mp{i}`` (when ``beta > 0``): mixed play with pi_i (phase 1 mixed, phase 2 self-play, only phase 2 recorded).

Each buffer has its own critic (``sp`` uses the policy's value net, the others a value head on the policy's
critic latent) and its own GAE. The update sums, per minibatch, PPO's clipped loss on every buffer with its
advantages (normalised per minibatch, as SB3 does) scaled by ``+1`` (sp), ``-alpha / 2`` per seat buffer (xp
with i*, or times the softmax weights with ``xp_soft``: XP averages the two seat orders) and ``+beta`` (mp), the
value losses of every buffer, and the entropy bonus of sp; one optimiser step. With ``alpha = beta = 0`` (or no
earlier convention) it is SB3's PPO on the sp buffer.

A convention is an SB3 :class:`~stable_baselines3.PPO` model (:attr:`CoMeDi.model`, built on ``2 * n_envs``
columns), so it saves, loads and plays like any other agent; the extra value heads stay with the trainer.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.logger import Logger, configure
from stable_baselines3.common.policies import ActorCriticPolicy, BaseModel, BasePolicy
from stable_baselines3.common.utils import obs_as_tensor
from torch import nn
from torch.nn import functional as F

from pantheonrl.errors import ConfigError
from pantheonrl.vec.twoseat import CrossPlay, MixedPlay, Rollout, SelfPlay, TwoSeatCollector
from pantheonrl.vec.vecenv import EnvFns, SpacesVecEnv

__all__ = ["CoMeDi"]

SP = "sp"


def xp_key(i: int, seat: int) -> str:
    return f"xp{i}/seat{seat}"


def mp_key(i: int) -> str:
    return f"mp{i}"


def _number(name: str, value: Any, low: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < low:
        raise ConfigError(f"{name} must be a finite number >= {low}, got {value!r}")
    return float(value)


class CoMeDi:
    """Train one convention against ``earlier`` frozen conventions (see the module docstring).

    :param env_fns: a factory of the two-player game (both seats with the same spaces), or one per copy.
    :param earlier: the frozen earlier conventions (policies, or models with ``.policy``).
    :param n_envs: game copies stepped together.
    :param alpha: weight of the cross-play term (minimised).
    :param beta: weight of the mixed-play self-play term (0: no mixed play).
    :param mix_prob: p, the probability that the current policy acts in a phase-1 decision of mixed play.
    :param env_length: game steps of an episode (phase 1 lasts ``U{1..env_length-1}`` steps); default: the game's
        ``episode_length`` attribute or its ``horizon``.
    :param xp_soft: weight every earlier convention by ``softmax(XP_i / xp_temperature)`` instead of the argmax.
    :param n_steps: recorded transitions per column (seat of a copy) per buffer and update.
    :param batch_size: minibatch size on the sp buffer (default: the whole buffer, ``2 * n_envs * n_steps``); the
        other buffers are split into the same number of minibatches.
    :param policy, policy_kwargs, learning_rate, n_epochs, gamma, gae_lambda, clip_range, ent_coef, vf_coef,
        max_grad_norm, normalize_advantage, seed, device, verbose: as SB3's PPO.
    """

    def __init__(
        self,
        env_fns: EnvFns,
        earlier: Sequence[BasePolicy | Any] = (),
        *,
        n_envs: int = 8,
        alpha: float = 0.5,
        beta: float = 0.0,
        mix_prob: float = 0.5,
        env_length: int | None = None,
        xp_soft: bool = False,
        xp_temperature: float = 1.0,
        n_steps: int = 200,
        batch_size: int | None = None,
        n_epochs: int = 10,
        learning_rate: float | Callable[[float], float] = 3e-4,
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
        clip_range: float = 0.2,
        ent_coef: float = 0.01,
        vf_coef: float = 0.5,
        max_grad_norm: float = 0.5,
        normalize_advantage: bool = True,
        policy: str | type[ActorCriticPolicy] = "MlpPolicy",
        policy_kwargs: dict[str, Any] | None = None,
        seed: int | None = None,
        device: str = "cpu",
        verbose: int = 0,
    ) -> None:
        self.alpha = _number("alpha", alpha)
        self.beta = _number("beta", beta)
        self.xp_soft = bool(xp_soft)
        self.xp_temperature = _number("xp_temperature", xp_temperature)
        if self.xp_soft and self.xp_temperature <= 0:
            raise ConfigError(f"xp_temperature must be > 0 with xp_soft, got {xp_temperature!r}")
        self.mix_prob = _number("mix_prob", mix_prob)
        if self.mix_prob > 1:
            raise ConfigError(f"mix_prob must be in [0, 1], got {mix_prob!r}; e.g. 0.5")
        self.earlier: list[BasePolicy] = [e.policy if hasattr(e, "policy") else e for e in earlier]
        for k, pol in enumerate(self.earlier):
            if not isinstance(pol, BasePolicy):
                raise ConfigError(f"earlier[{k}] must be an SB3 policy or model, got {type(pol).__name__}")
        self.collector = TwoSeatCollector(env_fns, n_envs, seed=seed)
        game = self.collector.envs[0]
        if env_length is None:
            env_length = getattr(game, "episode_length", None) or game.horizon
        if self.beta > 0 and self.earlier and env_length is None:
            raise ConfigError(f"mixed play needs the episode length in game steps: pass env_length (the game "
                              f"{type(game).__name__} has no episode_length attribute and no horizon)")
        self.env_length = env_length
        if env_length is not None and n_steps < env_length:
            warnings.warn(
                f"n_steps={n_steps} is shorter than an episode ({env_length} game steps): every rollout starts from "
                f"fresh games, so the states after step {n_steps} of an episode are never trained on; use n_steps >= "
                f"{env_length}", stacklevel=2,
            )
        n_columns = 2 * self.collector.n_envs
        if batch_size is None:
            batch_size = n_steps * n_columns
        venv = SpacesVecEnv(n_columns, self.collector.observation_space, self.collector.action_space)
        self.model = PPO(
            policy, venv, learning_rate=learning_rate, n_steps=n_steps, batch_size=batch_size, n_epochs=n_epochs,
            gamma=gamma, gae_lambda=gae_lambda, clip_range=clip_range, ent_coef=ent_coef, vf_coef=vf_coef,
            max_grad_norm=max_grad_norm, normalize_advantage=normalize_advantage, policy_kwargs=policy_kwargs,
            seed=seed, device=device, verbose=verbose,
        )
        self.policy: ActorCriticPolicy = self.model.policy
        keys = [xp_key(i, s) for i in range(len(self.earlier)) for s in (0, 1)] if self.alpha > 0 else []
        if self.beta > 0:
            keys += [mp_key(i) for i in range(len(self.earlier))]
        latent = self.policy.mlp_extractor.latent_dim_vf
        self.value_heads = nn.ModuleDict({k.replace("/", "_"): nn.Linear(latent, 1) for k in keys}).to(
            self.policy.device)
        for head in self.value_heads.values():
            nn.init.orthogonal_(head.weight, gain=1.0)
            nn.init.zeros_(head.bias)
        # The trainer's own optimiser covers the policy and the extra value heads; the policy keeps its stock
        # optimiser, so a saved convention loads as a plain PPO model (PPO.load restores policy.optimizer).
        self.optimizer = self.policy.optimizer_class(
            [*self.policy.parameters(), *self.value_heads.parameters()], lr=self.model.lr_schedule(1),
            **self.policy.optimizer_kwargs,
        )
        self.i_star = 0
        self.xp_weights: dict[int, float] = {}
        self.updates = 0
        self.num_timesteps = 0
        self.history: list[dict[str, Any]] = []
        self.logger: Logger = configure(None, ["stdout"] if verbose else [])
        self.model.set_logger(self.logger)

    # ------------------------------------------------------------------ critics
    def _latent_vf(self, obs: th.Tensor) -> th.Tensor:
        features = BaseModel.extract_features(self.policy, obs, self.policy.vf_features_extractor)
        return self.policy.mlp_extractor.forward_critic(features)

    def values(self, key: str, obs: th.Tensor) -> th.Tensor:
        """The critic of buffer ``key`` on (tensor) observations."""
        if key == SP:
            return self.policy.predict_values(obs)
        return self.value_heads[key.replace("/", "_")](self._latent_vf(obs))

    def _value_fn(self, key: str) -> Callable[[np.ndarray], np.ndarray]:
        def fn(obs: np.ndarray) -> np.ndarray:
            with th.no_grad():
                return self.values(key, obs_as_tensor(obs, self.policy.device)).flatten().cpu().numpy()

        return fn

    # ------------------------------------------------------------------ rollouts
    def collect(self) -> dict[str, Rollout]:
        """One update's rollouts (module docstring); also re-chooses i* at the refresh cadence."""
        n_steps = self.model.n_steps
        rollouts = {SP: self.collector.collect(self.policy, SelfPlay(), n_steps)}
        if not self.earlier or (self.alpha == 0 and self.beta == 0):
            return rollouts  # plain shared-weight PPO self-play
        if self.alpha == 0:
            return self._collect_mixed(rollouts)
        refresh = self.xp_soft or self.updates % len(self.earlier) == 0
        ids = range(len(self.earlier)) if refresh else [self.i_star]
        xp = {}
        for i in ids:
            for seat in (0, 1):
                rollouts[xp_key(i, seat)] = self.collector.collect(self.policy, CrossPlay(self.earlier[i], seat),
                                                                   n_steps)
            xp[i] = self._xp_score(rollouts[xp_key(i, 0)], rollouts[xp_key(i, 1)])
        if self.xp_soft:
            scores = np.array([xp[i] for i in range(len(self.earlier))]) / self.xp_temperature
            w = np.exp(scores - scores.max())
            self.xp_weights = dict(enumerate((w / w.sum()).tolist()))
        elif refresh:
            self.i_star = int(max(xp, key=lambda i: xp[i]))  # ties: the earliest convention
            self.xp_weights = {self.i_star: 1.0}
        self._last_xp = xp
        return self._collect_mixed(rollouts)

    def _collect_mixed(self, rollouts: dict[str, Rollout]) -> dict[str, Rollout]:
        if self.beta > 0:
            for i, frozen in enumerate(self.earlier):
                mode = MixedPlay(frozen, self.mix_prob, int(self.env_length))
                rollouts[mp_key(i)] = self.collector.collect(self.policy, mode, self.model.n_steps)
        return rollouts

    @staticmethod
    def _xp_score(seat0: Rollout, seat1: Rollout) -> float:
        """Mean XP of both seat orders: mean episode return, or the mean reward per recorded step without
        a completed episode."""
        scores = []
        for ro in (seat0, seat1):
            if ro.episode_returns:
                scores.append(ro.mean_return())
            else:
                scores.append(float(np.mean(ro.flat()["rewards"])))
        return float(np.mean(scores))

    def weights(self, keys: Sequence[str]) -> dict[str, float]:
        """The advantage scale of each buffer: +1 (sp), -alpha * w_i / 2 per seat (xp with weight w_i: XP is the mean
        of the two seat orders, so each seat's buffer carries half of -alpha), +beta (mp), 0 (a cross-play buffer
        collected only to choose i*: its critic still learns)."""
        out = {}
        for key in keys:
            if key == SP:
                out[key] = 1.0
            elif key.startswith("xp"):
                i = int(key[2:].split("/")[0])
                out[key] = -0.5 * self.alpha * self.xp_weights.get(i, 0.0)
            else:
                out[key] = self.beta
        return out

    # ------------------------------------------------------------------ the update
    def _prepare(self, rollouts: dict[str, Rollout]) -> dict[str, dict[str, th.Tensor]]:
        data = {}
        device = self.policy.device
        for key, ro in rollouts.items():
            flat = ro.flat()
            values, adv, returns = ro.advantages(self._value_fn(key), self.model.gamma, self.model.gae_lambda)
            actions = th.as_tensor(flat["actions"], device=device)
            if isinstance(self.collector.action_space, spaces.Discrete):
                actions = actions.long().flatten()
            data[key] = {
                "obs": obs_as_tensor(flat["obs"], device), "actions": actions,
                "old_log_prob": th.as_tensor(flat["log_probs"], device=device),
                "advantages": th.as_tensor(adv, device=device), "returns": th.as_tensor(returns, device=device),
                "old_values": th.as_tensor(values, device=device),
            }
        return data

    def _losses(self, key: str, batch: dict[str, th.Tensor], weight: float, clip: float
                ) -> tuple[th.Tensor, th.Tensor, th.Tensor]:
        """``(policy_loss, value_loss, entropy_loss)`` of one minibatch of buffer ``key``."""
        obs, actions = batch["obs"], batch["actions"]
        if key == SP:
            values, log_prob, entropy = self.policy.evaluate_actions(obs, actions)
        else:
            dist = self.policy.get_distribution(obs)
            log_prob, entropy = dist.log_prob(actions), dist.entropy()
            values = self.values(key, obs)
        values = values.flatten()
        advantages = batch["advantages"]
        if self.model.normalize_advantage and len(advantages) > 1:
            advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        advantages = advantages * weight  # scale the advantages, not the loss (section 3.3)
        ratio = th.exp(log_prob - batch["old_log_prob"])
        policy_loss = -th.min(advantages * ratio, advantages * th.clamp(ratio, 1 - clip, 1 + clip)).mean()
        value_loss = F.mse_loss(batch["returns"], values)
        entropy_loss = -th.mean(-log_prob) if entropy is None else -th.mean(entropy)
        return policy_loss, value_loss, entropy_loss

    def train(self, rollouts: dict[str, Rollout], progress_remaining: float = 1.0) -> dict[str, float]:
        """One update on ``rollouts`` (see the module docstring); returns the mean losses."""
        model, policy = self.model, self.policy
        policy.set_training_mode(True)
        model._current_progress_remaining = progress_remaining
        model._update_learning_rate(self.optimizer)
        clip = float(model.clip_range(progress_remaining))
        data = self._prepare(rollouts)
        weights = self.weights(list(data))
        n_sp = len(data[SP]["advantages"])
        bs = model.batch_size
        n_batches = math.ceil(n_sp / bs)
        params = [*policy.parameters(), *self.value_heads.parameters()]
        stats: dict[str, list[float]] = {"policy_loss": [], "value_loss": [], "entropy_loss": []}
        for _ in range(model.n_epochs):
            sp_idx = np.random.permutation(n_sp)
            chunks = {SP: [sp_idx[k * bs:(k + 1) * bs] for k in range(n_batches)]}
            for key in data:
                if key != SP:
                    chunks[key] = np.array_split(np.random.permutation(len(data[key]["advantages"])), n_batches)
            for k in range(n_batches):
                total: th.Tensor | None = None
                for key, buf in data.items():
                    idx = chunks[key][k]
                    if len(idx) == 0:
                        continue
                    batch = {name: t[idx] for name, t in buf.items()}
                    pl, vl, el = self._losses(key, batch, weights[key], clip)
                    if key == SP:
                        term = pl + model.ent_coef * el + model.vf_coef * vl  # SB3 PPO's loss, in its order
                        stats["policy_loss"].append(pl.item())
                        stats["entropy_loss"].append(el.item())
                    else:
                        term = (pl if weights[key] != 0 else 0.0) + model.vf_coef * vl
                    stats["value_loss"].append(vl.item())
                    total = term if total is None else total + term
                self.optimizer.zero_grad()
                total.backward()
                th.nn.utils.clip_grad_norm_(params, model.max_grad_norm)
                self.optimizer.step()
        model._n_updates += model.n_epochs
        return {k: float(np.mean(v)) for k, v in stats.items() if v}

    # ------------------------------------------------------------------ training
    def learn(self, total_timesteps: int, callback: Callable[[CoMeDi, dict], bool | None] | None = None) -> CoMeDi:
        """Train for ``total_timesteps`` self-play decisions of one seat (``n_steps * n_envs`` per update).

        :param callback: ``callback(self, record)`` after each update (``record``: the update's returns, XP
            scores, i* and losses); returning ``False`` stops training.
        """
        if isinstance(total_timesteps, bool) or not isinstance(total_timesteps, int) or total_timesteps < 1:
            raise ConfigError(f"total_timesteps must be a positive integer, got {total_timesteps!r}; e.g. 10000")
        per_update = self.model.n_steps * self.collector.n_envs
        n_updates = max(1, math.ceil(total_timesteps / per_update))
        for u in range(n_updates):
            rollouts = self.collect()
            losses = self.train(rollouts, 1.0 - u / n_updates)
            self.updates += 1
            self.num_timesteps += per_update
            self.model.num_timesteps = self.num_timesteps
            record = {"update": self.updates, "timesteps": self.num_timesteps, "sp": rollouts[SP].mean_return(),
                      **losses}
            if self.earlier and self.alpha > 0:
                record["xp"] = {int(i): float(v) for i, v in self._last_xp.items()}
                record["i_star"] = self.i_star
                record["xp_weights"] = dict(self.xp_weights)
            if self.earlier and self.beta > 0:
                record["mp"] = float(np.mean([rollouts[mp_key(i)].mean_return() for i in range(len(self.earlier))]))
            self.history.append(record)
            for key, value in record.items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    self.logger.record(f"comedi/{key}", value)
            self.logger.dump(self.updates)
            if callback is not None and callback(self, record) is False:
                break
        return self
