"""Stable Driving (docs/algorithms.md, section 5.4 and 5.5 property 6): every test vector, checked over several
interactions through gym.make, and random play checked against a reference written here, independently."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env
from stable_baselines3 import PPO

from pantheonrl.common.agents import Agent
from pantheonrl.envs.pettingzoo_export import to_aec_env, to_parallel_env
from pantheonrl.envs.toy.stable_driving import ENV_ID, OtherCar, StableDriving
from pantheonrl.errors import ConfigError, PlayerException
from pantheonrl.registry import ENVS
from pantheonrl.vec import MultiAgentVecEnv

torch.set_num_threads(1)

W = 0.13
N = 6  # interactions per test vector

Policy = Callable[[int, np.ndarray, Any], float]  # (t, ego observation, env) -> lateral move


def play(env: Any, policy: Policy, n: int = N) -> list[dict[str, Any]]:
    """``n`` interactions through the ego view; per interaction: its mode (as the env reports it), return,
    collision steps, and the final step's info."""
    out = []
    for _ in range(n):
        obs, _ = env.reset()
        ret, hits, mode = 0.0, [], env.unwrapped.mode
        for t in range(1, 11):
            obs, reward, terminated, truncated, info = env.step(np.array([policy(t, obs, env)], dtype=np.float32))
            assert terminated == (t == 10) and not truncated
            assert info["t"] == t and info["mode"] == mode
            assert info["collision"] == (reward == -1.0) and reward in (0.0, -1.0)
            ret += reward
            if reward:
                hits.append(t)
        assert info["collisions"] == len(hits)
        out.append(
            {
                "mode": mode,
                "return": ret,
                "hits": hits,
                "stabilized": info["stabilized"],
                "next_mode": info["next_mode"],
            }
        )
    return out


def early_left(t, obs, env):
    return -0.1


def late_left(t, obs, env):
    return 0.0 if t == 1 else -0.1


def always_right(t, obs, env):
    return 0.1


def always_straight(t, obs, env):
    return 0.0


def mode_aware(t, obs, env):  # reads the mode from the oracle features
    return 0.0 if t == 1 else (0.1 if int(np.argmax(obs[4:7])) == 0 else -0.1)


VECTORS = {  # policy: (modes of interactions 1 .. N + 1, returns, collision steps, stabilized)
    "early_left": (early_left, [0] + [2] * N, [-1.0] + [0.0] * (N - 1), [[7]] + [[]] * (N - 1), True),
    "late_left": (late_left, [0] * (N + 1), [-1.0] * N, [[7]] * N, False),
    "always_right": (always_right, [0] + [2] * N, [0.0] + [-1.0] * (N - 1), [[]] + [[7]] * (N - 1), False),
    "always_straight": (always_straight, [0] + [1] * N, [-1.0] + [-2.0] * (N - 1), [[6]] + [[6, 7]] * (N - 1), False),
    "mode_aware": (mode_aware, [0, 2] * (N // 2) + [0], [0.0] * N, [[]] * N, False),
}


@pytest.mark.parametrize("name", list(VECTORS))
def test_every_test_vector_over_several_interactions(name):
    policy, modes, returns, hits, stabilized = VECTORS[name]
    env = gym.make(ENV_ID, oracle=name == "mode_aware")
    result = play(env, policy)
    assert [r["mode"] for r in result] == modes[:N]
    assert [r["return"] for r in result] == returns
    assert [r["hits"] for r in result] == hits
    assert [r["stabilized"] for r in result] == [stabilized] * N
    assert [r["next_mode"] for r in result] == modes[1:]
    assert all(h in (6, 7) for r in result for h in r["hits"])


def test_early_left_next_mode_2_and_late_left_next_mode_0():
    for policy, next_mode, stabilized in ((early_left, 2, True), (late_left, 0, False)):
        for first_mode in (0, 1, 2):
            env = StableDriving(partners=[OtherCar(first_mode)])
            (r,) = play(env, policy, 1)
            assert (r["mode"], r["next_mode"], r["stabilized"]) == (first_mode, next_mode, stabilized)


def test_mode_aware_reactive_alternates_without_collisions_with_the_oracle_env_attribute_too():
    env = gym.make(ENV_ID)
    result = play(env, lambda t, obs, e: 0.0 if t == 1 else (0.1 if e.unwrapped.mode == 0 else -0.1), 8)
    assert [r["mode"] for r in result] == [0, 2] * 4
    assert all(r["hits"] == [] for r in result)


def test_oracle_features():
    env = StableDriving(oracle=True)
    assert env.observation_space.shape == (8,)
    obs, _ = env.reset()
    assert obs.tolist() == [0.0, 0.0, 0.0, np.float32(0.3), 1.0, 0.0, 0.0, 0.0]
    obs, *_ = env.step(np.array([-0.1], dtype=np.float32))
    assert obs[4:].tolist() == [1.0, 0.0, 0.0, 1.0]  # stabilized from step 1 on
    for _ in range(9):
        obs, *_ = env.step(np.array([-0.1], dtype=np.float32))
    obs, _ = env.reset()
    assert obs[4:].tolist() == [0.0, 0.0, 1.0, 0.0]  # mode 2, not yet stabilized
    plain = StableDriving()
    assert plain.observation_space.shape == (4,) and plain.reset()[0].shape == (4,)


# ----------------------------------------------------------------------------------------- a reference
def reference_interaction(actions: list[float], mode: int, q_flip: bool) -> tuple[list, list[float], int, bool]:
    """§5.4 written out independently: ego observations after each step, rewards, next mode, stabilized."""
    xe, ye, xo, yo = 0.0, 0.0, 0.0, 0.3
    cut, observations, rewards = False, [], []
    x_after_1 = x_before_7 = None
    for t, a in enumerate(actions, start=1):
        if t == 7:
            x_before_7 = xe
        gap = abs(ye - yo)
        rewards.append(-1.0 if abs(xe - xo) < 0.1 and gap <= 0.05 + 1e-6 else 0.0)
        xe, ye = xe + a, ye + 0.1
        if abs(xe) >= W:
            xe = math.copysign(W, xe)
        if not cut and gap <= 0.05 + 1e-5:
            cut, xo = True, xo + (-W, 0.0, W)[mode]
        else:
            yo += 0.05
        if t == 1:
            x_after_1 = xe
        observations.append(np.array([xe, ye, xo, yo], dtype=np.float32))
    if x_after_1 < -0.08:
        return observations, rewards, 2, True
    nxt = 0 if x_before_7 < -0.05 else (2 if x_before_7 > 0.05 else 1)
    if nxt != 1 and q_flip:
        nxt = 2 - nxt
    return observations, rewards, nxt, False


def test_random_play_matches_the_reference():
    rng = np.random.default_rng(0)
    env = gym.make(ENV_ID)
    mode, seen_modes = 0, set()
    for _ in range(40):
        # drift left, right or straight so that every mode and both lanes occur
        drift = rng.choice([-0.06, 0.0, 0.06])
        actions = np.clip(drift + rng.uniform(-0.05, 0.05, 10), -0.1, 0.1).astype(np.float32)
        obs, _ = env.reset()
        assert env.unwrapped.mode == mode
        seen_modes.add(mode)
        ref_obs, ref_rewards, ref_next, ref_stab = reference_interaction([float(a) for a in actions], mode, False)
        for t, a in enumerate(actions):
            obs, reward, terminated, _, info = env.step(np.array([a]))
            assert obs.dtype == np.float32 and np.array_equal(obs, ref_obs[t]), (t, obs, ref_obs[t])
            assert reward == ref_rewards[t]
        assert terminated and info["next_mode"] == ref_next and info["stabilized"] == ref_stab
        mode = ref_next
    assert seen_modes == {0, 1, 2}


def test_other_car_cuts_across_once_at_step_6_and_records_the_interaction():
    env = gym.make(ENV_ID)
    play(env, always_straight, 2)  # modes 0, 1
    car = env.unwrapped.default_car
    record = car.last_interaction
    assert record.actions == [0] * 5 + [2] + [0] * 4  # 1 + mode 1 at t = 6
    assert len(record.observations) == 11
    assert [round(float(ob[1]), 9) for ob in record.observations] == [round(0.1 * k, 9) for k in range(11)]
    assert record.observations[0].dtype == np.float64
    assert record.reward == -2.0 and record.terminated and not record.truncated
    assert car.n_interactions == 2 and car.strategy == 1


# ------------------------------------------------------------------------------------------- dynamics
@pytest.mark.parametrize(
    "moves, x",
    [
        ((0.1, 0.1), W),
        ((0.1, 0.03), W),
        ((-0.1, -0.1), -W),
        ((-0.1, -0.03), -W),
        ((0.1, 0.02), 0.12),
        ((0.1, 0.1, -0.1), W - 0.1),
    ],
)
def test_ego_is_clamped_at_the_road_edge(moves, x):
    env = StableDriving()
    env.reset()
    for a in moves:
        obs, *_ = env.step(np.array([a]))
    assert env.state[0] == pytest.approx(x, abs=1e-12)
    if abs(x) == W:
        assert env.state[0] == x and obs[0] == np.float32(x)  # exactly sign(x_e) * W


def test_float32_bounds_are_accepted_as_sb3_clips_to_them():
    env = StableDriving()
    env.reset()
    env.step(np.clip(np.array([-5.0], dtype=np.float32), env.action_space.low, env.action_space.high))
    assert env.state[0] == -0.1  # snapped to the bound, not float32(-0.1)


# --------------------------------------------------------------------------------------- prob_change
def modes_of(env: Any, policy: Policy, n: int, seed: int | None = None) -> list[int]:
    modes = []
    for k in range(n):
        env.reset(seed=seed if k == 0 else None)
        modes.append(env.unwrapped.mode)
        for t in range(1, 11):
            env.step(np.array([policy(t, None, env)]))
    return modes


def test_prob_change_flips_reactive_modes_with_a_seeded_generator():
    a = modes_of(gym.make(ENV_ID, prob_change=0.5), always_right, 40, seed=3)
    assert a == modes_of(gym.make(ENV_ID, prob_change=0.5), always_right, 40, seed=3)
    assert a != modes_of(gym.make(ENV_ID, prob_change=0.5), always_right, 40, seed=4)
    assert set(a) == {0, 2} and 5 < a.count(0) < 35
    assert modes_of(gym.make(ENV_ID, prob_change=1.0), always_right, 6, seed=3) == [0] * 6  # 2 always flipped
    assert modes_of(gym.make(ENV_ID, prob_change=1.0), late_left, 6, seed=3) == [0] + [2] * 5  # 0 flipped
    # never flipped: a non-reactive 1, and a stabilized 2
    assert modes_of(gym.make(ENV_ID, prob_change=1.0), always_straight, 6, seed=3) == [0] + [1] * 5
    assert modes_of(gym.make(ENV_ID, prob_change=1.0), early_left, 6, seed=3) == [0] + [2] * 5


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_q_zero_never_flips(seed):
    assert modes_of(gym.make(ENV_ID), always_right, 30, seed=seed) == [0] + [2] * 29
    assert modes_of(gym.make(ENV_ID, prob_change=0.0), late_left, 30, seed=seed) == [0] * 30


# ------------------------------------------------------------------------------------------ persistence
def test_next_mode_persists_across_resets_and_a_new_env_starts_at_mode_0():
    env = gym.make(ENV_ID)
    play(env, always_straight, 1)
    assert env.unwrapped.next_mode == 1
    for seed in (None, 123, None):
        env.reset(seed=seed)  # cut short before any step: nothing to react to
        assert env.unwrapped.mode == 1
    env.step(np.array([-0.1]))
    env.reset()  # cut short after a stabilizing step 1: next mode 2
    assert env.unwrapped.mode == 2
    env.step(np.array([0.1]))
    env.reset()  # cut short before t = 7, not stabilized: the mode stays
    assert env.unwrapped.mode == 2
    fresh = StableDriving()
    assert fresh.mode is None  # no interaction yet
    fresh.reset()
    assert fresh.mode == 0


def test_own_partners_replace_the_default_car():
    env = gym.make(ENV_ID)
    car = OtherCar(mode=1)
    env.add_partner_agent(car)
    assert env.partners == [[car]]
    env.reset()
    assert env.mode == 1
    threaded = StableDriving()
    dummy = threaded.construct_single_agent_interface(1)  # a threaded learner takes the seat
    assert threaded.partners[0] == [dummy.associated_agent] and dummy.action_space == gym.spaces.Discrete(4)
    given = StableDriving(partners=[OtherCar(2)])
    assert given.default_car is None
    given.reset()
    assert given.mode == 2

    class AlwaysAdvance(Agent):
        def get_action(self, obs):
            return 0

        def update(self, reward, done):
            pass

    plain = StableDriving(partners=[AlwaysAdvance()])
    (r,) = play(plain, always_right, 1)
    assert r["mode"] is None and r["next_mode"] is None
    with pytest.raises(PlayerException, match="no strategy"):
        StableDriving(oracle=True, partners=[AlwaysAdvance()]).reset()


def test_vectorised_copies_report_the_oracle_facts():
    venv = MultiAgentVecEnv(StableDriving, n_envs=2)
    venv.reset()
    for t in range(10):
        _, _, dones, infos = venv.step(np.array([[-0.1], [0.1]], dtype=np.float32))
        assert dones.tolist() == [t == 9] * 2
    assert [info["next_mode"] for info in infos] == [2, 2]
    assert [info["stabilized"] for info in infos] == [True, False]
    assert [info["collisions"] for info in infos] == [1, 0]
    assert [info["episode"]["r"] for info in infos] == [-1.0, 0.0]
    assert [env.mode for env in venv.envs] == [2, 2]


# ------------------------------------------------------------------------------------ API conformance
def test_registered_and_made_directly():
    assert ENV_ID in gym.registry and ENV_ID in ENVS
    env = gym.make(ENV_ID, prob_change=0.25, oracle=True)
    assert type(env) is StableDriving and env.prob_change == 0.25 and env.oracle
    assert env.action_space == gym.spaces.Box(-0.1, 0.1, (1,), np.float32)
    assert env.observation_space.dtype == np.float32


@pytest.mark.parametrize("oracle", [False, True])
def test_ego_view_passes_check_env(oracle):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(StableDriving(oracle=oracle, prob_change=0.3), skip_render_check=True)


@pytest.mark.filterwarnings("ignore::UserWarning")  # the checkers' style notes: the two seats' spaces differ
@pytest.mark.parametrize("oracle", [False, True])
def test_exported_views_pass_the_pettingzoo_api_tests(oracle):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # PettingZoo's notice about its own import API
        from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test

    parallel_api_test(to_parallel_env(StableDriving(oracle=oracle)), num_cycles=60)
    api_test(to_aec_env(StableDriving(oracle=oracle)), num_cycles=60)
    parallel_seed_test(lambda: to_parallel_env(StableDriving(oracle=oracle, prob_change=0.5)), num_cycles=30)


def test_sb3_ppo_trains_on_it_directly():
    env = gym.make(ENV_ID)
    model = PPO("MlpPolicy", env, n_steps=100, batch_size=50, n_epochs=2, seed=0, device="cpu")
    model.learn(300)
    assert model.num_timesteps == 300
    lengths = [ep["l"] for ep in model.ep_info_buffer]
    assert len(lengths) == 30 and set(lengths) == {10}  # 10-step interactions, ended by the game
    assert env.default_car.n_interactions == 30
    assert all(ep["r"] in (0.0, -1.0, -2.0) for ep in model.ep_info_buffer)


# ----------------------------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize(
    "action, match",
    [
        (np.array([0.2]), "in \\[-0.1, 0.1\\], got 0.2"),
        (np.array([-0.11], dtype=np.float32), "in \\[-0.1, 0.1\\]"),
        (np.array([np.nan]), "finite"),
        (np.array([np.inf]), "finite"),
        (np.array([0.0, 0.0]), "shape \\(1,\\)"),
        (np.zeros((1, 1)), "shape \\(1,\\)"),
        ("left", "one lateral move"),
        (None, "one lateral move"),
    ],
)
def test_bad_ego_actions_name_the_value_and_the_range(action, match):
    env = StableDriving()
    env.reset()
    with pytest.raises(PlayerException, match=match):
        env.step(action)


def test_bad_use_and_options():
    env = StableDriving()
    with pytest.raises(PlayerException, match="reset"):
        env.step(np.array([0.0]))
    env.reset()
    for _ in range(10):
        env.step(np.array([0.0]))
    with pytest.raises(PlayerException, match="reset"):
        env.step(np.array([0.0]))
    with pytest.raises(PlayerException, match="advance"):
        env.reset()
        env.multi_step(np.array([0.0]), 4)
    for bad in (-0.1, 2.0, "0.5"):
        with pytest.raises(ConfigError, match="prob_change"):
            StableDriving(prob_change=bad)
    with pytest.raises(ConfigError, match="oracle"):
        StableDriving(oracle="yes")
    for mode in (3, -1, 1.0, True):
        with pytest.raises(ConfigError, match="mode must be 0, 1 or 2"):
            OtherCar(mode)
