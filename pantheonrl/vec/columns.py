"""Learning partners over many game copies: one SB3 model whose buffers hold ``n_envs`` columns.

A *column* is one stream of decisions: one seat of one game copy. :class:`ColumnLearner` wraps an
:class:`~pantheonrl.common.agents.OnPolicyAgent` or :class:`~pantheonrl.common.agents.OffPolicyAgent` whose
model was built on ``n_envs`` environments (e.g. ``venv.get_dummy_env(player)``) and plays ``n_envs``
columns. Each column appears in its copy's seat as a :class:`ColumnView`; the views share the learner, so the
vectorised driver asks it once per round for the actions of every copy (one forward pass).

Copies do not always decide in lockstep: in a turn-based game, or with a partner pool, one copy may need
the partner while another waits on a different player. A completed transition is therefore queued in its
column, and a row enters the SB3 buffer (``rollout_buffer.add`` / ``_store_transition``, the calls SB3's own
``collect_rollouts`` makes) as soon as every column has one. When copies do decide in lockstep (simultaneous
games, one partner per seat) this is exactly SB3 with ``n_envs`` environments; with one column it is
exactly the single-game partner, bit for bit. Otherwise a queued transition may have been acted by the
policy before the last update: PPO's stored log-probabilities keep its ratio correct and its clipping bounds
the rest, as with any asynchronous actor.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces

from pantheonrl.common.agents import (
    Agent,
    OffPolicyAgent,
    OnPolicyAgent,
    stack_masks,
    stack_obs,
)
from pantheonrl.common.observation import Observation
from pantheonrl.errors import PlayerException, SpaceException

__all__ = ["ColumnLearner", "ColumnView"]


class ColumnView(Agent):
    """Column ``column`` of a :class:`ColumnLearner`: what sits in one copy's seat."""

    is_learning = True

    def __init__(self, learner: ColumnLearner, column: int) -> None:
        self.batch_owner = learner
        self.column = column
        self.observation_space = learner.observation_space
        self.action_space = learner.action_space

    def get_action(self, obs: Observation) -> Any:
        return self.batch_owner.get_actions([obs], [self.column])[0]

    def update(self, reward: float, done: bool) -> None:
        self.batch_owner.update(self.column, reward, done)

    def observe(self, obs: Observation) -> None:
        self.batch_owner.observe(self.column, obs)

    def end_episode(self, obs: Observation | None, terminated: bool, truncated: bool) -> None:
        self.batch_owner.end_episode(self.column, obs, terminated, truncated)


class _Step:
    """A transition of one column, waiting for the other columns to complete theirs."""

    __slots__ = ("action", "done", "extra", "info", "new_obs", "obs", "reward", "start")

    def __init__(self, obs: Any, action: Any, extra: tuple, start: bool) -> None:
        self.obs, self.action, self.extra, self.start = obs, action, extra, start
        self.reward = np.zeros(1, dtype=np.float32)
        self.new_obs: Any = None
        self.done = False
        self.info: dict[str, Any] = {}


class ColumnLearner:
    """A learning partner playing ``n_columns`` columns of one model (see the module docstring).

    :param agent: an ``OnPolicyAgent`` or ``OffPolicyAgent`` whose model was built on ``n_columns`` envs; its
        settings (``working_timesteps``, callback, logging) apply.
    :param n_columns: how many columns (game copies x seats it plays).
    """

    is_learning = True

    def __init__(self, agent: OnPolicyAgent | OffPolicyAgent, n_columns: int) -> None:
        if not isinstance(agent, OnPolicyAgent | OffPolicyAgent):
            raise PlayerException(
                f"ColumnLearner wraps an OnPolicyAgent or OffPolicyAgent, got {type(agent).__name__}"
            )
        if agent.model.n_envs != n_columns:
            raise SpaceException(
                f"this learning partner's model was built on {agent.model.n_envs} env(s), but it plays {n_columns} "
                f"column(s) (game copies x seats); build its model on venv.get_dummy_env(player)"
            )
        self.agent = agent
        self.model = agent.model
        self.n_columns = n_columns
        self.on_policy = isinstance(agent, OnPolicyAgent)
        self.observation_space = agent.observation_space
        self.action_space = agent.action_space
        self._pending: list[_Step | None] = [None] * n_columns
        self._queues: list[deque[_Step]] = [deque() for _ in range(n_columns)]
        self._reward = [0.0] * n_columns
        self._done = [False] * n_columns
        self._start = [True] * n_columns
        self._ep_reward = [0.0] * n_columns
        self._ep_len = [0] * n_columns

    def view(self, column: int) -> ColumnView:
        if not 0 <= column < self.n_columns:
            raise PlayerException(f"column {column} is out of range: this learner has columns 0..{self.n_columns - 1}")
        return ColumnView(self, column)

    # ------------------------------------------------------------------ acting
    def get_actions(self, observations: list[Observation], columns: list[int]) -> list[Any]:
        agent = self.agent
        batch = stack_obs(self.observation_space, [ob.obs for ob in observations])
        if agent._stopped:
            actions, _ = self.model.policy.predict(batch, deterministic=False)
            return list(actions)
        if not agent._started:
            agent._start_cycle(first=True)
        for col, ob in zip(columns, observations):
            if self._pending[col] is not None:  # a driver without hooks: the step result comes with the request
                done = self._done[col]
                self._complete(col, ob.obs, done, False, ob.obs if done else None)
            self._ep_len[col] += 1
        act = self._act_on if self.on_policy else self._act_off
        return act(batch, observations, columns)

    def _act_on(self, batch: Any, observations: list[Observation], columns: list[int]) -> list[Any]:
        masks = stack_masks(self.action_space, observations)
        actions, values, log_probs, clipped = self.agent._sample(batch, masks, self.n_columns)
        for i, (col, ob) in enumerate(zip(columns, observations)):
            extra = (values[i : i + 1], log_probs[i : i + 1])
            self._begin(col, _Step(ob.obs, actions[i : i + 1], extra, self._start[col]))
        return [clipped[i] for i in range(len(columns))]

    def _act_off(self, batch: Any, observations: list[Observation], columns: list[int]) -> list[Any]:
        agent, m = self.agent, self.model
        if not agent._rollout_open:
            m.policy.set_training_mode(False)
            agent._steps_in_rollout = agent._episodes_in_rollout = 0
            if m.use_sde:
                m.actor.reset_noise(self.n_columns)
            agent.callback.on_rollout_start()
            agent._rollout_open = True
        m._last_obs = batch
        actions, buffer_actions = m._sample_action(m.learning_starts, m.action_noise, len(columns))
        for i, ob in enumerate(observations):
            if ob.action_mask is not None and isinstance(self.action_space, spaces.Discrete):
                row = {k: v[i : i + 1] for k, v in batch.items()} if isinstance(batch, dict) else batch[i : i + 1]
                best = agent._legal_choice(row, ob.action_mask, int(actions[i]))
                actions[i] = buffer_actions[i] = best
        for i, (col, ob) in enumerate(zip(columns, observations)):
            self._begin(col, _Step(ob.obs, buffer_actions[i], (), self._start[col]))
        return [actions[i] for i in range(len(columns))]

    def _begin(self, col: int, step: _Step) -> None:
        self._pending[col] = step
        self._reward[col], self._done[col] = 0.0, False

    # ------------------------------------------------------------------ the Agent hooks, per column
    def update(self, col: int, reward: float, done: bool) -> None:
        self._reward[col] += reward
        self._ep_reward[col] += reward
        self._done[col] = done

    def observe(self, col: int, obs: Observation) -> None:
        if self._pending[col] is not None and not self.agent._stopped:
            self._complete(col, obs.obs, False, False, None)

    def end_episode(self, col: int, obs: Observation | None, terminated: bool, truncated: bool) -> None:
        if not self._ep_len[col]:
            return
        m = self.model
        if m.ep_info_buffer is not None:
            m.ep_info_buffer.extend([{"r": self._ep_reward[col], "l": self._ep_len[col], "t": 0.0}])
        self._ep_reward[col], self._ep_len[col] = 0.0, 0
        if self.agent._stopped:
            return
        pending = self._pending[col]
        if pending is not None:
            raw = obs.obs if obs is not None else pending.obs
            self._complete(col, raw, terminated, truncated, raw)
        else:
            self._close_completed(col, obs, terminated, truncated)

    # ------------------------------------------------------------------ transitions
    def _terminal_value(self, raw: Any) -> th.Tensor:
        terminal_obs = self.model.policy.obs_to_tensor(raw)[0]
        with th.no_grad():
            return self.model.policy.predict_values(terminal_obs)[0]

    def _complete(self, col: int, new_obs: Any, terminated: bool, truncated: bool, terminal_raw: Any) -> None:
        step = self._pending[col]
        self._pending[col] = None
        step.done = terminated or truncated
        step.new_obs = new_obs
        step.reward[0] = self._reward[col]
        step.info = {"TimeLimit.truncated": truncated and not terminated}
        if step.done:
            step.info["terminal_observation"] = terminal_raw  # a time-limit end is bootstrapped when added
        self._start[col] = step.done
        self._queues[col].append(step)
        self._flush()

    def _close_completed(self, col: int, obs: Observation | None, terminated: bool, truncated: bool) -> None:
        """The column's last step was completed as "not done", then the episode was cut short by ``reset()``."""
        self._start[col] = True
        timeout = truncated and not terminated
        if self._queues[col]:
            step = self._queues[col][-1]
            step.done = True
            step.info["TimeLimit.truncated"] = timeout
            if obs is not None:
                step.info["terminal_observation"] = obs.obs
            return
        agent, m = self.agent, self.model
        if self.on_policy:
            if timeout and obs is not None and agent._rollout_open and agent._n_collected:
                m.rollout_buffer.rewards[m.rollout_buffer.pos - 1][col] += m.gamma * self._terminal_value(obs.obs)
            return
        rb = m.replay_buffer
        pos = (rb.pos - 1) % rb.buffer_size
        rb.dones[pos, col] = True
        if rb.handle_timeout_termination:
            rb.timeouts[pos, col] = timeout
        agent._count_episode()
        if agent._rollout_open:
            agent._maybe_end_rollout()

    def _flush(self) -> None:
        """Move rows into the SB3 buffer while every column has a completed transition."""
        while all(self._queues) and not self.agent._stopped:
            rows = [queue.popleft() for queue in self._queues]
            if self.on_policy:
                self._add_on_policy(rows)
            else:
                self._add_off_policy(rows)

    def _row(self, rows: list[_Step]) -> tuple[Any, np.ndarray, np.ndarray, list[dict]]:
        new_obs = stack_obs(self.observation_space, [row.new_obs for row in rows])
        rewards = np.concatenate([row.reward for row in rows])
        dones = np.array([row.done for row in rows])
        return new_obs, rewards, dones, [row.info for row in rows]

    def _add_on_policy(self, rows: list[_Step]) -> None:
        new_obs, rewards, dones, infos = self._row(rows)
        self.agent._add_row(
            stack_obs(self.observation_space, [row.obs for row in rows]),
            np.concatenate([row.action for row in rows]),
            rewards,
            dones,
            infos,
            th.cat([row.extra[0] for row in rows]),
            th.cat([row.extra[1] for row in rows]),
            np.array([row.start for row in rows]),
            new_obs,
        )

    def _add_off_policy(self, rows: list[_Step]) -> None:
        new_obs, rewards, dones, infos = self._row(rows)
        last_obs = stack_obs(self.observation_space, [row.obs for row in rows])
        self.agent._add_row(last_obs, np.stack([row.action for row in rows]), rewards, dones, infos, new_obs)
