"""OvercookedMultiEnv: API checkers, the original's usage, rewards, horizon, rendering, recordings, bad input."""

from __future__ import annotations

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import A2C, DQN, PPO

import pantheonrl
from pantheonrl import OffPolicyAgent, OnPolicyAgent
from pantheonrl.envs.overcooked import (
    CLASSIC_LAYOUTS,
    LAYOUT_ALIASES,
    LAYOUT_LIST,
    OvercookedMultiEnv,
    ShapingSchedule,
    write_episode,
)
from pantheonrl.errors import ConfigError, SpaceException
from tests.common.toygames import RandomAgent

STAY, INTERACT = 4, 5
NORTH, SOUTH, EAST, WEST = 0, 1, 2, 3


def with_partner(env, seed=0):
    env.add_partner_agent(RandomAgent(env.action_spaces[1], seed))
    return env


@pytest.mark.parametrize("observation", ["features", "lossless"])
def test_ego_view_passes_gymnasium_and_sb3_checkers(observation):
    from gymnasium.utils.env_checker import check_env as gym_check
    from stable_baselines3.common.env_checker import check_env as sb3_check

    env = with_partner(OvercookedMultiEnv("cramped_room", observation=observation, horizon=20))
    gym_check(env.unwrapped, skip_render_check=True)
    sb3_check(with_partner(OvercookedMultiEnv("cramped_room", observation=observation, horizon=20)), warn=True)


def test_pettingzoo_export_passes_the_parallel_api_and_seed_tests():
    from pettingzoo.test import parallel_api_test, parallel_seed_test

    from pantheonrl.envs.pettingzoo_export import to_parallel_env

    parallel_api_test(to_parallel_env(OvercookedMultiEnv("cramped_room", horizon=50)), num_cycles=200)
    parallel_seed_test(lambda: to_parallel_env(OvercookedMultiEnv("coordination_ring", horizon=50)), num_cycles=100)


@pytest.mark.parametrize("algo", [PPO, A2C, DQN])
def test_the_original_usage_runs_unchanged(algo):
    import overcookedgym  # the original's import; registers the id
    from overcookedgym.overcooked_utils import LAYOUT_LIST as legacy_list

    assert "simple" in legacy_list
    env = gym.make("OvercookedMultiEnv-v0", layout_name="simple")
    assert isinstance(env, overcookedgym.OvercookedMultiEnv)
    assert env.layout_name == "cramped_room" and env.horizon == 400
    kwargs = {"n_steps": 64, "batch_size": 64} if algo is PPO else ({"n_steps": 8} if algo is A2C else
                                                                    {"learning_starts": 50, "buffer_size": 1000})
    agent_cls = OffPolicyAgent if algo is DQN else OnPolicyAgent
    partner = agent_cls(algo("MlpPolicy", env.get_dummy_env(1), **kwargs), working_timesteps=500)
    env.add_partner_agent(partner)
    ego = algo("MlpPolicy", env, **kwargs)
    ego.learn(total_timesteps=420)
    assert ego.num_timesteps >= 420 and partner.model.num_timesteps > 0
    assert env.observation_space.shape == (96,)


def test_horizon_is_a_truncation_and_both_players_share_the_reward():
    env = OvercookedMultiEnv("cramped_room", horizon=7)
    partner = RandomAgent(env.action_spaces[1], 3)
    rewards = []
    from pantheonrl.common.agents import Agent

    class Listener(Agent):
        def get_action(self, obs):
            return partner.get_action(obs)

        def update(self, reward, done):
            rewards.append(reward)

    env.add_partner_agent(Listener())
    env.reset(seed=0)
    ego_rewards = []
    for t in range(7):
        _, r, terminated, truncated, info = env.step(t % 6)
        ego_rewards.append(r)
        assert not terminated
        assert truncated == (t == 6)
        assert r == info["sparse_reward"] + info["shaping_weight"] * info["shaped_reward"]
    assert rewards[1:] == ego_rewards  # the first update is the pre-first-action credit (0)


def _deliver_soup_script():
    """Chef 0 on cramped_room puts 3 onions in the pot, waits, fetches a dish and serves (new dynamics:
    a full pot needs one interact to start cooking). Returns chef 0's action list."""
    # cramped_room: row0 XXPXX, row1 O  2O, row2 X1  X, row3 XDXSX; chef 0 starts at (1, 2) facing north
    onion = [WEST, INTERACT]  # (1,1)? first move north to (1,1), face west onto the onion dispenser at (0,1)
    actions = [NORTH, *onion]
    to_pot = [EAST, NORTH, INTERACT]  # move to (2,1), face north to the pot at (2,0)
    back = [WEST, WEST, INTERACT]  # move to (1,1), face west, take an onion
    actions += to_pot + back + to_pot + back + to_pot
    actions += [INTERACT]  # start cooking
    actions += [STAY] * 20
    actions += [WEST, SOUTH, SOUTH, INTERACT]  # to (1,1) then (1,2), face south to the dish dispenser (1,3)
    actions += [NORTH, EAST, NORTH, INTERACT]  # to (1,1), to (2,1), face north to the pot: pick up the soup
    actions += [SOUTH, EAST, SOUTH, INTERACT]  # to (2,2), to (3,2), face south to the serving window (3,3)
    return actions


def test_a_delivered_soup_pays_20_and_shaping_weights_apply():
    for schedule, expected_weight in ((1.0, 1.0), ((2.0, 0.0, 0), 2.0), (0.0, 0.0)):
        env = OvercookedMultiEnv("cramped_room", reward_shaping=schedule)
        env.add_partner_agent(_Fixed(STAY))
        env.reset(seed=0)
        sparse = shaped = total = 0.0
        for action in _deliver_soup_script():
            _, r, _, _, info = env.step(action)
            sparse += info["sparse_reward"]
            shaped += info["shaped_reward"]
            total += r
        assert sparse == 20.0
        assert shaped == 3 * 3 + 3 + 5  # 3 onions in the pot, a dish, a soup
        assert total == pytest.approx(sparse + expected_weight * shaped)


def test_shaping_is_annealed_linearly_over_game_steps():
    schedule = ShapingSchedule(1.0, 0.0, 100)
    assert schedule.weight(0) == 1.0 and schedule.weight(50) == 0.5 and schedule.weight(100) == 0.0
    assert schedule.weight(10_000) == 0.0
    env = with_partner(OvercookedMultiEnv("cramped_room", reward_shaping={"start": 1.0, "end": 0.0, "steps": 10}))
    env.reset(seed=0)
    weights = [env.step(STAY)[4]["shaping_weight"] for _ in range(12)]
    assert weights[:3] == [1.0, 0.9, 0.8] and weights[-1] == 0.0


class _Fixed(pantheonrl.Agent):
    def __init__(self, action):
        self.action = action

    def get_action(self, obs):
        return self.action

    def update(self, reward, done):
        pass


def test_ego_agent_idx_picks_the_chef_the_ego_controls():
    moved = []
    for idx in (0, 1):
        env = OvercookedMultiEnv("cramped_room", ego_agent_idx=idx)
        env.add_partner_agent(_Fixed(STAY))
        env.reset(seed=0)
        start = [p.position for p in env.state.players]
        env.step(NORTH if idx == 0 else SOUTH)  # both moves are open to the chef that makes them
        moved.append([a != b for a, b in zip(start, (p.position for p in env.state.players))])
        view = env._encode()[0].state
        assert view.player == idx
    assert moved == [[True, False], [False, True]]


def test_layout_names_and_legacy_aliases():
    assert set(CLASSIC_LAYOUTS) <= set(LAYOUT_LIST) and set(LAYOUT_ALIASES) <= set(LAYOUT_LIST)
    for legacy, modern in LAYOUT_ALIASES.items():
        legacy_env, modern_env = OvercookedMultiEnv(legacy), OvercookedMultiEnv(modern)
        assert legacy_env.layout_name == modern
        assert legacy_env.mdp.terrain_mtx == modern_env.mdp.terrain_mtx
    assert OvercookedMultiEnv("counter_circuit").mdp.terrain_mtx != OvercookedMultiEnv("random3").mdp.terrain_mtx
    assert len(LAYOUT_LIST) >= 49


TILE_CHARS = {"X": "counter", "P": "pot", "O": "onion dispenser", "D": "dish dispenser", "S": "serving", " ": "floor"}


@pytest.mark.parametrize("layout", CLASSIC_LAYOUTS)
def test_render_matches_the_layout_grid(layout):
    env = with_partner(OvercookedMultiEnv(layout))
    env.reset(seed=0)
    image = env.render()
    grid = env.mdp.terrain_mtx
    rows, cols = len(grid), len(grid[0])
    assert image.dtype == np.uint8 and image.shape[2] == 3
    tile = image.shape[0] // rows
    assert image.shape[:2] == (rows * tile, cols * tile)
    occupied = {p.position for p in env.state.players}
    crops: dict[str, list[np.ndarray]] = {}
    for y in range(rows):
        for x in range(cols):
            if (x, y) in occupied:
                continue
            crops.setdefault(grid[y][x], []).append(image[y * tile : (y + 1) * tile, x * tile : (x + 1) * tile])
    assert {"X", "P", "O", "D", "S", " "} <= set(crops), f"{layout}: tile types {set(crops)}"
    reference = {kind: tiles[0] for kind, tiles in crops.items()}
    for kind, tiles in crops.items():  # every tile of a type is drawn the same ...
        for crop in tiles:
            np.testing.assert_array_equal(crop, reference[kind], err_msg=f"{layout}: a {TILE_CHARS.get(kind)} tile")
    kinds = sorted(reference)
    for i, a in enumerate(kinds):  # ... and differently from every other type
        for b in kinds[i + 1 :]:
            assert not np.array_equal(reference[a], reference[b]), f"{layout}: {a!r} and {b!r} look the same"
    # the chefs are drawn on their tiles (which differ from an empty floor tile)
    for x, y in occupied:
        assert not np.array_equal(image[y * tile : (y + 1) * tile, x * tile : (x + 1) * tile], reference[" "])


def test_an_episode_is_written_as_gif_and_png_frames_without_overwriting(tmp_path):
    from PIL import Image

    env = with_partner(OvercookedMultiEnv("cramped_room", horizon=5))
    env.reset(seed=0)
    frames = [env.render()]
    for _ in range(5):
        env.step(env.action_space.sample())
        frames.append(env.render())
    gif = write_episode(frames, tmp_path / "episode.gif", png_dir=tmp_path / "frames")
    with Image.open(gif) as image:
        assert image.size == (frames[0].shape[1], frames[0].shape[0])
        total_ms = 0
        for k in range(image.n_frames):  # PIL merges repeated frames into longer ones: the duration adds up
            image.seek(k)
            total_ms += image.info["duration"]
        assert total_ms == 6 * 100
    pngs = sorted((tmp_path / "frames").glob("frame_*.png"))
    assert len(pngs) == 6
    np.testing.assert_array_equal(np.asarray(Image.open(pngs[3]).convert("RGB")), frames[3])
    before = gif.read_bytes()
    with pytest.raises(ConfigError, match="already exists"):
        write_episode(frames[:2], gif)
    assert gif.read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"layout_name": "cramped"}, ConfigError, "did you mean cramped_room"),
        ({"layout_name": "nowhere"}, ConfigError, "choose one of: "),
        ({"layout_name": 3}, ConfigError, "must be a string"),
        ({"horizon": 0}, ConfigError, "horizon must be a positive"),
        ({"horizon": 2.5}, ConfigError, "horizon must be a positive"),
        ({"reward_shaping": (1.0, 0.0)}, ConfigError, "start, end, steps"),
        ({"reward_shaping": (1.0, 0.0, -5)}, ConfigError, "shaping steps"),
        ({"reward_shaping": -1.0}, ConfigError, "shaping start"),
        ({"reward_shaping": {"begin": 1.0}}, ConfigError, "did you mean"),
        ({"observation": "pixels"}, ConfigError, "features, lossless"),
        ({"ego_agent_idx": 2}, ConfigError, "ego_agent_idx must be 0 or 1"),
    ],
)
def test_bad_configuration_is_refused_with_the_allowed_values(kwargs, error, message):
    with pytest.raises(error, match=message):
        OvercookedMultiEnv(**kwargs)


@pytest.mark.parametrize("action", [6, -1, 1.5, "north", None])
def test_a_wrong_action_is_refused(action):
    env = with_partner(OvercookedMultiEnv("cramped_room"))
    env.reset(seed=0)
    with pytest.raises(SpaceException, match="not an Overcooked action"):
        env.step(action)


def test_unknown_layout_through_gym_make_and_the_default_partner():
    from pantheonrl.envs import make_default_partner

    with pytest.raises(ConfigError, match="did you mean"):
        gym.make("OvercookedMultiEnv-v0", layout_name="simpel")
    env = gym.make("OvercookedMultiEnv-v0", layout_name="cramped_room")
    partner = make_default_partner("OvercookedMultiEnv-v0", env, 1, seed=0)
    env.add_partner_agent(partner)
    env.reset(seed=0)
    for _ in range(10):
        env.step(STAY)
    with pytest.raises(ConfigError, match="greedy"):
        make_default_partner("OvercookedMultiEnv-v0", env, 1, kind="smart")
