"""The B-1 baselines of low-rank partner adaptation (docs/algorithms.md, sections 4.1 and 4.5):
tabular BC from scratch, the multi-task net and the Modular policy trained by behaviour cloning."""

from __future__ import annotations

import numpy as np
import pytest
import torch as th

from pantheonrl.algos.lowrank.baselines import ModularBC, MultiTaskBC, laplace_bc
from pantheonrl.algos.lowrank.tabular import count_matrix, heldout_nll
from pantheonrl.algos.modular.policies import marginal_loss
from pantheonrl.envs.toy.coordination_mab import VALID, mixture_partners, random_prototypes
from pantheonrl.errors import ConfigError

S, A = 10, 10


@pytest.fixture(autouse=True)
def _one_thread():
    threads = th.get_num_threads()
    th.set_num_threads(1)
    yield
    th.set_num_threads(threads)


def sample(policy: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    states = rng.integers(policy.shape[0], size=n)
    cum = policy.cumsum(-1)[states]
    actions = np.minimum((rng.random(n)[:, None] > cum).sum(1), policy.shape[1] - 1)
    return states, actions


def population(seed: int = 0, p: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """``p`` training partners (B-1 style mixtures) and a new partner (the first prototype with 5% noise), as
    ``(p + 1, S, A)`` tables, and the training partners' exact expected counts (100 samples per context)."""
    rng = np.random.default_rng(seed)
    protos = random_prototypes(3, rng)
    policies, _ = mixture_partners(protos, p, rng, alpha=0.5, eps=0.05)
    new = 0.95 * protos[0] + 0.05 * VALID / VALID.sum(1, keepdims=True)
    return np.concatenate([policies, new[None]]), 100.0 * policies


# ---------------------------------------------------------------------------------------------- Laplace BC


def test_laplace_bc_is_exact_on_small_counts():
    valid = np.array([[True, True, False], [True, True, True], [False, True, True]])
    counts = np.array([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 3.0, 1.0]])
    table = laplace_bc(counts, valid=valid)
    expected = np.array([[3 / 4, 1 / 4, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.0, 4 / 6, 2 / 6]])
    np.testing.assert_allclose(table, expected, atol=1e-12)
    half = laplace_bc(counts, smoothing=0.5, valid=valid)
    np.testing.assert_allclose(half[0], [2.5 / 3, 0.5 / 3, 0.0], atol=1e-12)
    np.testing.assert_allclose(half[2], [0.0, 3.5 / 5, 1.5 / 5], atol=1e-12)
    # no smoothing: the empirical frequencies, an unseen state uniform over its valid actions
    raw = laplace_bc(counts, smoothing=0.0, valid=valid)
    np.testing.assert_allclose(raw, [[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3], [0.0, 0.75, 0.25]], atol=1e-12)
    # without a valid table every action is smoothed
    np.testing.assert_allclose(laplace_bc(counts)[0], [3 / 5, 1 / 5, 1 / 5], atol=1e-12)


def test_laplace_bc_takes_samples():
    states, actions = np.array([0, 0, 2, 2, 2, 2]), np.array([0, 0, 1, 1, 1, 2])
    from_samples = laplace_bc((states, actions), valid=VALID[:3, :3], n_states=3, n_actions=3)
    from_counts = laplace_bc(count_matrix(states, actions, 3, 3), valid=VALID[:3, :3])
    np.testing.assert_array_equal(from_samples, from_counts)


def test_laplace_bc_rejects_bad_input():
    with pytest.raises(ConfigError, match=">= 0"):
        laplace_bc(-np.ones((2, 2)))
    with pytest.raises(ConfigError, match="smoothing must be >= 0, got -1"):
        laplace_bc(np.ones((2, 2)), smoothing=-1)
    with pytest.raises(ConfigError, match="n_states and n_actions are required"):
        laplace_bc((np.array([0]), np.array([1])))
    with pytest.raises(ConfigError, match=r"\(S, A\) numpy array of counts"):
        laplace_bc(np.ones(3))
    with pytest.raises(ConfigError, match=r"valid must be a boolean \(S, A\) = \(2, 2\)"):
        laplace_bc(np.ones((2, 2)), valid=VALID)
    with pytest.raises(ConfigError, match=r"actions must be in 0\.\.9"):
        laplace_bc((np.array([0]), np.array([10])), n_states=S, n_actions=A)


# ------------------------------------------------------------------------------------------- multi-task net


def test_multitask_zero_vector_gives_the_population_average():
    policies, counts = population()
    model = MultiTaskBC(S, A, len(counts), valid=VALID, seed=0)
    history = model.fit(counts, steps=400)
    assert history[-1] < history[0]
    average = policies[: len(counts)].mean(0)
    assert np.abs(model.policy(None) - average).max() < 0.05
    for p in (0, 3):  # a training partner's one-hot vector gives its own policy
        assert np.abs(model.policy(p) - policies[p]).max() < 0.05
    table = model.policy(None)
    assert np.all(table[~VALID] == 0) and np.allclose(table.sum(1), 1)
    # same seed, same result
    twin = MultiTaskBC(S, A, len(counts), valid=VALID, seed=0)
    twin.fit(counts, steps=400)
    np.testing.assert_array_equal(twin.policy(None), table)


def test_multitask_takes_samples_per_partner():
    policies, _ = population(p=3)
    rng = np.random.default_rng(1)
    data = [sample(pol, 300, rng) for pol in policies[:3]]
    a = MultiTaskBC(S, A, 3, hidden=(16,), valid=VALID, seed=2)
    a.fit(data, steps=20)
    b = MultiTaskBC(S, A, 3, hidden=(16,), valid=VALID, seed=2)
    b.fit(np.stack([count_matrix(s, x, S, A) for s, x in data]), steps=20)
    np.testing.assert_allclose(a.policy(1), b.policy(1), atol=1e-6)


def test_multitask_rejects_bad_input():
    with pytest.raises(ConfigError, match="n_partners must be >= 1, got 0"):
        MultiTaskBC(S, A, 0)
    with pytest.raises(ConfigError, match="hidden must be a sequence"):
        MultiTaskBC(S, A, 2, hidden=64)
    with pytest.raises(ConfigError, match="seed must be an integer"):
        MultiTaskBC(S, A, 2, seed=1.5)
    model = MultiTaskBC(S, A, 2, hidden=(8,), seed=0)
    with pytest.raises(ConfigError, match=r"n_partners=2\), got 3"):
        model.fit(np.ones((3, S, A)))
    with pytest.raises(ConfigError, match=r"partner_dropout must be in \[0, 1\), got 1.0"):
        model.fit(np.ones((2, S, A)), partner_dropout=1.0)
    with pytest.raises(ConfigError, match="lr must be > 0"):
        model.fit(np.ones((2, S, A)), lr=0)
    with pytest.raises(ConfigError, match=r"0\.\.1, or None"):
        model.policy(2)


# ----------------------------------------------------------------------------------------------------- Modular


@pytest.fixture(scope="module")
def modular():
    th.set_num_threads(1)
    policies, counts = population(seed=3)
    model = ModularBC(S, A, len(counts), valid=VALID, seed=0)
    history = model.fit(counts, steps=300)
    return model, policies, counts, history


def test_modular_fits_each_partner_and_regularises_the_main_module(modular):
    model, policies, counts, history = modular
    assert history[-1] < history[0]
    for p in range(len(counts)):
        assert np.abs(model.policy(p) - policies[p]).max() < 0.1
    # the marginal term keeps the main policy near the partners' average composed policy
    with th.no_grad():
        main, g = model.net.all_partner_logits(model.contexts)
        reg = float(marginal_loss(main + model.mask, g[: len(counts)]))
    assert reg < 0.1
    assert np.abs(model.main_policy() - policies[: len(counts)].mean(0)).max() < 0.15
    # without the marginal term (lambda = 0) nothing ties the main policy to the partners' average
    free = ModularBC(S, A, len(counts), valid=VALID, seed=0, marginal_weight=0.0)
    free.fit(counts, steps=300)
    with th.no_grad():
        main, g = free.net.all_partner_logits(free.contexts)
        assert float(marginal_loss(main + free.mask, g[: len(counts)])) > 3 * reg


def test_modular_adaptation_freezes_the_main_module_and_improves_the_nll(modular):
    model, policies, counts, _ = modular
    new = policies[-1]
    rng = np.random.default_rng(4)
    states, actions = sample(new, 64, rng)
    held = sample(new, 2000, rng)
    main_before = {k: v.clone() for k, v in model.net.state_dict().items() if not k.startswith("partner_")}
    partners_before = [model.policy(p) for p in range(len(counts))]
    trace = model.adapt((states, actions))
    assert model.new_partner is not None and model.new_partner >= len(counts)
    main_after = {k: v for k, v in model.net.state_dict().items() if not k.startswith("partner_")}
    assert main_before.keys() == main_after.keys()
    for key, value in main_before.items():
        assert th.equal(value, main_after[key]), key
    for p in range(len(counts)):
        np.testing.assert_array_equal(model.policy(p), partners_before[p])
    assert all(p.requires_grad for p in model.main_parameters())  # unfrozen again after adapt
    assert len(trace) == 21 and trace[-1] < trace[0]
    assert heldout_nll(model.policy(None), *held) < heldout_nll(model.main_policy(), *held) - 0.1
    # a second adaptation starts from a fresh module: it does not depend on the first
    first = model.policy(None)
    model.adapt(count_matrix(states[:4], actions[:4], S, A), epochs=1)
    assert not np.allclose(model.policy(None), first)


def test_modular_fresh_module_starts_at_the_main_policy(modular):
    model, policies, _, _ = modular
    rng = np.random.default_rng(5)
    trace = model.adapt(sample(policies[-1], 4, rng), epochs=1, lr=1e-12)
    assert np.abs(model.policy(None) - model.main_policy()).max() < 0.02
    assert abs(trace[0] - trace[-1]) < 1e-6


def test_modular_rejects_bad_input():
    with pytest.raises(ConfigError, match="marginal_weight must be >= 0"):
        ModularBC(S, A, 2, marginal_weight=-0.5)
    with pytest.raises(ConfigError, match="net_arch must be a sequence"):
        ModularBC(S, A, 2, net_arch="30")
    model = ModularBC(S, A, 2, net_arch=(8,), partner_net_arch=(8,), valid=VALID, seed=0)
    with pytest.raises(ConfigError, match="call adapt"):
        model.policy(None)
    with pytest.raises(ConfigError, match=r"n_partners=2\), got 1"):
        model.fit(np.ones((1, S, A)))
    with pytest.raises(ConfigError, match=r"partner-module index in 0\.\.1"):
        model.policy(5)
    with pytest.raises(ConfigError, match="at least one sample"):
        model.adapt(np.zeros((S, A)))
    with pytest.raises(ConfigError, match="batch_size must be >= 1"):
        model.adapt(np.ones((S, A)), batch_size=0)
    with pytest.raises(ConfigError, match="n_actions=10 does not match the count tables' size 11"):
        model.adapt(np.ones((S, A + 1)))
