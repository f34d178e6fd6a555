"""CoMeDi (docs/algorithms.md, section 3.8): reduction to PPO, the cross-play term's sign and scale, mixed-play
buffers, the choice of i*, and the 2x2 coordination game."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from scipy import stats
from stable_baselines3 import PPO

from pantheonrl.algos.comedi import CoMeDi, ConventionPopulation
from pantheonrl.common.multiagentenv import SimultaneousEnv
from pantheonrl.errors import ConfigError
from pantheonrl.vec.twoseat import CrossPlay, MixedPlay, SelfPlay, TwoSeatCollector
from pantheonrl.vec.vecenv import SpacesVecEnv

th.set_num_threads(1)


class MatrixGame(SimultaneousEnv):
    """2x2 coordination: both play A (0) or both B (1) -> 1, else 0; one step; observation [1]."""

    def __init__(self) -> None:
        obs, act = spaces.Box(0.0, 1.0, (1,), np.float32), spaces.Discrete(2)
        super().__init__([obs, obs], [act, act])

    def multi_reset(self):
        one = np.ones(1, np.float32)
        return one, one

    def multi_step(self, a0, a1):
        r = float(int(a0) == int(a1))
        one = np.ones(1, np.float32)
        return (one, one), (r, r), True, False, {}


class Clock(SimultaneousEnv):
    """``length`` simultaneous steps; both players observe the step index t; reward 1 per step to both."""

    episode_length = 5

    def __init__(self) -> None:
        obs, act = spaces.Box(0.0, 10.0, (1,), np.float32), spaces.Discrete(2)
        super().__init__([obs, obs], [act, act])

    def multi_reset(self):
        self.t = 0
        return np.zeros(1, np.float32), np.zeros(1, np.float32)

    def multi_step(self, a0, a1):
        self.t += 1
        o = np.full(1, self.t, np.float32)
        return (o, o), (1.0, 1.0), self.t >= self.episode_length, False, {}


def fixed_policy(action: int, seed: int = 0):
    """A frozen PPO policy that plays ``action`` with probability ~1."""
    model = PPO("MlpPolicy", SpacesVecEnv(1, MatrixGame().observation_spaces[0], spaces.Discrete(2)), seed=seed,
                device="cpu")
    with th.no_grad():
        model.policy.action_net.weight.zero_()
        model.policy.action_net.bias.copy_(th.tensor([10.0, -10.0] if action == 0 else [-10.0, 10.0]))
    return model.policy


def uniform_policy():
    policy = fixed_policy(0)
    with th.no_grad():
        policy.action_net.bias.zero_()
    return policy


SMALL = {"n_envs": 2, "n_steps": 8, "n_epochs": 3, "device": "cpu"}


def test_reduction_to_ppo_on_the_sp_buffer():
    algo = CoMeDi(MatrixGame, [fixed_policy(0)], alpha=0.0, beta=0.0, seed=3, batch_size=5, ent_coef=0.01, **SMALL)
    rollouts = algo.collect()
    assert set(rollouts) == {"sp"}  # alpha = beta = 0: plain self-play
    ro = rollouts["sp"]
    assert sorted(ro.columns) == [0, 1, 2, 3] and all(len(c) == 8 for c in ro.columns.values())

    ref = PPO("MlpPolicy", SpacesVecEnv(4, algo.collector.observation_space, algo.collector.action_space),
              n_steps=8, batch_size=5, n_epochs=3, ent_coef=0.01, seed=3, device="cpu")
    ref.policy.load_state_dict(copy.deepcopy(algo.policy.state_dict()))
    ref.policy.optimizer.load_state_dict(copy.deepcopy(algo.optimizer.state_dict()))
    buf = ref.rollout_buffer
    buf.reset()
    for t in range(8):
        cols = [ro.columns[k] for k in range(4)]
        with th.no_grad():
            obs = th.as_tensor(np.stack([c.obs[t] for c in cols]))
            values = ref.policy.predict_values(obs)
        buf.add(np.stack([c.obs[t] for c in cols]), np.stack([c.actions[t] for c in cols]),
                np.array([c.rewards[t] for c in cols]), np.array([c.starts[t] for c in cols]), values,
                th.as_tensor(np.array([c.log_probs[t] for c in cols])))
    buf.compute_returns_and_advantage(th.zeros(4), np.ones(4))  # every step ends its (one-step) episode
    _, adv, returns = ro.advantages(algo._value_fn("sp"), algo.model.gamma, algo.model.gae_lambda)
    np.testing.assert_allclose(adv, buf.advantages.T.reshape(-1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(returns, buf.returns.T.reshape(-1), rtol=1e-5, atol=1e-6)

    ref._current_progress_remaining = 1.0
    from stable_baselines3.common.logger import configure

    ref.set_logger(configure(None, []))
    np.random.seed(11)
    ref.train()
    np.random.seed(11)
    algo.train(rollouts, 1.0)
    for (name, mine), theirs in zip(algo.policy.named_parameters(), ref.policy.parameters()):
        np.testing.assert_allclose(mine.detach().numpy(), theirs.detach().numpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=name)
    assert any(not th.equal(a, b) for a, b in zip(algo.policy.parameters(), fixed_policy(0).parameters()))


def test_cross_play_gradient_is_minus_alpha_over_two_times_the_ppo_gradient_at_ratio_one():
    algo = CoMeDi(MatrixGame, [fixed_policy(0)], alpha=0.7, seed=0, **SMALL)
    rollouts = algo.collect()
    data = algo._prepare(rollouts)["xp0/seat0"]
    with th.no_grad():
        data["old_log_prob"] = algo.policy.get_distribution(data["obs"]).log_prob(data["actions"])  # ratio = 1
    data["advantages"] = th.linspace(-1.0, 2.0, len(data["advantages"]))

    def grads(weight):
        algo.policy.zero_grad()
        pl, _, _ = algo._losses("xp0/seat0", data, weight, 0.2)
        pl.backward()
        return [p.grad.clone() for p in algo.policy.action_net.parameters()]

    w = algo.weights(["xp0/seat0"])["xp0/seat0"]
    assert w == -0.35  # -alpha / 2: the seat-0 half of XP with i* = 0
    ppo, xp = grads(1.0), grads(w)
    assert any(g.abs().sum() > 0 for g in ppo)
    for a, b in zip(xp, ppo):
        th.testing.assert_close(a, w * b)
    # away from ratio 1 the clipped loss equals PPO's clipped loss on advantages -alpha * A (normalised A)
    data["old_log_prob"] = data["old_log_prob"] + th.linspace(-0.5, 0.5, len(data["advantages"]))
    pl, _, _ = algo._losses("xp0/seat0", data, -0.7, 0.2)
    with th.no_grad():
        log_prob = algo.policy.get_distribution(data["obs"]).log_prob(data["actions"])
        ratio = th.exp(log_prob - data["old_log_prob"])
        a = data["advantages"]
        a = -0.7 * (a - a.mean()) / (a.std() + 1e-8)
        expected = -th.min(a * ratio, a * th.clamp(ratio, 0.8, 1.2)).mean()
    th.testing.assert_close(pl.detach(), expected)


def test_weights_of_the_buffers():
    algo = CoMeDi(MatrixGame, [fixed_policy(0), fixed_policy(1)], alpha=0.5, beta=0.25, env_length=2, seed=0,
                  **SMALL)
    algo.xp_weights = {1: 1.0}
    w = algo.weights(["sp", "xp0/seat0", "xp1/seat0", "xp1/seat1", "mp0", "mp1"])
    # XP is the mean of both seat orders: each seat's buffer carries -alpha / 2
    assert w == {"sp": 1.0, "xp0/seat0": -0.0, "xp1/seat0": -0.25, "xp1/seat1": -0.25, "mp0": 0.25, "mp1": 0.25}


def test_cross_play_rollouts_record_only_the_learners_seat():
    collector = TwoSeatCollector(MatrixGame, 3, seed=0)
    for seat in (0, 1):
        ro = collector.collect(uniform_policy(), CrossPlay(fixed_policy(0), seat), 10)
        assert sorted(ro.columns) == [2 * c + seat for c in range(3)]
        assert all(len(c) == 10 for c in ro.columns.values())
        assert ro.frozen_decisions == ro.learner_decisions == 30
    ro = collector.collect(uniform_policy(), SelfPlay(), 4)
    assert sorted(ro.columns) == list(range(6)) and ro.frozen_decisions == 0


def test_mixed_play_buffer_holds_only_phase_two_and_phase_one_mixes_at_rate_one_minus_p():
    collector = TwoSeatCollector(Clock, 4, seed=1)
    p = 0.3
    ro = collector.collect(uniform_policy(), MixedPlay(fixed_policy(0), p, Clock.episode_length), 200)
    lengths = np.array(ro.phase1_lengths)
    assert lengths.min() == 1 and lengths.max() == 4 and set(lengths) == {1, 2, 3, 4}
    assert stats.chisquare(np.bincount(lengths)[1:]).pvalue > 1e-3  # L ~ U{1..4}
    for col in ro.columns.values():
        t = np.asarray(col.obs)[:, 0].astype(int)
        assert t.min() >= 1  # step 0 is always phase 1: never recorded
        starts = np.flatnonzero(col.starts)
        assert starts[0] == 0
        for i in starts[1:]:
            assert col.ends[i - 1] != 0  # a segment starts only after the previous one ended
    n = ro.phase1_frozen + ro.phase1_learner
    assert n > 500
    assert stats.binomtest(ro.phase1_frozen, n, 1 - p).pvalue > 1e-3
    # the recorded episodes begin exactly at their phase-2 step: the first recorded t of each segment is L
    firsts = sorted(int(np.asarray(c.obs)[i, 0]) for c in ro.columns.values() for i in np.flatnonzero(c.starts))
    assert set(firsts) <= {1, 2, 3, 4}


def test_i_star_is_the_argmax_of_cross_play_and_refreshes_every_n_updates():
    earlier = [fixed_policy(1), fixed_policy(0), uniform_policy()]  # XP of an always-A learner: 0, 1, 0.5
    algo = CoMeDi(MatrixGame, earlier, alpha=0.5, seed=0, **{**SMALL, "n_steps": 40})
    with th.no_grad():
        algo.policy.action_net.weight.zero_()
        algo.policy.action_net.bias.copy_(th.tensor([10.0, -10.0]))
    rollouts = algo.collect()
    assert {k for k in rollouts if k.startswith("xp")} == {f"xp{i}/seat{s}" for i in range(3) for s in (0, 1)}
    assert algo.i_star == 1 and algo._last_xp[1] > 0.99 and algo._last_xp[0] < 0.01
    assert 0.3 < algo._last_xp[2] < 0.7
    with th.no_grad():
        algo.policy.action_net.bias.copy_(th.tensor([-10.0, 10.0]))  # now always B: the best partner is 0
    for update in (1, 2):
        algo.updates = update
        rollouts = algo.collect()
        assert {k for k in rollouts if k.startswith("xp")} == {"xp1/seat0", "xp1/seat1"}  # i* only
        assert algo.i_star == 1
    algo.updates = 3
    algo.collect()
    assert algo.i_star == 0  # refreshed
    soft = CoMeDi(MatrixGame, earlier, alpha=0.5, xp_soft=True, xp_temperature=0.1, seed=0, **SMALL)
    with th.no_grad():
        soft.policy.action_net.weight.zero_()
        soft.policy.action_net.bias.copy_(th.tensor([10.0, -10.0]))
    soft.collect()
    w = soft.xp_weights
    assert abs(sum(w.values()) - 1) < 1e-9 and w[1] > w[2] > w[0]


def test_two_by_two_game_convention_one_avoids_the_frozen_convention():
    population = ConventionPopulation(MatrixGame, 2, seed=0, alpha=1.0, n_envs=4, n_steps=32, n_epochs=5,
                                      learning_rate=3e-3, ent_coef=0.0, device="cpu")
    population.conventions.append(PPO("MlpPolicy", SpacesVecEnv(8, MatrixGame().observation_spaces[0],
                                                                spaces.Discrete(2)), device="cpu"))
    population.conventions[0].policy = fixed_policy(0)  # convention 0: always A
    population.learn(4000)
    result = population.crossplay(MatrixGame, 200, seed=0)
    sp, xp = result.means[1, 1], result.means[0, 1]
    assert sp >= 0.95 and xp <= 0.05, (sp, xp)
    assert len(population.histories) == 1 and population.histories[0][-1]["i_star"] == 0


def test_bad_arguments():
    with pytest.raises(ConfigError, match="alpha"):
        CoMeDi(MatrixGame, alpha=-1, **SMALL)
    with pytest.raises(ConfigError, match="mix_prob"):
        CoMeDi(MatrixGame, mix_prob=1.5, **SMALL)
    with pytest.raises(ConfigError, match="env_length"):
        CoMeDi(MatrixGame, [fixed_policy(0)], beta=0.5, **SMALL)
    with pytest.raises(ConfigError, match="earlier"):
        CoMeDi(MatrixGame, ["not a policy"], **SMALL)
    with pytest.raises(ConfigError, match="n_conventions"):
        ConventionPopulation(MatrixGame, 0)


def test_a_convention_trained_against_earlier_ones_saves_and_loads_as_plain_ppo(tmp_path):
    from pantheonrl.artifacts import load_agent, save_agent

    algo = CoMeDi(Clock, [fixed_policy(0)], alpha=0.5, beta=0.5, seed=0, **SMALL)
    algo.learn(16)
    assert len(algo.value_heads) == 3 and algo.optimizer is not algo.policy.optimizer
    algo.model.save(tmp_path / "conv.zip")
    loaded = PPO.load(tmp_path / "conv.zip", device="cpu")  # the value heads' optimiser state is not in the zip
    save_agent(algo.model, tmp_path / "conv", env_id="Clock-v0")
    again = load_agent(tmp_path / "conv")
    for a, b, c in zip(algo.policy.parameters(), loaded.policy.parameters(), again.policy.parameters()):
        assert th.equal(a, b) and th.equal(a, c)


def test_mixed_play_that_can_never_record_a_seat_stops_with_a_clear_error():
    from pantheonrl.common.multiagentenv import TurnBasedEnv

    class TwoMoves(TurnBasedEnv):
        """Seat 0 moves, then seat 1, then the game ends: with L = 1, seat 0 never acts in phase 2."""

        episode_length = 2

        def __init__(self):
            obs, act = spaces.Box(0.0, 1.0, (1,), np.float32), spaces.Discrete(2)
            super().__init__([obs, obs], [act, act], probegostart=1.0)

        def multi_reset(self, egofirst):
            self.t = 0
            return np.zeros(1, np.float32)

        def ego_step(self, action):
            self.t += 1
            return np.ones(1, np.float32), (0.0, 0.0), False, False, {}

        def alt_step(self, action):
            return np.zeros(1, np.float32), (1.0, 1.0), True, False, {}

    collector = TwoSeatCollector(TwoMoves, 2, seed=0)
    with pytest.raises(ConfigError, match=r"MixedPlay recorded nothing .* columns \[0, 2\].* env_length"):
        collector.collect(uniform_policy(), MixedPlay(fixed_policy(0), 0.5, 2), 4)
