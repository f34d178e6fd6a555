"""SILI's pieces (docs/algorithms.md, section 5.5): the stability reward and shaping, the latent model, the vector
wrapper (latents per interaction, penalties on final steps only, no leak from the current interaction), and that
no policy gradient reaches the encoder."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.vec_env import DummyVecEnv

from pantheonrl.algos.sili import (
    SILI,
    BetaSchedule,
    LatentStrategyModel,
    LatentStrategyVecWrapper,
    SILICallback,
    shaped_reward,
    stability_reward,
)
from pantheonrl.errors import ConfigError

th.set_num_threads(1)

HORIZON = 3


class SwitchGame(gym.Env):
    """A 3-step game whose hidden mode (0 or 1) is the sign of the ego's last action in the previous episode
    (``fixed`` pins it). Observation ``(t, noise)``, reward ``+1`` if the action's sign matches the mode."""

    observation_space = spaces.Box(-np.inf, np.inf, (2,), np.float32)
    action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self, fixed: int | None = None) -> None:
        self.fixed = fixed
        self.mode = 0 if fixed is None else fixed
        self.next_mode = self.mode
        self.t = 0

    def _obs(self) -> np.ndarray:
        return np.array([self.t, self.np_random.normal()], np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.mode, self.t = self.next_mode, 0
        return self._obs(), {}

    def step(self, action):
        a = float(np.asarray(action).reshape(-1)[0])
        reward = float((a > 0) == bool(self.mode))
        self.t += 1
        done = self.t == HORIZON
        if done and self.fixed is None:
            self.next_mode = int(a > 0)
        return self._obs(), reward, done, False, {"mode": self.mode}


def _wrapped(model, beta=0.5, fixed=None, n=1, continuing=True):
    venv = DummyVecEnv([lambda: SwitchGame(fixed) for _ in range(n)])
    venv.seed(0)
    return LatentStrategyVecWrapper(venv, model, beta, info_keys=("mode",), continuing=continuing)


def _model(seed=0, latent="discrete", latent_dim=2):
    return LatentStrategyModel(2, 1, HORIZON, latent_dim, latent=latent, hidden=(16,), lr=1e-2, seed=seed)


def test_stability_reward_is_zero_iff_unchanged_and_one_hot_values():
    rng = np.random.default_rng(0)
    for _ in range(50):
        z = rng.normal(size=3)
        assert stability_reward(z, z) == 0.0
        other = z + rng.normal(size=3) * 1e-3
        assert stability_reward(other, z) < 0.0
    eye = np.eye(4)
    values = {round(stability_reward(eye[i], eye[j]), 12) for i in range(4) for j in range(4)}
    assert values == {0.0, round(-np.sqrt(2), 12)}
    with pytest.raises(ConfigError, match="same size"):
        stability_reward(np.zeros(2), np.zeros(3))


def test_beta_zero_is_the_task_reward_exactly_and_penalty_only_on_final_steps():
    rng = np.random.default_rng(1)
    for r in rng.normal(size=100) * 10:
        assert shaped_reward(r, 0.0, final=True, r_stab=-1.4) == r
        assert shaped_reward(r, 0.0, final=False) == r
        assert shaped_reward(r, 0.5, final=False, r_stab=-1.4) == 0.5 * r
        assert shaped_reward(r, 0.5, final=True, r_stab=-1.4) == pytest.approx(0.5 * r - 0.7)
    schedule = BetaSchedule(1.0, 0.0, 10)
    assert [schedule(i) for i in (0, 5, 10, 50)] == [1.0, 0.5, 0.0, 0.0]
    assert BetaSchedule(0.5)(1000) == 0.5
    for bad in (-0.1, 1.5, "0.5", True):
        with pytest.raises(ConfigError, match="in \\[0, 1\\]"):
            BetaSchedule(bad)


def _play(wrapper, actions_fn, n_steps):
    obs = wrapper.reset()
    rows = []
    for t in range(n_steps):
        acts = np.array([[actions_fn(t)]] * wrapper.num_envs, np.float32)
        new_obs, rewards, dones, infos = wrapper.step(acts)
        rows.append((obs, rewards, dones, infos))
        obs = new_obs
    return rows


def test_wrapper_latents_per_interaction_and_penalties_on_final_steps_only():
    model = _model()
    wrapper = _wrapped(model, beta=0.5)
    assert wrapper.observation_space.shape == (4,)
    # alternate the mode each interaction: the latent may change, the penalty sits on final steps only
    rows = _play(wrapper, lambda t: 1.0 if (t // HORIZON) % 2 else -1.0, 8 * HORIZON)
    for t, (obs, _, dones, infos) in enumerate(rows):
        final = (t + 1) % HORIZON == 0
        assert not dones[0]  # one stream of interactions (continuing=True)
        assert infos[0].get("interaction_end", False) == final
        z = obs[0, 2:]
        assert z.sum() in (0.0, 1.0) and set(np.unique(z)) <= {0.0, 1.0}
        if t // HORIZON == 0:
            assert z.sum() == 0.0  # a stream's first interaction: z = 0
        else:
            assert np.array_equal(z, rows[t - t % HORIZON][0][0, 2:])  # one latent per interaction
        if not final:
            assert "sili" not in infos[0]
        else:
            assert np.array_equal(infos[0]["terminal_observation"][2:], z)
    hist = wrapper.history
    assert len(hist) == 8 and hist[0]["r_stab"] == 0.0
    assert all(h["r_stab"] in (0.0, pytest.approx(-np.sqrt(2))) for h in hist)
    # the shaped rewards add up to (1 - beta) * task + beta * r_stab per interaction
    for i, h in enumerate(hist):
        shaped = sum(float(rows[i * HORIZON + k][1][0]) for k in range(HORIZON))
        assert shaped == pytest.approx(0.5 * h["task_return"] + 0.5 * h["r_stab"], abs=1e-6)
    # consecutive pairs are kept for training: 8 interactions -> 7 pairs
    assert len(wrapper.pairs) == 7


def test_unchanging_partner_and_deterministic_encoder_give_zero_penalty():
    wrapper = _wrapped(_model(seed=3), beta=1.0, fixed=1)
    # the same actions every interaction: the same transitions up to observation noise -> the same latent
    _play(wrapper, lambda t: 0.5, 10 * HORIZON)
    latents = [h["latent"] for h in wrapper.history[1:]]
    assert len(set(latents[1:])) == 1
    assert sum(h["r_stab"] for h in wrapper.history[2:]) == 0.0


def test_latent_of_interaction_i_depends_only_on_the_previous_interaction():
    """Leak test (property 5): perturbing the current interaction's transitions does not change its latent."""
    model = _model(seed=4, latent="continuous", latent_dim=3)
    a = _wrapped(model, beta=0.5)
    b = _wrapped(model, beta=0.5)
    acts_a = lambda t: -0.5 if t < HORIZON else 0.9  # noqa: E731
    acts_b = lambda t: -0.5 if t < HORIZON else -0.9  # noqa: E731  (differs from interaction 2 on)
    rows_a = _play(a, acts_a, 2 * HORIZON)
    rows_b = _play(b, acts_b, 2 * HORIZON)
    for t in range(HORIZON, 2 * HORIZON):  # interaction 2's latent comes from interaction 1, identical in both
        assert np.array_equal(rows_a[t][0][0, 2:], rows_b[t][0][0, 2:])
        assert np.any(rows_a[t][0][0, 2:] != 0)
    assert not np.array_equal(a.latents, b.latents)  # interaction 3's latents differ: they read interaction 2


def test_latent_model_learns_the_partner_response():
    """E/D fit the SwitchGame's rule: the next interaction's reward depends on the previous interaction's last
    action, so the decoder loss falls and the argmax latent separates the two cases."""
    model = _model(seed=5)
    wrapper = _wrapped(model, beta=0.0)
    rng = np.random.default_rng(0)
    wrapper.reset()
    for _ in range(200):
        sign = rng.choice([-1.0, 1.0])
        for _ in range(HORIZON):
            wrapper.step(np.array([[sign * rng.uniform(0.2, 1.0)]], np.float32))
    before = model.loss(*wrapper.sample_pairs(64, np.random.default_rng(1))).item()
    callback = SILICallback(wrapper, updates=600, batch_size=16, seed=0)
    assert callback.train_latent() is not None
    after = model.loss(*wrapper.sample_pairs(64, np.random.default_rng(1))).item()
    assert before > 0.2 and after < 0.05  # 0.25 is the best a decoder that ignores z can do
    prev = np.stack([p for p, _ in list(wrapper.pairs)[:100]])
    last_sign = prev[:, HORIZON - 1, 2] > 0  # the previous interaction's last action
    z = model.encode(prev).argmax(-1)
    assert len(set(z[last_sign])) == 1 and len(set(z[~last_sign])) == 1 and set(z[last_sign]) != set(z[~last_sign])


def test_no_policy_gradient_reaches_the_encoder():
    sili = SILI(
        SwitchGame, "sili", horizon=HORIZON, hidden=(16,), algo_kwargs={"n_steps": 30, "batch_size": 15}, seed=0
    )
    enc = [p.detach().clone() for p in sili.latent_model.parameters()]
    ids = {id(p) for p in sili.latent_model.parameters()}
    assert not ids & {id(p) for g in sili.model.policy.optimizer.param_groups for p in g["params"]}
    sili.model.learn(90)  # PPO alone (no SILICallback): three rollouts and updates
    assert all(th.equal(a, b) for a, b in zip(enc, sili.latent_model.parameters(), strict=True))
    sili.learn(60)  # with the callback the latent model does train
    assert not all(th.equal(a, b) for a, b in zip(enc, sili.latent_model.parameters(), strict=True))
    assert len(sili.callback.losses) >= 1 and len(sili.history) == 50


def test_variants_and_bad_arguments():
    none = SILI(SwitchGame, "none", horizon=HORIZON, algo_kwargs={"n_steps": 30, "batch_size": 15})
    assert none.latent_model is None and none.wrapper.observation_space.shape == (2,)
    none.learn(30)
    assert len(none.history) == 10 and all(h["r_stab"] == 0.0 for h in none.history)
    lili = SILI(SwitchGame, "lili", beta=0.7, horizon=HORIZON, hidden=(8,))
    assert lili.wrapper.beta == 0.0
    with pytest.raises(ConfigError, match="unknown SILI variant 'silli'"):
        SILI(SwitchGame, "silli")
    with pytest.raises(ConfigError, match="horizon=K"):
        SILI(SwitchGame, "sili")
    with pytest.raises(ConfigError, match="PPO"):
        SILI(SwitchGame, "sili", horizon=3, algo="PPOO")
    with pytest.raises(ConfigError, match="latent must be one of"):
        LatentStrategyModel(2, 1, 3, latent="gaussian")
    with pytest.raises(ConfigError, match="estimator must be one of"):
        LatentStrategyModel(2, 1, 3, estimator="softmax")
    with pytest.raises(ConfigError, match="latent_dim >= 2"):
        LatentStrategyModel(2, 1, 3, 1)
    with pytest.raises(ConfigError, match=r"\(n, 3, 6\)"):
        _model().encode(np.zeros((3, 5)))
    with pytest.raises(ConfigError, match="flat Box observation"):
        LatentStrategyVecWrapper(
            DummyVecEnv([lambda: gym.make("CartPole-v1")]).__class__(
                [
                    lambda: gym.wrappers.TransformObservation(
                        gym.make("CartPole-v1"), lambda o: o.reshape(2, 2), spaces.Box(-1, 1, (2, 2))
                    )
                ]
            ),
            None,
        )
    with pytest.raises(ConfigError, match="obs_dim=3"):
        _wrapped(LatentStrategyModel(3, 1, 3))


def test_continuing_false_passes_the_games_episode_ends():
    wrapper = _wrapped(_model(), continuing=False)
    rows = _play(wrapper, lambda t: 0.5, 3 * HORIZON)
    assert [bool(r[2][0]) for r in rows] == [(t + 1) % HORIZON == 0 for t in range(3 * HORIZON)]
    stream = _wrapped(_model(), continuing=True)
    rows_stream = _play(stream, lambda t: 0.5, 3 * HORIZON)
    # the same observations and rewards either way; only the algorithm's episode ends differ
    for a, b in zip(rows, rows_stream, strict=True):
        assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_sac_option_on_stable_driving():
    """SAC (the paper's learner) runs through the same wrapper and callback on the real driving game."""
    from pantheonrl.envs.toy.stable_driving import StableDriving

    sili = SILI(
        StableDriving,
        "sili",
        algo="SAC",
        hidden=(32,),
        latent_updates=5,
        latent_every=4,
        info_keys=("mode", "stabilized", "collisions"),
        algo_kwargs={"learning_starts": 20, "buffer_size": 1000, "batch_size": 16, "policy_kwargs": {"net_arch": [32]}},
        seed=0,
    )
    assert sili.latent_model.horizon == 10 and sili.wrapper.observation_space.shape == (6,)
    sili.learn(100)
    assert len(sili.history) == 10 and {"mode", "stabilized", "collisions"} <= set(sili.history[-1])
    # SAC ends a "rollout" after every step; the latent model trains once per 4 finished interactions
    assert len(sili.callback.losses) == 2
    assert SILI(StableDriving, "sili", algo="SAC", hidden=(8,)).callback.every == 50


def test_argmax_estimator_trains_on_the_played_latent_and_gumbel_is_noisy():
    tau = np.random.default_rng(0).normal(size=(64, HORIZON, 6)).astype(np.float32)
    det = LatentStrategyModel(2, 1, HORIZON, 3, estimator="argmax", hidden=(8,), seed=0)
    z = det._train_latent(th.as_tensor(tau))
    assert np.array_equal(z.detach().numpy(), det.encode(tau))  # forward: exactly the one-hot played
    z.sum(0)[0].backward()
    assert all(p.grad is not None for p in det.encoder.parameters())  # backward: the softmax's gradient
    noisy = LatentStrategyModel(2, 1, HORIZON, 3, estimator="gumbel", hidden=(8,), seed=0)
    assert not np.array_equal(noisy._train_latent(th.as_tensor(tau)).detach().numpy(), noisy.encode(tau))
