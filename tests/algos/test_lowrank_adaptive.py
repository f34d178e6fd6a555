"""``AdaptiveAgent`` (pantheonrl.algos.lowrank.adaptive): online low-rank partner adaptation on CoordinationMAB."""

from __future__ import annotations

import numpy as np
import pytest

from pantheonrl.algos.lowrank import (
    AdaptiveAgent,
    LowRankBasis,
    adapt_em,
    arms_info_reader,
    best_response,
    fit_basis,
    partner_tensor,
    run_episodes,
)
from pantheonrl.envs.toy.coordination_mab import (
    VALID,
    CoordinationMAB,
    TabularPartner,
    context_of,
    expected_reward,
    mixture_partners,
    random_prototypes,
)
from pantheonrl.errors import ConfigError

P, R, S, A = 16, 3, 10, 10


def setup_population(seed: int) -> tuple[LowRankBasis, np.ndarray]:
    """An nmf basis fitted on 16 mixture partners (1000 samples each, as count arrays) and a held-out partner."""
    rng = np.random.default_rng(seed)
    protos = random_prototypes(R, rng)
    policies, _ = mixture_partners(protos, P + 1, rng, alpha=0.5)
    counts = np.stack([np.stack([rng.multinomial(100, pol[s]) for s in range(S)]) for pol in policies[:P]])
    T, mask = partner_tensor(counts, valid=VALID)
    basis = fit_basis(T, R, method="nmf", mask=mask, valid=VALID)
    return basis, policies[P]


@pytest.fixture(scope="module")
def population() -> tuple[LowRankBasis, np.ndarray]:
    return setup_population(0)


def make_agent(basis: LowRankBasis, **kwargs) -> AdaptiveAgent:
    return AdaptiveAgent(basis, state_fn=context_of, info_reader=arms_info_reader(1), **kwargs)


def feed(agent: AdaptiveAgent, policy: np.ndarray, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(n):
        s = int(rng.integers(S))
        agent.observe_partner(s, int(rng.choice(A, p=policy[s])))


# Seeds where the uniform-w start is clearly worse than the oracle (with seed 1 the population mean is already
# near-optimal for the held-out partner and 32 samples do not beat it, so "before < after" would not be meaningful).
@pytest.mark.parametrize("seed", [0, 2, 3])
def test_adapts_to_held_out_partner_in_play(seed):
    basis, true = setup_population(seed)
    oracle = expected_reward(best_response(true, VALID), true)
    env = CoordinationMAB()
    env.add_partner_agent(TabularPartner(true, seed=seed))
    agent = make_agent(basis)
    assert agent.valid is not None and np.array_equal(agent.valid, VALID)  # taken from the basis
    before = expected_reward(agent.policy, true)
    returns = run_episodes(env, agent, 32, seed=seed)
    after = expected_reward(agent.policy, true)
    assert returns.shape == (32,) and set(np.unique(returns)) <= {0.0, 1.0}
    assert agent.n_observed == 32 and agent.counts.sum() == 32 and agent.n_updates == 32
    assert before < after
    assert after >= 0.9 * oracle
    assert np.isclose(agent.weights.sum(), 1.0) and np.all(agent.weights >= 0)
    # the policy is deterministic, valid, and the best response to the estimated partner
    assert np.array_equal(agent.policy, best_response(agent.partner_policy, VALID))
    assert np.all(VALID[np.arange(S), agent.policy.argmax(1)])


@pytest.mark.parametrize("update_every", ["episode", 50])
def test_weights_match_adapt_em_on_the_same_counts(population, update_every):
    basis, true = population
    agent = make_agent(basis, update_every=update_every, em_iters=400, smoothing=0.01)
    feed(agent, true, 500, seed=1)
    agent.update(0.0, True)
    w, _ = adapt_em(basis, agent.counts, iters=400, smoothing=0.01)
    np.testing.assert_allclose(agent.weights, w, atol=1e-10)
    assert agent.n_updates == (1 if update_every == "episode" else 10)
    # the estimated partner is close to the true one
    assert np.abs(agent.partner_policy - true).max() < 0.15


def test_update_every_k_refits_exactly_every_k_actions(population):
    basis, true = population
    agent = make_agent(basis, update_every=5)
    rng = np.random.default_rng(2)
    last_w = agent.weights
    for i in range(1, 24):
        s = int(rng.integers(S))
        agent.observe_partner(s, int(rng.choice(A, p=true[s])))
        assert agent.n_updates == i // 5
        if i % 5:
            np.testing.assert_array_equal(agent.weights, last_w)  # no refit between updates
        last_w = agent.weights
        agent.update(1.0, True)  # episode ends do not refit in k mode
        agent.end_episode(None, True, False)
        assert agent.n_updates == i // 5


def test_episode_mode_refits_at_episode_end_only_with_new_data(population):
    basis, true = population
    agent = make_agent(basis)
    agent.update(0.0, True)
    assert agent.n_updates == 0  # nothing seen: no refit
    feed(agent, true, 3, seed=3)
    agent.update(0.0, False)
    assert agent.n_updates == 0 and np.allclose(agent.weights, 1 / R)
    agent.end_episode(None, True, False)
    assert agent.n_updates == 1
    agent.update(0.0, True)  # the env's update(done) after end_episode: no second refit
    assert agent.n_updates == 1


def test_reset_partner_restores_uniform_weights(population):
    basis, true = population
    agent = make_agent(basis, update_every=1)
    initial_policy = agent.policy
    feed(agent, true, 40, seed=4)
    assert not np.allclose(agent.weights, 1 / R)
    agent.reset_partner()
    np.testing.assert_array_equal(agent.weights, np.full(R, 1 / R))
    assert agent.counts.sum() == 0 and agent.n_observed == 0
    np.testing.assert_array_equal(agent.policy, initial_policy)
    agent.update(0.0, True)
    assert agent.n_updates == 40  # counter is lifetime; no refit without new data


def test_prior_counts_enter_the_fit(population):
    basis, true = population
    prior = np.stack([np.random.default_rng(5).multinomial(50, true[s]) for s in range(S)]).astype(float)
    agent = make_agent(basis, prior_counts=prior, update_every=1)
    agent.observe_partner(0, int(true[0].argmax()))
    w, _ = adapt_em(basis, prior + agent.counts)
    np.testing.assert_allclose(agent.weights, w, atol=1e-10)
    assert agent.counts.sum() == 1  # counts exclude the prior


def test_info_reader_and_partner_seat(population):
    basis, _ = population
    agent = make_agent(basis, update_every=1)
    assert agent.observe_info({"_partnerid": [0]}) is False and agent.n_observed == 0
    assert agent.observe_info({"context": 9, "arms": (8, 9)}) is True
    assert agent.counts[9, 9] == 1
    # seated as a partner (player 1), it reads Observation objects and acts validly
    env = CoordinationMAB()
    env.add_partner_agent(make_agent(basis))
    env.reset(seed=0)
    _, _, done, _, info = env.step(0)
    assert done and VALID[info["context"], info["arms"][1]]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"update_every": "step"},
        {"update_every": 0},
        {"update_every": 2.5},
        {"update_every": True},
        {"smoothing": -1.0},
        {"em_iters": 0},
        {"prior_counts": np.ones((S, A + 1))},
        {"prior_counts": -np.ones((S, A))},
        {"valid": np.ones((3, 3), dtype=bool)},
        {"state_fn": 3},
        {"info_reader": "arms"},
    ],
)
def test_bad_arguments_raise_config_error(population, kwargs):
    basis, _ = population
    args = {"state_fn": context_of, **kwargs}
    with pytest.raises(ConfigError):
        AdaptiveAgent(basis, **args)


def test_bad_inputs_at_run_time(population):
    basis, _ = population
    with pytest.raises(ConfigError):
        AdaptiveAgent(-basis.basis, state_fn=context_of)  # signed (Tucker-like) basis
    with pytest.raises(ConfigError):
        AdaptiveAgent(np.ones((S, A)), state_fn=context_of)
    agent = AdaptiveAgent(basis, state_fn=context_of)
    for state, action in [(S, 0), (0, A), (-1, 0), (0.5, 1), ("a", 1)]:
        with pytest.raises(ConfigError):
            agent.observe_partner(state, action)
    with pytest.raises(ConfigError):
        agent.observe_info({"context": 0, "arms": (0, 0)})  # no info_reader
    env = CoordinationMAB()
    env.add_partner_agent(TabularPartner(VALID / VALID.sum(1, keepdims=True), seed=0))
    with pytest.raises(ConfigError):
        run_episodes(env, agent, 3)  # no info_reader
    with pytest.raises(ConfigError):
        run_episodes(env, make_agent(basis), 0)
    with pytest.raises(ConfigError):
        arms_info_reader(-1)
    with pytest.raises(ConfigError):
        arms_info_reader(2)({"context": 0, "arms": (0, 1)})
