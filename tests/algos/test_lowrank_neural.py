"""The neural path of low-rank partner adaptation (docs/algorithms.md, sections 4.1, 4.2 "SB3 mapping" and 4.4
property 6): shapes, multi-partner BC and adaptation on the MAB coordination game, the conditional-imitation
gradient, the SB3 wrapper as a StaticPolicyAgent, and bad arguments."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces

from pantheonrl.algos.lowrank import LowRankPolicy, LowRankSB3Policy, fit_basis, partner_tensor
from pantheonrl.algos.lowrank.neural import as_samples
from pantheonrl.artifacts import ArtifactError
from pantheonrl.common.agents import StaticPolicyAgent
from pantheonrl.common.observation import Observation
from pantheonrl.common.trajsaver import SimultaneousTransitions, TransitionsMinimal, TurnBasedTransitions
from pantheonrl.envs.toy.coordination_mab import (
    N_ARMS,
    N_CONTEXTS,
    VALID,
    TabularPartner,
    mixture_partners,
    random_prototypes,
)
from pantheonrl.errors import ConfigError

th.set_num_threads(1)

EYE = np.eye(N_CONTEXTS, dtype=np.float32)


def sample(policy: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` (one-hot context, arm) pairs of a ``(10, 10)`` policy table; also the context indices."""
    ctx = rng.integers(N_CONTEXTS, size=n)
    arms = np.array([rng.choice(N_ARMS, p=policy[c]) for c in ctx])
    return EYE[ctx], arms, ctx


@pytest.fixture(scope="module")
def trained() -> tuple[LowRankPolicy, np.ndarray, list[float]]:
    """A rank-3 model cloned from 3 deterministic prototype partners (300 samples each)."""
    rng = np.random.default_rng(0)
    protos = random_prototypes(3, rng)
    datasets = [sample(p, 300, rng)[:2] for p in protos]
    model = LowRankPolicy(N_CONTEXTS, 3, rank=3, n_actions=N_ARMS, hidden=(32,), seed=0)
    history = model.fit_bc(datasets, epochs=40, batch_size=64, lr=1e-2, seed=0)
    return model, protos, history


def test_shapes_and_simplex() -> None:
    model = LowRankPolicy(5, 4, rank=3, n_actions=6, seed=1)
    obs = np.random.default_rng(0).normal(size=(7, 5)).astype(np.float32)
    assert model.state_core(obs).shape == (7, 3, 6)
    assert model(obs, 2).shape == (7, 6)
    assert model(obs).shape == (7, 6)
    assert model(obs, np.arange(7) % 4).shape == (7, 6)
    w = model.partner_weights(np.arange(4)).detach()
    assert w.shape == (4, 3)
    assert th.all(w >= 0) and th.allclose(w.sum(-1), th.ones(4))
    w0 = model.partner_weights(None).detach()
    assert w0.shape == (3,) and abs(float(w0.sum()) - 1) < 1e-6
    assert th.allclose(w0, th.softmax(model.f_P(th.zeros(4)), -1).detach())
    assert model.partner_weights(1).shape == (3,)
    assert model.log_prob(obs, np.zeros(7, dtype=int), 0).shape == (7,)
    # same seed, same parameters; the global generator is untouched
    state = th.random.get_rng_state()
    twin = LowRankPolicy(5, 4, rank=3, n_actions=6, seed=1)
    assert th.equal(th.random.get_rng_state(), state)
    assert all(th.equal(a, b) for a, b in zip(model.parameters(), twin.parameters(), strict=True))
    cont = LowRankPolicy(5, 4, action_dim=2, seed=0)
    assert cont(obs, 0).shape == (7, 2)
    assert cont.log_prob(obs, np.zeros((7, 2)), 0).shape == (7,)
    assert cont.log_prob(obs, np.zeros((7, 1)), 0, dims=[1]).shape == (7,)


def test_bc_matches_each_partner(trained) -> None:
    model, protos, history = trained
    assert history[-1] < 0.5 * history[0]
    for p, proto in enumerate(protos):
        with th.no_grad():
            greedy = model(EYE, p).argmax(-1).numpy()
        assert np.mean(greedy == proto.argmax(-1)) >= 0.8, (p, greedy, proto.argmax(-1))


def test_partial_adaptation_touches_only_new_partner_logits(trained) -> None:
    model, protos, _ = trained
    rng = np.random.default_rng(1)
    obs, arms, _ = sample(protos[2], 64, rng)  # a new partner that plays prototype 2's convention
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.reset_adaptation()
    trace = model.adapt(obs, arms, partial=True, chunks=16, lr=5e-2)
    after = model.state_dict()
    assert len(trace) == 17 and trace[-1] < trace[0] - 0.1
    assert model.partner_weights(None).argmax() == model.partner_weights(2).argmax()
    for name, value in before.items():
        if name == "adapt_logits":
            assert not th.equal(value, after[name])
        else:
            assert th.equal(value, after[name]), name
    # full adaptation also moves f_S, never f_P
    model2 = LowRankPolicy(N_CONTEXTS, 3, rank=3, n_actions=N_ARMS, hidden=(32,), seed=0)
    model2.load_state_dict(before)
    trace2 = model2.adapt(obs, arms, partial=False, chunks=4, lr=1e-2)
    assert trace2[-1] < trace2[0]
    assert not th.equal(model2.state_head.weight, before["f_S.2.weight"])
    assert th.equal(model2.f_P.weight, before["f_P.weight"]) and th.equal(model2.f_P.bias, before["f_P.bias"])
    model.reset_adaptation()
    assert th.equal(model.adapt_logits.detach(), model.f_P.bias.detach())


def test_partner_dims_loss_gives_zero_gradient_to_ego_outputs() -> None:
    """Section 4.4, property 6: joint action (ego dims 0-1, partner dims 2-3)."""
    model = LowRankPolicy(2, 3, rank=4, action_dim=4, seed=0)
    rng = np.random.default_rng(0)
    obs = rng.uniform(0, 9, size=(32, 2)).astype(np.float32)
    acts = rng.uniform(0, 1, size=(32, 4)).astype(np.float32)
    for partner in (None, 1):
        model.zero_grad()
        (-model.log_prob(obs, acts, partner, dims=[2, 3]).mean()).backward()
        grad_w, grad_b = model.state_head.weight.grad, model.state_head.bias.grad
        rows = np.arange(model.rank * 4).reshape(model.rank, 4)  # row k*4 + d is M[k, d]
        ego_rows, partner_rows = rows[:, :2].ravel(), rows[:, 2:].ravel()
        assert th.all(grad_w[ego_rows] == 0) and th.all(grad_b[ego_rows] == 0)
        assert th.any(grad_w[partner_rows] != 0)
    # the same loss from only the partner's columns
    a = model.log_prob(obs, acts, None, dims=[2, 3])
    b = model.log_prob(obs, acts[:, 2:], None, dims=[2, 3])
    assert th.allclose(a, b)
    # adaptation on the partner dims leaves the ego dims' outputs of f_S untouched
    head = model.state_head.weight.detach().clone()
    trace = model.adapt(obs, acts, partial=False, chunks=8, lr=1e-2, dims=[2, 3])
    assert trace[-1] < trace[0]
    assert th.equal(model.state_head.weight.detach()[ego_rows], head[ego_rows])


def test_sb3_wrapper_plays_as_static_agent(trained) -> None:
    model, protos, _ = trained
    partner = TabularPartner(protos[1], seed=0)
    env = gym.make("CoordinationMAB-v0", partners=[partner])
    policy = LowRankSB3Policy(env.observation_space, env.action_space, model, partner=1)
    agent = StaticPolicyAgent(policy, deterministic=True)
    rewards = []
    for ep in range(20):
        obs, _ = env.reset(seed=ep)
        action = agent.get_action(Observation(obs))
        assert env.action_space.contains(int(action))
        _, reward, terminated, _, _ = env.step(action)
        assert terminated
        rewards.append(reward)
    assert np.mean(rewards) >= 0.7
    # a batch, an action mask (get_distribution), sampling, the new partner
    batch = [Observation(EYE[c]) for c in range(N_CONTEXTS)]
    assert len(StaticPolicyAgent(policy).get_actions(batch)) == N_CONTEXTS
    masked = Observation(EYE[9], action_mask=VALID[9].copy())
    assert int(
        StaticPolicyAgent(LowRankSB3Policy(env.observation_space, env.action_space, model)).get_action(masked)
    ) in (8, 9)
    # continuous joint-action model: the ego executes dims 0-1
    cont = LowRankPolicy(2, 3, action_dim=4, seed=0)
    box = spaces.Box(0.0, 1.0, (2,), np.float32)
    cpol = LowRankSB3Policy(spaces.Box(-10, 10, (2,), np.float32), box, cont, ego_dims=[0, 1])
    act = StaticPolicyAgent(cpol, deterministic=True).get_action(Observation(np.array([1.0, 1.0], np.float32)))
    assert act.shape == (2,) and box.contains(act.astype(np.float32))
    with th.no_grad():
        mean = cont(np.array([[1.0, 1.0]], np.float32))[0, :2].numpy()
    assert np.allclose(act, np.clip(mean, 0, 1), atol=1e-6)


def test_init_from_basis_reproduces_log_basis() -> None:
    rng = np.random.default_rng(3)
    protos = random_prototypes(3, rng)
    policies, _ = mixture_partners(protos, 6, rng, eps=0.05)
    basis = fit_basis(partner_tensor(policies)[0], 3, method="nmf", valid=VALID)
    model = LowRankPolicy(N_CONTEXTS, 6, rank=3, n_actions=N_ARMS, hidden=(), seed=0)
    err = model.init_from_basis(basis, EYE)
    assert err < 1e-6
    core = model.state_core(EYE).detach().numpy()  # (S, r, A)
    assert np.allclose(core, np.log(np.clip(basis.basis, 1e-6, None)).transpose(1, 0, 2), atol=1e-3)
    w = model.partner_weights(np.arange(6)).detach().numpy()
    assert np.allclose(w, basis.weights / basis.weights.sum(1, keepdims=True), atol=1e-3)
    # with input normalisation the closed-form fit is of the normalised inputs, and still exact
    norm = LowRankPolicy(N_CONTEXTS, 6, rank=3, n_actions=N_ARMS, hidden=(), seed=0, obs_mean=0.1, obs_std=0.3)
    assert norm.init_from_basis(basis, EYE) < 1e-6
    assert np.allclose(norm.state_core(EYE).detach().numpy(), core, atol=1e-3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "exactly one of n_actions"),
        ({"n_actions": 3, "action_dim": 2}, "exactly one of n_actions"),
        ({"n_actions": 0}, "n_actions must be an integer >= 1"),
        ({"n_actions": 3, "rank": 0}, "rank"),
        ({"n_actions": 3, "hidden": 64}, "hidden must be a sequence"),
        ({"n_actions": 3, "hidden": (64, -1)}, "hidden layer size"),
        ({"action_dim": 2.5}, "action_dim"),
    ],
)
def test_bad_constructor_arguments(kwargs, match) -> None:
    with pytest.raises(ConfigError, match=match):
        LowRankPolicy(4, 2, **kwargs)


def test_bad_call_arguments() -> None:
    model = LowRankPolicy(4, 2, rank=2, n_actions=3, hidden=(8,), seed=0)
    obs = np.zeros((5, 4), np.float32)
    acts = np.zeros(5, int)
    with pytest.raises(ConfigError, match=r"partner must be in 0\.\.1"):
        model.log_prob(obs, acts, 2)
    with pytest.raises(ConfigError, match="obs_dim=4"):
        model.log_prob(np.zeros((5, 3)), acts, 0)
    with pytest.raises(ConfigError, match="continuous"):
        model.log_prob(obs, acts, 0, dims=[0])
    with pytest.raises(ConfigError, match="n_partners=2"):
        model.fit_bc([(obs, acts)])
    with pytest.raises(ConfigError, match="chunks must be at most"):
        model.adapt(obs, acts, chunks=16)
    with pytest.raises(ConfigError, match="lr"):
        model.adapt(obs, acts, chunks=5, lr=0)
    with pytest.raises(ConfigError, match="pair up"):
        model.adapt(obs, acts[:3], chunks=2)
    with pytest.raises(ConfigError, match="Discrete\\(3\\)"):
        LowRankSB3Policy(spaces.Box(0, 1, (4,)), spaces.Discrete(4), model)
    with pytest.raises(ConfigError, match="obs_dim=4"):
        LowRankSB3Policy(spaces.Box(0, 1, (5,)), spaces.Discrete(3), model)
    cont = LowRankPolicy(4, 2, action_dim=4, seed=0)
    with pytest.raises(ConfigError, match="ego_dims must be distinct"):
        LowRankSB3Policy(spaces.Box(0, 1, (4,)), spaces.Box(0, 1, (2,)), cont, ego_dims=[0, 4])
    with pytest.raises(ConfigError, match="dims must be distinct"):
        cont.log_prob(obs, np.zeros((5, 4)), 0, dims=[1, 1])


def test_save_and_load_round_trip_including_adapted_weights(trained, tmp_path) -> None:
    model, protos, _ = trained
    model.reset_adaptation()
    ctx = np.arange(N_CONTEXTS).repeat(2)
    model.adapt(EYE[ctx], protos[2][ctx].argmax(-1), chunks=4, lr=0.5)  # move the new partner's weights
    try:
        path = model.save(tmp_path / "sub" / "model.pt")
        assert path.is_file() and not list(path.parent.glob(".*.tmp"))
        th.load(path, weights_only=True)  # no code is unpickled
        twin = LowRankPolicy.load(path)
        assert twin.config() == model.config() and not twin.training
        with th.no_grad():
            for partner in (None, 0, 2):
                assert th.equal(twin(EYE, partner), model(EYE, partner))
        env = gym.make("CoordinationMAB-v0", partners=[TabularPartner(protos[2], seed=0)])
        policy = LowRankSB3Policy(env.observation_space, env.action_space, model)
        policy.save(tmp_path / "policy.pt")
        loaded = LowRankSB3Policy.load(tmp_path / "policy.pt", device="cpu")
        assert loaded.partner is None and loaded.observation_space == env.observation_space
        batch = [Observation(EYE[c]) for c in range(N_CONTEXTS)]
        a = StaticPolicyAgent(loaded, deterministic=True).get_actions(batch)
        b = StaticPolicyAgent(policy, deterministic=True).get_actions(batch)
        assert np.array_equal(a, b)
        # continuous, with ego dims and a training partner
        cont = LowRankPolicy(2, 3, action_dim=4, hidden=(8,), seed=0)
        cpol = LowRankSB3Policy(
            spaces.Box(-10, 10, (2,), np.float32), spaces.Box(0.0, 1.0, (2,), np.float32), cont, 1, [0, 1]
        )
        cpol.save(tmp_path / "cont.pt")
        cload = LowRankSB3Policy.load(tmp_path / "cont.pt")
        assert cload.ego_dims == [0, 1] and cload.partner == 1 and cload.model.config()["hidden"] == [8]
        x = th.tensor([[1.0, 2.0]])
        assert th.equal(cload._predict(x, deterministic=True), cpol._predict(x, deterministic=True))
    finally:
        model.reset_adaptation()


def test_load_rejects_foreign_missing_and_mismatched_files(trained, tmp_path) -> None:
    model, _, _ = trained
    with pytest.raises(ArtifactError, match="no low-rank policy file"):
        LowRankPolicy.load(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(ArtifactError, match="not a weights-only torch file"):
        LowRankPolicy.load(tmp_path / "junk.pt")
    th.save({"format": "something.else"}, tmp_path / "other.pt")
    with pytest.raises(ArtifactError, match="not a low-rank policy file"):
        LowRankPolicy.load(tmp_path / "other.pt")
    model.save(tmp_path / "model.pt")
    with pytest.raises(ArtifactError, match=r"load it with LowRankPolicy\.load"):
        LowRankSB3Policy.load(tmp_path / "model.pt")
    payload = th.load(tmp_path / "model.pt", weights_only=True)
    payload["format_version"] = 99
    th.save(payload, tmp_path / "future.pt")
    with pytest.raises(ArtifactError, match="format_version 99 is not supported"):
        LowRankPolicy.load(tmp_path / "future.pt")
    payload["format_version"] = 1
    payload["config"] = payload["config"].replace('"rank": 3', '"rank": 2')
    th.save(payload, tmp_path / "mismatch.pt")
    with pytest.raises(ArtifactError, match="do not make a LowRankPolicy"):
        LowRankPolicy.load(tmp_path / "mismatch.pt")
    with pytest.raises(ArtifactError, match="it is a folder"):
        model.save(tmp_path)
    before = (tmp_path / "model.pt").read_bytes()
    with pytest.raises(ConfigError, match="unknown LowRankPolicy config keys"):
        LowRankPolicy.from_config({**model.config(), "depth": 3})
    assert (tmp_path / "model.pt").read_bytes() == before


def test_fit_and_adapt_from_trajectory_objects() -> None:
    """Recorded partners (TransitionsMinimal rows, as load_demonstrations returns them) and joint
    SimultaneousTransitions feed the model directly."""
    rng = np.random.default_rng(5)
    protos = random_prototypes(2, rng)
    rows = [TransitionsMinimal(*sample(p, 200, rng)[:2]) for p in protos]
    a = LowRankPolicy(N_CONTEXTS, 2, rank=2, n_actions=N_ARMS, hidden=(), seed=0)
    b = LowRankPolicy(N_CONTEXTS, 2, rank=2, n_actions=N_ARMS, hidden=(), seed=0)
    ha = a.fit_bc(rows, epochs=3, seed=0)
    hb = b.fit_bc([(t.obs, t.acts) for t in rows], epochs=3, seed=0)
    assert ha == hb
    assert a.adapt(rows[1][:32], chunks=4) == b.adapt(rows[1].obs[:32], rows[1].acts[:32], chunks=4)
    n = 6
    joint = SimultaneousTransitions(
        np.ones((n, 2)), np.full((n, 2), 0.25), np.ones((n, 2)), np.full((n, 2), 0.75), np.zeros((n, 1))
    )
    obs, acts = as_samples(joint)
    assert obs.shape == (n, 2) and np.array_equal(acts[0], [0.25, 0.25, 0.75, 0.75])
    cont = LowRankPolicy(2, 1, rank=2, action_dim=4, hidden=(), seed=0)
    trace = cont.adapt(joint, dims=[2, 3], chunks=2, lr=0.1)
    assert len(trace) == 3
    with pytest.raises(ConfigError, match="has no joint action"):
        as_samples(TurnBasedTransitions(np.ones((2, 2)), np.ones((2, 1)), np.zeros((2, 1))))
    with pytest.raises(ConfigError, match="not both"):
        as_samples(rows[0], rows[0].acts)
    with pytest.raises(ConfigError, match="must be an \\(obs, actions\\) pair"):
        a.fit_bc([rows[0], "oops"], epochs=1)


def test_input_normalisation_option(tmp_path) -> None:
    """``obs_mean`` / ``obs_std``: f_S sees ``(obs - mean) / std``; kept by config(), save and load."""
    obs = np.random.default_rng(0).uniform(1, 10, size=(6, 2)).astype(np.float32)
    plain = LowRankPolicy(2, 3, rank=2, action_dim=4, hidden=(8,), seed=0)
    assert "obs_mean" not in plain.config() and "obs_std" not in plain.config()  # default: unchanged config
    assert set(plain.state_dict()) == set(LowRankPolicy(2, 3, rank=2, action_dim=4, hidden=(8,)).state_dict())
    norm = LowRankPolicy(2, 3, rank=2, action_dim=4, hidden=(8,), seed=0, obs_mean=[5.5, 4.0], obs_std=2.0)
    assert norm.obs_mean == [5.5, 4.0] and norm.obs_std == [2.0, 2.0]
    assert set(norm.state_dict()) == set(plain.state_dict())  # constructor arguments, not weights
    with th.no_grad():
        scaled = (obs - np.array([5.5, 4.0], np.float32)) / 2.0
        assert th.allclose(norm(obs, 1), plain(scaled, 1), atol=1e-6)
        assert th.allclose(norm.state_core(obs), plain.state_core(scaled), atol=1e-6)
        only_mean = LowRankPolicy(2, 3, rank=2, action_dim=4, hidden=(8,), seed=0, obs_mean=1.0)
        assert th.allclose(only_mean(obs, 0), plain(obs - 1.0, 0), atol=1e-6)
    assert only_mean.config()["obs_mean"] == [1.0, 1.0] and "obs_std" not in only_mean.config()
    # config / from_config and save / load round trips
    twin = LowRankPolicy.from_config(norm.config())
    assert twin.config() == norm.config()
    norm.fit_bc([(obs, np.zeros((6, 4), np.float32))] * 3, epochs=2, batch_size=3, lr=1e-2, seed=0)
    loaded = LowRankPolicy.load(norm.save(tmp_path / "norm.pt"))
    assert loaded.config() == norm.config()
    pol = LowRankSB3Policy(spaces.Box(0, 20, (2,), np.float32), spaces.Box(0, 1, (2,), np.float32), norm, 2, [0, 1])
    cload = LowRankSB3Policy.load(pol.save(tmp_path / "pol.pt"))
    with th.no_grad():
        assert th.equal(loaded(obs, 2), norm(obs, 2))
        x = th.as_tensor(obs)
        assert th.equal(cload._predict(x, deterministic=True), pol._predict(x, deterministic=True))
    # a file written before the option existed (no such keys) still loads, without normalisation
    old = LowRankPolicy.load(plain.save(tmp_path / "plain.pt"))
    assert old.obs_mean is None and old.obs_std is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"obs_std": 0.0}, r"obs_std must be .*each > 0; got 0\.0"),
        ({"obs_std": [1.0, -2.0]}, r"obs_std must be .*got \[1\.0, -2\.0\]"),
        ({"obs_mean": [1.0, 2.0, 3.0]}, r"obs_mean must be .*2 finite numbers \(obs_dim=2\).*got \[1\.0, 2\.0, 3\.0\]"),
        ({"obs_mean": float("nan")}, r"obs_mean must be .*got nan"),
        ({"obs_mean": "center"}, r"obs_mean must be .*got 'center'"),
        ({"obs_std": True}, r"obs_std must be .*got True"),
        ({"obs_std": [[1.0], ["x"]]}, r"obs_std must be .*got \[\[1\.0\], \['x'\]\]"),
    ],
)
def test_bad_normalisation_values(kwargs, match) -> None:
    with pytest.raises(ConfigError, match=match):
        LowRankPolicy(2, 3, action_dim=4, **kwargs)
    with pytest.raises(ConfigError, match=match):
        LowRankPolicy.from_config({"obs_dim": 2, "n_partners": 3, "action_dim": 4, **kwargs})
