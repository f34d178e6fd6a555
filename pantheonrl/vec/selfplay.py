"""Shared-weight self-play: one model plays several seats of every game copy and learns from all of them.

Each (copy, seat) pair is one column of the model's buffers, so the model is built on ``n_copies x seats``
environments (:meth:`SharedWeightSelfPlay.get_dummy_env`). Seats decide when the game makes them due: in a
simultaneous game every seat of every copy acts each round (one forward pass for all); in a turn-based game
only the mover does, and each column's transitions wait in its queue until every column has one (see
:mod:`pantheonrl.vec.columns`). Seats not in ``seats`` are played by the partners attached to the copies.
"""

from __future__ import annotations

from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

from pantheonrl.common.agents import OffPolicyAgent, OnPolicyAgent
from pantheonrl.errors import ConfigError, PlayerException
from pantheonrl.vec.columns import ColumnLearner
from pantheonrl.vec.driver import drive_batched
from pantheonrl.vec.vecenv import EnvFns, SpacesVecEnv, make_copies

__all__ = ["SharedWeightSelfPlay"]


class SharedWeightSelfPlay:
    """Train one SB3 model in several seats of N game copies at once (parameter sharing).

    :param env_fns: a factory ``() -> MultiAgentEnv`` (with ``n_envs``) or one factory per copy.
    :param n_envs: the number of copies when ``env_fns`` is one factory.
    :param seats: the players the model plays (default: all); they must share observation and action spaces.
    """

    def __init__(self, env_fns: EnvFns, n_envs: int | None = None, seats: list[int] | None = None) -> None:
        self.envs = make_copies(env_fns, n_envs)
        game = self.envs[0]
        self.seats = list(range(game.n_players)) if seats is None else [int(s) for s in seats]
        for seat in self.seats:
            game._check_player(seat, "seat")
        if len(set(self.seats)) != len(self.seats) or not self.seats:
            raise ConfigError(f"seats must be distinct players of the game, got {seats!r}")
        if game.ego_ind not in self.seats:
            raise ConfigError(
                f"seats {self.seats} must include the game's ego seat (player {game.ego_ind}); set ego_ind on the game"
            )
        first = self.seats[0]
        for seat in self.seats[1:]:
            if (
                game.observation_spaces[seat] != game.observation_spaces[first]
                or game.action_spaces[seat] != game.action_spaces[first]
            ):
                raise ConfigError(
                    f"players {first} and {seat} have different spaces; shared weights need the same observation "
                    f"and action spaces in every shared seat"
                )
        self.n_columns = len(self.envs) * len(self.seats)
        self.learner: ColumnLearner | None = None
        self.model: BaseAlgorithm | None = None

    def column(self, copy: int, player: int) -> int:
        return copy * len(self.seats) + self.seats.index(player)

    def get_dummy_env(self) -> SpacesVecEnv:
        """The env to build the shared model on: one column per (copy, seat)."""
        game = self.envs[0]
        seat = self.seats[0]
        return SpacesVecEnv(self.n_columns, game.observation_spaces[seat], game.action_spaces[seat])

    def attach(
        self,
        model: BaseAlgorithm,
        *,
        callback: Any = None,
        log_interval: int | None = None,
        tb_log_name: str = "SelfPlay",
        reset_num_timesteps: bool = True,
    ) -> None:
        """Seat ``model`` (built on :meth:`get_dummy_env`) in every shared seat of every copy
        (``reset_num_timesteps=False``: a loaded model continues its timestep count)."""
        if self.model is not None:
            raise PlayerException("a model is already attached to this self-play trainer; create a new one")
        agent_cls = OffPolicyAgent if isinstance(model, OffPolicyAlgorithm) else OnPolicyAgent
        agent = agent_cls(
            model,
            log_interval=log_interval,
            callback=callback,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
        )
        self.learner = ColumnLearner(agent, self.n_columns)
        self.model = model
        for c, env in enumerate(self.envs):
            for seat in self.seats:
                if seat != env.ego_ind:
                    env.add_partner_agent(self.learner.view(self.column(c, seat)), seat)

    def learn(self, total_timesteps: int, *, seed: int | None = None) -> BaseAlgorithm:
        """Play until the model has seen ``total_timesteps`` transitions (all columns together)."""
        if self.model is None or self.learner is None:
            raise PlayerException("attach a model first: trainer.attach(PPO('MlpPolicy', trainer.get_dummy_env()))")
        if not isinstance(total_timesteps, int) or total_timesteps < 1:
            raise ConfigError(f"total_timesteps must be a positive integer, got {total_timesteps!r}")
        agent = self.learner.agent
        agent.working_timesteps = total_timesteps
        counted = 0 if agent.reset_num_timesteps and not agent._started else self.model.num_timesteps
        target = counted + total_timesteps
        ego_columns = [self.column(c, env.ego_ind) for c, env in enumerate(self.envs)]
        # Copies still mid-episode (a second learn() call) carry on, as SB3's learn keeps its last observation.
        steps = {
            c: env._reset_gen(seed=None if seed is None else seed + c)
            for c, env in enumerate(self.envs)
            if not env._mae_running
        }
        drive_batched(steps)
        while self.model.num_timesteps < target and not agent._stopped:
            observations = [env._mae_last_obs[env.ego_ind] for env in self.envs]
            actions = self.learner.get_actions(observations, ego_columns)
            results = drive_batched({c: self._ego_step(c, actions[c]) for c in range(len(self.envs))})
            for c, (reward, terminated, truncated, terminal) in results.items():
                col = ego_columns[c]
                self.learner.update(col, reward, terminated or truncated)
                if terminated or truncated:
                    self.learner.end_episode(col, terminal, terminated, truncated)
        return self.model

    def _ego_step(self, c: int, action: Any) -> Any:
        env = self.envs[c]
        _, reward, terminated, truncated, _ = yield from env._step_gen(action)
        terminal = env._mae_last_obs.get(env.ego_ind)
        if terminated or truncated:
            yield from env._reset_gen()
        return float(reward), terminated, truncated, terminal
