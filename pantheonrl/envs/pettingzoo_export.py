"""pantheonrl games as PettingZoo environments.

:func:`to_parallel_env` exports a simultaneous game (every player acts at every step) as a PettingZoo
``ParallelEnv``; :func:`to_aec_env` exports any game as an AEC env, in which the players due to act take turns
(one at a time in ``next_players`` order; a simultaneous game's round is played once all of them have chosen,
as with PettingZoo's ``parallel_to_aec``). Both drive the game's own ``n_reset``/``n_step`` and never its ego
view, so any partner agents attached to the game are ignored.

Conventions:

* Agents are named ``"player_0"`` ... ``"player_{n-1}"``; ``"player_i"`` has the spaces of player ``i``.
* **Action masks.** If the game provides masks, each observation is a ``Dict`` with ``"observation"`` (the
  game's observation) and ``"action_mask"`` (``int8``, 1 = legal; all ones when the game gives no mask for
  that observation); otherwise observations are the game's own. "Provides masks" is decided by the
  ``action_masks`` argument, or, when it is ``None``, by probing: one ``n_reset()`` is played at
  construction and masks are used if any of its observations carries one. Pass ``action_masks=True`` for a
  game whose first observations carry no mask but later ones do. Masks need ``Discrete`` action spaces.
* An illegal action (one outside the space or the mask) raises :class:`~pantheonrl.errors.PlayerException`.
* Observations of ``Box``, ``Discrete``, ``MultiDiscrete`` and ``MultiBinary`` spaces are copied and cast to
  the space's dtype (PettingZoo's ``api_test`` checks dtypes). A player that has not been observed yet in an
  episode (e.g. the second mover of a turn-based game) observes a zero observation.
* ``reset(seed=s)`` seeds the game's ``np_random`` (``gymnasium.Env.reset(game, seed=s)``), which its
  ``n_reset``/``n_step`` must draw from. The game's ``horizon`` truncates episodes; wrappers put around the
  game (a ``TimeLimit`` from ``gym.make``) do not apply, since the ego view is not used.
* Every agent receives the game's ``info`` dict of the step (a copy); rewards are the game's per-step rewards.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from pettingzoo import AECEnv, ParallelEnv

from pantheonrl.common.multiagentenv import MultiAgentEnv
from pantheonrl.common.observation import Observation
from pantheonrl.envs.pettingzoo import check_action
from pantheonrl.errors import ConfigError, PlayerException, SpaceException

__all__ = ["MultiAgentAECEnv", "MultiAgentParallelEnv", "to_aec_env", "to_parallel_env"]

_FINISHED = "step() was called on a finished (or never started) episode; call reset() first"
_EXPORT_HINT = (
    "Sample actions with the observation's 'action_mask' (e.g. env.action_space(agent).sample(mask)); if the "
    "game provides masks but the exported observations have none, export it with action_masks=True."
)


def _game(env: Any) -> MultiAgentEnv:
    """The :class:`MultiAgentEnv` itself, also when it comes wrapped (``gym.make(...)``)."""
    game = env if isinstance(env, MultiAgentEnv) else getattr(env, "unwrapped", None)
    if not isinstance(game, MultiAgentEnv):
        raise ConfigError(
            f"expected a pantheonrl MultiAgentEnv (or a gymnasium wrapper of one), got {type(env).__name__}"
        )
    return game


def _as_observation(obs: Any) -> Observation:
    return obs if isinstance(obs, Observation) else Observation(obs)


def _cast(space: gym.Space, value: Any) -> Any:
    """A copy of ``value`` with the dtype of ``space`` (for the spaces with a fixed dtype)."""
    if isinstance(space, spaces.Discrete):
        return space.dtype.type(np.asarray(value).reshape(-1)[0])
    if isinstance(space, spaces.Box | spaces.MultiDiscrete | spaces.MultiBinary):
        return np.array(value, dtype=space.dtype, copy=True)
    return value


def _zero(space: gym.Space) -> Any:
    """A deterministic placeholder observation of ``space``."""
    if isinstance(space, spaces.Box):
        return np.clip(np.zeros(space.shape, dtype=space.dtype), space.low, space.high)
    if isinstance(space, spaces.Discrete):
        return space.dtype.type(space.start)
    if isinstance(space, spaces.MultiDiscrete):
        return np.array(space.start, dtype=space.dtype, copy=True)
    if isinstance(space, spaces.MultiBinary):
        return np.zeros(space.shape, dtype=space.dtype)
    if isinstance(space, spaces.Dict):
        return {key: _zero(sub) for key, sub in space.spaces.items()}
    if isinstance(space, spaces.Tuple):
        return tuple(_zero(sub) for sub in space.spaces)
    raise SpaceException(f"cannot build a placeholder observation for {space!r}")


class _ExportedGame:
    """Plays a :class:`MultiAgentEnv` through ``n_reset``/``n_step`` with PettingZoo's names and spaces."""

    def __init__(self, env: Any, action_masks: bool | None) -> None:
        self.env = _game(env)
        n = self.env.n_players
        self.names = [f"player_{i}" for i in range(n)]
        self.index = {name: i for i, name in enumerate(self.names)}
        self.masked = self._probe() if action_masks is None else bool(action_masks)
        obs_spaces: dict[str, gym.Space] = {}
        for i, name in enumerate(self.names):
            space = self.env.observation_spaces[i]
            if self.masked:
                act = self.env.action_spaces[i]
                if not isinstance(act, spaces.Discrete):
                    raise SpaceException(
                        f"action masks need Discrete action spaces, but player {i} has {act}; "
                        f"export this game with action_masks=False"
                    )
                mask_space = spaces.Box(0, 1, (int(act.n),), np.int8)
                space = spaces.Dict({"observation": space, "action_mask": mask_space})
            obs_spaces[name] = space
        self.observation_spaces = obs_spaces
        self.action_spaces = {name: self.env.action_spaces[i] for i, name in enumerate(self.names)}
        self.steps = 0

    def _probe(self) -> bool:
        _, obs = self.env.n_reset()
        return any(_as_observation(o).action_mask is not None for o in obs)

    def reset(self, seed: int | None) -> tuple[tuple[int, ...], tuple[Observation, ...]]:
        if seed is not None:
            # Seed the game's generator without running its ego view (MultiAgentEnv.reset plays partners).
            gym.Env.reset(self.env, seed=seed)
        self.steps = 0
        players, obs = self.env.n_reset()
        players = tuple(int(p) for p in players)
        if len(players) != len(obs):
            raise TypeError(
                f"{type(self.env).__name__}.n_reset returned {len(players)} players but {len(obs)} "
                f"observations"
            )
        return players, tuple(_as_observation(o) for o in obs)

    def step(self, actions: list[Any]) -> tuple:
        """Play one game step: ``(players, observations, rewards, terminated, truncated, info)``."""
        who = type(self.env).__name__
        result = self.env.n_step(actions)
        if not isinstance(result, tuple) or len(result) not in (5, 6):
            raise TypeError(
                f"{who}.n_step must return (players, observations, rewards, terminated, truncated, info)"
            )
        if len(result) == 5:
            players, obs, rewards, done, info = result
            terminated, truncated = bool(done), False
        else:
            players, obs, rewards, terminated, truncated, info = result
            terminated, truncated = bool(terminated), bool(truncated)
        self.steps += 1
        horizon = self.env.horizon
        if horizon is not None and self.steps >= horizon and not terminated:
            truncated = True
        if len(rewards) != len(self.names):
            raise TypeError(
                f"{who}.n_step returned {len(rewards)} rewards; expected one per player ({len(self.names)})"
            )
        if len(players) != len(obs):
            raise TypeError(f"{who}.n_step returned {len(players)} players but {len(obs)} observations")
        players = tuple(int(p) for p in players)
        observations = tuple(_as_observation(o) for o in obs)
        return players, observations, [float(r) for r in rewards], terminated, truncated, dict(info or {})

    def format(self, player: int, ob: Observation | None) -> Any:
        """What PettingZoo hands the agent: the (cast) observation, with its mask if the export uses masks."""
        space = self.env.observation_spaces[player]
        value = _zero(space) if ob is None else _cast(space, ob.obs)
        if not self.masked:
            return value
        n = int(self.env.action_spaces[player].n)
        if ob is None or ob.action_mask is None:
            mask = np.ones(n, dtype=np.int8)
        else:
            mask = np.asarray(ob.action_mask).reshape(-1).astype(np.int8)
        return {"observation": value, "action_mask": mask}

    def check(self, player: int, action: Any, ob: Observation | None) -> Any:
        mask = None if ob is None else ob.action_mask
        space = self.env.action_spaces[player]
        return check_action(player, self.names[player], action, space, mask, _EXPORT_HINT)


def _metadata(game: MultiAgentEnv, kind: str) -> dict[str, Any]:
    meta = dict(getattr(game, "metadata", None) or {})
    meta.setdefault("render_modes", [])
    meta["name"] = f"{type(game).__name__}_{kind}"
    return meta


class MultiAgentParallelEnv(ParallelEnv):
    """A simultaneous pantheonrl game as a PettingZoo ``ParallelEnv`` (see the module docstring).

    :param env: the game; every player must act at every step.
    :param action_masks: expose action masks (``None``: probe the game).
    """

    def __init__(self, env: MultiAgentEnv, action_masks: bool | None = None) -> None:
        self._game = _ExportedGame(env, action_masks)
        self.game = self._game.env
        self.possible_agents = list(self._game.names)
        self.agents: list[str] = []
        self.observation_spaces = self._game.observation_spaces
        self.action_spaces = self._game.action_spaces
        self.metadata = _metadata(self.game, "parallel")
        self.render_mode = getattr(self.game, "render_mode", None)
        self._players: tuple[int, ...] = ()
        self._latest: dict[int, Observation] = {}

    def observation_space(self, agent: str) -> gym.Space:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> gym.Space:
        return self.action_spaces[agent]

    def _require_everyone(self, players: Sequence[int], where: str) -> None:
        if sorted(players) != list(range(len(self.possible_agents))):
            raise PlayerException(
                f"{type(self.game).__name__} is not a simultaneous game: after {where} only players "
                f"{list(players)} act, but a ParallelEnv steps every agent at once; export it with "
                f"to_aec_env()"
            )

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        players, obs = self._game.reset(seed)
        self._require_everyone(players, "n_reset()")
        self._players = players
        self._latest = dict(zip(players, obs))
        self.agents = list(self.possible_agents)
        observations = {name: self._game.format(i, self._latest[i]) for i, name in enumerate(self.agents)}
        return observations, {name: {} for name in self.agents}

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        if not self.agents:
            raise PlayerException(_FINISHED)
        missing = [name for name in self.agents if name not in actions]
        unknown = [name for name in actions if name not in self._game.index]
        if missing or unknown:
            raise PlayerException(
                f"step() needs one action for each agent in {self.agents}; missing {missing}, "
                f"unknown {unknown}"
            )
        names = self._game.names
        joint = [self._game.check(p, actions[names[p]], self._latest.get(p)) for p in self._players]
        players, obs, rewards, terminated, truncated, info = self._game.step(joint)
        self._latest.update(zip(players, obs))
        names = list(self.agents)
        done = terminated or truncated
        if not done:
            self._require_everyone(players, "n_step()")
            self._players = players
        else:
            self.agents = []
        i = self._game.index
        return (
            {name: self._game.format(i[name], self._latest.get(i[name])) for name in names},
            {name: rewards[i[name]] for name in names},
            dict.fromkeys(names, terminated),
            dict.fromkeys(names, truncated),
            {name: dict(info) for name in names},
        )

    def render(self) -> Any:
        return self.game.render()

    def close(self) -> None:
        self.game.close()


class MultiAgentAECEnv(AECEnv):
    """A pantheonrl game as a PettingZoo AEC env (see the module docstring).

    The players in the game's ``next_players`` are selected one after the other; once all have chosen, the
    game plays the step and the rewards are credited. When the game ends, every agent is done and is then
    stepped with ``None`` (PettingZoo's dead-step protocol).

    :param env: the game.
    :param action_masks: expose action masks (``None``: probe the game).
    """

    def __init__(self, env: MultiAgentEnv, action_masks: bool | None = None) -> None:
        super().__init__()
        self._game = _ExportedGame(env, action_masks)
        self.game = self._game.env
        self.possible_agents = list(self._game.names)
        self.agents = []
        self.observation_spaces = self._game.observation_spaces
        self.action_spaces = self._game.action_spaces
        self.metadata = _metadata(self.game, "aec")
        self.render_mode = getattr(self.game, "render_mode", None)
        self.rewards = {}
        self._cumulative_rewards = {}
        self.terminations = {}
        self.truncations = {}
        self.infos = {}
        self.agent_selection = self.possible_agents[0]
        self._round: tuple[int, ...] = ()
        self._pending: list[int] = []
        self._actions: dict[int, Any] = {}
        self._latest: dict[int, Observation] = {}

    def observation_space(self, agent: str) -> gym.Space:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> gym.Space:
        return self.action_spaces[agent]

    def observe(self, agent: str) -> Any:
        player = self._game.index[agent]
        return self._game.format(player, self._latest.get(player))

    def _start_round(self, players: tuple[int, ...]) -> None:
        if not players:
            raise PlayerException(
                f"{type(self.game).__name__} named no player to act but its episode is not over"
            )
        self._round = players
        self._pending = list(players)
        self._actions = {}
        self.agent_selection = self._game.names[players[0]]

    def reset(self, seed: int | None = None, options: dict | None = None) -> None:
        players, obs = self._game.reset(seed)
        self._latest = dict(zip(players, obs))
        self.agents = list(self.possible_agents)
        self.rewards = dict.fromkeys(self.agents, 0.0)
        self._cumulative_rewards = dict.fromkeys(self.agents, 0.0)
        self.terminations = dict.fromkeys(self.agents, False)
        self.truncations = dict.fromkeys(self.agents, False)
        self.infos = {name: {} for name in self.agents}
        self._skip_agent_selection = None
        self._start_round(players)

    def step(self, action: Any) -> None:
        agent = self.agent_selection
        if self.terminations.get(agent) or self.truncations.get(agent):
            self._was_dead_step(action)
            return
        if not self.agents:
            raise PlayerException(_FINISHED)
        player = self._game.index[agent]
        self._actions[player] = self._game.check(player, action, self._latest.get(player))
        self._cumulative_rewards[agent] = 0.0
        self._pending.pop(0)
        if self._pending:
            self._clear_rewards()
            self.agent_selection = self._game.names[self._pending[0]]
            return
        joint = [self._actions[p] for p in self._round]
        players, obs, rewards, terminated, truncated, info = self._game.step(joint)
        self._latest.update(zip(players, obs))
        self.rewards = {name: rewards[self._game.index[name]] for name in self.agents}
        self.infos = {name: dict(info) for name in self.agents}
        if terminated or truncated:
            self.terminations = dict.fromkeys(self.agents, terminated)
            self.truncations = dict.fromkeys(self.agents, truncated)
            self.agent_selection = self.agents[0]
        else:
            self._start_round(players)
        self._accumulate_rewards()

    def render(self) -> Any:
        return self.game.render()

    def close(self) -> None:
        self.game.close()


def to_parallel_env(env: MultiAgentEnv, action_masks: bool | None = None) -> MultiAgentParallelEnv:
    """Export a simultaneous pantheonrl game as a PettingZoo ``ParallelEnv``.

    :param env: the game (a :class:`MultiAgentEnv`, or a gymnasium wrapper of one); its partners are ignored.
    :param action_masks: expose ``Dict`` observations with an ``"action_mask"``; ``None`` probes the game.
    :return: the parallel env, with agents ``"player_0"`` ... ``"player_{n-1}"``.
    :raises PlayerException: at ``reset``/``step`` if not every player acts at every step.
    """
    return MultiAgentParallelEnv(env, action_masks)


def to_aec_env(env: MultiAgentEnv, action_masks: bool | None = None) -> MultiAgentAECEnv:
    """Export a pantheonrl game (turn-based or simultaneous) as a PettingZoo AEC env.

    :param env: the game (a :class:`MultiAgentEnv`, or a gymnasium wrapper of one); its partners are ignored.
    :param action_masks: expose ``Dict`` observations with an ``"action_mask"``; ``None`` probes the game.
    :return: the AEC env, with agents ``"player_0"`` ... ``"player_{n-1}"``.
    """
    return MultiAgentAECEnv(env, action_masks)
