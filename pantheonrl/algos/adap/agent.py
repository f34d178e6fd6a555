"""ADAP partners: an ADAP model playing a seat, with its own latent or the ego's (a *latent syncer*).

**Single game** (a :class:`~pantheonrl.MultiAgentEnv`): ``AdapAgent(ADAP("MlpPolicy", env.get_dummy_env(1)))``
learns like :class:`~pantheonrl.OnPolicyAgent` (the same rollout/update cycle), storing rows ``obs ⊕ z``. Its
latent is redrawn when an episode ends, unless ``latent_syncer`` is given: then it plays every episode with the
syncer's current latent, so ego and partner share one convention per episode.

**Vectorised games** (:class:`~pantheonrl.vec.MultiAgentVecEnv` with ``n_envs > 1``): a *learning* AdapAgent
plays one game only (the vec env refuses it, as it refuses any learning agent that is not a column learner).
What is supported is the *shared-policy partner*: the agent answers batches with ``get_actions(observations,
columns)`` using its model's current weights, frozen (nothing is recorded or trained on the partner's side),
and the latent of each request's game copy. :meth:`AdapAgent.add_to_copies` seats one view per copy::

    venv = MultiAgentVecEnv(lambda: KArmCoordination(), n_envs=8)
    ego = ADAP("MlpPolicy", venv)
    AdapAgent(ego, latent_syncer=ego).add_to_copies(venv, player_num=1)  # self-play, one z per copy
    ego.learn(30_000)

Wrapping the ego's own model makes the partner play with the ego's live weights and the ego's per-copy z:
self-play in which each latent is one convention (docs/algorithms.md, section 6.1). Without a syncer, each
copy's view draws its own latent at each of its episode ends.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces

from pantheonrl.algos.adap.adap_learn import ADAP
from pantheonrl.algos.adap.policies import AdapPolicy, augment_observations
from pantheonrl.common.agents import _UNSET, Agent, OnPolicyAgent, _masked_sample, stack_masks, stack_obs
from pantheonrl.common.observation import Observation
from pantheonrl.errors import ConfigError, PlayerException

__all__ = ["AdapAgent", "AdapAgentView"]


class _AdapLearner(OnPolicyAgent):
    """:class:`OnPolicyAgent`'s cycle with rows ``obs ⊕ z`` (the z chosen by the owning :class:`AdapAgent`)."""

    def __init__(self, owner: AdapAgent, *args: Any) -> None:
        super().__init__(*args)
        self._owner = owner
        self._played_z: np.ndarray | None = None

    def _act(self, vec_obs: Any, obs: Observation) -> Any:
        self._played_z = self._owner._current_z
        return super()._act(augment_observations(vec_obs, self._played_z[None]), obs)

    def _complete(self, new_obs: Any, terminated: bool, truncated: bool, terminal_raw: Any) -> None:
        # The step belongs to the episode its action was played in: its next row uses that episode's z.
        super()._complete(augment_observations(new_obs, self._played_z[None]), terminated, truncated, terminal_raw)


def _resolve_syncer(syncer: Any) -> tuple[ADAP | None, AdapPolicy | None]:
    """``(algorithm, policy)`` of a latent syncer: an ADAP algorithm, or its policy (accept either)."""
    if syncer is None:
        return None, None
    if isinstance(syncer, ADAP):
        return syncer, syncer.policy
    policy = syncer if isinstance(syncer, AdapPolicy) else getattr(syncer, "policy", None)
    if not isinstance(policy, AdapPolicy):
        raise ConfigError(
            f"latent_syncer must be an ADAP algorithm or its AdapPolicy (ego or ego.policy), got "
            f"{type(syncer).__name__}"
        )
    owner = policy._latent_owner() if policy._latent_owner is not None else None
    return owner, policy


class AdapAgent(Agent):
    """An ADAP model as a partner (see the module docstring for single and vectorised games).

    :param model: an :class:`ADAP` built on the seat's spaces (``env.get_dummy_env(player)``) to learn in one
        game; any ADAP model (e.g. the ego itself) for frozen batched play through :meth:`get_actions`.
    :param log_interval, working_timesteps, callback, tb_log_name, reset_num_timesteps: as
        :class:`~pantheonrl.OnPolicyAgent`.
    :param latent_syncer: an :class:`ADAP` algorithm or its policy whose current latent this agent plays with;
        with an algorithm, the latent of the same game copy (``latents[copy]``), with a bare policy
        ``policy.get_context()``. ``None``: the agent draws its own latent each episode.
    :param tensorboard_log: deprecated; set it on the model.
    :param deterministic: frozen play (:meth:`get_actions`) takes the most likely action instead of sampling.
    """

    is_learning = True

    def __init__(
        self,
        model: ADAP,
        log_interval: int | None = None,
        working_timesteps: int = 1000,
        callback: Any = None,
        tb_log_name: str = "AdapAgent",
        latent_syncer: Any = None,
        tensorboard_log: str | None = None,
        reset_num_timesteps: bool = True,
        *,
        deterministic: bool = False,
    ) -> None:
        if not isinstance(model, ADAP):
            raise ConfigError(
                f"AdapAgent wraps an ADAP model, got {type(model).__name__}; use OnPolicyAgent for PPO/A2C"
            )
        self._learner = _AdapLearner(
            self, model, log_interval, working_timesteps, callback, tb_log_name, tensorboard_log, reset_num_timesteps
        )
        self.model = model
        self.observation_space = model.observation_space
        self.action_space = model.action_space
        self.deterministic = deterministic
        self.column = 0  # the game copy whose latent a single-game agent follows
        self._own: dict[int, np.ndarray] = {}
        self.set_latent_syncer(latent_syncer)

    def set_latent_syncer(self, latent_syncer: Any) -> None:
        """Follow ``latent_syncer``'s latent from now on (``None``: draw its own); e.g. once the ego is built."""
        self.latent_syncer = latent_syncer
        self._sync_algo, self._sync_policy = _resolve_syncer(latent_syncer)
        self._current_z = self.latent_for(self.column)

    @property
    def log_interval(self) -> int | None:
        """Episodes between the learner's log dumps (``None``: never), as on :class:`~pantheonrl.OnPolicyAgent`."""
        return self._learner.log_interval

    @log_interval.setter
    def log_interval(self, value: int | None) -> None:
        self._learner.log_interval = value

    def __getattr__(self, name: str) -> Any:
        # The learning state (callback, _stopped, n_steps, ...) lives on the wrapped OnPolicyAgent machinery.
        learner = self.__dict__.get("_learner")
        if learner is None or name.startswith("__"):
            raise AttributeError(name)
        return getattr(learner, name)

    # ------------------------------------------------------------------ latents
    def latent_for(self, column: int | None = None) -> np.ndarray:
        """The latent this agent plays with in game copy ``column`` (default: its own copy)."""
        column = self.column if column is None else int(column)
        if self._sync_algo is not None:
            if not 0 <= column < len(self._sync_algo.latents):
                raise PlayerException(
                    f"game copy {column} has no latent: the syncer keeps {len(self._sync_algo.latents)} (one per env)"
                )
            return self._sync_algo.latents[column].copy()
        if self._sync_policy is not None:
            return self._sync_policy.get_context()[0].cpu().numpy()
        if column not in self._own:
            self._own[column] = self.model.sample_contexts(1)[0]
        return self._own[column].copy()

    def _episode_ended(self, column: int) -> None:
        if self._sync_algo is not None:
            self._sync_algo.resample_latent(column)  # before the next episode starts (see ADAP.resample_latent)
        elif self._sync_policy is None:
            self._own[column] = self.model.sample_contexts(1)[0]

    # ------------------------------------------------------------------ learning play in one game
    def get_action(self, obs: Observation, record: Any = _UNSET) -> Any:
        self._current_z = self.latent_for(self.column)
        self.model.policy.set_context(self._current_z)  # for the machinery's plain-observation calls
        return self._learner.get_action(obs, record)

    def update(self, reward: float, done: bool) -> None:
        self._learner.update(reward, done)

    def observe(self, obs: Observation) -> None:
        self._learner.observe(obs)

    def end_episode(self, obs: Observation | None, terminated: bool, truncated: bool) -> None:
        self._learner.end_episode(obs, terminated, truncated)
        self._episode_ended(self.column)

    def learn(self, **kwargs: Any) -> Any:
        """Train the wrapped model directly (``model.learn``)."""
        return self.model.learn(**kwargs)

    # ------------------------------------------------------------------ frozen batched play
    def get_actions(self, observations: list[Observation], columns: list[int | None] | None = None) -> list[Any]:
        """Actions for a batch of requests with the model's current weights (nothing recorded or trained).

        ``columns[k]`` is the game copy of request k; its latent is :meth:`latent_for` that copy (``None``: the
        agent's own copy).
        """
        cols = [self.column if c is None else c for c in (columns or [None] * len(observations))]
        policy = self.model.policy
        batch = stack_obs(self.observation_space, [ob.obs for ob in observations])
        latents = np.stack([self.latent_for(c) for c in cols])
        rows = th.as_tensor(augment_observations(batch, latents), device=policy.device)
        masks = stack_masks(self.action_space, observations)
        with th.no_grad():
            if masks is not None:
                actions, _, _ = _masked_sample(policy, rows, masks, self.deterministic)
            else:
                actions = policy.get_distribution(rows).get_actions(deterministic=self.deterministic)
        actions = actions.cpu().numpy().reshape((-1, *self.action_space.shape))
        if isinstance(self.action_space, spaces.Box):
            actions = np.clip(actions, self.action_space.low, self.action_space.high)
        return list(actions)

    def view(self, column: int) -> AdapAgentView:
        """The frozen partner for game copy ``column`` (answers through :meth:`get_actions`)."""
        return AdapAgentView(self, column)

    def add_to_copies(self, venv: Any, player_num: int = 1) -> list[AdapAgentView]:
        """Seat one frozen view per game copy of ``venv`` (a :class:`~pantheonrl.vec.MultiAgentVecEnv`) in
        ``player_num``'s seat; the vec env asks them in one batch per round."""
        views = [self.view(c) for c in range(len(venv.envs))]
        for view, env in zip(views, venv.envs):
            env.add_partner_agent(view, player_num)
        return views


class AdapAgentView(Agent):
    """Game copy ``column``'s seat for an :class:`AdapAgent` playing frozen with per-copy latents."""

    is_learning = False

    def __init__(self, agent: AdapAgent, column: int) -> None:
        if isinstance(column, bool) or not isinstance(column, int | np.integer) or column < 0:
            raise PlayerException(f"column must be a game copy index >= 0, got {column!r}")
        self.batch_owner = agent
        self.column = int(column)
        self.observation_space = agent.observation_space
        self.action_space = agent.action_space

    def get_action(self, obs: Observation) -> Any:
        return self.batch_owner.get_actions([obs], [self.column])[0]

    def update(self, reward: float, done: bool) -> None:
        pass

    def end_episode(self, obs: Observation | None, terminated: bool, truncated: bool) -> None:
        self.batch_owner._episode_ended(self.column)
