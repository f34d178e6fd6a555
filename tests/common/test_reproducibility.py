"""The reproducibility property (docs/pantheonrl-compat.md, 7.2 and 7.3).

An SB3 algorithm trained as the ego through ``learn()`` ends with weights bit-identical to the same
algorithm playing the same base player as a partner (``OnPolicyAgent``/``OffPolicyAgent``) or as a threaded
single-agent learner, given the same seeds. Every tensor of the state dict is compared element for element.
"""

from __future__ import annotations

import threading

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import A2C, DQN, PPO
from stable_baselines3.common.utils import set_random_seed

import pantheonrl  # noqa: F401  (registers the built-in ids)
from pantheonrl.common.agents import OffPolicyAgent, OnPolicyAgent
from pantheonrl.errors import KillEnvException
from tests.common.toygames import TOY_MATCH_ID, CountGame, MatchGame, RandomAgent

GAMES = {
    "RPS-v0": lambda: gym.make("RPS-v0"),
    "LiarsDice-v0": lambda: gym.make("LiarsDice-v0"),
    "BlockEnv-v0": lambda: gym.make("BlockEnv-v0"),
    "BlockEnv-v1": lambda: gym.make("BlockEnv-v1"),
    # Toy games with a horizon: truncations happen mid-rollout, so the truncation bootstrap is exercised.
    "MatchGame": lambda: MatchGame(horizon=12),
    "CountGame": lambda: CountGame(horizon=7),
    # A gymnasium TimeLimit cuts episodes from outside: partners learn it from reset() (a truncation).
    "MatchGame-TimeLimit": lambda: gym.make(TOY_MATCH_ID, max_episode_steps=7),
}
# DQN needs a Discrete action space for player 0.
DQN_GAMES = ["RPS-v0", "BlockEnv-v0", "BlockEnv-v1", "MatchGame", "CountGame", "MatchGame-TimeLimit"]
ROLLOUTS = [1, 5]
N_STEPS = [10, 100, 1000]


def make_model(algo: str, env, n: int):
    if algo == "DQN":
        return DQN("MlpPolicy", env, train_freq=n, learning_starts=32, batch_size=32, buffer_size=20_000, seed=0)
    cls = {"PPO": PPO, "A2C": A2C}[algo]
    return cls("MlpPolicy", env, n_steps=n)


def fresh_env(game: str):
    env = GAMES[game]()
    env.unwrapped.np_random = np.random.default_rng(0)
    return env


def standard_run(algo: str, game: str, n: int, e: int):
    """Player 0 is the ego, trained with ``learn``; player 1 plays at random."""
    set_random_seed(0)
    env = fresh_env(game)
    env.unwrapped.add_partner_agent(RandomAgent(env.unwrapped.action_spaces[1], seed=0))
    model = make_model(algo, env, n)
    model.learn(total_timesteps=n * e)
    return model


def partner_run(algo: str, game: str, n: int, e: int):
    """Player 0 is a partner wrapping the same algorithm; a random driver plays player 1 as the ego."""
    set_random_seed(0)
    env = fresh_env(game)
    base = env.unwrapped
    base.ego_ind = 1
    driver = RandomAgent(base.action_spaces[1], seed=0)
    model = make_model(algo, base.get_dummy_env(0), n)
    wrapper = OffPolicyAgent if algo == "DQN" else OnPolicyAgent
    base.add_partner_agent(wrapper(model, working_timesteps=n * e), player_num=0)
    env.reset(seed=0) if algo == "DQN" else env.reset()
    steps = 0
    # The partner trains as soon as its last step's result is known: no extra step after the last one.
    while model.num_timesteps < n * e:
        _, _, terminated, truncated, _ = env.step(driver.get_action(None))
        steps += 1
        if terminated or truncated:
            env.reset()
        assert steps < 20 * n * e, "the partner stopped being asked for actions"
    return model


def threaded_run(algo: str, game: str, n: int, e: int):
    """Player 0 is a plain SB3 learner in its own thread, on ``construct_single_agent_interface(0)``."""
    set_random_seed(0)
    env = fresh_env(game)
    base = env.unwrapped
    base.ego_ind = 1
    driver = RandomAgent(base.action_spaces[1], seed=0)
    dummy_env = base.construct_single_agent_interface(0)
    model = make_model(algo, dummy_env, n)
    errors: list[BaseException] = []

    def learn() -> None:
        try:
            model.learn(total_timesteps=n * e)
            # Keep playing (without completing another rollout) until the game ends the thread.
            model.learn(total_timesteps=10**9, reset_num_timesteps=False)
        except KillEnvException:
            pass
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads_before = threading.active_count()
    thread = threading.Thread(target=learn, daemon=True)
    thread.start()
    env.reset(seed=0) if algo == "DQN" else env.reset()
    # Each hand-over returns once the learner waits again, so its counters are settled here.
    while model.num_timesteps < n * e:
        _, _, terminated, truncated, _ = env.step(driver.get_action(None))
        if terminated or truncated:
            env.reset()
    dummy_env.kill()
    thread.join(timeout=60)
    assert not thread.is_alive(), "the learner thread did not shut down"
    assert threading.active_count() == threads_before
    assert not errors, errors
    return model


def assert_same_weights(a, b) -> None:
    sa, sb = a.policy.state_dict(), b.policy.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), f"parameter {key} differs"


def _cases(algos, games):
    return [(a, g, n, e) for a in algos for g in games for n in N_STEPS for e in ROLLOUTS]


@pytest.mark.slow
@pytest.mark.parametrize(("algo", "game", "n", "e"), _cases(["PPO", "A2C"], GAMES) + _cases(["DQN"], DQN_GAMES))
def test_partner_learns_exactly_like_the_ego(algo, game, n, e):
    ego = standard_run(algo, game, n, e)
    partner = partner_run(algo, game, n, e)
    assert ego.num_timesteps == n * e
    # In a turn-based game the partner may take one more step inside the driver's last step.
    assert n * e <= partner.num_timesteps <= n * e + 1
    assert_same_weights(ego, partner)


THREAD_GAMES = ["RPS-v0", "LiarsDice-v0", "MatchGame", "CountGame", "MatchGame-TimeLimit"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("algo", "game", "n", "e"),
    _cases(["PPO", "A2C"], THREAD_GAMES) + _cases(["DQN"], ["RPS-v0", "MatchGame", "CountGame"]),
)
def test_threaded_learner_learns_exactly_like_the_ego(algo, game, n, e):
    ego = standard_run(algo, game, n, e)
    threaded = threaded_run(algo, game, n, e)
    assert_same_weights(ego, threaded)


def test_weights_differ_when_the_trajectory_differs():
    """The comparison is sharp: one different partner seed changes the weights."""
    ego = standard_run("PPO", "MatchGame", 100, 1)
    set_random_seed(0)
    env = fresh_env("MatchGame")
    env.add_partner_agent(RandomAgent(env.action_spaces[1], seed=1))
    other = PPO("MlpPolicy", env, n_steps=100)
    other.learn(100)
    with pytest.raises(AssertionError):
        assert_same_weights(ego, other)
