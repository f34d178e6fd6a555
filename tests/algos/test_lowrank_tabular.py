"""The tabular path of low-rank partner adaptation (docs/algorithms.md, section 4.2): the unit-test properties
1-5 and 7 of section 4.4, bad inputs, and a small B-1-style run on the MAB coordination game (section 4.5)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorly as tl
from tensorly.decomposition import parafac, partial_tucker

from pantheonrl.algos.lowrank import (
    LowRankBasis,
    adapt_em,
    best_response,
    count_matrix,
    fit_basis,
    heldout_nll,
    mixture_policy,
    partner_tensor,
    select_rank,
)
from pantheonrl.envs.toy.coordination_mab import VALID, expected_reward, mixture_partners, random_prototypes
from pantheonrl.errors import ConfigError

P, S, A, R = 16, 10, 10, 3


def random_mixtures(seed: int = 0, p: int = P, r: int = R) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``T`` (p x S x A) of random mixtures of ``r`` random row-stochastic policies; also the policies and weights."""
    rng = np.random.default_rng(seed)
    policies = rng.dirichlet(np.ones(A), size=(r, S))
    weights = rng.dirichlet(np.ones(r), size=p)
    return np.einsum("pk,ksa->psa", weights, policies), policies, weights


def prototype_mixtures(seed: int = 0, p: int = P, r: int = R, eps: float = 0.0):
    """B-1 partners: Dirichlet(0.5) mixtures of ``r`` deterministic valid conventions."""
    rng = np.random.default_rng(seed)
    protos = random_prototypes(r, rng)
    policies, weights = mixture_partners(protos, p, rng, alpha=0.5, eps=eps)
    return policies, weights, protos


def sample(policy: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` (uniform context, partner arm) samples of an ``(S, A)`` policy table."""
    states = rng.integers(policy.shape[0], size=n)
    cum = policy.cumsum(-1)[states]
    actions = np.minimum((rng.random(n)[:, None] > cum).sum(1), policy.shape[1] - 1)
    return states, actions


def rel_err(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.linalg.norm(x - y) / np.linalg.norm(y))


# ------------------------------------------------------------------------------- property 7: pinned tensorly


def test_pinned_tensorly_partial_tucker_return_structure():
    assert tl.__version__ == "0.10.0"
    T, _, _ = random_mixtures()
    out = partial_tucker(T, rank=[R], modes=[0])
    assert isinstance(out, tuple) and len(out) == 2
    (core, factors), errors = out
    assert isinstance(factors, list) and len(factors) == 1
    assert core.shape == (R, S, A) and factors[0].shape == (P, R)
    assert isinstance(errors, list)
    np.testing.assert_allclose(factors[0].T @ factors[0], np.eye(R), atol=1e-10)  # orthonormal columns
    assert tl.tenalg.multi_mode_dot(core, factors, modes=[0]).shape == (P, S, A)


# ------------------------------------------------------------------------------------ property 1: recovery


@pytest.mark.parametrize("seed", [0, 1])
def test_tucker_recovers_the_partner_mode_rank(seed):
    T, _, _ = random_mixtures(seed)
    exact = fit_basis(T, R, method="tucker")
    assert exact.basis.shape == (R, S, A) and exact.weights.shape == (P, R)
    assert exact.core is exact.basis and exact.factor is exact.weights
    assert rel_err(exact.reconstruct(), T) < 1e-6
    np.testing.assert_allclose(exact.reconstruct(), np.einsum("pk,ksa->psa", exact.weights, exact.basis), atol=1e-12)
    assert rel_err(fit_basis(T, R - 1, method="tucker").reconstruct(), T) > 1e-3


def test_cp_rank_r_is_the_wrong_model():
    """Documented fact (docs/algorithms.md 4.2): the CP rank of a mixture of r policies is far above r. In tensorly
    0.10, CP rank 3 leaves ~40% relative error on 16 x 10 x 10 Dirichlet(1) mixtures (the spec says > 50%)."""
    T, _, _ = random_mixtures(0)
    cp = parafac(T, rank=R, n_iter_max=300, init="svd", tol=1e-10)
    cp_err = rel_err(tl.cp_to_tensor(cp), T)
    assert cp_err > 0.1
    assert cp_err > 1e4 * rel_err(fit_basis(T, R, method="tucker").reconstruct(), T)


def test_masked_tucker_imputes_unobserved_rows():
    T, _, _ = random_mixtures(2)
    corrupted = T.copy()
    corrupted[0, 0] = np.eye(A)[0]
    corrupted[3, 5] = np.eye(A)[1]
    mask = np.ones((P, S), dtype=bool)
    mask[0, 0] = mask[3, 5] = False
    recon = fit_basis(corrupted, R, method="tucker", mask=mask).reconstruct()
    assert np.abs(recon[0, 0] - T[0, 0]).max() < 1e-2
    assert np.abs(recon[3, 5] - T[3, 5]).max() < 1e-2


# ------------------------------------------------------------------------ property 4: training partners


def test_nmf_basis_is_policies_and_training_weights_reproduce_each_partner():
    T, _, _ = prototype_mixtures(0)
    basis = fit_basis(T, R, method="nmf", valid=VALID)
    assert basis.method == "nmf" and basis.rank == R
    np.testing.assert_allclose(basis.basis.sum(-1), 1.0, atol=1e-12)
    assert np.all(basis.basis[:, ~VALID] == 0) and np.all(basis.basis[:, VALID] >= 1e-3 / 1.01)
    np.testing.assert_allclose(basis.weights.sum(1), 1.0, atol=1e-12)
    assert np.all(basis.weights >= 0)
    assert np.abs(basis.reconstruct() - T).max() < 1e-2  # the floor costs at most ~A * 1e-3 per row
    unfloored = fit_basis(T, R, method="nmf", valid=VALID, floor=0.0)
    assert np.abs(unfloored.reconstruct() - T).max() < 1e-4
    # ... and EM on a training partner's own expected counts lands on a weight vector with the same policy
    for p in (0, 7):
        w, _ = adapt_em(unfloored, 1e5 * T[p], iters=1000)
        assert np.abs(unfloored.policy(w) - T[p]).max() < 1e-3


def test_nmf_with_mask_uses_multiplicative_updates():
    T, _, _ = prototype_mixtures(1)
    mask = np.ones((P, S), dtype=bool)
    mask[2, 4] = False
    masked = fit_basis(T, R, method="nmf", valid=VALID, mask=mask)
    assert masked.errors and np.abs(masked.reconstruct() - T).max() < 0.05
    with pytest.raises(ConfigError, match="mu"):
        fit_basis(T, R, method="nmf", mask=mask, nmf_solver="hals")


# ------------------------------------------------------------------------- properties 2 and 3: EM


def direct_basis(seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).dirichlet(np.ones(A), size=(R, S))


@pytest.mark.parametrize("source", ["direct", "nmf"])
@pytest.mark.parametrize("w_true", [(0.6, 0.3, 0.1), (0.05, 0.15, 0.8)])
def test_em_identifies_the_weights_from_exact_expected_counts(source, w_true):
    if source == "direct":
        B = direct_basis()
    else:
        T, _, _ = prototype_mixtures(0)
        B = fit_basis(T, R, method="nmf", valid=VALID).basis
    w_true = np.asarray(w_true)
    policy = np.einsum("k,ksa->sa", w_true, B)
    counts = 1e6 / S * policy  # N[s, a] = n * P(s) * pi(a | s), contexts uniform
    w, trace = adapt_em(B, counts, iters=3000)
    assert np.abs(w - w_true).sum() <= 1e-3
    assert np.all(np.diff(trace) >= -1e-9 * np.abs(trace[:-1]))


@pytest.mark.parametrize("smoothing", [0.0, 0.05])
@pytest.mark.parametrize("seed", range(4))
def test_em_objective_never_decreases(seed, smoothing):
    rng = np.random.default_rng(seed)
    B = direct_basis(seed)
    truth = np.einsum("k,ksa->sa", rng.dirichlet(np.ones(R)), B)
    states, actions = sample(truth, 12, rng)
    w, trace = adapt_em(B, count_matrix(states, actions, S, A), iters=200, smoothing=smoothing, tol=0.0)
    assert 2 < len(trace) <= 201  # tol=0: stops only at an exact fixed point
    assert np.all(np.diff(trace) >= -1e-10 * np.abs(trace[:-1]))
    assert w.shape == (R,) and np.all(w >= 0) and w.sum() == pytest.approx(1.0)
    if smoothing:
        assert np.all(w >= smoothing / (1 + R * smoothing) - 1e-12)


def test_em_with_no_data_is_uniform_and_stops_early_when_converged():
    B = direct_basis()
    w, trace = adapt_em(B, np.zeros((S, A)))
    np.testing.assert_array_equal(w, np.full(R, 1 / R))
    np.testing.assert_array_equal(trace, [0.0])
    _, trace = adapt_em(B, 1e3 * B[0], iters=5000, tol=1e-6)
    assert 2 < len(trace) < 5001


# --------------------------------------------------------------------------------------- property 5: r = 1


def test_rank_one_adaptation_is_a_no_op_giving_the_population_average():
    T, _, _ = prototype_mixtures(4, eps=0.05)
    basis = fit_basis(T, 1, method="nmf", valid=VALID, floor=0.0)
    np.testing.assert_allclose(basis.basis[0], T.mean(0), atol=1e-12)
    np.testing.assert_array_equal(basis.weights, np.ones((P, 1)))
    rng = np.random.default_rng(0)
    for n in (0, 5, 500):
        states, actions = sample(T[3], n, rng)
        w, trace = adapt_em(basis, count_matrix(states, actions, S, A))
        np.testing.assert_array_equal(w, [1.0])
        assert np.ptp(trace) == 0.0
        np.testing.assert_allclose(basis.policy(w), T.mean(0), atol=1e-12)
    mask = np.ones((P, S), dtype=bool)
    mask[0] = False
    masked = fit_basis(T, 1, method="nmf", valid=VALID, floor=0.0, mask=mask)
    np.testing.assert_allclose(masked.basis[0], T[1:].mean(0), atol=1e-12)


# ---------------------------------------------------------------------------- tensor, policies, rank choice


def test_partner_tensor_from_samples_and_counts():
    states = [np.array([0, 0, 0, 1]), np.array([1, 1])]
    actions = [np.array([2, 2, 1, 0]), np.array([3, 3])]
    T, mask = partner_tensor(list(zip(states, actions)), 3, 4)
    assert T.shape == (2, 3, 4) and mask.shape == (2, 3)
    np.testing.assert_allclose(T[0, 0], [0, 1 / 3, 2 / 3, 0])
    np.testing.assert_allclose(T[1, 1], [0, 0, 0, 1])
    np.testing.assert_allclose(T[0, 2], 0.25)  # unobserved: uniform
    np.testing.assert_array_equal(mask, [[True, True, False], [False, True, False]])
    counts = np.stack([count_matrix(s, a, 3, 4) for s, a in zip(states, actions)])
    T2, mask2 = partner_tensor(counts)
    np.testing.assert_array_equal(T, T2)
    np.testing.assert_array_equal(mask, mask2)
    np.testing.assert_array_equal(partner_tensor(list(counts))[0], T)
    valid = np.array([[1, 1, 1, 0], [1, 1, 0, 1], [0, 0, 1, 1]], dtype=bool)
    Ts, masks = partner_tensor(counts, smoothing=1.0, valid=valid)
    np.testing.assert_allclose(Ts[0, 0], [1 / 6, 2 / 6, 3 / 6, 0])
    np.testing.assert_allclose(Ts[1, 2], [0, 0, 0.5, 0.5])
    np.testing.assert_array_equal(masks, mask)


def test_mixture_policy_best_response_and_nll():
    B = direct_basis()
    w = np.array([0.2, 0.5, 0.3])
    pol = mixture_policy(B, w)
    np.testing.assert_allclose(pol, np.einsum("k,ksa->sa", w, B))
    assert mixture_policy(B, np.stack([w, w])).shape == (2, S, A)
    restricted = mixture_policy(B, w, valid=VALID)
    assert np.all(restricted[~VALID] == 0)
    np.testing.assert_allclose(restricted.sum(-1), 1.0)
    br = best_response(pol, VALID)
    assert set(np.unique(br)) == {0.0, 1.0} and np.all(br.sum(1) == 1) and np.all(br[~VALID] == 0)
    np.testing.assert_array_equal(br.argmax(1), np.where(VALID, pol, -1).argmax(1))
    np.testing.assert_array_equal(best_response(pol).argmax(1), pol.argmax(1))
    states, actions = np.array([0, 1, 1]), np.array([2, 3, 4])
    assert heldout_nll(pol, states, actions) == pytest.approx(-np.mean(np.log(pol[states, actions])))
    assert heldout_nll(np.eye(S, A), [0], [1]) == pytest.approx(-np.log(1e-12))


def test_select_rank_by_held_out_nll_finds_the_true_rank():
    policies, _, _ = prototype_mixtures(5, eps=0.05)
    rng = np.random.default_rng(6)
    train, held = [], []
    for pol in policies:
        s, a = sample(pol, 1000, rng)
        train.append((s[:800], a[:800]))
        held.append((s[800:], a[800:]))
    best, scores = select_rank(train, held, range(1, 6), n_states=S, n_actions=A, valid=VALID)
    assert best == R and sorted(scores) == [1, 2, 3, 4, 5]
    assert scores[1] > scores[2] > scores[3] + 0.05
    # the plain argmin: here rank 4 fits the split's sampling noise by ~2e-4 nats, inside one standard error
    argmin, same = select_rank(train, held, range(2, 5), n_states=S, n_actions=A, valid=VALID, se_rule=0)
    assert same == {k: scores[k] for k in (2, 3, 4)} and argmin == min(same, key=same.get)
    assert abs(scores[argmin] - scores[R]) < 1e-3
    best_t, scores_t = select_rank(train, held, [2, 3], n_states=S, n_actions=A, valid=VALID, method="tucker")
    assert best_t == R and scores_t[2] > scores_t[3]


# ------------------------------------------------------------------------------------------------ B-1 check


def test_b1_known_rank_mab_from_16_samples():
    """16 training partners x 1000 samples, NMF rank 3 + EM from 16 samples of each of 4 test partners: the
    best response earns >= 90% of the oracle's exact reward on average (docs/algorithms.md 4.5 B-1)."""
    rng = np.random.default_rng(2022)
    protos = random_prototypes(R, rng)
    train, _ = mixture_partners(protos, 16, rng, alpha=0.5, eps=0.05)
    test, _ = mixture_partners(protos, 4, rng, alpha=0.5, eps=0.05)
    T, mask = partner_tensor([sample(pol, 1000, rng) for pol in train], S, A, valid=VALID)
    basis = fit_basis(T, R, method="nmf", mask=None if mask.all() else mask, valid=VALID)
    ratios = []
    for pol in test:
        w, _ = adapt_em(basis, count_matrix(*sample(pol, 16, rng), S, A))
        ego = best_response(basis.policy(w), VALID)
        oracle = expected_reward(best_response(pol, VALID), pol)
        ratios.append(expected_reward(ego, pol) / oracle)
    assert np.mean(ratios) >= 0.9, ratios


# ----------------------------------------------------------------------------------------------- bad input


def test_fit_basis_rejects_bad_input():
    T, _, _ = random_mixtures()
    with pytest.raises(ConfigError, match=r"rank must be between 1 and 16"):
        fit_basis(T, 0)
    with pytest.raises(ConfigError, match="P=16"):
        fit_basis(T, 17)
    with pytest.raises(ConfigError, match="integer"):
        fit_basis(T, 2.0)
    with pytest.raises(ConfigError, match="did you mean tucker"):
        fit_basis(T, 2, method="tuker")
    with pytest.raises(ConfigError, match="3-D"):
        fit_basis(T[0], 2)
    with pytest.raises(ConfigError, match="finite"):
        fit_basis(np.full((2, 2, 2), np.nan), 1)
    with pytest.raises(ConfigError, match="non-negative"):
        fit_basis(T - 0.5, 2, method="nmf")
    with pytest.raises(ConfigError, match="mask must have shape"):
        fit_basis(T, 2, mask=np.ones((S, A), dtype=bool))
    with pytest.raises(ConfigError, match="valid"):
        fit_basis(T, 2, method="nmf", valid=np.ones((S, A + 1), dtype=bool))
    with pytest.raises(ConfigError, match="no valid action"):
        fit_basis(T, 2, method="nmf", valid=np.zeros((S, A), dtype=bool))
    with pytest.raises(ConfigError, match="nmf_solver"):
        fit_basis(T, 2, method="nmf", nmf_solver="als")
    with pytest.raises(ConfigError, match="floor"):
        fit_basis(T, 2, method="nmf", floor=0.5)


def test_adapt_em_rejects_bad_input():
    T, _, _ = random_mixtures()
    tucker = fit_basis(T, R, method="tucker")
    assert isinstance(tucker, LowRankBasis)
    with pytest.raises(ConfigError, match="method='nmf'"):
        adapt_em(tucker, np.ones((S, A)))
    B = direct_basis()
    with pytest.raises(ConfigError, match=r"\(10, 10\)"):
        adapt_em(B, np.ones((S, A - 1)))
    with pytest.raises(ConfigError, match=">= 0"):
        adapt_em(B, -np.ones((S, A)))
    with pytest.raises(ConfigError, match="iters"):
        adapt_em(B, np.ones((S, A)), iters=0)
    with pytest.raises(ConfigError, match="smoothing"):
        adapt_em(B, np.ones((S, A)), smoothing=-0.1)
    with pytest.raises(ConfigError, match="w must be"):
        mixture_policy(B, np.ones(R + 1) / (R + 1))


def test_sample_helpers_reject_bad_input():
    with pytest.raises(ConfigError, match="n_states and n_actions are required"):
        partner_tensor([(np.array([0]), np.array([1]))])
    with pytest.raises(ConfigError, match=r"0\.\.2"):
        partner_tensor([(np.array([3]), np.array([1]))], 3, 4)
    with pytest.raises(ConfigError, match="pair up"):
        count_matrix([0, 1], [0], 3, 4)
    with pytest.raises(ConfigError, match="integer indices"):
        count_matrix([0.5], [0], 3, 4)
    with pytest.raises(ConfigError, match=r"one \(S, A\) shape"):
        partner_tensor([np.ones((3, 4)), np.ones((3, 5))])
    with pytest.raises(ConfigError, match="empty"):
        partner_tensor([])
    with pytest.raises(ConfigError, match="n_actions=5"):
        partner_tensor(np.ones((2, 3, 4)), n_actions=5)
    with pytest.raises(ConfigError, match="no samples"):
        heldout_nll(np.full((3, 4), 0.25), [], [])
    with pytest.raises(ConfigError, match="one entry per partner"):
        select_rank([([0], [0])], [], [1], n_states=3, n_actions=4)
    with pytest.raises(ConfigError, match="ranks is empty"):
        select_rank([([0], [0])], [([0], [0])], [], n_states=3, n_actions=4)
