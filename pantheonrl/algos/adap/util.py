"""ADAP helpers: latent priors, the diversity term, and gradient-free latent search.

* :data:`SAMPLERS`: the latent priors, ``sampler(ctx_size, num, use_torch=False, rng=None)`` -> ``(num, width)``;
* :func:`context_diversity` / :func:`diversity_loss`: D, the mean pairwise ``exp(-KL)`` between the (smoothed)
  action distributions of one policy under different latents (docs/algorithms.md, section 6.1);
* :func:`get_context_kl_loss`: D on a PPO minibatch, as ``ADAP.train`` uses it;
* :func:`latent_search`: the evolutionary search over z used to adapt to a new partner.

Every sampler draws from the ``numpy.random.Generator`` it is given (none: a fresh unseeded one), never from
numpy's or torch's global state.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch as th
from stable_baselines3.common import distributions as sb3_dist
from torch.distributions import kl as torch_kl

from pantheonrl.errors import ConfigError, unknown_choice

if TYPE_CHECKING:
    from stable_baselines3.common.buffers import RolloutBufferSamples

    from pantheonrl.algos.adap.adap_learn import ADAP
    from pantheonrl.algos.adap.policies import AdapPolicy

__all__ = [
    "SAMPLERS",
    "SMOOTHING",
    "context_diversity",
    "context_width",
    "diversity_loss",
    "get_context_kl_loss",
    "kl_divergence",
    "latent_search",
    "project_context",
    "resolve_sampler",
    "sample_contexts",
]

SMOOTHING = 1.0 / 20.0
"""Smoothing before the KL: categorical probabilities get +1/20 (renormalized), Gaussian std +1/20."""

Sampler = Callable[..., Any]


def _rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _out(ctxs: np.ndarray, use_torch: bool) -> Any:
    return th.as_tensor(ctxs, dtype=th.float32) if use_torch else ctxs


def get_l2_sphere(ctx_size: int, num: int, use_torch: bool = False, rng: Any = None) -> Any:
    """Uniform on the unit sphere S^(d-1): a normalized standard Gaussian (the references normalize a cube
    sample, which is not uniform on the sphere)."""
    ctxs = _rng(rng).standard_normal((num, ctx_size))
    norms = np.linalg.norm(ctxs, axis=1, keepdims=True)
    return _out(ctxs / np.maximum(norms, 1e-12), use_torch)


def get_unit_square(ctx_size: int, num: int, use_torch: bool = False, rng: Any = None) -> Any:
    """Uniform on the cube [-1, 1]^d."""
    return _out(_rng(rng).uniform(-1.0, 1.0, (num, ctx_size)), use_torch)


def get_positive_square(ctx_size: int, num: int, use_torch: bool = False, rng: Any = None) -> Any:
    """Uniform on the cube [0, 1]^d."""
    return _out(_rng(rng).uniform(0.0, 1.0, (num, ctx_size)), use_torch)


def get_categorical(ctx_size: int, num: int, use_torch: bool = False, rng: Any = None) -> Any:
    """A uniformly chosen one-hot vector of size d."""
    ctxs = np.zeros((num, ctx_size))
    ctxs[np.arange(num), _rng(rng).integers(0, ctx_size, size=num)] = 1.0
    return _out(ctxs, use_torch)


def get_natural_number(ctx_size: int, num: int, use_torch: bool = False, rng: Any = None) -> Any:
    """One integer in 0..d-1 per sample: shape ``(num, 1)`` (the latent is one number, see :func:`context_width`)."""
    return _out(_rng(rng).integers(0, ctx_size, size=(num, 1)).astype(np.float64), use_torch)


SAMPLERS: dict[str, Sampler] = {
    "l2": get_l2_sphere,
    "unit_square": get_unit_square,
    "positive_square": get_positive_square,
    "categorical": get_categorical,
    "natural_numbers": get_natural_number,
}
"""Latent priors by name: ``sampler(ctx_size, num, use_torch=False, rng=None)``."""


def context_width(sampler: str, context_size: int) -> int:
    """How many numbers a latent of ``sampler`` has: ``context_size``, except ``natural_numbers`` (one number
    in ``0..context_size-1``)."""
    return 1 if sampler == "natural_numbers" else int(context_size)


def resolve_sampler(sampler: str | Sampler) -> Sampler:
    """A sampler function from its name (or the function itself)."""
    if callable(sampler):
        return sampler
    if sampler not in SAMPLERS:
        raise ConfigError(unknown_choice("context sampler", sampler, SAMPLERS))
    return SAMPLERS[sampler]


def sample_contexts(sampler: str | Sampler, context_size: int, num: int, rng: Any = None) -> np.ndarray:
    """``num`` latents from a prior, as a float32 array ``(num, width)``."""
    return np.asarray(resolve_sampler(sampler)(context_size, num, use_torch=False, rng=rng), dtype=np.float32)


def project_context(sampler: str | Sampler, z: np.ndarray) -> np.ndarray:
    """Bring a perturbed latent back onto the prior's support: the sphere (l2), the cubes (clipped)."""
    z = np.asarray(z, dtype=np.float64)
    if sampler == "l2":
        return z / np.maximum(np.linalg.norm(z, axis=-1, keepdims=True), 1e-12)
    if sampler == "unit_square":
        return np.clip(z, -1.0, 1.0)
    if sampler == "positive_square":
        return np.clip(z, 0.0, 1.0)
    return z


# ------------------------------------------------------------------------------------------ the KL and D


def kl_divergence(dist_true: sb3_dist.Distribution, dist_pred: sb3_dist.Distribution) -> th.Tensor:
    """KL(dist_true || dist_pred) between two SB3 distributions of the same kind, one value per batch row
    (summed over action dimensions). No smoothing: see :func:`context_diversity` for the smoothed version."""
    if type(dist_true) is not type(dist_pred):
        raise TypeError(
            f"KL needs two distributions of the same kind, got {type(dist_true).__name__} and "
            f"{type(dist_pred).__name__}"
        )
    if isinstance(dist_true, sb3_dist.MultiCategoricalDistribution):
        return th.stack(
            [torch_kl.kl_divergence(p, q) for p, q in zip(dist_true.distribution, dist_pred.distribution)], dim=1
        ).sum(dim=1)
    kl = torch_kl.kl_divergence(dist_true.distribution, dist_pred.distribution)
    if isinstance(dist_true, sb3_dist.CategoricalDistribution):
        return kl
    return sb3_dist.sum_independent_dims(kl)


def _smoothed_probs(probs: th.Tensor, smoothing: float) -> th.Tensor:
    return (probs + smoothing) / (1.0 + smoothing * probs.shape[-1])


def _pairwise_categorical_kl(probs: th.Tensor, smoothing: float) -> th.Tensor:
    """``probs`` (n, S, A) -> KL(p_i || p_j) as (n, n, S), after smoothing."""
    p = _smoothed_probs(probs, smoothing)
    logp = th.log(p)
    self_term = (p * logp).sum(-1)  # (n, S)
    cross = th.einsum("isa,jsa->ijs", p, logp)
    return self_term.unsqueeze(1) - cross


def _pairwise_kl(dist: sb3_dist.Distribution, n: int, smoothing: float) -> th.Tensor:
    """Pairwise smoothed KL between the n blocks of rows of ``dist`` (rows ordered context-major): (n, n, S)."""
    if isinstance(dist, sb3_dist.CategoricalDistribution):
        probs = dist.distribution.probs
        return _pairwise_categorical_kl(probs.reshape(n, -1, probs.shape[-1]), smoothing)
    if isinstance(dist, sb3_dist.MultiCategoricalDistribution):
        total = None
        for sub in dist.distribution:
            kl = _pairwise_categorical_kl(sub.probs.reshape(n, -1, sub.probs.shape[-1]), smoothing)
            total = kl if total is None else total + kl
        return total
    if isinstance(dist, sb3_dist.BernoulliDistribution):
        p1 = dist.distribution.probs
        probs = th.stack([1.0 - p1, p1], dim=-1)  # (n*S, dims, 2)
        probs = probs.reshape(n, -1, *probs.shape[1:])  # (n, S, dims, 2)
        p = _smoothed_probs(probs, smoothing)
        logp = th.log(p)
        self_term = (p * logp).sum(-1).sum(-1)
        cross = th.einsum("isdc,jsdc->ijs", p, logp)
        return self_term.unsqueeze(1) - cross
    if isinstance(dist, sb3_dist.DiagGaussianDistribution):
        mean = dist.distribution.mean
        std = dist.distribution.stddev + smoothing
        mean = mean.reshape(n, 1, -1, mean.shape[-1])
        std = std.reshape(n, -1, std.shape[-1])
        mu_i, mu_j = mean, mean.transpose(0, 1)
        s_i, s_j = std.unsqueeze(1), std.unsqueeze(0)
        kl = th.log(s_j / s_i) + (s_i**2 + (mu_i - mu_j) ** 2) / (2.0 * s_j**2) - 0.5
        return kl.sum(-1)
    raise NotImplementedError(
        f"ADAP's diversity term supports Categorical, MultiCategorical, Bernoulli and diagonal Gaussian action "
        f"distributions, not {type(dist).__name__} (use_sde=False)"
    )


def context_diversity(dist: sb3_dist.Distribution, n_contexts: int, smoothing: float = SMOOTHING) -> th.Tensor:
    """D for one batch of action distributions laid out context-major: rows ``i*S .. (i+1)*S - 1`` are the S
    states under latent i.

    ``D = mean_s mean_{i != j} exp(-KL(pi~(.|s, z_i) || pi~(.|s, z_j)))`` with the smoothed pi~. Averaging over
    both orders of each pair (the paper sums i < j, which is the same for a symmetric KL) makes D independent of
    the order of the latents. D is in (0, 1], equals 1 when the distributions do not depend on z, and falls as
    any pairwise KL grows.
    """
    if n_contexts < 2:
        raise ValueError(f"D compares at least 2 latents, got {n_contexts}")
    kl = _pairwise_kl(dist, n_contexts, smoothing)  # (n, n, S)
    off_diag = ~th.eye(n_contexts, dtype=th.bool, device=kl.device)
    return th.exp(-kl[off_diag]).mean()


def _unique_rows(contexts: np.ndarray) -> np.ndarray:
    """The distinct latents (compared by value), in order of first appearance."""
    _, first = np.unique(contexts, axis=0, return_index=True)
    return contexts[np.sort(first)]


def diversity_loss(
    policy: AdapPolicy, states: th.Tensor, contexts: Any, smoothing: float = SMOOTHING
) -> th.Tensor:
    """D of ``policy`` over ``states`` (observations without latents, batch first) and ``contexts`` (n, width).

    Latents equal by value are compared once; when fewer than two distinct ones remain, D is 0 (no gradient)
    and a warning is issued.
    """
    ctx = np.asarray(contexts.detach().cpu() if isinstance(contexts, th.Tensor) else contexts, dtype=np.float32)
    ctx = _unique_rows(ctx.reshape(len(ctx), -1))
    device = policy.device
    if len(ctx) < 2:
        warnings.warn(
            f"ADAP diversity term: all {len(np.asarray(contexts))} sampled latents are identical, so D is 0 for "
            f"this minibatch; use a prior with more distinct values (context_sampler / context_size) or more "
            f"num_context_samples",
            RuntimeWarning,
            stacklevel=2,
        )
        return th.zeros((), device=device)
    n, s = len(ctx), states.shape[0]
    flat = states.reshape(s, -1).to(device=device, dtype=th.float32)
    z = th.as_tensor(ctx, device=device)
    rows = th.cat([flat.repeat(n, 1), z.repeat_interleave(s, dim=0)], dim=1)
    return context_diversity(policy.get_distribution(rows), n, smoothing)


def get_context_kl_loss(algo: ADAP, policy: AdapPolicy, train_batch: RolloutBufferSamples) -> th.Tensor:
    """D on a minibatch: up to ``algo.num_state_samples`` of its states (their own latents stripped) under
    ``algo.num_context_samples`` fresh latents from the algorithm's prior."""
    obs = train_batch.observations
    width = policy.context_size
    states = obs[:, :-width]
    pick = th.randperm(states.shape[0], device=states.device)[: algo.num_state_samples]
    contexts = algo.sample_contexts(algo.num_context_samples)
    return diversity_loss(policy, states[pick], contexts)


# ------------------------------------------------------------------------------------------ latent search


def latent_search(
    score_fn: Callable[[np.ndarray], float],
    sampler: str | Sampler = "l2",
    n_evals: int = 20,
    *,
    context_size: int = 3,
    population: int | None = None,
    n_keep: int | None = None,
    mutation: float = 0.05,
    rng: np.random.Generator | int | None = None,
) -> tuple[np.ndarray, float]:
    """Evolutionary search for the latent z that maximizes ``score_fn(z)`` (e.g. the return with a new partner).

    Generation 0 samples ``population`` latents from the prior; each later generation keeps the ``n_keep`` best
    latents seen so far, replicates them to fill the population and mutates the copies by ``U[0, mutation)``
    per coordinate, projected back onto the prior (renormalized for l2, clipped for the cubes; discrete priors
    are resampled instead). The search stops after ``n_evals`` calls of ``score_fn``.

    :param score_fn: z (a float32 array of the latent's width) -> score; higher is better.
    :param sampler: a name in :data:`SAMPLERS` (or a sampler function).
    :param n_evals: the evaluation budget.
    :param context_size: the prior's ``context_size`` (as given to ADAP).
    :param population: latents per generation (default ``min(10, max(2, n_evals // 2))``: a broad first
        generation, since the mutations only refine around the elites).
    :param n_keep: elites kept per generation (default ``max(1, population // 3)``).
    :param mutation: the upper end of the uniform per-coordinate perturbation.
    :param rng: a generator or seed for the search's own randomness.
    :return: ``(best_z, best_score)``.
    """
    if isinstance(n_evals, bool) or not isinstance(n_evals, int | np.integer) or n_evals < 1:
        raise ConfigError(f"n_evals must be a positive integer, got {n_evals!r}")
    pop = min(10, max(2, n_evals // 2)) if population is None else int(population)
    if pop < 1:
        raise ConfigError(f"population must be a positive integer, got {population!r}")
    keep = max(1, pop // 3) if n_keep is None else int(n_keep)
    if not 1 <= keep <= pop:
        raise ConfigError(f"n_keep must be between 1 and population ({pop}), got {n_keep!r}")
    gen = _rng(rng)
    discrete = sampler in ("categorical", "natural_numbers")
    scored: list[tuple[float, np.ndarray]] = []

    def evaluate(zs: np.ndarray) -> None:
        for z in zs:
            if len(scored) >= n_evals:
                return
            z = np.asarray(z, dtype=np.float32)
            scored.append((float(score_fn(z.copy())), z))

    evaluate(sample_contexts(sampler, context_size, pop, gen))
    while len(scored) < n_evals:
        elites = [z for _, z in sorted(scored, key=lambda item: -item[0])[:keep]]
        parents = np.stack([elites[i % len(elites)] for i in range(pop)])
        if discrete:  # a discrete latent cannot be nudged: explore with fresh prior samples instead
            children = sample_contexts(sampler, context_size, pop, gen)
        else:
            children = project_context(sampler, parents + gen.uniform(0.0, mutation, parents.shape))
        evaluate(children)
    best_score, best_z = max(scored, key=lambda item: item[0])
    return best_z, best_score
