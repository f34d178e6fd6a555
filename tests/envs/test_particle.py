"""The Particle game of low-rank partner adaptation (docs/algorithms.md, sections 4.3 and 4.5 B-2): dynamics,
reward and horizon against values computed here, the scripted partner and demonstration ego formulas, the
recorded joint demonstrations, and bad inputs."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from pantheonrl.common.agents import Agent
from pantheonrl.common.observation import Observation
from pantheonrl.common.trajsaver import SimultaneousTransitions
from pantheonrl.envs.toy.particle import (
    ENV_ID,
    HORIZON,
    Particle,
    RatioEgo,
    RatioPartner,
    best_ego_action,
    episode_return,
    goal_gap,
    joint_dataset,
    ratio_ego_action,
    ratio_partner_action,
    record_demonstrations,
    step_reward,
)
from pantheonrl.errors import ConfigError, PlayerException
from pantheonrl.registry import ENVS


class FixedPush(Agent):
    def __init__(self, push) -> None:
        self.push = np.asarray(push, dtype=np.float32)

    def get_action(self, obs: Observation) -> np.ndarray:
        return self.push

    def update(self, reward: float, done: bool) -> None:
        pass


def test_dynamics_reward_and_horizon_are_exact():
    env = Particle()
    o0, o1 = env.multi_reset()
    np.testing.assert_array_equal(o0, [1.0, 1.0])
    np.testing.assert_array_equal(o0, o1)
    assert o0.dtype == np.float32 and env.observation_space.contains(o0)
    rng = np.random.default_rng(0)
    x = np.array([1.0, 1.0])
    for t in range(HORIZON):
        u0, u1 = rng.uniform(0, 1, 2), rng.uniform(0, 1, 2)
        (o0, o1), (r0, r1), terminated, truncated, info = env.multi_step(u0, u1)
        x = x + u0 + u1
        assert r0 == r1 == pytest.approx(20.0 - np.hypot(9.0 - x[0], 9.0 - x[1]), abs=1e-12)
        np.testing.assert_allclose(o0, x, rtol=1e-6)
        np.testing.assert_array_equal(o0, o1)
        assert env.observation_space.contains(o0)
        assert terminated is (t == HORIZON - 1) and truncated is False
    np.testing.assert_allclose(info["position"], x)
    with pytest.raises(PlayerException, match="over"):
        env.multi_step([0, 0], [0, 0])


def test_no_clipping_the_particle_overshoots_and_stays():
    env = Particle()
    env.multi_reset()
    for _ in range(HORIZON):
        (o0, _), (r0, _), *_ = env.multi_step([1, 1], [1, 1])
    np.testing.assert_array_equal(o0, [41.0, 41.0])  # 1 + 20 * 2, never clipped at the goal
    assert r0 == pytest.approx(20.0 - 32.0 * np.sqrt(2.0))
    assert step_reward([9, 9]) == 20.0 and step_reward([6, 5]) == 15.0


def test_ego_view_episode_registration_and_seeded_reproducibility():
    assert ENV_ID in gym.registry and ENV_ID in ENVS
    env = gym.make(ENV_ID)
    assert isinstance(env, Particle) and Particle.episode_length == HORIZON
    env.add_partner_agent(FixedPush([0.5, 0.25]))

    def run(seed):
        obs, _ = env.reset(seed=seed)
        out = [obs]
        for t in range(HORIZON):
            obs, reward, terminated, truncated, _ = env.step(np.array([0.25, 0.5], dtype=np.float32))
            out.append((obs, reward))
            assert terminated is (t == HORIZON - 1) and not truncated
        return out

    first = run(3)
    np.testing.assert_allclose(first[-1][0], [1 + 20 * 0.75, 1 + 20 * 0.75])
    for seed in (3, 4, None):  # the game is deterministic: seeds change nothing
        again = run(seed)
        for a, b in zip(first[1:], again[1:]):
            np.testing.assert_array_equal(a[0], b[0])
            assert a[1] == b[1]
    # a horizon shorter than the game truncates it
    short = Particle(partners=[FixedPush([0, 0])], horizon=5)
    short.reset()
    flags = [short.step(np.zeros(2, dtype=np.float32))[2:4] for _ in range(5)]
    assert flags[-1] == (False, True) and all(f == (False, False) for f in flags[:-1])


def test_ego_view_passes_check_env():
    env = Particle(partners=[RatioPartner(0.3)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env, skip_render_check=True)


@pytest.mark.parametrize("rho", [0.0, 0.2, 0.5, 0.9, 1.0])
def test_partner_and_ego_formulas(rho):
    rng = np.random.default_rng(int(rho * 10))
    for x in [*rng.uniform(0, 11, size=(200, 2)), (9.0, 9.0), (1.0, 1.0), (8.6, 9.5)]:
        x = np.asarray(x)
        d = np.maximum(np.array([9.0, 9.0]) - x, 0.0)
        partner = np.array([min(rho, d[0]), min(1 - rho, d[1])])
        np.testing.assert_allclose(ratio_partner_action(x, rho), partner)
        np.testing.assert_allclose(goal_gap(x), d)
        ego = np.clip(d - partner, 0.0, 1.0)
        np.testing.assert_allclose(best_ego_action(x, partner), ego)
        np.testing.assert_allclose(ratio_ego_action(x, rho), ego)
        np.testing.assert_allclose(RatioPartner(rho).get_action(Observation(x.astype(np.float32))), partner, atol=1e-6)
        # together they never overshoot the goal
        assert np.all(x + partner + ego <= np.maximum(x, 9.0) + 1e-12)
    assert RatioEgo(rho).get_action(Observation(np.array([1, 1], np.float32))).dtype == np.float32


def test_true_ratio_ego_reaches_the_goal_and_beats_a_mismatched_one():
    for rho in (0.0, 0.3, 0.8):
        env = Particle(partners=[RatioPartner(rho)])
        obs, _ = env.reset()
        ego = RatioEgo(rho)
        for _ in range(HORIZON):
            obs, *_ = env.step(ego.get_action(Observation(obs)))
        np.testing.assert_allclose(obs, [9.0, 9.0], atol=1e-5)
    # rho = 0.3: x moves 1.3 and y 1.7 per step until the goal; the hand-computed return
    ret = episode_return(RatioEgo(0.3), RatioPartner(0.3))
    xs = [(min(1 + 1.3 * t, 9.0), min(1 + 1.7 * t, 9.0)) for t in range(1, HORIZON + 1)]
    xs[5] = (8.8, 9.0)  # step 6: the ego fills y exactly; x is 1.3 * 6 = 7.8 + 1
    want = sum(20.0 - np.hypot(9 - a, 9 - b) for a, b in xs)
    assert ret == pytest.approx(want, abs=1e-4)
    assert ret > episode_return(RatioEgo(0.7), RatioPartner(0.3)) + 1.0
    assert episode_return(RatioEgo(0.5), RatioPartner(0.5)) == pytest.approx(
        episode_return(RatioEgo(0.5), RatioPartner(0.5))
    )


def test_recorded_demonstrations_are_joint_actions(tmp_path):
    trans = record_demonstrations(RatioPartner(0.25), RatioEgo(0.25), episodes=3)
    assert isinstance(trans, SimultaneousTransitions)
    assert len(trans.flags) == 3 * HORIZON and trans.flags.tolist() == ([0] * 19 + [1]) * 3
    obs, joint = joint_dataset(trans)
    assert obs.shape == (60, 2) and joint.shape == (60, 4) and joint.dtype == np.float32
    np.testing.assert_array_equal(obs[0], [1, 1])
    for o, a in zip(obs, joint):
        np.testing.assert_allclose(a[2:], ratio_partner_action(o, 0.25), atol=1e-6)  # seat 1: partner
        np.testing.assert_allclose(a[:2], ratio_ego_action(o, 0.25), atol=1e-6)  # seat 0: ego
    # the toolkit's trajectory file round-trips into the same arrays
    env = Particle()
    path = trans.write_transition(tmp_path / "demo")
    back = SimultaneousTransitions.read_transition(path, env.observation_space, env.action_space)
    obs2, joint2 = joint_dataset(back)
    np.testing.assert_array_equal(obs2, obs)
    np.testing.assert_array_equal(joint2, joint)


@pytest.mark.parametrize(
    ("ego", "alt", "match"),
    [
        ([1.5, 0.0], [0, 0], r"player 0 chose \[1\.5, 0\.0\], outside the allowed range.*\[0, 1\]"),
        ([0.0, 0.0], [-0.1, 0.2], r"player 1 chose \[-0\.1, 0\.2\].*\[0, 1\]"),
        ([np.nan, 0.0], [0, 0], "player 0.*not finite"),
        ([0.5, 0.5, 0.5], [0, 0], r"player 0 .*\(3 entries\).*\[0, 1\]"),
        ([0.0, 0.0], "left", "player 1 chose 'left'"),
        (0.5, [0, 0], r"\(1 entries\)"),
    ],
)
def test_bad_actions_name_the_value_and_the_range(ego, alt, match):
    env = Particle()
    env.multi_reset()
    with pytest.raises(PlayerException, match=match):
        env.multi_step(ego, alt)
    # nothing moved
    np.testing.assert_array_equal(env.observe(), [1, 1])


def test_bad_configuration():
    for rho in (-0.1, 1.5, np.nan, "0.5", True):
        with pytest.raises(ConfigError, match="rho"):
            RatioPartner(rho)
        with pytest.raises(ConfigError, match="rho"):
            ratio_ego_action([1, 1], rho)
    with pytest.raises(ConfigError, match="episodes"):
        record_demonstrations(RatioPartner(0.5), RatioEgo(0.5), episodes=0)
    with pytest.raises(ConfigError, match="SimultaneousTransitions"):
        joint_dataset((np.zeros((2, 2)), np.zeros((2, 4))))
    with pytest.raises(PlayerException, match="position"):
        goal_gap([1, 2, 3])


def test_start_option_for_demonstrations():
    env = Particle(partners=[RatioPartner(0.5)])
    obs, _ = env.reset(options={"start": (8.5, 3.0)})
    np.testing.assert_array_equal(obs, [8.5, 3.0])
    assert env.observation_space.contains(obs)
    obs, *_ = env.step(np.array([0.0, 1.0], dtype=np.float32))
    np.testing.assert_allclose(obs, [9.0, 4.5])
    obs, _ = env.reset()  # only the next episode
    np.testing.assert_array_equal(obs, [1.0, 1.0])
    starts = np.array([[2.0, 3.0], [9.5, 10.0]])
    trans = record_demonstrations(RatioPartner(0.5), RatioEgo(0.5), 2, starts=starts, horizon=4)
    assert trans.flags.tolist() == [0, 0, 0, 1] * 2
    obs, joint = joint_dataset(trans)
    np.testing.assert_array_equal(obs[[0, 4]], starts)
    np.testing.assert_array_equal(joint[4:], 0.0)  # past the goal on both axes nobody pushes
    for bad in ((0.5, 2.0), (1.0, 10.5), (np.inf, 2.0), (1, 2, 3), "far"):
        with pytest.raises(ConfigError, match=r"start.*\[1, 10\]"):
            env.reset(options={"start": bad})
    with pytest.raises(ConfigError, match=r"unknown Particle reset option 'strat'.*did you mean start"):
        env.reset(options={"strat": (2, 2)})
    with pytest.raises(ConfigError, match=r"starts must have shape \(2, 2\)"):
        record_demonstrations(RatioPartner(0.5), RatioEgo(0.5), 2, starts=[[2, 2]])
