"""The tabular path of low-rank partner adaptation, with tensorly (docs/algorithms.md, section 4.2).

For discrete states ``s`` and actions ``a``, each of ``P`` training partners is summarised by its empirical
policy ``pi_p(a | s)``; stacked, they form the **partner tensor** ``T[p, s, a]`` of shape ``P x S x A``. The
model of section 4.1 says that every partner is a convex combination of ``r`` basis policies, i.e. ``T`` has
partner-mode (multilinear) rank ``r``. The steps, in order:

1. :func:`partner_tensor` (with :func:`count_matrix`): ``T`` and the mask of observed ``(p, s)`` cells from
   per-partner ``(states, actions)`` samples or count arrays, with optional Laplace smoothing.
2. :func:`fit_basis`: a partner-mode factorisation, returned as a :class:`LowRankBasis`:

   * ``method="tucker"``: ``tensorly.decomposition.partial_tucker(T, rank=[r], modes=[0])`` (Tucker-1). In the
     pinned tensorly 0.10 it returns ``((core, [U]), errors)`` with ``core`` ``r x S x A`` and ``U`` ``P x r``;
     the reconstruction ``multi_mode_dot(core, [U], modes=[0])`` is exact when ``r`` is the true rank. The core
     slices are signed, so they are a subspace, not policies.
   * ``method="nmf"``: a non-negative factorisation of the unfolding ``tl.unfold(T, 0)`` (``P x S*A``) with
     ``non_negative_parafac`` (multiplicative updates; it accepts ``mask``) or ``non_negative_parafac_hals``
     (converges far faster, no ``mask``); the components, reshaped to ``B_k`` (``S x A``), get a ``floor`` on
     the valid cells (zero elsewhere) and each row ``B_k[s, :]`` is renormalised to a distribution. The
     partners' weights are rescaled by the components' row sums and put on the simplex. At ``r = 1`` the
     basis is the partners' mean policy (every weight is 1).

3. :func:`adapt_em`: the mixture weights ``w`` of a **new** partner from its action counts ``N[s, a]`` by EM
   (a maximum-likelihood fit of a finite mixture with fixed components).
4. :func:`mixture_policy` ``sum_k w_k B_k`` and :func:`best_response` (the MAB ego's greedy valid arm).
5. :func:`select_rank` by held-out negative log-likelihood (:func:`heldout_nll`).

Arrays are plain numpy (``float64``); tensorly runs with its numpy backend whatever the global backend is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import tensorly as tl
from tensorly.decomposition import non_negative_parafac, non_negative_parafac_hals, partial_tucker

from pantheonrl.errors import ConfigError, unknown_choice

__all__ = [
    "METHODS",
    "NMF_SOLVERS",
    "LowRankBasis",
    "adapt_em",
    "best_response",
    "count_matrix",
    "fit_basis",
    "heldout_nll",
    "mixture_policy",
    "partner_tensor",
    "select_rank",
]

METHODS = ("tucker", "nmf")
NMF_SOLVERS = ("auto", "hals", "mu")


# ----------------------------------------------------------------------------------------------------- checks


def _int(value: Any, name: str, minimum: int = 1, maximum: int | None = None, hint: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ConfigError(f"{name} must be an integer, got {value!r}{hint}")
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise ConfigError(f"{name} must be {bounds}, got {value}{hint}")
    return int(value)


def _nonneg_float(value: Any, name: str, hint: str = "") -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number) or not np.isfinite(value):
        raise ConfigError(f"{name} must be a finite number >= 0, got {value!r}{hint}")
    if value < 0:
        raise ConfigError(f"{name} must be >= 0, got {value!r}{hint}")
    return float(value)


def _pos_float(value: Any, name: str, hint: str = "") -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number) or not np.isfinite(value):
        raise ConfigError(f"{name} must be a finite number > 0, got {value!r}{hint}")
    if value <= 0:
        raise ConfigError(f"{name} must be > 0, got {value!r}{hint}")
    return float(value)


def _seed(seed: Any) -> int | None:
    """A seed: an integer or None."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer)):
        raise ConfigError(f"seed must be an integer or None, got {seed!r}")
    return None if seed is None else int(seed)


def _array(value: Any, name: str, ndim: int, what: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{name} must be a numeric array {what}, got {type(value).__name__} ({err})") from err
    if arr.ndim != ndim:
        raise ConfigError(f"{name} must be a {ndim}-D array {what}, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"{name} must be finite (no NaN or inf)")
    return arr


def _valid(valid: Any, shape: tuple[int, int]) -> np.ndarray | None:
    if valid is None:
        return None
    arr = np.asarray(valid)
    if arr.shape != shape:
        raise ConfigError(f"valid must be a boolean (S, A) = {shape} table, got shape {arr.shape}")
    arr = arr.astype(bool)
    if not arr.any(axis=1).all():
        bad = np.flatnonzero(~arr.any(axis=1)).tolist()
        raise ConfigError(f"valid leaves no valid action in states {bad}; every state needs at least one")
    return arr


def _uniform_rows(n_states: int, n_actions: int, valid: np.ndarray | None) -> np.ndarray:
    table = np.ones((n_states, n_actions)) if valid is None else valid.astype(float)
    return table / table.sum(-1, keepdims=True)


def _index_array(value: Any, name: str, size: int, size_name: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != 1:
        raise ConfigError(f"{name} must be a 1-D array of indices, got shape {arr.shape}")
    if arr.size and not (np.issubdtype(arr.dtype, np.integer) or np.all(np.mod(arr, 1) == 0)):
        raise ConfigError(f"{name} must hold integer indices, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= size):
        raise ConfigError(f"{name} must be in 0..{size - 1} ({size_name}={size}), got values {arr.min()}..{arr.max()}")
    return arr


def count_matrix(states: Any, actions: Any, n_states: int, n_actions: int) -> np.ndarray:
    """The ``(n_states, n_actions)`` count table ``N[s, a]`` of paired samples ``(states[i], actions[i])``."""
    n_states = _int(n_states, "n_states")
    n_actions = _int(n_actions, "n_actions")
    s = _index_array(states, "states", n_states, "n_states")
    a = _index_array(actions, "actions", n_actions, "n_actions")
    if s.shape != a.shape:
        raise ConfigError(f"states and actions must pair up one to one, got {s.size} states and {a.size} actions")
    counts = np.zeros((n_states, n_actions))
    np.add.at(counts, (s, a), 1.0)
    return counts


def _counts_of(data: Any, n_states: int | None, n_actions: int | None) -> np.ndarray:
    """``(P, S, A)`` counts from samples per partner or count arrays (see :func:`partner_tensor`)."""
    if isinstance(data, np.ndarray) and data.ndim == 3:
        counts = _array(data, "counts", 3, "(P, S, A)")
    else:
        if isinstance(data, np.ndarray) or not isinstance(data, Sequence | Iterable):
            raise ConfigError(
                "data must be a list with one (states, actions) pair of index arrays per partner, or counts of "
                f"shape (P, S, A), got {type(data).__name__}"
            )
        items = list(data)
        if not items:
            raise ConfigError("data is empty; give one (states, actions) pair (or count table) per partner")
        tables = []
        for p, item in enumerate(items):
            if isinstance(item, tuple | list) and len(item) == 2:
                if n_states is None or n_actions is None:
                    raise ConfigError("n_states and n_actions are required with (states, actions) samples")
                tables.append(count_matrix(item[0], item[1], n_states, n_actions))
            else:
                tables.append(_array(item, f"data[{p}]", 2, "(S, A) of counts, or a (states, actions) pair"))
        shapes = {t.shape for t in tables}
        if len(shapes) != 1:
            raise ConfigError(f"every partner's count table must have one (S, A) shape, got {sorted(shapes)}")
        counts = np.stack(tables)
    if np.any(counts < 0):
        raise ConfigError("counts must be >= 0")
    for given, actual, name in ((n_states, counts.shape[1], "n_states"), (n_actions, counts.shape[2], "n_actions")):
        if given is not None and given != actual:
            raise ConfigError(f"{name}={given} does not match the count tables' size {actual}")
    return counts


def partner_tensor(
    data: Any,
    n_states: int | None = None,
    n_actions: int | None = None,
    *,
    smoothing: float = 0.0,
    valid: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The empirical partner tensor ``T[p, s, a] = pi_p(a | s)`` and the mask of observed ``(p, s)`` cells.

    :param data: one entry per training partner, either

        * a pair ``(states, actions)`` of equal-length 1-D integer arrays (state index ``0..S-1``, action index
          ``0..A-1``; one row per sample), or
        * an ``(S, A)`` array of counts ``N_p[s, a]``;

        or a single ``(P, S, A)`` count array.
    :param n_states: ``S`` (required with samples; checked against count arrays).
    :param n_actions: ``A`` (likewise).
    :param smoothing: Laplace pseudo-count ``lambda`` added to every (valid) cell:
        ``T[p, s, a] = (N_p[s, a] + lambda) / (sum_a' N_p[s, a'] + lambda * |valid(s)|)``.
    :param valid: optional boolean ``(S, A)`` table of legal actions: smoothing and the fill of unobserved
        rows use only valid actions.
    :returns: ``(T, mask)``: ``T`` of shape ``(P, S, A)``, each row a distribution; ``mask`` of shape ``(P, S)``,
        True where partner ``p`` has at least one sample in state ``s``. Unobserved rows (and, without
        smoothing, nothing else) are filled with the uniform distribution over the valid actions; pass
        ``mask`` to :func:`fit_basis` so that they do not count as data.
    """
    if n_states is not None:
        n_states = _int(n_states, "n_states")
    if n_actions is not None:
        n_actions = _int(n_actions, "n_actions")
    smoothing = _nonneg_float(smoothing, "smoothing", "; e.g. 1.0 for Laplace smoothing, 0 for none")
    counts = _counts_of(data, n_states, n_actions)
    _, n_s, n_a = counts.shape
    valid_t = _valid(valid, (n_s, n_a))
    pseudo = smoothing * (np.ones((n_s, n_a)) if valid_t is None else valid_t.astype(float))
    numer = counts + pseudo
    totals = numer.sum(-1, keepdims=True)
    uniform = _uniform_rows(n_s, n_a, valid_t)
    T = np.where(totals > 0, numer / np.where(totals > 0, totals, 1.0), uniform)
    mask = counts.sum(-1) > 0
    return T, mask


# ------------------------------------------------------------------------------------------------ the basis


@dataclass
class LowRankBasis:
    """A partner-mode rank-``r`` factorisation ``T[p] ~ sum_k weights[p, k] * basis[k]``.

    :ivar basis: ``(r, S, A)``. ``"nmf"``: each ``basis[k][s]`` is a distribution over the valid actions.
        ``"tucker"``: the (signed) Tucker core.
    :ivar weights: ``(P, r)``, the training partners' weights: on the simplex for ``"nmf"``; the Tucker factor
        ``U`` (orthonormal columns) for ``"tucker"``.
    :ivar rank: ``r``.
    :ivar method: ``"tucker"`` or ``"nmf"``.
    :ivar core: the Tucker core (``"tucker"`` only; the same array as ``basis``).
    :ivar factor: the Tucker factor ``U`` (``"tucker"`` only; the same array as ``weights``).
    :ivar valid: the ``(S, A)`` valid-action table the basis was fitted with, or None.
    :ivar errors: the decomposition's reconstruction-error trace as tensorly returned it.
    """

    basis: np.ndarray
    weights: np.ndarray
    rank: int
    method: str
    core: np.ndarray | None = None
    factor: np.ndarray | None = None
    valid: np.ndarray | None = None
    errors: list[float] = field(default_factory=list)

    @property
    def n_partners(self) -> int:
        return int(self.weights.shape[0])

    @property
    def n_states(self) -> int:
        return int(self.basis.shape[1])

    @property
    def n_actions(self) -> int:
        return int(self.basis.shape[2])

    def reconstruct(self) -> np.ndarray:
        """The ``(P, S, A)`` reconstruction of the training tensor."""
        if self.method == "tucker" and self.core is not None and self.factor is not None:
            with tl.backend_context("numpy"):
                return np.asarray(tl.tenalg.multi_mode_dot(self.core, [self.factor], modes=[0]))
        return np.einsum("pk,ksa->psa", self.weights, self.basis)

    def policy(self, w: Any) -> np.ndarray:
        """:func:`mixture_policy` of this basis with weights ``w`` (``(r,)`` or ``(n, r)``)."""
        return mixture_policy(self.basis, w, valid=self.valid)


def _check_tensor(T: Any) -> np.ndarray:
    return _array(T, "T", 3, "(P partners, S states, A actions); build it with partner_tensor")


def _mask3(mask: Any, shape: tuple[int, int, int]) -> np.ndarray | None:
    if mask is None:
        return None
    arr = np.asarray(mask)
    if arr.shape == shape[:2]:
        arr = np.broadcast_to(arr[:, :, None], shape)
    if arr.shape != shape:
        raise ConfigError(f"mask must have shape (P, S) = {shape[:2]} or (P, S, A) = {shape}, got {arr.shape}")
    arr = arr.astype(bool)
    if arr.all():
        return None
    if not arr.any():
        raise ConfigError("mask marks no cell as observed; a basis needs data")
    return np.ascontiguousarray(arr)


def fit_basis(
    T: Any,
    rank: int,
    *,
    method: str = "tucker",
    mask: Any = None,
    valid: Any = None,
    floor: float = 1e-3,
    nmf_solver: str = "auto",
    n_iter_max: int | None = None,
    tol: float | None = None,
    random_state: int | None = 0,
) -> LowRankBasis:
    """Fit a partner-mode rank-``rank`` basis to the partner tensor ``T`` (``P x S x A``).

    :param T: the partner tensor (:func:`partner_tensor`).
    :param rank: ``r``, between 1 and ``P``.
    :param method: ``"tucker"`` (partial Tucker on the partner mode: exact at the true rank, signed core) or
        ``"nmf"`` (a non-negative basis of policies, the input of :func:`adapt_em`).
    :param mask: optional ``(P, S)`` or ``(P, S, A)`` booleans, True on observed cells (``partner_tensor``'s
        mask); unobserved cells are imputed by the low-rank model instead of fitted.
    :param valid: optional boolean ``(S, A)`` table of legal actions (``"nmf"``: the floor goes on valid cells,
        invalid cells of the basis are 0). Kept on the result for :meth:`LowRankBasis.policy`.
    :param floor: ``"nmf"`` only: the minimum probability of a valid action in every basis row (1e-3), so that
        EM never meets a zero likelihood; 0 disables it.
    :param nmf_solver: ``"auto"`` (``"hals"``, or ``"mu"`` when a mask is given), ``"hals"``
        (``non_negative_parafac_hals``) or ``"mu"`` (``non_negative_parafac``, multiplicative updates).
    :param n_iter_max: iteration cap of the tensorly solver (default: 100 for Tucker, 1000 for NMF).
    :param tol: the solver's convergence tolerance (default: tensorly's for Tucker, 1e-10 for NMF).
    :param random_state: passed to tensorly (the default SVD initialisation is deterministic anyway).
    """
    T = _check_tensor(T)
    n_p, n_s, n_a = T.shape
    hint = f"; the partner-mode rank is at most the number of partners P={n_p}"
    rank = _int(rank, "rank", 1, min(n_p, n_s * n_a), hint)
    if method not in METHODS:
        raise ConfigError(unknown_choice("method", method, METHODS))
    if nmf_solver not in NMF_SOLVERS:
        raise ConfigError(unknown_choice("nmf_solver", nmf_solver, NMF_SOLVERS))
    floor = _nonneg_float(floor, "floor", "; e.g. 1e-3")
    valid_t = _valid(valid, (n_s, n_a))
    if floor * n_a >= 1:
        raise ConfigError(f"floor={floor} is too large for {n_a} actions; it must stay below 1/A, e.g. 1e-3")
    mask3 = _mask3(mask, T.shape)
    if n_iter_max is not None:
        n_iter_max = _int(n_iter_max, "n_iter_max")
    if tol is not None:
        tol = _nonneg_float(tol, "tol")
    with tl.backend_context("numpy"):
        if method == "tucker":
            kwargs: dict[str, Any] = {"n_iter_max": n_iter_max or 100, "random_state": random_state}
            if tol is not None:
                kwargs["tol"] = tol
            (core, factors), errors = partial_tucker(T, rank=[rank], modes=[0], mask=mask3, **kwargs)
            core, U = np.asarray(core), np.asarray(factors[0])
            return LowRankBasis(core, U, rank, method, core=core, factor=U, valid=valid_t, errors=list(errors))
        return _fit_nmf(T, rank, mask3, valid_t, floor, nmf_solver, n_iter_max or 1000, tol, random_state)


def _fit_nmf(
    T: np.ndarray,
    rank: int,
    mask3: np.ndarray | None,
    valid: np.ndarray | None,
    floor: float,
    solver: str,
    n_iter_max: int,
    tol: float | None,
    random_state: int | None,
) -> LowRankBasis:
    if np.any(T < 0):
        raise ConfigError("method='nmf' needs a non-negative T (probabilities); use method='tucker' for signed data")
    n_p, n_s, n_a = T.shape
    if rank == 1:
        # On the simplex every partner's weight is 1, so the least-squares basis is the mean policy over the
        # partners (over the observed ones, cell by cell, with a mask), not NMF's top singular direction.
        seen = np.ones(T.shape) if mask3 is None else mask3.astype(float)
        n_seen = seen.sum(0)
        mean = np.where(n_seen > 0, (T * seen).sum(0) / np.where(n_seen > 0, n_seen, 1.0), 0.0)
        basis = _floor_rows(mean[None], valid, floor)
        error = float(np.linalg.norm((T - basis) * seen) / max(np.linalg.norm(T * seen), 1e-300))
        return LowRankBasis(basis, np.ones((n_p, 1)), 1, "nmf", valid=valid, errors=[error])
    if solver == "auto":
        solver = "hals" if mask3 is None else "mu"
    if solver == "hals" and mask3 is not None:
        raise ConfigError("nmf_solver='hals' does not take a mask; use nmf_solver='mu' (or 'auto') with a mask")
    matrix = tl.unfold(T, 0)  # P x (S*A)
    tol = 1e-10 if tol is None else tol
    if solver == "hals":
        cp, errors = non_negative_parafac_hals(
            matrix, rank=rank, n_iter_max=n_iter_max, tol=tol, random_state=random_state, return_errors=True
        )
    else:
        unfolded_mask = None if mask3 is None else tl.unfold(mask3.astype(float), 0)
        cp, errors = non_negative_parafac(
            matrix,
            rank=rank,
            n_iter_max=n_iter_max,
            tol=tol,
            random_state=random_state,
            mask=unfolded_mask,
            return_errors=True,
        )
    lam, (F0, F1) = np.asarray(cp.weights), [np.asarray(f) for f in cp.factors]
    comps = (F1 * lam).T.reshape(rank, n_s, n_a)  # C_k, so that T[p] ~ sum_k F0[p, k] C_k
    comps = np.clip(comps, 0.0, None)
    # For exact mixtures of policies every row sum of C_k is the same constant v_k (sum_k F0[p, k] v_k = 1 for all
    # p and s); B_k = C_k / v_k are policies and w[p, k] = F0[p, k] v_k. Noisy fits: the mean row sum.
    row_sums = comps.sum(-1)
    scale = row_sums.mean(1)
    uniform = _uniform_rows(n_s, n_a, valid)
    safe = np.where(row_sums > 0, row_sums, 1.0)[..., None]
    basis = np.where(row_sums[..., None] > 0, comps / safe, uniform)
    basis = _floor_rows(basis, valid, floor)
    weights = np.clip(F0, 0.0, None) * scale
    totals = weights.sum(1, keepdims=True)
    weights = np.where(totals > 0, weights / np.where(totals > 0, totals, 1.0), 1.0 / rank)
    return LowRankBasis(basis, weights, rank, "nmf", valid=valid, errors=[float(e) for e in errors])


def _floor_rows(tables: np.ndarray, valid: np.ndarray | None, floor: float) -> np.ndarray:
    """Clip at 0, raise valid cells to ``floor``, zero invalid cells, renormalise rows (empty rows: uniform)."""
    out = np.clip(tables, 0.0, None)
    if valid is not None:
        out = np.where(valid, np.maximum(out, floor), 0.0)
    elif floor > 0:
        out = np.maximum(out, floor)
    sums = out.sum(-1, keepdims=True)
    uniform = _uniform_rows(out.shape[-2], out.shape[-1], valid)
    return np.where(sums > 0, out / np.where(sums > 0, sums, 1.0), uniform)


# ------------------------------------------------------------------------------------------------ adaptation


def _basis_array(basis_B: Any) -> np.ndarray:
    if isinstance(basis_B, LowRankBasis):
        basis_B = basis_B.basis
    return _array(basis_B, "basis_B", 3, "(r, S, A) of basis policies")


def adapt_em(
    basis_B: Any,
    counts: Any,
    *,
    iters: int = 300,
    smoothing: float = 0.0,
    tol: float = 1e-12,
) -> tuple[np.ndarray, np.ndarray]:
    """A new partner's mixture weights ``w`` from its action counts ``N[s, a]``, by EM.

    The model is ``pi_w(a | s) = sum_k w_k B_k[s, a]`` with fixed non-negative basis policies ``B_k``. From the
    uniform start, each iteration applies

    ``w_k <- sum_{s,a} N[s, a] * w_k B_k[s, a] / (sum_j w_j B_j[s, a]) / sum N``

    and, with ``smoothing = eps > 0``, then ``w <- (w + eps) / (1 + r * eps)``: the exact MAP-EM step under a
    Dirichlet prior with pseudo-counts ``eps * sum N`` per component, which keeps ``w`` off the simplex's
    faces when ``N`` is tiny. Cells where every ``B_k`` is 0 carry no information about ``w`` and are ignored.

    :param basis_B: ``(r, S, A)`` non-negative basis (an ``"nmf"`` :class:`LowRankBasis` or its ``basis``).
    :param counts: ``(S, A)`` counts of the new partner's actions (:func:`count_matrix`).
    :param iters: maximum number of EM iterations (200-500 is plenty for r <= 10).
    :param smoothing: ``eps`` above (0: maximum likelihood).
    :param tol: stop once no weight moves by more than ``tol`` in one iteration.
    :returns: ``(w, trace)``: ``w`` of shape ``(r,)`` on the simplex, and the objective after 0, 1, ... iterations:
        the log-likelihood ``sum N log pi_w`` plus, with smoothing, the log-prior ``eps * sum N * sum_k log w_k``.
        EM never decreases it. Zero counts give the uniform ``w`` and the trace ``[0.0]``.
    """
    B = _basis_array(basis_B)
    if np.any(B < 0):
        raise ConfigError(
            "adapt_em needs a non-negative basis of policies, got negative entries (a Tucker core?); "
            "fit the basis with method='nmf'"
        )
    r, n_s, n_a = B.shape
    N = _array(counts, "counts", 2, f"(S, A) = ({n_s}, {n_a}) of action counts")
    if N.shape != (n_s, n_a):
        raise ConfigError(f"counts must have the basis' (S, A) shape ({n_s}, {n_a}), got {N.shape}")
    if np.any(N < 0):
        raise ConfigError("counts must be >= 0")
    iters = _int(iters, "iters", 1, hint="; e.g. 300")
    eps = _nonneg_float(smoothing, "smoothing", "; e.g. 0.01 for a weak Dirichlet prior, 0 for none")
    tol = _nonneg_float(tol, "tol")
    w = np.full(r, 1.0 / r)
    cells = (N > 0) & (B.sum(0) > 0)
    n = N[cells]
    total = float(n.sum())
    if total == 0:
        return w, np.zeros(1)
    Bc = B[:, cells]  # (r, m)
    prior = eps * total

    def objective(w: np.ndarray) -> float:
        value = float(n @ np.log(w @ Bc))
        if prior > 0:
            value += prior * float(np.log(w).sum())
        return value

    trace = [objective(w)]
    for _ in range(iters):
        q = w @ Bc
        new = w * (Bc @ (n / q)) / total
        if eps > 0:
            new = (new + eps) / (1.0 + r * eps)
        new /= new.sum()
        step = float(np.abs(new - w).max())
        w = new
        trace.append(objective(w))
        if step <= tol:
            break
    return w, np.asarray(trace)


def mixture_policy(B: Any, w: Any, *, valid: Any = None) -> np.ndarray:
    """``sum_k w_k B_k`` with rows renormalised: ``(S, A)`` for ``w`` of shape ``(r,)``, ``(n, S, A)`` for ``(n, r)``.

    Negative entries (a signed Tucker basis) are clipped to 0 first; with ``valid``, invalid cells are zeroed.
    A row with no mass left becomes uniform (over the valid actions).
    """
    if isinstance(B, LowRankBasis):
        valid = B.valid if valid is None else valid
    B = _basis_array(B)
    r, n_s, n_a = B.shape
    weights = np.asarray(w, dtype=float)
    if weights.ndim not in (1, 2) or weights.shape[-1] != r or not np.all(np.isfinite(weights)):
        raise ConfigError(f"w must be finite weights of shape (r,) or (n, r) with r={r}, got shape {weights.shape}")
    table = np.tensordot(weights, B, axes=([-1], [0]))
    return _floor_rows(table, _valid(valid, (n_s, n_a)), 0.0)


def _policy_table(policy: Any) -> np.ndarray:
    return _array(policy, "policy", 2, "(S, A) of action probabilities per state")


def best_response(policy: Any, valid: Any = None) -> np.ndarray:
    """The deterministic ``(S, A)`` one-hot table of ``argmax_a policy[s, a]`` over the valid actions.

    In the (symmetric) MAB coordination game this is the ego's best response to a partner playing ``policy``;
    ties go to the lowest action index.
    """
    table = _policy_table(policy)
    valid_t = _valid(valid, table.shape)
    scores = table if valid_t is None else np.where(valid_t, table, -np.inf)
    out = np.zeros_like(table)
    out[np.arange(table.shape[0]), scores.argmax(1)] = 1.0
    return out


def heldout_nll(policy: Any, states: Any, actions: Any, *, eps: float = 1e-12) -> float:
    """The mean negative log-likelihood ``-mean_i log policy[states[i], actions[i]]`` (probabilities clipped at
    ``eps`` so that an impossible action costs ``-log eps`` instead of infinity)."""
    table = _policy_table(policy)
    return _nll_sum(table, states, actions, eps) / _n_samples(states)


def _n_samples(states: Any) -> int:
    n = int(np.asarray(states).size)
    if n == 0:
        raise ConfigError("no samples to evaluate; give at least one (state, action) pair")
    return n


def _nll_sum(table: np.ndarray, states: Any, actions: Any, eps: float) -> float:
    return float(_nll_terms(table, states, actions, eps).sum())


def _nll_terms(table: np.ndarray, states: Any, actions: Any, eps: float) -> np.ndarray:
    s = _index_array(states, "states", table.shape[0], "n_states")
    a = _index_array(actions, "actions", table.shape[1], "n_actions")
    if s.shape != a.shape:
        raise ConfigError(f"states and actions must pair up one to one, got {s.size} states and {a.size} actions")
    return -np.log(np.maximum(table[s, a], eps))


def select_rank(
    train_samples: Sequence[tuple[Any, Any]],
    held_out_samples: Sequence[tuple[Any, Any]],
    ranks: Iterable[int],
    *,
    n_states: int,
    n_actions: int,
    method: str = "nmf",
    valid: Any = None,
    smoothing: float = 0.0,
    floor: float = 1e-3,
    se_rule: float = 1.0,
    **fit_kwargs: Any,
) -> tuple[int, dict[int, float]]:
    """Choose the rank by held-out negative log-likelihood (NLL) on the training partners.

    Protocol: each training partner's samples are split by the caller into ``train_samples[p]`` and
    ``held_out_samples[p]`` (``(states, actions)`` index arrays; e.g. 80/20 at random). For each candidate rank
    ``r``, the basis is fitted (:func:`fit_basis`, ``method``, with the observed-cell mask) on the partner
    tensor of the training split only; each partner's rank-``r`` reconstruction (``"nmf"``: its fitted
    mixture; ``"tucker"``: clipped at 0), floored at ``floor`` on the valid cells and renormalised, is scored on
    that partner's held-out samples. The score is the NLL per held-out sample pooled over partners. Too small
    a rank cannot express the partners; too large a rank fits the sampling noise of the training split, but
    only by a little, so the lowest score alone often lands one rank too high. The choice therefore follows
    the one-standard-error rule: the smallest rank whose score exceeds the lowest one by at most ``se_rule``
    standard errors of the paired per-sample NLL differences (``se_rule=0``: the plain argmin).

    :returns: ``(chosen_rank, {rank: held-out NLL per sample})``.
    """
    if len(train_samples) != len(held_out_samples):
        raise ConfigError(
            f"train_samples and held_out_samples need one entry per partner each, got {len(train_samples)} "
            f"and {len(held_out_samples)}"
        )
    rank_list = sorted({int(_int(k, "every rank in ranks")) for k in ranks})
    if not rank_list:
        raise ConfigError("ranks is empty; give the candidate ranks, e.g. range(1, 6)")
    se_rule = _nonneg_float(se_rule, "se_rule", "; e.g. 1.0 (one standard error) or 0 (plain argmin)")
    T, mask = partner_tensor(train_samples, n_states, n_actions, smoothing=smoothing, valid=valid)
    valid_t = _valid(valid, (T.shape[1], T.shape[2]))
    floor = _nonneg_float(floor, "floor", "; e.g. 1e-3")
    held = [(p, s, a) for p, (s, a) in enumerate(held_out_samples) if np.asarray(s).size]
    if not held:
        raise ConfigError("held_out_samples holds no samples; hold out some of each partner's samples")
    per_sample: dict[int, np.ndarray] = {}
    for rank in rank_list:
        basis = fit_basis(T, rank, method=method, mask=mask, valid=valid, floor=floor, **fit_kwargs)
        policies = _floor_rows(basis.reconstruct(), valid_t, floor)
        per_sample[rank] = np.concatenate([_nll_terms(policies[p], s, a, 1e-12) for p, s, a in held])
    scores = {k: float(v.mean()) for k, v in per_sample.items()}
    best = min(rank_list, key=lambda k: (scores[k], k))
    for rank in rank_list:
        diff = per_sample[rank] - per_sample[best]
        se = float(diff.std(ddof=1) / np.sqrt(diff.size)) if diff.size > 1 else 0.0
        if diff.mean() <= se_rule * se:
            return rank, scores
    return best, scores  # pragma: no cover - the best rank itself always qualifies
