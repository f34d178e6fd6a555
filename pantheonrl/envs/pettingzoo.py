"""PettingZoo environments as pantheonrl games.

:class:`PettingZooAECWrapper` turns an AEC env (one agent acts at a time) and
:class:`PettingZooParallelWrapper` a ``ParallelEnv`` (every live agent acts at once) into a
:class:`~pantheonrl.common.multiagentenv.MultiAgentEnv`, so that an SB3 ego can learn in any seat while
pantheonrl partners play the others. The other direction, a pantheonrl game as a PettingZoo env, is
:mod:`pantheonrl.envs.pettingzoo_export`.

Conventions shared by both wrappers:

* Player ``i`` is ``possible_agents[i]``; there are ``len(possible_agents)`` players (``max_num_agents``).
  Envs that generate agents on the fly (no ``possible_agents``) are not supported.
* A ``Dict`` observation with an ``"observation"`` entry (PettingZoo's action-mask convention) is reduced to
  that entry; its ``"action_mask"`` (or an ``"action_mask"`` in the agent's info) becomes
  :attr:`Observation.action_mask`. The ego reads it through ``MultiAgentEnv.action_masks()``.
* An illegal or out-of-range action raises :class:`~pantheonrl.errors.PlayerException` naming the player,
  the action and the legal actions. (The original replaced it silently by the first legal action.)
* ``reset(seed=s)`` seeds the wrapped env: each episode's PettingZoo seed is drawn from the game's
  ``np_random``, so the same seed gives the same trajectory (given seeded partners).
* Rewards are read from the env's ``rewards`` after every step (PettingZoo's "reward of the last step",
  the same convention as ``aec_to_parallel``); agents no longer alive get 0. The episode ends when every
  agent is done; it is a termination if any agent terminated, else a truncation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from pettingzoo import AECEnv, ParallelEnv

from pantheonrl.common.multiagentenv import MultiAgentEnv, ResampleFn
from pantheonrl.common.observation import Observation, extract_obs
from pantheonrl.errors import ConfigError, PlayerException

__all__ = ["MASK_HINT", "PettingZooAECWrapper", "PettingZooParallelWrapper", "check_action"]

MASK_HINT = (
    "Policies must honour Observation.action_mask: pantheonrl's StaticPolicyAgent and OnPolicyAgent mask "
    "automatically; for the ego use sb3-contrib's MaskablePPO, which reads MultiAgentEnv.action_masks(), "
    "or sample from env.action_masks()."
)


def _reduce_space(space: gym.Space) -> gym.Space:
    """The observation part of PettingZoo's ``Dict(observation=..., action_mask=...)`` convention."""
    if isinstance(space, spaces.Dict) and "observation" in space.spaces:
        return space.spaces["observation"]
    return space


def _to_observation(raw: Any, info: Any = None) -> Observation:
    """Split a PettingZoo observation into the plain observation and its action mask."""
    mask = None
    if isinstance(raw, dict) and "observation" in raw:
        raw, mask = raw["observation"], raw.get("action_mask")
    if mask is None and isinstance(info, dict):
        mask = info.get("action_mask")
    return Observation(raw, action_mask=None if mask is None else np.array(mask, copy=True))


def check_action(
    player: int,
    name: str,
    action: Any,
    space: gym.Space,
    mask: np.ndarray | None,
    hint: str = MASK_HINT,
    role: str | None = None,
) -> Any:
    """Validate a ``Discrete`` action against its space and the current action mask.

    :param player: the player's index (for the message).
    :param name: the player's agent name (for the message).
    :param action: the action, any integer scalar or one-element array.
    :param space: the player's action space; actions of other spaces are returned unchanged.
    :param mask: the legal-action mask, or ``None`` if every action is legal.
    :param hint: the advice appended to the message of an illegal action.
    :param role: who plays the player (e.g. ``"the ego"``), for the message.
    :return: the action as a Python ``int`` (``Discrete`` spaces) or unchanged.
    :raises PlayerException: if the action is not an integer in the space or not legal now.
    """
    if not isinstance(space, spaces.Discrete):
        return action
    arr = np.asarray(action)
    value: Any = arr.reshape(-1)[0].item() if arr.size == 1 and arr.dtype.kind in "iuf" else None
    if isinstance(value, float):
        value = int(value) if value.is_integer() else None
    start, n = int(space.start), int(space.n)
    who = f"player {player} ({name!r}{', ' + role if role else ''})"
    if value is None or not start <= value < start + n:
        raise PlayerException(
            f"{who} chose action {action!r}, which is not in its action space {space} "
            f"(an integer from {start} to {start + n - 1})"
        )
    if mask is not None:
        legal = np.asarray(mask).reshape(-1).astype(bool)
        if value - start >= legal.size or not legal[value - start]:
            legal_actions = (np.flatnonzero(legal) + start).tolist()
            raise PlayerException(
                f"{who} chose illegal action {value}; the legal actions now are {legal_actions}. {hint}"
            )
    return value


class _PettingZooGame(MultiAgentEnv):
    """Shared set-up of the two wrappers: players, spaces, seeding, rendering and episode status."""

    def __init__(
        self,
        base_env: Any,
        ego_ind: int,
        resample_policy: str | ResampleFn,
        partners: Sequence[Sequence[Any]] | None,
        ego_extractor: Callable[[Observation], Any],
        horizon: int | None,
    ) -> None:
        agents = getattr(base_env, "possible_agents", None)
        if not agents:
            raise ConfigError(
                f"{type(self).__name__} needs an env with a fixed possible_agents list; "
                f"{type(base_env).__name__} has none (envs that generate agents are not supported)"
            )
        self.base_env = base_env
        self.agent_names: list[Any] = list(agents)
        self._pz_index = {name: i for i, name in enumerate(self.agent_names)}
        super().__init__(
            [_reduce_space(base_env.observation_space(a)) for a in self.agent_names],
            [base_env.action_space(a) for a in self.agent_names],
            ego_ind=ego_ind,
            n_players=len(self.agent_names),
            resample_policy=resample_policy,
            partners=partners,
            ego_extractor=ego_extractor,
            horizon=horizon,
        )
        base_meta = getattr(base_env, "metadata", None) or {}
        self.metadata = {"render_modes": list(base_meta.get("render_modes", []))}
        if "render_fps" in base_meta:
            self.metadata["render_fps"] = base_meta["render_fps"]
        self.render_mode = getattr(base_env, "render_mode", None)
        self._pz_status: dict[Any, str] = {}  # agent -> "terminated" / "truncated", this episode

    def _check(self, player: int, action: Any, mask: np.ndarray | None) -> Any:
        role = "the ego" if player == self.ego_ind else "a partner"
        name, space = self.agent_names[player], self.action_spaces[player]
        return check_action(player, name, action, space, mask, role=role)

    def _draw_seed(self) -> int:
        return int(self.np_random.integers(2**31))

    def _record(self, terminations: dict, truncations: dict) -> None:
        for agent, done in terminations.items():
            if done and agent not in self._pz_status:
                self._pz_status[agent] = "terminated"
        for agent, done in truncations.items():
            if done and agent not in self._pz_status:
                self._pz_status[agent] = "truncated"

    def _ending(self) -> tuple[bool, bool]:
        terminated = "terminated" in self._pz_status.values()
        return terminated, not terminated

    def _ego_info(self, infos: dict) -> dict:
        info = infos.get(self.agent_names[self.ego_ind], {})
        return dict(info) if isinstance(info, dict) else {}

    def render(self) -> Any:
        return self.base_env.render()

    def close(self) -> None:
        self.base_env.close()


class PettingZooAECWrapper(_PettingZooGame):
    """A PettingZoo AEC env as a :class:`MultiAgentEnv`: the agent in ``agent_selection`` acts at each game
    step.

    Agents that are done but still selected (PettingZoo's "dead step" protocol) are stepped with ``None``
    internally; no partner is asked. When the episode ends, ``n_step`` returns the terminal observations of
    the agents still listed in ``base_env.agents`` as its "next players", so the ego and the partners see
    their terminal observation.

    :param base_env: the AEC env (e.g. ``tictactoe_v3.env()``).
    :param ego_ind: the player the ego controls (an index into ``possible_agents``).
    :param resample_policy: see :class:`MultiAgentEnv`.
    :param partners: see :class:`MultiAgentEnv`.
    :param ego_extractor: see :class:`MultiAgentEnv`.
    :param horizon: optional number of game steps after which an episode is truncated.
    """

    def __init__(
        self,
        base_env: AECEnv,
        ego_ind: int = 0,
        *,
        resample_policy: str | ResampleFn = "default",
        partners: Sequence[Sequence[Any]] | None = None,
        ego_extractor: Callable[[Observation], Any] = extract_obs,
        horizon: int | None = None,
    ) -> None:
        if isinstance(base_env, ParallelEnv):
            raise ConfigError(
                f"{type(base_env).__name__} is a PettingZoo ParallelEnv; wrap it with "
                f"PettingZooParallelWrapper (or convert it with pettingzoo.utils.parallel_to_aec first)"
            )
        if not isinstance(base_env, AECEnv):
            raise ConfigError(
                f"PettingZooAECWrapper needs a PettingZoo AECEnv, got {type(base_env).__name__}"
            )
        super().__init__(base_env, ego_ind, resample_policy, partners, ego_extractor, horizon)
        self._pz_mask: np.ndarray | None = None

    def _dead(self, agent: Any) -> bool:
        env = self.base_env
        return bool(env.terminations.get(agent, False) or env.truncations.get(agent, False))

    def _all_done(self) -> bool:
        return all(self._dead(agent) for agent in self.base_env.agents)

    def _collect(self, rewards: np.ndarray) -> None:
        env = self.base_env
        for agent, reward in env.rewards.items():
            rewards[self._pz_index[agent]] += float(reward)
        self._record(env.terminations, env.truncations)

    def _skip_dead(self, rewards: np.ndarray) -> None:
        """Step done agents with ``None`` until a live agent is selected or every agent is done."""
        env = self.base_env
        while env.agents and not self._all_done() and self._dead(env.agent_selection):
            env.step(None)
            self._collect(rewards)

    def _observe(self, agent: Any) -> Observation:
        return _to_observation(self.base_env.observe(agent), self.base_env.infos.get(agent))

    def n_reset(self) -> tuple[tuple[int, ...], tuple[Observation, ...]]:
        env = self.base_env
        env.reset(seed=self._draw_seed())
        self._pz_status = {}
        self._record(env.terminations, env.truncations)
        self._skip_dead(np.zeros(self.n_players))
        if not env.agents or self._all_done():
            raise PlayerException(f"{env} ended its episode at reset(); there is no agent to act")
        agent = env.agent_selection
        obs = self._observe(agent)
        self._pz_mask = obs.action_mask
        return (self._pz_index[agent],), (obs,)

    def n_step(self, actions: list[Any]) -> tuple:
        env = self.base_env
        agent = env.agent_selection
        player = self._pz_index[agent]
        action = self._check(player, actions[0], self._pz_mask)
        rewards = np.zeros(self.n_players)
        env.step(action)
        self._collect(rewards)
        self._skip_dead(rewards)
        info = self._ego_info(env.infos)
        if not env.agents or self._all_done():
            self._pz_mask = None
            terminated, truncated = self._ending()
            players = tuple(self._pz_index[a] for a in env.agents)
            observations = tuple(self._observe(a) for a in env.agents)
            return players, observations, tuple(rewards.tolist()), terminated, truncated, info
        agent = env.agent_selection
        obs = self._observe(agent)
        self._pz_mask = obs.action_mask
        return (self._pz_index[agent],), (obs,), tuple(rewards.tolist()), False, False, info


class PettingZooParallelWrapper(_PettingZooGame):
    """A PettingZoo ``ParallelEnv`` as a :class:`MultiAgentEnv`: every live agent acts at each game step.

    Agents that are done are dropped from the next players; the episode ends when none is left. The final
    ``n_step`` returns the terminal observations of the agents that took part in it as its "next players".

    :param par_env: the parallel env (e.g. ``simple_spread_v3.parallel_env()``).
    :param ego_ind: the player the ego controls (an index into ``possible_agents``).
    :param resample_policy: see :class:`MultiAgentEnv`.
    :param partners: see :class:`MultiAgentEnv`.
    :param ego_extractor: see :class:`MultiAgentEnv`.
    :param horizon: optional number of game steps after which an episode is truncated.
    """

    def __init__(
        self,
        par_env: ParallelEnv,
        ego_ind: int = 0,
        *,
        resample_policy: str | ResampleFn = "default",
        partners: Sequence[Sequence[Any]] | None = None,
        ego_extractor: Callable[[Observation], Any] = extract_obs,
        horizon: int | None = None,
    ) -> None:
        if isinstance(par_env, AECEnv):
            raise ConfigError(
                f"{type(par_env).__name__} is a PettingZoo AECEnv; wrap it with PettingZooAECWrapper"
            )
        if not isinstance(par_env, ParallelEnv):
            raise ConfigError(
                f"PettingZooParallelWrapper needs a PettingZoo ParallelEnv, got {type(par_env).__name__}"
            )
        super().__init__(par_env, ego_ind, resample_policy, partners, ego_extractor, horizon)
        self.par_env = par_env
        self._pz_players: tuple[int, ...] = ()
        self._pz_masks: dict[int, np.ndarray | None] = {}

    def _observations(self, players: Sequence[int], obs: dict, infos: dict) -> tuple[Observation, ...]:
        result = []
        for player in players:
            name = self.agent_names[player]
            ob = _to_observation(obs[name], infos.get(name))
            self._pz_masks[player] = ob.action_mask
            result.append(ob)
        return tuple(result)

    def n_reset(self) -> tuple[tuple[int, ...], tuple[Observation, ...]]:
        obs, infos = self.par_env.reset(seed=self._draw_seed())
        self._pz_status = {}
        self._pz_masks = {}
        self._pz_players = tuple(self._pz_index[a] for a in self.par_env.agents)
        if not self._pz_players:
            raise PlayerException(f"{self.par_env} has no agents after reset()")
        return self._pz_players, self._observations(self._pz_players, obs, infos)

    def n_step(self, actions: list[Any]) -> tuple:
        joint = {}
        for player, action in zip(self._pz_players, actions):
            name = self.agent_names[player]
            joint[name] = self._check(player, action, self._pz_masks.get(player))
        obs, rew, terminations, truncations, infos = self.par_env.step(joint)
        rewards = [0.0] * self.n_players
        for name, reward in rew.items():
            rewards[self._pz_index[name]] += float(reward)
        self._record(terminations, truncations)
        info = self._ego_info(infos)
        live = tuple(
            self._pz_index[a]
            for a in self.par_env.agents
            if not (terminations.get(a, False) or truncations.get(a, False))
        )
        if live:
            self._pz_players = live
            return live, self._observations(live, obs, infos), tuple(rewards), False, False, info
        self._pz_players = ()
        terminated, truncated = self._ending()
        final = tuple(self._pz_index[a] for a in self.agent_names if a in obs)
        return final, self._observations(final, obs, infos), tuple(rewards), terminated, truncated, info
