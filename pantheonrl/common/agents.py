"""Partner agents: what plays the seats the ego does not.

An :class:`Agent` answers ``get_action(obs)`` and hears ``update(reward, done)`` after every game step of an
episode it played in. Two optional hooks, called by :class:`~pantheonrl.common.multiagentenv.MultiAgentEnv`,
let learning partners behave exactly like the SB3 algorithm they wrap:

* ``observe(obs)``: the seat's next observation is known (before its next action is requested);
* ``end_episode(terminal_obs, terminated, truncated)``: the episode ended, in that episode.

:class:`OnPolicyAgent` and :class:`OffPolicyAgent` replay SB3's rollout loops one step at a time: given the
same seeds they end with weights bit-identical to ``model.learn()`` on the same trajectory
(docs/pantheonrl-compat.md, section 7.2).
"""

from __future__ import annotations

import time
import warnings
from abc import ABC, abstractmethod
from collections import deque
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common import utils as sb3_utils
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.utils import obs_as_tensor, should_collect_more_steps

from pantheonrl.common.multiagentenv import DummyAgent
from pantheonrl.common.observation import Observation
from pantheonrl.common.trajsaver import TransitionsMinimal
from pantheonrl.errors import PlayerException, SpaceException

__all__ = [
    "Agent",
    "DummyAgent",
    "OffPolicyAgent",
    "OnPolicyAgent",
    "RecordingAgentWrapper",
    "ScriptedAgent",
    "StaticPolicyAgent",
    "stack_masks",
    "stack_obs",
]

_UNSET = object()


def _warn_record(record: Any) -> None:
    if record is not _UNSET:
        warnings.warn(
            "get_action(obs, record) is deprecated: the record argument is ignored",
            DeprecationWarning,
            stacklevel=3,
        )


class Agent(ABC):
    """A partner: something that acts in a seat of a :class:`MultiAgentEnv`."""

    @abstractmethod
    def get_action(self, obs: Observation) -> Any:
        """Return the action for ``obs``."""

    @abstractmethod
    def update(self, reward: float, done: bool) -> None:
        """Hear the seat's reward for the last game step and whether the episode ended."""

    def observe(self, obs: Observation) -> None:  # noqa: B027 - optional hook
        """The seat's next observation, known before its next action is requested."""

    def end_episode(self, obs: Observation | None, terminated: bool, truncated: bool) -> None:  # noqa: B027
        """The episode ended; ``obs`` is the seat's terminal observation."""


class ScriptedAgent(Agent):
    """A scripted partner that keeps no per-episode state and does not learn: one object may play every copy of
    a vectorised game. ``get_actions`` answers a batch with one ``get_action`` per request, in order;
    rewards are ignored."""

    def get_actions(self, observations: list[Observation], columns: Any = None) -> list[Any]:
        return [self.get_action(ob) for ob in observations]

    def update(self, reward: float, done: bool) -> None:
        pass


def batch_obs(space: spaces.Space, obs: Any) -> Any:
    """``obs`` as SB3's one-env ``DummyVecEnv`` would hand it to an algorithm (leading axis 1, space dtype)."""
    if isinstance(space, spaces.Dict):
        return {key: batch_obs(sub, obs[key]) for key, sub in space.spaces.items()}
    buf = np.zeros((1, *space.shape), dtype=space.dtype)
    buf[0] = obs
    return buf


def stack_obs(space: spaces.Space, observations: list[Any]) -> Any:
    """Observations of several game copies as one batch (leading axis = copies, space dtype), as SB3's
    ``DummyVecEnv`` would hand them to an algorithm."""
    if isinstance(space, spaces.Dict):
        return {key: stack_obs(sub, [ob[key] for ob in observations]) for key, sub in space.spaces.items()}
    buf = np.zeros((len(observations), *space.shape), dtype=space.dtype)
    for i, ob in enumerate(observations):
        buf[i] = ob
    return buf


def stack_masks(space: spaces.Space, observations: list[Observation]) -> np.ndarray | None:
    """The action masks of a batch (all legal where an observation has none), or None when none has one."""
    if not isinstance(space, spaces.Discrete) or all(ob.action_mask is None for ob in observations):
        return None
    n = int(space.n)
    return np.stack(
        [np.ones(n, dtype=bool) if ob.action_mask is None else np.asarray(ob.action_mask, dtype=bool).reshape(n)
         for ob in observations]
    )


def _masked_sample(policy: BasePolicy, obs_tensor: th.Tensor, mask: Any, deterministic: bool) -> tuple:
    """Sample from the policy's categorical distribution restricted to the legal actions in ``mask``.

    Returns ``(action, log_prob under the unmasked distribution, distribution)``.
    """
    dist = policy.get_distribution(obs_tensor)
    logits = dist.distribution.logits
    legal = th.as_tensor(np.asarray(mask, dtype=bool), device=logits.device).reshape(logits.shape)
    if not legal.any(dim=-1).all():
        raise PlayerException("the action mask allows no action")
    masked = th.distributions.Categorical(logits=logits.masked_fill(~legal, float("-inf")))
    action = masked.probs.argmax(dim=-1) if deterministic else masked.sample()
    return action, dist.log_prob(action), dist


def _step_flags(terminated: bool, truncated: bool, terminal_raw: Any) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """``dones`` and ``infos`` of one env's step, as SB3's ``DummyVecEnv`` reports them."""
    info: dict[str, Any] = {"TimeLimit.truncated": truncated and not terminated}
    if terminated or truncated:
        info["terminal_observation"] = terminal_raw
    return np.array([terminated or truncated]), [info]


class _LearningAgent(Agent):
    """Shared set-up of the SB3-backed learning partners."""

    is_learning = True
    default_log_interval = 1

    def __init__(
        self,
        model: Any,
        log_interval: int | None = None,
        working_timesteps: int = 1000,
        callback: Any = None,
        tb_log_name: str = "Agent",
        tensorboard_log: str | None = None,
        reset_num_timesteps: bool = True,
    ) -> None:
        if tensorboard_log is not None:
            warnings.warn(
                "tensorboard_log= on a partner agent is deprecated; set it on the model instead",
                DeprecationWarning,
                stacklevel=3,
            )
            model.tensorboard_log = tensorboard_log
        if not isinstance(working_timesteps, int) or working_timesteps < 1:
            raise PlayerException(f"working_timesteps must be a positive integer, got {working_timesteps!r}")
        self.model = model
        self.observation_space = model.observation_space
        self.action_space = model.action_space
        self.working_timesteps = working_timesteps
        self.log_interval = (
            log_interval
            if log_interval is not None
            else (self.default_log_interval if model.verbose else None)
        )
        self.tb_log_name = tb_log_name
        self.reset_num_timesteps = reset_num_timesteps
        self._user_callback = callback
        self.callback: Any = None
        self._started = False
        self._stopped = False
        self._pending: tuple | None = None  # the last action, waiting for its step result
        self._reward = 0.0
        self._done = False
        self._ep_reward = 0.0
        self._ep_len = 0

    def learn(self, **kwargs: Any) -> Any:
        """Train the wrapped model directly (``model.learn``)."""
        return self.model.learn(**kwargs)

    # -- the training cycle, as SB3's learn(working_timesteps, reset_num_timesteps=...) would set it up
    def _start_cycle(self, first: bool) -> None:
        m = self.model
        m.start_time = time.time_ns()
        if first and (self.reset_num_timesteps or m.ep_info_buffer is None):
            m.ep_info_buffer = deque(maxlen=m._stats_window_size)
            m.ep_success_buffer = deque(maxlen=m._stats_window_size)
        if first and self.reset_num_timesteps:
            m.num_timesteps = 0
            m._episode_num = 0
        if first:
            m._last_episode_starts = np.ones((1,), dtype=bool)
        if m.action_noise is not None:
            m.action_noise.reset()
        m._total_timesteps = m.num_timesteps + self.working_timesteps
        m._num_timesteps_at_start = m.num_timesteps
        if first and not m._custom_logger:
            m._logger = sb3_utils.configure_logger(
                m.verbose, m.tensorboard_log, self.tb_log_name, self.reset_num_timesteps
            )
        self._iteration = 0  # SB3 counts iterations per learn() call
        self.callback = m._init_callback(self._user_callback, False)
        self.callback.on_training_start({"self": m, "total_timesteps": m._total_timesteps}, globals())
        self._started = True

    def _maybe_next_cycle(self) -> None:
        if self.model.num_timesteps >= self.model._total_timesteps:
            self.callback.on_training_end()
            self._start_cycle(first=False)

    def _stop(self) -> None:
        self._stopped = True
        self.callback.on_training_end()

    # -- the Agent protocol
    def update(self, reward: float, done: bool) -> None:
        self._reward += reward
        self._ep_reward += reward
        self._done = done

    def observe(self, obs: Observation) -> None:
        if self._pending is not None and not self._stopped:
            self._complete(batch_obs(self.observation_space, obs.obs), False, False, None)

    def end_episode(self, obs: Observation | None, terminated: bool, truncated: bool) -> None:
        if not self._ep_len:  # shown an observation but never asked to act: nothing to close
            return
        if self.model.ep_info_buffer is not None:  # recorded first, as SB3's Monitor info precedes its logs
            self.model.ep_info_buffer.extend([{"r": self._ep_reward, "l": self._ep_len, "t": 0.0}])
        self._ep_reward, self._ep_len = 0.0, 0
        if self._stopped:
            return
        if self._pending is not None:
            raw = obs.obs if obs is not None else self._pending[0][0]
            self._complete(batch_obs(self.observation_space, raw), terminated, truncated, raw)
        else:
            # The last step was already completed as "not done" (its next observation had arrived) and then
            # the caller cut the episode short with reset(): mark that step as the episode's end.
            self._close_completed(obs, terminated, truncated)

    def _close_completed(self, obs: Observation | None, terminated: bool, truncated: bool) -> None:
        raise NotImplementedError

    def get_action(self, obs: Observation, record: Any = _UNSET) -> Any:
        _warn_record(record)
        vec_obs = batch_obs(self.observation_space, obs.obs)
        if self._stopped:
            action, _ = self.model.policy.predict(vec_obs, deterministic=False)
            return action[0]
        if not self._started:
            self._start_cycle(first=True)
        if self._pending is not None:
            # The step result arrives with this request (a legacy driver that gives no hooks).
            self._complete(vec_obs, self._done, False, obs.obs if self._done else None)
        self._ep_len += 1
        return self._act(vec_obs, obs)

    def _complete(self, new_obs: Any, terminated: bool, truncated: bool, terminal_raw: Any) -> None:
        raise NotImplementedError

    def _act(self, vec_obs: Any, obs: Observation) -> Any:
        raise NotImplementedError


class OnPolicyAgent(_LearningAgent):
    """A learning partner wrapping an SB3 ``OnPolicyAlgorithm`` (PPO, A2C) built on ``env.get_dummy_env(p)``.

    :param model: the algorithm; its rollout buffer must hold one env.
    :param log_interval: log every this many rollouts (default 1 if the model is verbose, else never).
    :param working_timesteps: the horizon of progress-based schedules and callbacks; when reached, a new
        cycle starts as if ``learn(working_timesteps, reset_num_timesteps=False)`` were called again.
    :param callback: SB3 callback(s); returning ``False`` stops learning (the agent keeps acting).
    :param tb_log_name: TensorBoard run name.
    :param reset_num_timesteps: start counting at 0 (``False``: a loaded model continues its count, as
        ``learn(reset_num_timesteps=False)``).
    """

    def __init__(
        self,
        model: OnPolicyAlgorithm,
        log_interval: int | None = None,
        working_timesteps: int = 1000,
        callback: Any = None,
        tb_log_name: str = "OnPolicyAgent",
        tensorboard_log: str | None = None,
        reset_num_timesteps: bool = True,
    ) -> None:
        if not isinstance(model, OnPolicyAlgorithm):
            raise SpaceException(
                f"OnPolicyAgent wraps an on-policy SB3 algorithm (PPO, A2C, ...), got {type(model).__name__}; "
                f"use OffPolicyAgent for DQN, SAC, TD3"
            )
        super().__init__(
            model, log_interval, working_timesteps, callback, tb_log_name, tensorboard_log, reset_num_timesteps
        )
        self.n_steps = model.n_steps
        self._n_collected = 0
        self._rollout_open = False

    def _act(self, vec_obs: Any, obs: Observation) -> Any:
        mask = obs.action_mask if isinstance(self.action_space, spaces.Discrete) else None
        actions, values, log_probs, clipped = self._sample(vec_obs, mask, 1)
        m = self.model
        m._last_obs = vec_obs
        self._pending = (vec_obs, actions, values, log_probs)
        self._reward, self._done = 0.0, False
        return clipped[0]

    def _sample(self, vec_obs: Any, mask: Any, n_envs: int) -> tuple:
        """One policy step for ``n_envs`` rows, as SB3's ``collect_rollouts`` (opening the rollout first):
        ``(actions, values, log_probs, actions clipped to the action space)``; ``mask``: legal actions or None."""
        m = self.model
        if not self._rollout_open:
            m.policy.set_training_mode(False)
            m.rollout_buffer.reset()
            if m.use_sde:
                m.policy.reset_noise(n_envs)
            self.callback.on_rollout_start()
            self._rollout_open = True
        if m.use_sde and m.sde_sample_freq > 0 and self._n_collected % m.sde_sample_freq == 0:
            m.policy.reset_noise(n_envs)
        with th.no_grad():
            obs_tensor = obs_as_tensor(vec_obs, m.device)
            if mask is not None:
                actions, log_probs, _ = _masked_sample(m.policy, obs_tensor, mask, False)
                values = m.policy.predict_values(obs_tensor)
            else:
                actions, values, log_probs = m.policy(obs_tensor)
        actions = actions.cpu().numpy()
        clipped = actions
        if isinstance(self.action_space, spaces.Box):
            if m.policy.squash_output:
                clipped = m.policy.unscale_action(clipped)
            else:
                clipped = np.clip(actions, self.action_space.low, self.action_space.high)
        return actions, values, log_probs, clipped

    def _complete(self, new_obs: Any, terminated: bool, truncated: bool, terminal_raw: Any) -> None:
        last_obs, actions, values, log_probs = self._pending
        self._pending = None
        dones, infos = _step_flags(terminated, truncated, terminal_raw)
        rewards = np.array([self._reward], dtype=np.float32)
        starts = self.model._last_episode_starts
        self._add_row(last_obs, actions, rewards, dones, infos, values, log_probs, starts, new_obs)

    def _add_row(
        self,
        last_obs: Any,
        actions: np.ndarray,
        rewards: np.ndarray,
        dones: np.ndarray,
        infos: list[dict[str, Any]],
        values: th.Tensor,
        log_probs: th.Tensor,
        episode_starts: np.ndarray,
        new_obs: Any,
    ) -> None:
        """One step of every env of the model (a row of its rollout buffer), as SB3's ``collect_rollouts``."""
        m = self.model
        m.num_timesteps += len(dones)
        self.callback.update_locals(
            {
                "new_obs": new_obs,
                "rewards": rewards,
                "dones": dones,
                "infos": infos,
                "actions": actions,
                "values": values,
                "log_probs": log_probs,
            }
        )
        if not self.callback.on_step():
            self._stop()
            return
        self._n_collected += 1
        if isinstance(self.action_space, spaces.Discrete):
            actions = actions.reshape(-1, 1)
        for i, info in enumerate(infos):
            if dones[i] and info.get("terminal_observation") is not None and info.get("TimeLimit.truncated", False):
                terminal_obs = m.policy.obs_to_tensor(info["terminal_observation"])[0]
                with th.no_grad():
                    terminal_value = m.policy.predict_values(terminal_obs)[0]
                rewards[i] += m.gamma * terminal_value
        m.rollout_buffer.add(last_obs, actions, rewards, episode_starts, values, log_probs)
        m._last_obs = new_obs
        m._last_episode_starts = dones
        if self._n_collected >= self.n_steps:
            self._train(new_obs, dones)

    def _close_completed(self, obs: Observation | None, terminated: bool, truncated: bool) -> None:
        m = self.model
        m._last_episode_starts = np.array([True])
        if truncated and not terminated and obs is not None and self._rollout_open and self._n_collected:
            # The bootstrap SB3 adds on a time-limit step, applied to the stored reward in the same float32 way.
            terminal_obs = m.policy.obs_to_tensor(obs.obs)[0]
            with th.no_grad():
                terminal_value = m.policy.predict_values(terminal_obs)[0]
            rewards = m.rollout_buffer.rewards[m.rollout_buffer.pos - 1]
            rewards[0] += m.gamma * terminal_value
        # A rollout that already trained on this step bootstrapped it with V(obs): the same value.

    def _train(self, new_obs: Any, dones: np.ndarray) -> None:
        m = self.model
        with th.no_grad():
            values = m.policy.predict_values(obs_as_tensor(new_obs, m.device))
        m.rollout_buffer.compute_returns_and_advantage(last_values=values, dones=dones)
        self.callback.update_locals({"values": values, "dones": dones, "new_obs": new_obs})
        self.callback.on_rollout_end()
        self._n_collected = 0
        self._rollout_open = False
        self._iteration += 1
        m._update_current_progress_remaining(m.num_timesteps, m._total_timesteps)
        if self.log_interval is not None and self._iteration % self.log_interval == 0:
            m.dump_logs(self._iteration)
        m.train()
        self._maybe_next_cycle()


class OffPolicyAgent(_LearningAgent):
    """A learning partner wrapping an SB3 ``OffPolicyAlgorithm`` (DQN, SAC, TD3) built on
    ``env.get_dummy_env(p)``. Parameters as :class:`OnPolicyAgent`; logs every ``log_interval`` episodes
    (default 4 if verbose)."""

    default_log_interval = 4

    def __init__(
        self,
        model: OffPolicyAlgorithm,
        log_interval: int | None = None,
        working_timesteps: int = 1000,
        callback: Any = None,
        tb_log_name: str = "OffPolicyAgent",
        tensorboard_log: str | None = None,
        reset_num_timesteps: bool = True,
    ) -> None:
        if not isinstance(model, OffPolicyAlgorithm):
            raise SpaceException(
                f"OffPolicyAgent wraps an off-policy SB3 algorithm (DQN, SAC, TD3, ...), got "
                f"{type(model).__name__}; use OnPolicyAgent for PPO and A2C"
            )
        super().__init__(
            model, log_interval, working_timesteps, callback, tb_log_name, tensorboard_log, reset_num_timesteps
        )
        self._steps_in_rollout = 0
        self._episodes_in_rollout = 0
        self._rollout_open = False
        self._episode_timesteps = 0

    def _act(self, vec_obs: Any, obs: Observation) -> Any:
        m = self.model
        if not self._rollout_open:
            m.policy.set_training_mode(False)
            self._steps_in_rollout = self._episodes_in_rollout = 0
            if m.use_sde:
                m.actor.reset_noise(1)
            self.callback.on_rollout_start()
            self._rollout_open = True
        if m.use_sde and m.sde_sample_freq > 0 and self._steps_in_rollout % m.sde_sample_freq == 0:
            m.actor.reset_noise(1)
        m._last_obs = vec_obs
        actions, buffer_actions = m._sample_action(m.learning_starts, m.action_noise, 1)
        if obs.action_mask is not None and isinstance(self.action_space, spaces.Discrete):
            best = self._legal_choice(vec_obs, obs.action_mask, int(actions[0]))
            if best != int(actions[0]):
                actions = buffer_actions = np.array([best])
        self._pending = (vec_obs, buffer_actions)
        self._reward, self._done = 0.0, False
        return actions[0]

    def _legal_choice(self, vec_obs: Any, mask: Any, action: int) -> int:
        """``action`` if the mask allows it; otherwise a legal one: random while exploring (warm-up, or with
        the exploration rate), else the best legal action by Q-value. The replay buffer stores what was played."""
        m = self.model
        legal = np.flatnonzero(np.asarray(mask, dtype=bool))
        if action in legal:
            return action
        exploring = m.num_timesteps < m.learning_starts or (
            m.action_space.np_random.random() < getattr(m, "exploration_rate", 0.0)
        )
        if exploring or not hasattr(m, "q_net"):
            return int(legal[int(m.action_space.np_random.integers(len(legal)))])
        with th.no_grad():
            q = m.q_net(obs_as_tensor(vec_obs, m.device))[0].cpu().numpy()
        return int(legal[int(np.argmax(q[legal]))])

    def _complete(self, new_obs: Any, terminated: bool, truncated: bool, terminal_raw: Any) -> None:
        last_obs, buffer_actions = self._pending
        self._pending = None
        dones, infos = _step_flags(terminated, truncated, terminal_raw)
        self._add_row(last_obs, buffer_actions, np.array([self._reward], dtype=np.float32), dones, infos, new_obs)

    def _add_row(
        self,
        last_obs: Any,
        buffer_actions: np.ndarray,
        rewards: np.ndarray,
        dones: np.ndarray,
        infos: list[dict[str, Any]],
        new_obs: Any,
    ) -> None:
        """One step of every env of the model into its replay buffer, as SB3's ``collect_rollouts``."""
        m = self.model
        m.num_timesteps += len(dones)
        self._steps_in_rollout += 1
        self.callback.update_locals({"new_obs": new_obs, "rewards": rewards, "dones": dones, "infos": infos})
        if not self.callback.on_step():
            self._stop()
            return
        m._last_obs = last_obs
        m._store_transition(m.replay_buffer, buffer_actions, new_obs, rewards, dones, infos)
        m._update_current_progress_remaining(m.num_timesteps, m._total_timesteps)
        m._on_step()
        for done in dones:
            if done:
                self._count_episode()
        self._maybe_end_rollout()

    def _count_episode(self) -> None:
        m = self.model
        self._episodes_in_rollout += 1
        m._episode_num += 1
        if m.action_noise is not None:
            m.action_noise.reset()
        if self.log_interval is not None and m._episode_num % self.log_interval == 0:
            m.dump_logs()

    def _close_completed(self, obs: Observation | None, terminated: bool, truncated: bool) -> None:
        # Mark the stored step done (a time-limit end keeps its bootstrap through `timeouts`, as in SB3).
        rb = self.model.replay_buffer
        pos = (rb.pos - 1) % rb.buffer_size
        rb.dones[pos] = True
        if rb.handle_timeout_termination:
            rb.timeouts[pos] = truncated and not terminated
        self._count_episode()
        if self._rollout_open:
            self._maybe_end_rollout()

    def _maybe_end_rollout(self) -> None:
        m = self.model
        if not should_collect_more_steps(m.train_freq, self._steps_in_rollout, self._episodes_in_rollout):
            self.callback.on_rollout_end()
            self._rollout_open = False
            if m.num_timesteps > 0 and m.num_timesteps > m.learning_starts:
                gradient_steps = m.gradient_steps if m.gradient_steps >= 0 else self._steps_in_rollout
                if gradient_steps > 0:
                    m.train(batch_size=m.batch_size, gradient_steps=gradient_steps)
            self._maybe_next_cycle()


class StaticPolicyAgent(Agent):
    """A frozen partner: inference with any SB3 policy, no learning.

    :param policy: an SB3 policy (e.g. ``model.policy``).
    :param deterministic: take the most likely action instead of sampling (the original always sampled).
    """

    def __init__(self, policy: BasePolicy, deterministic: bool = False) -> None:
        if not isinstance(policy, BasePolicy):
            raise PlayerException(
                f"StaticPolicyAgent needs an SB3 policy (e.g. model.policy), got {type(policy).__name__}"
            )
        self.policy = policy
        self.deterministic = deterministic
        self.observation_space = policy.observation_space
        self.action_space = policy.action_space

    def get_action(self, obs: Observation, record: Any = _UNSET) -> Any:
        _warn_record(record)
        if obs.action_mask is not None and isinstance(self.action_space, spaces.Discrete):
            return self._masked(obs.obs, np.asarray(obs.action_mask, dtype=bool).reshape(1, -1))[0]
        action, _ = self.policy.predict(obs.obs, deterministic=self.deterministic)
        return action

    def _masked(self, batch: Any, masks: np.ndarray) -> np.ndarray:
        """Legal actions for a batch: sampled from the masked distribution, or for value-based policies (DQN,
        which have no distribution) the legal action with the highest Q-value."""
        if self.policy.training:
            self.policy.set_training_mode(False)
        with th.no_grad():
            obs_tensor, _ = self.policy.obs_to_tensor(batch)
            if not hasattr(self.policy, "get_distribution") and hasattr(self.policy, "q_net"):
                q = self.policy.q_net(obs_tensor).cpu().numpy()
                q[~masks] = -np.inf
                return q.argmax(axis=1)
            action, _, _ = _masked_sample(self.policy, obs_tensor, masks, self.deterministic)
        return action.cpu().numpy()

    def get_actions(self, observations: list[Observation], columns: Any = None) -> list[Any]:
        """Actions for a batch of observations (one per game copy) in one forward pass."""
        batch = stack_obs(self.observation_space, [ob.obs for ob in observations])
        masks = stack_masks(self.action_space, observations)
        if masks is not None:
            return list(self._masked(batch, masks))
        # policy.predict, without its per-call switch of every module to eval mode
        policy = self.policy
        if policy.training:
            policy.set_training_mode(False)
        obs_tensor, _ = policy.obs_to_tensor(batch)
        with th.no_grad():
            actions = policy._predict(obs_tensor, deterministic=self.deterministic)
        actions = actions.cpu().numpy().reshape((-1, *self.action_space.shape))
        if isinstance(self.action_space, spaces.Box):
            if policy.squash_output:
                actions = policy.unscale_action(actions)
            else:
                actions = np.clip(actions, self.action_space.low, self.action_space.high)
        return list(actions)

    def update(self, reward: float, done: bool) -> None:
        pass


class RecordingAgentWrapper(Agent):
    """Delegates to ``realagent`` and records its (observation, action) pairs."""

    def __init__(self, realagent: Agent) -> None:
        self.realagent = realagent
        self.allobs: list[Any] = []
        self.allacts: list[Any] = []
        for name in ("observation_space", "action_space", "is_learning"):
            if hasattr(realagent, name):
                setattr(self, name, getattr(realagent, name))

    def get_action(self, obs: Observation, record: Any = _UNSET) -> Any:
        _warn_record(record)
        action = self.realagent.get_action(obs)
        self.allobs.append(np.array(obs.obs, copy=True))
        self.allacts.append(np.array(action, copy=True))
        return action

    def update(self, reward: float, done: bool) -> None:
        self.realagent.update(reward, done)

    def observe(self, obs: Observation) -> None:
        hook = getattr(self.realagent, "observe", None)
        if hook is not None:
            hook(obs)

    def end_episode(self, obs: Observation | None, terminated: bool, truncated: bool) -> None:
        hook = getattr(self.realagent, "end_episode", None)
        if hook is not None:
            hook(obs, terminated, truncated)

    def get_transitions(self) -> TransitionsMinimal:
        return TransitionsMinimal(np.array(self.allobs), np.array(self.allacts))
