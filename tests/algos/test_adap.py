"""ADAP (pantheonrl.algos.adap) and the K-arm coordination game: docs/algorithms.md section 6.4, properties 1-6,
the compat API (docs/pantheonrl-compat.md sections 1.1 and 5), artefacts and latent search."""

from __future__ import annotations

import copy
import itertools
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env
from stable_baselines3 import PPO
from stable_baselines3.common.distributions import CategoricalDistribution, DiagGaussianDistribution
from stable_baselines3.common.utils import ConstantSchedule

from pantheonrl.algos.adap import (
    ADAP,
    SAMPLERS,
    AdapAgent,
    AdapPolicy,
    AdapPolicyMult,
    MultModel,
    context_diversity,
    diversity_loss,
    get_context_kl_loss,
    kl_divergence,
    latent_search,
)
from pantheonrl.algos.adap.policies import augment_observations
from pantheonrl.artifacts import load_agent, load_policy, save_agent
from pantheonrl.common.observation import Observation
from pantheonrl.envs.toy.karm import ENV_ID, AlwaysArmAgent, KArmCoordination
from pantheonrl.errors import ConfigError, PlayerException, SpaceException
from pantheonrl.registry import ALGORITHMS, ENVS
from pantheonrl.vec import MultiAgentVecEnv

SMALL = {"n_steps": 16, "batch_size": 16, "n_epochs": 2, "device": "cpu"}


def karm_policy(cls=AdapPolicy, context_size=3, rounds=1, **kwargs):
    env = KArmCoordination(rounds=rounds)
    return cls(env.observation_space, env.action_space, ConstantSchedule(3e-4), context_size=context_size, **kwargs)


def z_sensitive(policy):
    """Make the action logits depend strongly on the latent (the stock init keeps them near uniform)."""
    with th.no_grad():
        policy.action_net.weight.mul_(300.0)
    return policy


def unit(rows):
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


# ------------------------------------------------------------------------------------------ the game


def test_karm_one_round_reward_table_is_exhaustively_the_match_indicator():
    env = KArmCoordination()
    assert env.observation_space == spaces.Box(0.0, 1.0, (1,), np.float32)
    assert env.action_space == spaces.Discrete(4)
    for a0, a1 in itertools.product(range(4), repeat=2):
        (o0, o1) = env.multi_reset()
        assert o0.tolist() == [1.0] and o1.tolist() == [1.0]
        (n0, n1), rewards, terminated, truncated, _ = env.multi_step(a0, a1)
        assert rewards == ((1.0, 1.0) if a0 == a1 else (0.0, 0.0)), (a0, a1)
        assert terminated and not truncated
        assert n0.tolist() == [1.0] and n1.tolist() == [1.0]


def test_karm_five_rounds_observe_time_and_both_previous_arms():
    env = KArmCoordination(n_arms=4, rounds=5)
    o0, o1 = env.multi_reset()
    none = np.zeros(5)
    none[4] = 1.0
    assert o0.shape == (11,) and np.array_equal(o0, np.concatenate([[0.0], none, none]))
    pairs = [(0, 0), (1, 2), (3, 3), (2, 0), (1, 1)]
    total = 0.0
    for t, (a0, a1) in enumerate(pairs, start=1):
        (o0, o1), (r0, r1), terminated, truncated, _ = env.multi_step(a0, a1)
        assert r0 == r1 == float(a0 == a1)
        total += r0
        assert o0[0] == pytest.approx(t / 5) and o1[0] == pytest.approx(t / 5)
        assert np.flatnonzero(o0[1:6]).tolist() == [a0] and np.flatnonzero(o0[6:11]).tolist() == [a1]
        assert np.flatnonzero(o1[1:6]).tolist() == [a1] and np.flatnonzero(o1[6:11]).tolist() == [a0]
        assert terminated == (t == 5) and not truncated
    assert total == 3.0


@pytest.mark.parametrize("rounds", [1, 5])
def test_karm_ego_view_passes_check_env(rounds):
    env = KArmCoordination(rounds=rounds)
    env.add_partner_agent(AlwaysArmAgent(1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env, skip_render_check=True)


def test_karm_registration_partners_and_bad_input():
    assert ENV_ID in gym.registry and ENV_ID in ENVS
    env = gym.make(ENV_ID, rounds=5)
    assert isinstance(env, KArmCoordination) and env.rounds == 5
    env.add_partner_agent(AlwaysArmAgent(2))
    env.reset(seed=0)
    returns = 0.0
    for _ in range(5):
        _, reward, terminated, _, _ = env.step(2)
        returns += reward
    assert terminated and returns == 5.0
    assert AlwaysArmAgent(3).get_actions([Observation(np.ones(1))] * 2) == [3, 3]
    with pytest.raises(PlayerException):
        env.add_partner_agent(AlwaysArmAgent(1, n_arms=3))  # action space differs
    with pytest.raises(ConfigError):
        KArmCoordination(rounds=0)
    with pytest.raises(ConfigError):
        AlwaysArmAgent(4)
    env.reset()
    with pytest.raises(PlayerException):
        env.step(7)


# ------------------------------------------------------------------------------------------ samplers and KL


def test_samplers_have_their_support_and_are_seeded():
    rng = np.random.default_rng
    l2 = SAMPLERS["l2"](3, 500, rng=rng(0))
    assert l2.shape == (500, 3) and np.allclose(np.linalg.norm(l2, axis=1), 1.0)
    assert np.allclose(np.abs(l2.mean(axis=0)), 0.0, atol=0.1)  # a normalized Gaussian is centred
    square = SAMPLERS["unit_square"](4, 200, rng=rng(0))
    assert square.shape == (200, 4) and square.min() >= -1 and square.max() <= 1 and square.min() < 0
    positive = SAMPLERS["positive_square"](2, 200, rng=rng(0))
    assert positive.min() >= 0 and positive.max() <= 1
    onehot = SAMPLERS["categorical"](5, 100, rng=rng(0))
    assert np.array_equal(onehot.sum(axis=1), np.ones(100)) and set(np.unique(onehot)) == {0.0, 1.0}
    natural = SAMPLERS["natural_numbers"](6, 100, rng=rng(0))
    assert natural.shape == (100, 1) and set(np.unique(natural)) <= set(range(6))
    assert np.array_equal(SAMPLERS["l2"](3, 4, rng=rng(7)), SAMPLERS["l2"](3, 4, rng=rng(7)))
    tensor = SAMPLERS["l2"](3, 1, use_torch=True, rng=rng(0))
    assert isinstance(tensor, th.Tensor) and tensor.shape == (1, 3)


def test_kl_divergence_matches_torch():
    dist = CategoricalDistribution(4)
    p = dist.proba_distribution(th.tensor([[0.3, -1.0, 2.0, 0.0]]))
    q = CategoricalDistribution(4).proba_distribution(th.tensor([[1.0, 0.0, -0.5, 0.2]]))
    expected = (p.distribution.probs * (p.distribution.logits - q.distribution.logits)).sum()
    assert kl_divergence(p, q).item() == pytest.approx(expected.item(), rel=1e-6)
    assert kl_divergence(p, p).item() == 0.0


# ------------------------------------------------------------------------------------------ section 6.4


def test_property_1_diversity_is_exactly_one_when_z_is_ignored():
    policy = karm_policy()
    d = policy.context_size
    with th.no_grad():
        policy.mlp_extractor.policy_net[0].weight[:, -d:] = 0.0
        policy.mlp_extractor.value_net[0].weight[:, -d:] = 0.0
        policy.action_net.weight.mul_(100.0)  # far from uniform, still independent of z
    states = th.ones(7, 1)
    contexts = SAMPLERS["l2"](d, 6, rng=np.random.default_rng(0))
    assert diversity_loss(policy, states, contexts).item() == 1.0


def test_property_1_diversity_is_in_0_1_and_falls_as_a_kl_grows():
    policy = z_sensitive(karm_policy())
    value = diversity_loss(policy, th.ones(4, 1), SAMPLERS["l2"](3, 5, rng=np.random.default_rng(1))).item()
    assert 0.0 < value < 1.0

    direction = th.tensor([2.0, -1.0, 0.5, -1.5])
    previous = 1.0
    for scale in (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0):
        logits = th.stack([th.zeros(4), scale * direction, th.tensor([0.1, 0.0, 0.0, 0.0])])  # 3 latents, 1 state
        value = context_diversity(CategoricalDistribution(4).proba_distribution(logits), 3).item()
        assert 0.0 < value <= 1.0
        if scale == 0.0:
            assert value < 1.0  # latent 3 differs slightly
        else:
            assert value < previous
        previous = value
    gaussian = DiagGaussianDistribution(2)
    previous = 1.0
    for shift in (0.0, 0.5, 1.0, 2.0):
        mean = th.tensor([[0.0, 0.0], [shift, -shift]])
        value = context_diversity(gaussian.proba_distribution(mean, th.zeros(2)), 2).item()
        assert (value == pytest.approx(1.0)) if shift == 0.0 else value < previous
        previous = value


def test_property_2_diversity_ignores_the_order_of_the_latents():
    policy = z_sensitive(karm_policy(rounds=5))
    states = th.as_tensor(np.random.default_rng(0).random((6, 11)), dtype=th.float32)
    contexts = SAMPLERS["l2"](3, 5, rng=np.random.default_rng(2))
    base = diversity_loss(policy, states, contexts).item()
    for perm in ([4, 3, 2, 1, 0], [1, 0, 3, 4, 2]):
        assert diversity_loss(policy, states, contexts[perm]).item() == pytest.approx(base, rel=1e-6, abs=1e-7)


@pytest.mark.parametrize("cls", [AdapPolicy, AdapPolicyMult])
def test_property_3_each_minibatch_row_uses_its_own_latent(cls):
    policy = z_sensitive(karm_policy(cls, rounds=5))
    rng = np.random.default_rng(3)
    obs = rng.random((6, 11)).astype(np.float32)
    z_a, z_b = unit(rng.standard_normal((2, 3)))
    latents = np.stack([z_a, z_b, z_b, z_a, z_b, z_a])
    rows = th.as_tensor(augment_observations(obs, latents))
    actions = th.as_tensor(rng.integers(0, 4, 6))
    values, log_prob, entropy = policy.evaluate_actions(rows, actions)
    probs = policy.get_distribution(rows).distribution.probs
    assert not th.allclose(probs[0], probs[1])  # the two latents really act differently
    for i in range(6):
        policy.set_context(latents[i])
        raw = th.as_tensor(obs[i : i + 1])
        v, lp, ent = policy.evaluate_actions(raw, actions[i : i + 1])
        tol = {"rtol": 1e-5, "atol": 1e-5}
        assert th.allclose(values[i], v[0], **tol) and th.allclose(log_prob[i], lp[0], **tol)
        assert th.allclose(entropy[i], ent[0], **tol)
        assert th.allclose(policy.predict_values(rows[i : i + 1]), v, **tol)
        assert th.allclose(policy.get_distribution(raw).distribution.probs[0], probs[i], **tol)
    with pytest.raises(SpaceException):
        policy.get_distribution(th.zeros(2, 5))  # neither observations nor rows obs ⊕ z


class SpyAgent(AdapAgent):
    """Records the latent each batched request was answered with."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = []

    def get_actions(self, observations, columns=None):
        self.calls.append({c: self.latent_for(c) for c in columns})
        return super().get_actions(observations, columns)


def capture_rollouts(model, store):
    original = model.train

    def train():
        buf = model.rollout_buffer
        store.append((buf.observations.copy(), buf.episode_starts.copy()))
        original()

    model.train = train


def test_property_4_latent_fixed_per_episode_resampled_per_copy_and_shared_with_the_partner():
    venv = MultiAgentVecEnv(lambda: KArmCoordination(rounds=5), n_envs=2)
    ego = ADAP("MlpPolicy", venv, seed=0, **{**SMALL, "n_steps": 20, "batch_size": 20})
    partner = SpyAgent(ego, latent_syncer=ego)
    partner.add_to_copies(venv, player_num=1)
    rollouts = []
    capture_rollouts(ego, rollouts)
    ego.learn(40)  # one rollout of 20 steps per copy: 4 episodes each
    (obs, starts), = rollouts
    z = obs[:, :, -3:]
    assert len(partner.calls) == 20
    for c in range(2):
        episodes = np.split(z[:, c], np.flatnonzero(starts[:, c])[1:])
        assert [len(e) for e in episodes] == [5, 5, 5, 5]
        for episode in episodes:
            assert np.all(episode == episode[0])  # constant within the episode
        firsts = [e[0] for e in episodes]
        assert all(not np.array_equal(a, b) for a, b in itertools.combinations(firsts, 2))  # redrawn at each end
        assert np.allclose(np.linalg.norm(firsts, axis=1), 1.0)
        for t in range(20):
            assert np.array_equal(partner.calls[t][c], z[t, c])  # the partner played with the same z
    assert not np.array_equal(z[0, 0], z[0, 1])  # each copy has its own latent


@pytest.mark.parametrize("alpha", [0.0, 0.5])
def test_property_5_with_alpha_zero_adap_trains_exactly_like_ppo_on_rows_with_latents(alpha):
    env = KArmCoordination(rounds=5)
    env.add_partner_agent(AlwaysArmAgent(1))
    model = ADAP("MlpPolicy", env, context_loss_coeff=alpha, seed=4, **{**SMALL, "n_steps": 32, "n_epochs": 3})
    weights = {}

    def train():
        state = copy.deepcopy(model.policy.state_dict())
        optim = copy.deepcopy(model.policy.optimizer.state_dict())
        np_state, th_state = np.random.get_state(), th.get_rng_state()
        for name, method in (("adap", ADAP.train), ("ppo", PPO.train)):
            model.policy.load_state_dict(state)
            model.policy.optimizer.load_state_dict(copy.deepcopy(optim))
            np.random.set_state(np_state)
            th.set_rng_state(th_state)
            method(model)
            weights[name] = copy.deepcopy(model.policy.state_dict())

    model.train = train
    model.learn(32)
    assert weights["adap"].keys() == weights["ppo"].keys()
    same = [th.equal(weights["adap"][key], weights["ppo"][key]) for key in weights["adap"]]
    if alpha == 0.0:
        assert all(same)  # PPO's train() on the same rows: the same gradient steps, bit for bit
    else:
        assert not all(same)  # the diversity term changes the actor


def test_property_6_identical_latents_give_zero_diversity_and_a_warning():
    policy = z_sensitive(karm_policy())
    same = np.tile(unit([[1.0, 2.0, 3.0]]), (5, 1))
    with pytest.warns(RuntimeWarning, match="identical"):
        value = diversity_loss(policy, th.ones(3, 1), same)
    assert value.item() == 0.0 and not th.isnan(value)
    # a one-value prior: every minibatch warns, training still runs and stays finite
    env = KArmCoordination()
    env.add_partner_agent(AlwaysArmAgent(0))
    model = ADAP("MlpPolicy", env, context_sampler="categorical", context_size=1, seed=0, **SMALL)
    with pytest.warns(RuntimeWarning, match="identical"):
        model.learn(16)
    assert all(th.isfinite(p).all() for p in model.policy.parameters())


def test_diversity_term_on_a_minibatch_pushes_latents_apart():
    env = KArmCoordination()
    env.add_partner_agent(AlwaysArmAgent(0))
    model = ADAP("MlpPolicy", env, context_loss_coeff=1.0, seed=0, **SMALL)
    z_sensitive(model.policy)
    _, callback = model._setup_learn(16)
    model.collect_rollouts(model.env, callback, model.rollout_buffer, model.n_steps)
    batch = next(model.rollout_buffer.get(16))

    def measured():
        model._latent_rng = np.random.default_rng(123)  # the same fresh latents before and after
        return get_context_kl_loss(model, model.policy, batch)

    before = measured()
    assert 0.0 < before.item() < 1.0 and before.requires_grad
    optimizer = th.optim.SGD(model.policy.parameters(), lr=0.05)
    for _ in range(20):
        optimizer.zero_grad()
        get_context_kl_loss(model, model.policy, batch).backward()
        optimizer.step()
    assert measured().item() < before.item()


# ------------------------------------------------------------------------------------------ compat usage


def test_compat_construction_aliases_and_checks():
    env = KArmCoordination()
    for policy, cls in (("MlpPolicy", AdapPolicy), (AdapPolicy, AdapPolicy), ("AdapPolicyMult", AdapPolicyMult)):
        model = ADAP(policy, env, **SMALL)
        assert type(model.policy) is cls and model.policy.context_size == 3
        assert model.latents.shape == (1, 3) and np.allclose(model.policy.get_context()[0], model.latents[0])
    model = ADAP("MlpPolicy", env, context_sampler="natural_numbers", context_size=5, **SMALL)
    assert model.policy.context_size == 1 and model.latents[0, 0] in range(5)
    with pytest.raises(ConfigError, match="context sampler"):
        ADAP("MlpPolicy", env, context_sampler="gauss", **SMALL)
    with pytest.raises(ConfigError):
        ADAP("MlpPolicy", env, use_sde=True, **SMALL)
    with pytest.raises(ConfigError):
        ADAP("MlpPolicy", env, policy_kwargs={"context_size": 2}, **SMALL)
    with pytest.raises(SpaceException):
        AdapPolicy(spaces.Dict({"a": spaces.Discrete(2)}), spaces.Discrete(2), ConstantSchedule(1e-3))
    with pytest.raises(ConfigError):
        MultModel(4, [], th.nn.Tanh, "cpu", 3)
    with pytest.raises(ConfigError):
        AdapAgent(PPO("MlpPolicy", env, device="cpu"))


def test_predict_uses_the_current_context():
    env = KArmCoordination()
    model = ADAP("MlpPolicy", env, seed=0, **SMALL)
    z_sensitive(model.policy)
    for z in unit(np.random.default_rng(5).standard_normal((5, 3))):
        model.policy.set_context(z)
        assert np.allclose(model.policy.get_context()[0].numpy(), z)
        rows = th.as_tensor(augment_observations(np.ones((1, 1)), z[None]))
        best = model.policy.get_distribution(rows).distribution.probs.argmax().item()
        action, _ = model.predict(np.ones(1, dtype=np.float32), deterministic=True)
        assert int(action) == best
    with pytest.raises(ConfigError):
        model.policy.set_context([1.0, 0.0])


@pytest.mark.parametrize("syncer", ["algorithm", "policy"])
def test_adap_agent_with_latent_syncer_learns_in_a_single_game(syncer):
    env = KArmCoordination(rounds=5)
    ego = ADAP("MlpPolicy", env, seed=1, **{**SMALL, "n_steps": 20, "batch_size": 20})
    partner_model = ADAP("MlpPolicy", env.get_dummy_env(1), seed=2, **{**SMALL, "n_steps": 20, "batch_size": 20})
    partner = AdapAgent(partner_model, latent_syncer=ego if syncer == "algorithm" else ego.policy)
    env.add_partner_agent(partner)
    ego_rollouts, partner_rollouts = [], []
    capture_rollouts(ego, ego_rollouts)
    capture_rollouts(partner_model, partner_rollouts)
    before = copy.deepcopy(partner_model.policy.state_dict())
    ego.learn(40)
    assert len(ego_rollouts) == len(partner_rollouts) == 2
    for (ego_obs, ego_starts), (partner_obs, partner_starts) in zip(ego_rollouts, partner_rollouts):
        assert np.array_equal(ego_obs[:, 0, -3:], partner_obs[:, 0, -3:])  # the same z at every step
        assert np.array_equal(ego_starts, partner_starts)
        assert len(np.unique(ego_obs[:, 0, -3:], axis=0)) == 4  # 4 episodes, 4 latents
    assert partner_model.num_timesteps == 40
    assert any(not th.equal(before[k], v) for k, v in partner_model.policy.state_dict().items())


def test_unsynced_adap_agent_draws_its_own_latent_each_episode():
    env = KArmCoordination(rounds=5)
    ego = ADAP("MlpPolicy", env, seed=1, **{**SMALL, "n_steps": 20, "batch_size": 20})
    partner_model = ADAP("MlpPolicy", env.get_dummy_env(1), seed=3, **{**SMALL, "n_steps": 20, "batch_size": 20})
    partner = AdapAgent(partner_model)
    env.add_partner_agent(partner)
    ego_rollouts, partner_rollouts = [], []
    capture_rollouts(ego, ego_rollouts)
    capture_rollouts(partner_model, partner_rollouts)
    ego.learn(20)
    (ego_obs, _), = ego_rollouts
    (partner_obs, starts), = partner_rollouts
    partner_z = partner_obs[:, 0, -3:]
    assert len(np.unique(partner_z, axis=0)) == 4
    for episode in np.split(partner_z, np.flatnonzero(starts[:, 0])[1:]):
        assert np.all(episode == episode[0])
    assert not np.array_equal(partner_z, ego_obs[:, 0, -3:])


def test_tensorboard_log_on_the_agent_is_deprecated(tmp_path):
    model = ADAP("MlpPolicy", KArmCoordination(), **SMALL)
    with pytest.warns(DeprecationWarning):
        agent = AdapAgent(model, tensorboard_log=str(tmp_path))
    assert model.tensorboard_log == str(tmp_path) and agent.working_timesteps == 1000


def test_a_learning_adap_agent_cannot_play_several_copies():
    venv = MultiAgentVecEnv(lambda: KArmCoordination(), n_envs=2)
    agent = AdapAgent(ADAP("MlpPolicy", venv.get_dummy_env(1), **SMALL))
    with pytest.raises(PlayerException):
        venv.add_partner_agent(agent, 1)


def test_adap_learns_on_a_vec_env_with_a_scripted_partner():
    venv = MultiAgentVecEnv(lambda: KArmCoordination(), n_envs=2)
    venv.add_partner_agent(AlwaysArmAgent(2), 1)
    model = ADAP("MlpPolicy", venv, seed=0, learning_rate=3e-3, **{**SMALL, "n_steps": 32, "n_epochs": 4})
    model.learn(512)
    z = unit(np.random.default_rng(0).standard_normal((16, 3)))
    rows = th.as_tensor(augment_observations(np.ones((16, 1)), z))
    probs = model.policy.get_distribution(rows).distribution.probs
    assert probs[:, 2].mean().item() > 0.5  # learned to meet the partner on arm 2 for most latents
    assert model.latents.shape == (2, 3)


# ------------------------------------------------------------------------------------------ artefacts


def test_save_load_and_weights_only_load(tmp_path):
    assert ALGORITHMS.get("ADAP") is ADAP
    env = KArmCoordination(rounds=5)
    env.add_partner_agent(AlwaysArmAgent(0))
    model = ADAP("AdapPolicyMult", env, seed=0, **SMALL)
    model.learn(16)
    model.policy.set_context(unit([[0.2, -0.3, 0.9]])[0])
    artifact = save_agent(model, tmp_path / "adap", env_id=ENV_ID)
    assert artifact.metadata["algorithm"] == "ADAP" and artifact.metadata["policy_class"] == "AdapPolicyMult"
    rows = th.as_tensor(augment_observations(np.random.default_rng(0).random((4, 11)),
                                             unit(np.random.default_rng(1).standard_normal((4, 3)))))
    expected = model.policy.get_distribution(rows).distribution.probs

    loaded = load_agent(tmp_path / "adap", env=env, device="cpu")
    assert isinstance(loaded, ADAP) and type(loaded.policy) is AdapPolicyMult
    assert loaded.context_loss_coeff == 0.1 and loaded.context_sampler == "l2"
    assert th.allclose(loaded.policy.get_distribution(rows).distribution.probs, expected)
    loaded.learn(16)  # can keep training

    policy = load_policy(tmp_path / "adap")
    assert type(policy) is AdapPolicyMult and policy.context_size == 3
    assert th.allclose(policy.get_distribution(rows).distribution.probs, expected)
    assert th.allclose(policy.get_context(), model.policy.get_context())  # the current context travels too
    obs = np.random.default_rng(2).random((3, 11)).astype(np.float32)
    assert np.array_equal(policy.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0])


# ------------------------------------------------------------------------------------------ latent search


def test_latent_search_finds_a_planted_optimum_within_its_budget():
    target = unit([[0.3, -0.8, 0.5]])[0]
    calls = []

    def score(z):
        calls.append(z)
        return float(z @ target)

    z, best = latent_search(score, "l2", 100, context_size=3, rng=0)
    assert len(calls) == 100
    assert best == pytest.approx(float(z @ target)) and best > 0.98
    assert np.linalg.norm(z) == pytest.approx(1.0, abs=1e-5)

    onehots = []
    z, best = latent_search(lambda z: onehots.append(z) or float(z[2]), "categorical", 12, context_size=4, rng=1)
    assert len(onehots) == 12 and best == 1.0 and z.tolist() == [0.0, 0.0, 1.0, 0.0]
    with pytest.raises(ConfigError):
        latent_search(score, "l2", 0)


def test_latent_search_adapts_to_an_always_arm_partner():
    env = KArmCoordination()
    model = ADAP("MlpPolicy", env, policy_kwargs={"net_arch": {"pi": [8], "vf": [8]}}, **SMALL)
    policy = model.policy
    with th.no_grad():  # plant: arm 3 where z points along +x, arm 0 elsewhere
        policy.action_net.weight.zero_()
        policy.action_net.bias.zero_()
        policy.mlp_extractor.policy_net[0].weight.zero_()
        policy.mlp_extractor.policy_net[0].bias.zero_()
        policy.mlp_extractor.policy_net[0].weight[0, 1] = 5.0  # features: [obs, z]; hidden unit 0 reads z_x
        policy.action_net.weight[3, 0] = 20.0
        policy.action_net.weight[0, 0] = -20.0

    def reward(z):
        rows = th.as_tensor(augment_observations(np.ones((1, 1)), z[None]))
        return policy.get_distribution(rows).distribution.probs[0, 3].item()

    z, best = latent_search(reward, "l2", 20, context_size=3, rng=0)
    assert best >= 0.9 and z[0] > 0


def test_no_debug_prints(capsys):
    policy = karm_policy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        policy.evaluate_actions(th.zeros(3, 4), th.zeros(3))
        diversity_loss(policy, th.ones(2, 1), SAMPLERS["l2"](3, 3, rng=np.random.default_rng(0)))
    assert capsys.readouterr().out == ""
