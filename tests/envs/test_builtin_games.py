"""The built-in games (docs/pantheonrl-compat.md, section 6): API conformance, rules, seeding, rendering,
and a short PPO run against each default partner."""

from __future__ import annotations

import importlib
import inspect
import itertools
import re
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3 import PPO
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import pantheonrl.envs
from pantheonrl.common.agents import Agent
from pantheonrl.common.observation import Observation
from pantheonrl.envs import BUILTIN_ENVS, DEFAULT_PARTNERS, make_default_partner
from pantheonrl.envs.blockworldgym import blockworld, simpleblockworld
from pantheonrl.envs.blockworldgym.blockworld import (
    BLUE,
    HORIZONTAL,
    RED,
    VERTICAL,
    BlockEnv,
    DefaultConstructorAgent,
    drop,
    f1_score,
)
from pantheonrl.envs.blockworldgym.simpleblockworld import SBWDefaultAgent, SBWEasyPartner, SimpleBlockEnv
from pantheonrl.envs.liargym import liar
from pantheonrl.envs.liargym.liar import LiarDefaultAgent, LiarEnv
from pantheonrl.envs.rpsgym import rps
from pantheonrl.envs.rpsgym.rps import RPSEnv, RPSWeightedAgent
from pantheonrl.errors import ConfigError, PlayerException, SpaceException

torch.set_num_threads(1)

ENV_IDS = list(BUILTIN_ENVS)
BLOCK_IDS = ["BlockEnv-v0", "BlockEnv-v1"]
END_TOKEN = {"BlockEnv-v0": 15, "BlockEnv-v1": 29}

# gym.make("BlockEnv-v0") warns that BlockEnv-v1 exists: same name, newer version (as in the original).
pytestmark = pytest.mark.filterwarnings("ignore:.*is out of date.*:DeprecationWarning")


class Scripted(Agent):
    """Plays ``actions`` in order (cycling) and records what it saw and heard."""

    def __init__(self, actions: list[Any]) -> None:
        self.actions = itertools.cycle(actions)
        self.seen: list[np.ndarray] = []
        self.rewards: list[float] = []
        self.dones: list[bool] = []

    def get_action(self, obs: Observation) -> Any:
        self.seen.append(np.array(obs.obs, copy=True))
        return next(self.actions)

    def update(self, reward: float, done: bool) -> None:
        self.rewards.append(reward)
        self.dones.append(done)


class Planner(Agent):
    """A block-world planner for the ego-as-constructor tests: says tokens 1, 2, ... and the end token on its
    ``length``-th move of each episode (never on its first: the game must not end before the ego acts)."""

    def __init__(self, end_token: int, length: int = 4) -> None:
        self.end_token, self.length, self.moves = end_token, length, 0

    def get_action(self, obs: Observation) -> int:
        self.moves += 1
        return self.end_token if self.moves == self.length else self.moves

    def update(self, reward: float, done: bool) -> None:
        if done:
            self.moves = 0


def make(env_id: str, ego_ind: int = 0, **kwargs: Any) -> gym.Env:
    """The game with its default partner in the other seat (a :class:`Planner` for the block worlds, which
    have no scripted planner)."""
    env = gym.make(env_id, **kwargs)
    env.unwrapped.ego_ind = ego_ind
    other = 1 - ego_ind
    if env_id in BLOCK_IDS and other == 0:
        partner: Agent = Planner(END_TOKEN[env_id])
    else:
        partner = DEFAULT_PARTNERS[env_id](env, other)
    env.unwrapped.add_partner_agent(partner, player_num=other)
    return env


def play_episodes(env: gym.Env, actions: list[Any], seed: int) -> list[float]:
    """Reset with ``seed``, then step the ego through ``actions``, resetting (unseeded) after each episode."""
    env.reset(seed=seed)
    rewards = []
    for action in actions:
        _, reward, terminated, truncated, _ = env.step(action)
        rewards.append(reward)
        if terminated or truncated:
            env.reset()
    return rewards


# ---------------------------------------------------------------------------------------------- registry
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_make_returns_the_raw_game(env_id):
    env = gym.make(env_id)
    assert type(env) is BUILTIN_ENVS[env_id]
    assert gym.spec(env_id).entry_point is BUILTIN_ENVS[env_id]


def test_reimport_does_not_register_twice():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        importlib.reload(pantheonrl.envs)
    assert set(ENV_IDS) <= set(gym.registry)


def test_default_partner_seats_and_unknown_ids():
    assert set(DEFAULT_PARTNERS) == {*ENV_IDS, "OvercookedMultiEnv-v0"}  # Overcooked: tests/envs/overcooked
    env = gym.make("BlockEnv-v1")
    assert isinstance(DEFAULT_PARTNERS["BlockEnv-v1"](env, 1), DefaultConstructorAgent)
    assert isinstance(make_default_partner("BlockEnv-v0", gym.make("BlockEnv-v0")), SBWDefaultAgent)
    with pytest.raises(PlayerException, match="player_num=0"):
        DEFAULT_PARTNERS["BlockEnv-v1"](env, 0)
    with pytest.raises(ConfigError, match="did you mean RPS-v0"):
        make_default_partner("RPS-v1", env)
    with pytest.raises(ConfigError, match="'rock'"):
        make_default_partner("RPS-v0", env, rock=1)
    with pytest.raises(ConfigError, match="takes no options"):
        make_default_partner("LiarsDice-v0", env, r=1)
    rock_only = make_default_partner("RPS-v0", gym.make("RPS-v0"), 0, r=1, p=0, s=0)
    assert rock_only.get_action(Observation(0)) == 0 and list(rock_only.probs) == [1.0, 0.0, 0.0]


# ---------------------------------------------------------------------------------------------- conformance
@pytest.mark.parametrize("ego_ind", [0, 1])
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_env_checkers(env_id, ego_ind):
    env = make(env_id, ego_ind)
    sb3_check_env(env, warn=True, skip_render_check=True)
    gym_check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=3)
    assert env.observation_space.contains(obs)
    assert env.observation_space == env.unwrapped.observation_spaces[ego_ind]


@pytest.mark.parametrize(
    ("env_id", "bad_action"),
    [("RPS-v0", 3), ("LiarsDice-v0", [7, 0]), ("BlockEnv-v0", 16), ("BlockEnv-v1", 1.5)],
)
def test_actions_outside_the_space_are_rejected(env_id, bad_action):
    env = make(env_id)
    env.reset(seed=0)
    with pytest.raises(SpaceException, match=re.escape(repr(bad_action))):
        env.step(bad_action)


# ---------------------------------------------------------------------------------------------- RPS
@pytest.mark.parametrize(("a0", "a1"), list(itertools.product(range(3), range(3))))
def test_rps_payoffs(a0, a1):
    expected = {
        (0, 0): 0,
        (1, 1): 0,
        (2, 2): 0,
        (0, 2): 1,
        (1, 0): 1,
        (2, 1): 1,
        (0, 1): -1,
        (1, 2): -1,
        (2, 0): -1,
    }
    for ego_ind in (0, 1):
        env = RPSEnv()
        env.ego_ind = ego_ind
        partner = Scripted([a1 if ego_ind == 0 else a0])
        env.add_partner_agent(partner, player_num=1 - ego_ind)
        obs, _ = env.reset(seed=0)
        assert obs == 0
        obs, reward, terminated, truncated, _ = env.step(a0 if ego_ind == 0 else a1)
        sign = 1 if ego_ind == 0 else -1
        assert (obs, reward, terminated, truncated) == (0, sign * expected[(a0, a1)], True, False)
        assert sum(partner.rewards) == -reward and partner.dones[-1] is True


def test_rps_weighted_agent_weights():
    obs = Observation(0)
    rock_only = RPSWeightedAgent(1, 0, 0, np_random=0)
    assert {rock_only.get_action(obs) for _ in range(200)} == {0}
    scissors_only = RPSWeightedAgent(0, 0, 5, np_random=0)
    assert {scissors_only.get_action(obs) for _ in range(200)} == {2}
    skewed = RPSWeightedAgent(r=3, p=1, s=0, np_random=np.random.default_rng(1))
    counts = np.bincount([skewed.get_action(obs) for _ in range(4000)], minlength=3) / 4000
    assert abs(counts[0] - 0.75) < 0.03 and counts[2] == 0
    uniform = RPSWeightedAgent(0, 0, 0, np_random=2)
    np.testing.assert_allclose(uniform.probs, [1 / 3] * 3)
    counts = np.bincount([uniform.get_action(obs) for _ in range(3000)], minlength=3) / 3000
    assert np.all(np.abs(counts - 1 / 3) < 0.04)
    a, b = RPSWeightedAgent(np_random=7), RPSWeightedAgent(np_random=7)
    assert [a.get_action(obs) for _ in range(50)] == [b.get_action(obs) for _ in range(50)]
    with pytest.raises(ConfigError, match="r=-1"):
        RPSWeightedAgent(r=-1)
    with pytest.raises(ConfigError, match="got str"):
        RPSWeightedAgent(np_random="seed")


def test_rps_default_partner_follows_the_game_seed():
    env = make("RPS-v0")
    ego_actions = [0] * 30
    first = play_episodes(env, ego_actions, seed=5)
    env.reset(seed=123)  # something else in between
    second = play_episodes(env, ego_actions, seed=5)
    assert first == second and len(set(first)) > 1


# ---------------------------------------------------------------------------------------------- Liar's dice
def liar_game(partner_actions: list[Any], hand0: list[int], hand1: list[int]) -> tuple[LiarEnv, Scripted]:
    """Player 0 (the ego) opens; the hands are set by hand after the reset."""
    env = LiarEnv(probegostart=1.0)
    partner = Scripted(partner_actions)
    env.add_partner_agent(partner)
    env.reset(seed=0)
    env.hands = np.array([hand0, hand1], dtype=np.int64)
    return env, partner


@pytest.mark.parametrize(
    ("face2_total", "ego_reward"),
    [(3, -1.0), (4, 1.0)],  # claim (2, 3) means "at least 4 twos": false with 3 (caller wins), true with 4
)
@pytest.mark.parametrize("call", [[6, 0], [4, 3], [1, 2]])  # face 6, or a claim that does not raise the count
def test_liar_partner_calls_ego_claim(face2_total, ego_reward, call):
    env, partner = liar_game([call], [0, 0, 2, 2, 2, 0], [0, 0, face2_total - 2, 3, 0, 5 - face2_total])
    _, reward, terminated, truncated, _ = env.step(np.array([2, 3]))
    assert (reward, terminated, truncated) == (ego_reward, True, False)
    assert sum(partner.rewards) == -ego_reward
    np.testing.assert_array_equal(
        partner.seen[0][6:10], [2, 3, 6, 0]
    )  # the claim, newest first, then padding


@pytest.mark.parametrize(("face3_total", "ego_reward"), [(6, -1.0), (5, 1.0)])
def test_liar_ego_calls_partner_claim(face3_total, ego_reward):
    env, _ = liar_game([[3, 5]], [1, 1, 1, 3, 0, 0], [1, 1, 0, face3_total - 3, 1, 6 - face3_total])
    obs, reward, terminated, _, _ = env.step(np.array([1, 0]))
    assert (reward, terminated) == (0.0, False)
    np.testing.assert_array_equal(obs[:6], env.hands[0])
    np.testing.assert_array_equal(obs[6:12], [3, 5, 1, 0, 6, 0])  # newest first
    _, reward, terminated, _, _ = env.step(np.array([6, 11]))
    assert (reward, terminated) == (ego_reward, True)


@pytest.mark.parametrize(("face0_total", "ego_reward"), [(0, -1.0), (1, 1.0)])
def test_liar_opening_six_becomes_claim_zero_zero(face0_total, ego_reward):
    env, partner = liar_game([[5, 0]], [face0_total, 2, 2, 2 - face0_total, 0, 0], [0, 0, 0, 0, 3, 3])
    _, reward, terminated, _, _ = env.step(np.array([6, 7]))  # an opening "call" is the claim (0, 0)
    assert env.history == [(0, 0)]
    np.testing.assert_array_equal(partner.seen[0][6:], [0, 0] + [6, 0] * 11)
    # The partner's (5, 0) does not raise the count, so it calls (0, 0) = "at least one die shows face 0".
    assert (reward, terminated) == (ego_reward, True)


def test_liar_dice_come_from_the_seeded_generator():
    env = LiarEnv()
    env.add_partner_agent(LiarDefaultAgent())
    hands = []
    for seed in (4, 4, 5):
        np.random.seed(seed + 100)  # the global generator must not matter
        env.reset(seed=seed)
        hands.append(env.hands.copy())
    assert np.array_equal(hands[0], hands[1]) and not np.array_equal(hands[0], hands[2])
    assert np.all(hands[0].sum(axis=1) == 6)


def test_liar_default_agent():
    agent = LiarDefaultAgent()
    hand = [0, 3, 1, 1, 1, 0]
    no_claim = hand + [6, 0] * 12
    np.testing.assert_array_equal(agent.get_action(Observation(np.array(no_claim))), [1, 3])
    low_claim = hand + [2, 3] + [6, 0] * 11
    np.testing.assert_array_equal(agent.get_action(Observation(np.array(low_claim))), [1, 3])
    high_claim = hand + [2, 4] + [6, 0] * 11
    np.testing.assert_array_equal(agent.get_action(Observation(np.array(high_claim))), liar.BLUFF)


# ---------------------------------------------------------------------------------------------- BlockEnv-v0
@pytest.mark.parametrize(("n_right", "n_wrong"), [(5, 0), (3, 1), (0, 5), (0, 0)])
def test_simple_block_reward_is_100_times_fraction_correct(n_right, n_wrong):
    env = SimpleBlockEnv()
    partner = Scripted([])
    env.add_partner_agent(partner)
    env.reset(seed=1)
    truth = env.blocks[:, 3]
    moves = [[i, truth[i]] for i in range(n_right)]
    moves += [[i, 3 - truth[i]] for i in range(n_right, n_right + n_wrong)]
    partner.actions = iter(moves)
    for _ in moves:
        _, reward, terminated, _, _ = env.step(0)
        assert (reward, terminated) == (0.0, False)
    _, reward, terminated, truncated, _ = env.step(15)
    assert (reward, terminated, truncated) == (100.0 * n_right / 5, True, False)
    if moves:  # the partner hears the final reward too
        assert partner.rewards[-1] == reward and partner.dones[-1]


def test_simple_block_observations():
    env = SimpleBlockEnv()
    partner = Scripted([[2, 1]])
    env.add_partner_agent(partner)
    obs, _ = env.reset(seed=2)
    np.testing.assert_array_equal(obs[:20], env.blocks.reshape(-1))
    np.testing.assert_array_equal(obs.reshape(10, 4)[5:, :3], env.blocks[:, :3])
    assert np.all(obs.reshape(10, 4)[5:, 3] == 0)
    obs, *_ = env.step(7)
    assert partner.seen[0][0] == 7 and np.all(partner.seen[0][1:].reshape(5, 4)[:, 3] == 0)
    np.testing.assert_array_equal(obs.reshape(10, 4)[5:, 3], [0, 0, 1, 0, 0])


def test_sbw_default_agent():
    # block 0: horizontal at row 2, columns 1-2; block 1: vertical at rows 1-2, column 4; others elsewhere.
    blocks = np.array([[0, 2, 1, 0], [1, 1, 4, 0], [0, 6, 0, 0], [0, 6, 3, 0], [1, 4, 6, 0]])
    agent = SBWDefaultAgent()

    def act(token: int, b: np.ndarray = blocks) -> list[int]:
        return agent.get_action(Observation(np.concatenate([[token], b.reshape(-1)]))).tolist()

    assert act(3) == [0, simpleblockworld.RED]  # row 2: block 0 is left of block 1
    assert act(10) == [0, simpleblockworld.BLUE]
    coloured = blocks.copy()
    coloured[0, 3] = simpleblockworld.BLUE
    assert act(3, coloured) == [1, simpleblockworld.RED]
    assert act(2, coloured) == [1, simpleblockworld.RED]  # row 1 holds the top of block 1
    assert act(1, coloured) == [0, simpleblockworld.BLUE]  # row 0 is empty: keep block 0's colour
    assert act(0, coloured) == [0, simpleblockworld.BLUE]
    assert act(15) == [0, 0]


def test_sbw_easy_partner_stays_in_the_action_space():
    space = SimpleBlockEnv().action_spaces[1]
    agent = SBWEasyPartner()
    blocks = np.zeros(20, dtype=np.int64)
    actions = {t: agent.get_action(Observation(np.concatenate([[t], blocks]))).tolist() for t in range(16)}
    assert all(space.contains(np.array(a)) for a in actions.values())
    assert [actions[t] for t in range(1, 6)] == [[i, simpleblockworld.RED] for i in range(5)]
    assert [actions[t] for t in range(6, 11)] == [[i, simpleblockworld.BLUE] for i in range(5)]
    assert actions[11] == [4, simpleblockworld.RED] and actions[12] == [0, simpleblockworld.BLUE]


# ---------------------------------------------------------------------------------------------- BlockEnv-v1
def grid_from(drops: list[tuple[int, int, int]]) -> np.ndarray:
    grid = np.zeros((7, 7), dtype=np.int64)
    for x, orientation, color in drops:
        assert drop(grid, x, orientation, color)
    return grid


TARGET_DROPS = [
    (0, VERTICAL, RED),
    (3, VERTICAL, BLUE),
    (1, HORIZONTAL, RED),
    (2, HORIZONTAL, BLUE),
    (5, VERTICAL, RED),
]


def test_f1_counts_only_non_empty_matches():
    target = grid_from(TARGET_DROPS)
    assert np.count_nonzero(target) == 10
    assert f1_score(target, target) == 1.0
    assert f1_score(np.zeros_like(target), target) == 0.0  # the original counted 39 empty matches: 7.8
    assert f1_score(grid_from(TARGET_DROPS[:1]), target) == pytest.approx(2 * 2 / (2 + 10))
    recoloured = np.where(target == RED, BLUE, np.where(target == BLUE, RED, 0))
    assert f1_score(recoloured, target) == 0.0


@pytest.mark.parametrize(("wrong_block", "expected"), [(None, 1.0), (4, 0.8)])
def test_block_env_reward_at_end_token(wrong_block, expected):
    env = BlockEnv()
    moves = [[x, o, c - 1] for x, o, c in TARGET_DROPS]
    if wrong_block is not None:
        moves[wrong_block][2] = 1 - moves[wrong_block][2]
    partner = Scripted(moves)
    env.add_partner_agent(partner)
    env.reset(seed=0)
    env.target = grid_from(TARGET_DROPS)
    for _ in moves:
        _, reward, terminated, _, _ = env.step(1)
        assert (reward, terminated) == (0.0, False)
    _, reward, terminated, truncated, _ = env.step(29)
    assert (reward, terminated, truncated) == (pytest.approx(expected), True, False)
    assert partner.rewards[-1] == reward


def test_block_env_reward_is_an_f1_in_unit_interval():
    env = make("BlockEnv-v1")
    env.action_space.seed(0)
    env.reset(seed=0)
    finals = []
    for _ in range(3000):
        _, reward, terminated, _, _ = env.step(env.action_space.sample())
        if terminated:
            finals.append(reward)
            assert reward == f1_score(env.unwrapped.built, env.unwrapped.target)
            env.reset()
        else:
            assert reward == 0.0
    assert len(finals) > 50
    assert all(0.0 <= r <= 1.0 for r in finals) and max(finals) > 0.0
    env.reset(seed=0)
    assert env.step(29)[1] == 0.0  # nothing built yet: the 39 matching empty cells earn nothing


def test_block_env_gravity_rules():
    env = BlockEnv()
    partner = Scripted([[6, HORIZONTAL, 0], *[[2, VERTICAL, 1]] * 4, [1, HORIZONTAL, 0]])
    env.add_partner_agent(partner)
    env.reset(seed=0)
    env.step(1)
    assert not env.built.any()  # a horizontal block cannot start in the last column
    env.step(1)
    np.testing.assert_array_equal(env.built[:, 2], [0, 0, 0, 0, 0, RED, RED])
    env.step(1)
    env.step(1)
    np.testing.assert_array_equal(env.built[:, 2], [0] + [RED] * 6)
    before = env.built.copy()
    env.step(1)  # the column is full
    np.testing.assert_array_equal(env.built, before)
    env.step(1)  # a horizontal block over columns 1-2 rests on top of column 2
    np.testing.assert_array_equal(env.built[0], [0, BLUE, BLUE, 0, 0, 0, 0])
    np.testing.assert_array_equal(env.built[1:], before[1:])


def test_default_constructor_agent_decoding():
    agent = DefaultConstructorAgent()

    def act(token: int) -> list[int]:
        return agent.get_action(Observation(np.array([token] + [0] * 49))).tolist()

    assert act(0) == act(29) == [6, VERTICAL, 0]
    assert act(1) == [0, HORIZONTAL, 0]
    assert act(2) == [0, HORIZONTAL, 1]
    assert act(3) == [0, VERTICAL, 0]
    assert act(5) == [1, HORIZONTAL, 0]
    assert act(28) == [6, VERTICAL, 1]
    space = BlockEnv().action_spaces[1]
    assert all(space.contains(np.array(act(t))) for t in range(30))


# ---------------------------------------------------------------------------------------------- seeding
def trajectory(env_id: str, seed: int, steps: int = 200) -> list[tuple]:
    env = make(env_id)
    env.action_space.seed(123)  # the ego's choices do not depend on the game's seed
    obs, _ = env.reset(seed=seed)
    out = [("reset", np.asarray(obs).tolist())]
    for _ in range(steps):
        obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        out.append((np.asarray(obs).tolist(), reward, terminated, truncated))
        if terminated or truncated:
            obs, _ = env.reset()
            out.append(("reset", np.asarray(obs).tolist()))
    return out


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_same_seed_same_trajectory(env_id):
    np.random.seed(1)
    first = trajectory(env_id, seed=11)
    np.random.seed(2)  # games and default partners must not read the global generator
    second = trajectory(env_id, seed=11)
    assert first == second
    assert trajectory(env_id, seed=12) != first


@pytest.mark.parametrize("module", [rps, liar, simpleblockworld, blockworld, pantheonrl.envs])
def test_no_global_randomness_in_games(module):
    source = inspect.getsource(module)
    assert not re.search(r"np\.random\.(?!Generator\b|default_rng\b)\w+", source)
    assert not re.search(r"^\s*(import random|from random import)", source, re.MULTILINE)


# ---------------------------------------------------------------------------------------------- rendering
@pytest.mark.parametrize("env_id", BLOCK_IDS)
def test_render_rgb_array(env_id):
    env = make(env_id, render_mode="rgb_array")
    env.reset(seed=0)
    image = env.render()
    assert image.shape == (224, 224, 3) and image.dtype == np.uint8
    game = env.unwrapped
    palette = blockworld.PALETTE
    if env_id == "BlockEnv-v1":
        y, x = (int(v[0]) for v in np.nonzero(game.target))
        assert tuple(image[y * 32 + 1, x * 32 + 16]) == palette[int(game.target[y, x])]  # outline
        assert tuple(image[y * 32 + 16, x * 32 + 16]) == blockworld.BACKGROUND  # nothing built
        env.step(2)  # the default constructor drops a red horizontal block in columns 0-1
        assert tuple(env.render()[6 * 32 + 16, 16]) == palette[RED]
    else:
        _, y, x, color = game.blocks[0].tolist()
        assert tuple(image[y * 32 + 1, x * 32 + 16]) == palette[color]
        assert tuple(image[y * 32 + 16, x * 32 + 16]) == blockworld.UNCOLORED
        game.colors[0] = 3 - color
        assert tuple(env.render()[y * 32 + 16, x * 32 + 16]) == palette[3 - color]


def test_render_mode_is_checked():
    with pytest.raises(ConfigError, match="'human'"):
        BlockEnv(render_mode="human")
    with pytest.warns(UserWarning, match="render_mode"):
        assert SimpleBlockEnv().render() is None


# ---------------------------------------------------------------------------------------------- learning
@pytest.mark.parametrize("env_id", ENV_IDS)
def test_ppo_ego_trains_against_default_partner(env_id):
    env = make(env_id)
    model = PPO("MlpPolicy", env, n_steps=64, batch_size=64, n_epochs=2, seed=0, device="cpu")
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(total_timesteps=256)
    assert model.num_timesteps == 256
    assert any(not torch.equal(a, b) for a, b in zip(before, model.policy.parameters()))
