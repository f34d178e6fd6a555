"""An SB3 ``VecEnv`` over N copies of a :class:`MultiAgentEnv`, with batched partners.

The ego sees N copies of the game as any SB3 vectorised env (``PPO("MlpPolicy", venv)``); partners act inside
``step_wait``. Each partner is asked once per round for every copy that needs it (see
:mod:`pantheonrl.vec.driver`), so a frozen policy partner does one forward pass for all copies, and a
learning partner keeps SB3 buffers with ``n_envs = N`` (see :mod:`pantheonrl.vec.columns`).

With N = 1 it reproduces training on the single game (``PPO("MlpPolicy", env)``) bit for bit: same seeds,
same episodes, same weights, for the ego and for learning partners.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.util import dict_to_obs, obs_space_info

from pantheonrl.common.agents import OffPolicyAgent, OnPolicyAgent
from pantheonrl.common.multiagentenv import MultiAgentEnv
from pantheonrl.errors import ConfigError, PlayerException
from pantheonrl.vec.columns import ColumnLearner
from pantheonrl.vec.driver import drive_batched

__all__ = ["MultiAgentVecEnv", "SpacesVecEnv", "make_copies"]

EnvFns = Callable[[], MultiAgentEnv] | Sequence[Callable[[], MultiAgentEnv]]


def make_copies(env_fns: EnvFns, n_envs: int | None = None) -> list[MultiAgentEnv]:
    """Build the game copies from one factory (with ``n_envs``) or a list of factories; check they agree."""
    if callable(env_fns):
        if not isinstance(n_envs, int | np.integer) or n_envs < 1:
            raise ConfigError(f"n_envs must be a positive integer, got {n_envs!r}; e.g. n_envs=8")
        fns = [env_fns] * int(n_envs)
    else:
        fns = list(env_fns)
        if not fns or (n_envs is not None and n_envs != len(fns)):
            raise ConfigError(f"give one env factory per copy (got {len(fns)}, n_envs={n_envs!r})")
    envs = []
    for fn in fns:
        env = fn()
        game = env
        while isinstance(game, gym.Wrapper):
            game = game.env
        if not isinstance(game, MultiAgentEnv):
            raise ConfigError(
                f"the env factory returned {type(env).__name__}, not a pantheonrl MultiAgentEnv; vectorised training "
                f"needs a multi-agent game (e.g. gym.make('LiarsDice-v0'))"
            )
        if game is not env:
            raise ConfigError(
                f"the env factory returned {type(env).__name__}, a gymnasium wrapper around {type(game).__name__}; "
                f"the copies are stepped directly, so a wrapper would be bypassed: return the game itself (use "
                f"MultiAgentEnv(horizon=k) instead of a TimeLimit)"
            )
        envs.append(game)
    first = envs[0]
    for env in envs[1:]:
        if env is first or any(env is other for other in envs[: envs.index(env)]):
            raise ConfigError("the env factory returned the same game object twice; each copy needs its own game")
        if (
            env.n_players != first.n_players
            or env.ego_ind != first.ego_ind
            or env.observation_spaces != first.observation_spaces
            or env.action_spaces != first.action_spaces
        ):
            raise ConfigError("the game copies differ in players, ego seat or spaces; build them from one factory")
    return envs


class SpacesVecEnv(VecEnv):
    """A VecEnv that only carries spaces and a size: to build a model for ``num_envs`` columns on."""

    def __init__(self, num_envs: int, observation_space: gym.Space, action_space: gym.Space) -> None:
        self.render_mode = None
        super().__init__(num_envs, observation_space, action_space)

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise PlayerException(
            "this env only carries a player's spaces (to build a partner model on); the model plays inside the "
            "game through its agent (OnPolicyAgent / OffPolicyAgent), so train the ego instead"
        )

    reset = step_async = step_wait = _refuse

    def close(self) -> None:
        pass

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        if attr_name == "render_mode":
            return [None] * len(self._indices(indices))
        raise AttributeError(attr_name)

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        raise AttributeError(attr_name)

    def env_method(self, method_name: str, *args: Any, indices: Any = None, **kwargs: Any) -> list[Any]:
        raise AttributeError(method_name)

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [False] * len(self._indices(indices))

    def _indices(self, indices: Any) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        return [indices] if isinstance(indices, int) else list(indices)


class MultiAgentVecEnv(VecEnv):
    """N copies of a multi-agent game as one SB3 ``VecEnv`` for the ego.

    :param env_fns: a factory ``() -> MultiAgentEnv`` (with ``n_envs``) or one factory per copy. Partners
        attached inside the factory are per copy; add shared ones with :meth:`add_partner_agent`.
    :param n_envs: the number of copies, when ``env_fns`` is one factory.
    """

    def __init__(self, env_fns: EnvFns, n_envs: int | None = None) -> None:
        self.envs = make_copies(env_fns, n_envs)
        self.render_mode = None
        first = self.envs[0]
        super().__init__(len(self.envs), first.observation_space, first.action_space)
        self.keys, shapes, dtypes = obs_space_info(self.observation_space)
        self.buf_obs = {k: np.zeros((self.num_envs, *tuple(shapes[k])), dtype=dtypes[k]) for k in self.keys}
        self.buf_rews = np.zeros((self.num_envs,), dtype=np.float32)
        self.buf_dones = np.zeros((self.num_envs,), dtype=bool)
        self.buf_infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        self.learners: list[ColumnLearner] = []
        self._actions: Any = None
        self._ep_rew = [0.0] * self.num_envs
        self._ep_len = [0] * self.num_envs
        self._t_start = time.time()
        self._spread = False

    # ------------------------------------------------------------------ partners
    @property
    def n_players(self) -> int:
        return self.envs[0].n_players

    @property
    def ego_ind(self) -> int:
        return self.envs[0].ego_ind

    def get_dummy_env(self, player_num: int) -> SpacesVecEnv:
        """An env with player ``player_num``'s spaces and ``n_envs`` copies, to build a learning partner's
        model on (``OnPolicyAgent(PPO("MlpPolicy", venv.get_dummy_env(1)))``)."""
        game = self.envs[0]
        game._check_player(player_num)
        return SpacesVecEnv(self.num_envs, game.observation_spaces[player_num], game.action_spaces[player_num])

    def add_partner_agent(self, agent: Any, player_num: int = 1) -> None:
        """Attach a partner to seat ``player_num`` of every copy.

        * a learning ``OnPolicyAgent`` / ``OffPolicyAgent`` (model built on :meth:`get_dummy_env`) plays every
          copy as one column of its buffers;
        * any other agent object plays every copy as the same object: it must keep no per-episode state (a
          frozen policy, a stateless scripted agent); it is asked once per step for all copies when it has
          ``get_actions(observations, columns)``;
        * a zero-argument callable is a factory: each copy gets its own agent.
        """
        if isinstance(agent, OnPolicyAgent | OffPolicyAgent):
            learner = ColumnLearner(agent, self.num_envs)
            for c, env in enumerate(self.envs):
                env.add_partner_agent(learner.view(c), player_num)
            self.learners.append(learner)
        elif callable(getattr(agent, "get_action", None)):
            if getattr(agent, "is_learning", False) and self.num_envs > 1:
                raise PlayerException(
                    f"a learning {type(agent).__name__} cannot play {self.num_envs} copies as one object; wrap an "
                    f"SB3 model built on venv.get_dummy_env({player_num}) in OnPolicyAgent/OffPolicyAgent"
                )
            for env in self.envs:
                env.add_partner_agent(agent, player_num)
        elif callable(agent):
            for env in self.envs:
                env.add_partner_agent(agent(), player_num)
        else:
            raise PlayerException(
                f"{type(agent).__name__} is neither an agent (get_action/update) nor a factory returning one"
            )

    def set_resample_policy(self, resample_policy: Any) -> None:
        for env in self.envs:
            env.set_resample_policy(resample_policy)

    def set_partnerid(self, agent_id: int, player_num: int = 1) -> None:
        for env in self.envs:
            env.set_partnerid(agent_id, player_num)

    # ------------------------------------------------------------------ VecEnv
    def _spread_partners(self) -> None:
        """With round-robin selection, copy ``c`` starts ``c`` partners further along each seat's list, so the
        copies play the pool's partners in order at once (copy 0 starts where a single game would)."""
        for c, env in enumerate(self.envs):
            if env.resample_partner.__func__ is not MultiAgentEnv.resample_round_robin:
                continue
            for seat, agents in enumerate(env.partners):
                if agents:
                    env.partnerids[seat] = (env.partnerids[seat] + c) % len(agents)

    def reset(self) -> Any:
        if not self._spread:
            self._spread_partners()
            self._spread = True
        steps = {
            c: env._reset_gen(seed=self._seeds[c], options=self._options[c] or None)
            for c, env in enumerate(self.envs)
        }
        for c, (obs, info) in drive_batched(steps).items():
            self.reset_infos[c] = info
            self._save_obs(c, obs)
            self._ep_rew[c], self._ep_len[c] = 0.0, 0
        self._reset_seeds()
        self._reset_options()
        return self._obs_from_buf()

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self) -> Any:
        results = drive_batched({c: self._copy_step(c, self._actions[c]) for c in range(self.num_envs)})
        for c in range(self.num_envs):
            obs, reward, done, info = results[c]
            self.buf_rews[c] = reward
            self.buf_dones[c] = done
            self.buf_infos[c] = info
            self._save_obs(c, obs)
        return self._obs_from_buf(), np.copy(self.buf_rews), np.copy(self.buf_dones), list(self.buf_infos)

    def _copy_step(self, c: int, action: Any) -> Any:
        """One ego step of copy ``c``, resetting it when the episode ends (as SB3's ``DummyVecEnv`` +
        ``Monitor``): a stepping generator."""
        env = self.envs[c]
        obs, reward, terminated, truncated, info = yield from env._step_gen(action)
        self._ep_rew[c] += float(reward)
        self._ep_len[c] += 1
        done = terminated or truncated
        info["TimeLimit.truncated"] = truncated and not terminated
        if done:
            info["episode"] = {
                "r": round(self._ep_rew[c], 6),
                "l": self._ep_len[c],
                "t": round(time.time() - self._t_start, 6),
            }
            info["terminal_observation"] = obs
            obs, self.reset_infos[c] = yield from env._reset_gen()
            self._ep_rew[c], self._ep_len[c] = 0.0, 0
        return obs, reward, done, info

    def _save_obs(self, c: int, obs: Any) -> None:
        for key in self.keys:
            if key is None:
                self.buf_obs[key][c] = obs
            else:
                self.buf_obs[key][c] = obs[key]

    def _obs_from_buf(self) -> Any:
        return dict_to_obs(self.observation_space, {key: np.copy(value) for key, value in self.buf_obs.items()})

    def close(self) -> None:
        for env in self.envs:
            env.close()

    def render(self, mode: str | None = None) -> Any:
        return self.envs[0].render()

    def _targets(self, indices: Any) -> list[MultiAgentEnv]:
        if indices is None:
            return list(self.envs)
        if isinstance(indices, int):
            return [self.envs[indices]]
        return [self.envs[i] for i in indices]

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        if attr_name == "render_mode" and not hasattr(self, "envs"):
            return [None]
        return [getattr(env, attr_name) for env in self._targets(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        for env in self._targets(indices):
            setattr(env, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: Any = None, **method_kwargs: Any) -> list[Any]:
        return [getattr(env, method_name)(*method_args, **method_kwargs) for env in self._targets(indices)]

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        return [isinstance(env, wrapper_class) for env in self._targets(indices)]
