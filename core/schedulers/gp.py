"""Gaussian-process regression for Bayesian optimization (numpy/scipy only).

Matérn-5/2 kernel with one lengthscale per input (ARD), a signal variance and a
noise variance, fitted by maximising the log marginal likelihood (plus weak log-normal
priors) with L-BFGS-B on the log parameters from several starts. The posterior keeps
its Cholesky factor, so adding points (real or fantasized) costs O(n^2 m), not O(n^3).
Targets are expected standardized (mean 0, variance about 1) by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.linalg import LinAlgError
from scipy.linalg import cho_solve, cholesky
from scipy.linalg.blas import dtrmm
from scipy.linalg.lapack import dpotri, dtrtri

from simtune.core.schedulers.blas import single_threaded

_SQRT5 = np.sqrt(5.0)
JITTER = 1e-8
# bounds of the log parameters: lengthscale, signal variance, noise variance
_LOG_LS = (np.log(1e-2), np.log(50.0))
_LOG_VAR = (np.log(1e-2), np.log(20.0))
_LOG_NOISE = (np.log(1e-6), np.log(1.0))
# weak log-normal priors (mean, sd) on the same log parameters
_PRIOR_LS = (np.log(0.5), 1.5)
_PRIOR_VAR = (0.0, 1.5)
_PRIOR_NOISE = (np.log(1e-3), 3.0)


@dataclass(frozen=True)
class Hyperparameters:
    """Kernel and noise parameters of a GP.

    Example:
        >>> Hyperparameters(lengthscales=np.array([0.2, 0.5]), variance=1.0, noise=1e-4)
    """

    lengthscales: np.ndarray
    variance: float
    noise: float

    def to_log(self) -> np.ndarray:
        return np.log(np.concatenate([self.lengthscales, [self.variance, self.noise]]))

    @classmethod
    def from_log(cls, theta: np.ndarray) -> Hyperparameters:
        v = np.exp(np.asarray(theta, dtype=float))
        return cls(lengthscales=v[:-2], variance=float(v[-2]), noise=float(v[-1]))

    @classmethod
    def default(cls, d: int) -> Hyperparameters:
        return cls(lengthscales=np.full(d, 0.5), variance=1.0, noise=1e-3)


def matern52(x1: np.ndarray, x2: np.ndarray, hp: Hyperparameters) -> np.ndarray:
    """Matérn-5/2 ARD kernel matrix between the rows of x1 (n x d) and x2 (m x d)."""
    a, b = x1 * (_SQRT5 / hp.lengthscales), x2 * (_SQRT5 / hp.lengthscales)
    r = a @ b.T  # in place from here on: r = sqrt(5) * distance
    r *= -2.0
    r += (a * a).sum(1)[:, None]
    r += (b * b).sum(1)[None, :]
    np.maximum(r, 0.0, out=r)
    np.sqrt(r, out=r)
    k = r * r
    k *= 1.0 / 3.0
    k += r
    k += 1.0
    np.negative(r, out=r)
    np.exp(r, out=r)
    k *= r
    k *= hp.variance
    return k


class GP:
    """Exact GP posterior for fixed hyperparameters (zero prior mean).

    Example:
        >>> gp = GP(x, y, Hyperparameters.default(x.shape[1]))
        >>> mean, var = gp.predict(x_new)
    """

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        hp: Hyperparameters,
        chol: np.ndarray | None = None,
        linv: np.ndarray | None = None,
        jitter: float = JITTER,
    ) -> None:
        self.x = np.asarray(x, dtype=float)
        self.y = np.asarray(y, dtype=float)
        self.hp = hp
        self._k = None  # the kernel matrix of x, kept when computed here (fitted_mean)
        self.jitter = jitter  # added to the noise on the diagonal of the factorized matrix
        if chol is None:
            self._k = matern52(self.x, self.x, hp)
            chol, self.jitter = _cholesky(self._k, hp.noise)
        self.chol = chol
        self._linv = linv  # inverse of the Cholesky factor, built on first use
        self.alpha = cho_solve((chol, True), self.y, check_finite=False) if len(self.y) else self.y

    def __len__(self) -> int:
        return len(self.y)

    def extend(self, x_new: np.ndarray, y_new: np.ndarray, keep_kernel: bool = True) -> GP:
        """The posterior with (x_new, y_new) added: a block update of the Cholesky factor
        (and of the kernel matrix, if kept and `keep_kernel`)."""
        x_new = np.atleast_2d(np.asarray(x_new, dtype=float))
        n, m = len(self.x), len(x_new)
        if m == 0:
            return self
        if n == 0:
            return GP(x_new, y_new, self.hp)
        k12 = matern52(self.x, x_new, self.hp)
        linv = self.linv
        l21 = (linv @ k12).T  # m x n
        k22_prior = matern52(x_new, x_new, self.hp)
        k22 = k22_prior - l21 @ l21.T
        x = np.vstack([self.x, x_new])
        y = np.concatenate([self.y, np.asarray(y_new, dtype=float)])
        try:
            k22 += (self.hp.noise + JITTER) * np.eye(m)
            l22 = cholesky(k22, lower=True, check_finite=False)
        except LinAlgError:
            return GP(x, y, self.hp)  # numerically singular: refactorize with more jitter
        chol = np.empty((n + m, n + m))  # every block written once (zeros above)
        chol[:n, :n], chol[n:, :n], chol[n:, n:], chol[:n, n:] = self.chol, l21, l22, 0.0
        l22inv = _tri_inverse(l22)
        new_inv = np.empty((n + m, n + m))
        new_inv[:n, :n], new_inv[n:, n:], new_inv[:n, n:] = linv, l22inv, 0.0
        new_inv[n:, :n] = -l22inv @ (l21 @ linv)
        gp = GP(x, y, self.hp, chol=chol, linv=new_inv, jitter=max(self.jitter, JITTER))
        if self._k is not None and keep_kernel:  # the kernel matrix grows by the same blocks
            gp._k = np.empty((n + m, n + m))
            gp._k[:n, :n], gp._k[:n, n:], gp._k[n:, :n] = self._k, k12, k12.T
            gp._k[n:, n:] = k22_prior
        return gp

    def with_targets(self, y: np.ndarray) -> GP:
        """The same inputs with new targets (reuses the Cholesky factor)."""
        gp = GP(self.x, y, self.hp, chol=self.chol, linv=self._linv, jitter=self.jitter)
        gp._k = self._k
        return gp

    @property
    def linv(self) -> np.ndarray:
        """L^-1 for the Cholesky factor L: predictions then need a matrix product (fast
        BLAS-3) instead of a triangular solve."""
        if self._linv is None:
            self._linv = _tri_inverse(self.chol)
        return self._linv

    def predict(self, x_star: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and variance (of the latent function) at the rows of x_star."""
        x_star = np.atleast_2d(np.asarray(x_star, dtype=float))
        if len(self.x) == 0:
            return np.zeros(len(x_star)), np.full(len(x_star), self.hp.variance)
        k = matern52(self.x, x_star, self.hp)
        return k.T @ self.alpha, self.variance(k, overwrite=True)

    def variance(self, k: np.ndarray, overwrite: bool = False) -> np.ndarray:
        """Posterior variance at the points whose prior covariances with the inputs are the
        columns of `k` (n x m, overwritten if `overwrite`)."""
        v = dtrmm(1.0, self.linv, k, lower=1, overwrite_b=overwrite)  # L^-1 k: half a product
        return np.maximum(self.hp.variance - np.einsum("ij,ij->j", v, v), 1e-12)

    def fitted_mean(self) -> np.ndarray:
        """Posterior mean at the inputs (`mean(self.x)`, from the kernel matrix kept)."""
        if self._k is None:
            return self.mean(self.x)
        return self._k.T @ self.alpha if len(self.x) else np.zeros(0)

    def mean(self, x_star: np.ndarray) -> np.ndarray:
        """Posterior mean only (no variance: a matrix-vector product)."""
        x_star = np.atleast_2d(np.asarray(x_star, dtype=float))
        if len(self.x) == 0:
            return np.zeros(len(x_star))
        return matern52(self.x, x_star, self.hp).T @ self.alpha


class Fantasized:
    """`base` with pending inputs `x_p` fantasized at its posterior mean (kriging believer):
    the mean stays the base's, the variance shrinks. The same posterior as
    `base.extend(x_p, base.mean(x_p))` (up to rounding), from the base's factor and an
    m x n block, without building the (n + m)^2 factor and its inverse.

    Example:
        >>> gp = Fantasized(GP(x, y, hp), x_pending)
        >>> mean, var = gp.predict(x_new)
    """

    def __init__(self, base: GP, x_p: np.ndarray, mean_p: np.ndarray | None = None) -> None:
        self.base, self.hp = base, base.hp
        x_p = np.atleast_2d(np.asarray(x_p, dtype=float))
        self.x = np.vstack([base.x, x_p])
        self.alpha = np.concatenate([base.alpha, np.zeros(len(x_p))])  # the fantasies' are 0
        self.y = np.concatenate([base.y, base.mean(x_p) if mean_p is None else mean_p])
        self._l21 = (base.linv @ matern52(base.x, x_p, self.hp)).T  # m x n
        k22 = matern52(x_p, x_p, self.hp) - self._l21 @ self._l21.T
        k22 += (self.hp.noise + JITTER) * np.eye(len(x_p))
        self._l22inv = _tri_inverse(cholesky(k22, lower=True, check_finite=False))
        self.jitter = max(base.jitter, JITTER)

    def __len__(self) -> int:
        return len(self.x)

    def predict(self, x_star: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and variance at the rows of x_star."""
        k = matern52(self.x, np.atleast_2d(np.asarray(x_star, dtype=float)), self.hp)
        return k.T @ self.alpha, self.variance(k)

    def variance(self, k: np.ndarray, overwrite: bool = False) -> np.ndarray:
        """Posterior variance from the prior covariances `k` ((n + m) x c) with the inputs."""
        n = len(self.base.x)
        v = dtrmm(1.0, self.base.linv, k[:n], lower=1)
        w = self._l22inv @ (k[n:] - self._l21 @ v)
        reduction = np.einsum("ij,ij->j", v, v) + np.einsum("ij,ij->j", w, w)
        return np.maximum(self.hp.variance - reduction, 1e-12)

    def mean(self, x_star: np.ndarray) -> np.ndarray:
        return self.base.mean(x_star)


def fantasize(gp: GP, x_p: np.ndarray, mean_p: np.ndarray) -> GP | Fantasized:
    """`gp` with the pending inputs `x_p` fantasized at its mean there, `mean_p`
    (`Fantasized`; where that block is numerically singular, the refactorized `GP.extend`)."""
    try:
        return Fantasized(gp, x_p, mean_p)
    except LinAlgError:
        return gp.extend(x_p, mean_p, keep_kernel=False)


def _tri_inverse(chol: np.ndarray) -> np.ndarray:
    """L^-1 of a lower triangular L (LAPACK's trtri: scipy has no public equivalent, and
    solve_triangular(L, I) rounds differently, which would change every decision)."""
    inv, info = dtrtri(chol, lower=1)
    if info != 0:
        raise LinAlgError(f"singular Cholesky factor (LAPACK info {info})")
    return np.tril(inv)


def _cholesky(k: np.ndarray, noise: float) -> tuple[np.ndarray, float]:
    """The Cholesky factor of k + (noise + jitter) I and the jitter it took."""
    n = len(k)
    jitter = JITTER
    for _ in range(6):
        try:
            chol = cholesky(k + (noise + jitter) * np.eye(n), lower=True, check_finite=False)
            return chol, jitter
        except LinAlgError:
            jitter *= 100.0
    raise LinAlgError(f"GP: kernel matrix of {n} points is not positive definite")


def neg_log_posterior(
    theta: np.ndarray, x: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """Negative log marginal likelihood plus negative log prior of the log parameters
    `theta` = log([lengthscales..., variance, noise]) (one lengthscale per group of input
    columns, `groups` as in fit_hyperparameters), and its gradient."""
    return _neg_log_posterior(theta, sq_dists_by_group(x, groups), y)


def sq_dists_by_group(x: np.ndarray, groups: np.ndarray | None = None) -> np.ndarray:
    """(g, n, n): the squared distances between the rows of x over each group of columns
    (one group per column by default), so that the scaled squared distance for
    lengthscales l is sum_g D_g / l_g^2: computed once per fit, not once per evaluation."""
    x = np.asarray(x, dtype=float)
    if groups is None:
        groups = np.arange(x.shape[1])
    g = int(groups.max()) + 1 if len(groups) else 0
    out = np.empty((g, len(x), len(x)))
    for j in range(g):
        cols = x[:, groups == j]
        diff = cols[:, None, :] - cols[None, :, :]
        np.einsum("ijk,ijk->ij", diff, diff, out=out[j])
    return out


def _neg_log_posterior(
    theta: np.ndarray, dists: np.ndarray, y: np.ndarray
) -> tuple[float, np.ndarray]:
    """neg_log_posterior on the squared distances by group (`sq_dists_by_group`)."""
    g, n = len(dists), len(y)
    inv_l2, var, noise = np.exp(-2.0 * theta[:g]), np.exp(theta[g]), np.exp(theta[g + 1])
    sq = np.tensordot(inv_l2, dists, 1)
    r = np.sqrt(sq)
    r *= _SQRT5
    e = np.exp(-r)
    e *= var  # var * exp(-sqrt5 r)
    kf = 1.0 + r
    kf += (5.0 / 3.0) * sq
    kf *= e
    kf.flat[:: n + 1] += noise + JITTER
    try:
        chol = cholesky(kf, lower=True, check_finite=False, overwrite_a=False)
    except LinAlgError:
        return 1e10, np.zeros_like(theta)
    kf.flat[:: n + 1] -= noise + JITTER
    alpha = cho_solve((chol, True), y, check_finite=False)
    nll = 0.5 * y @ alpha + np.log(np.diag(chol)).sum() + 0.5 * n * np.log(2.0 * np.pi)
    inv, _ = dpotri(chol, lower=1)  # K^-1 in the lower triangle; the upper one stays 0
    diag = inv.diagonal().copy()
    inv += inv.T
    inv.flat[:: n + 1] = diag
    w = inv - np.outer(alpha, alpha)  # dNLL = tr(W dK) / 2
    m = 1.0 + r
    m *= e
    m *= w  # dK/dlog l_g = var 5/3 (1 + sqrt5 r) exp(-sqrt5 r) * D_g / l_g^2
    g_ls = (5.0 / 6.0) * inv_l2 * (dists.reshape(g, -1) @ m.ravel())
    grad = np.concatenate([g_ls, [0.5 * (w * kf).sum(), 0.5 * np.trace(w) * noise]])
    mu = np.concatenate([np.full(g, _PRIOR_LS[0]), [_PRIOR_VAR[0], _PRIOR_NOISE[0]]])
    sd = np.concatenate([np.full(g, _PRIOR_LS[1]), [_PRIOR_VAR[1], _PRIOR_NOISE[1]]])
    z = (theta - mu) / sd
    return float(nll + 0.5 * (z * z).sum()), grad + z / sd


def fit_hyperparameters(
    x: np.ndarray,
    y: np.ndarray,
    rng: np.random.Generator,
    *,
    n_restarts: int = 2,
    init: Hyperparameters | None = None,
    max_iter: int = 100,
    groups: np.ndarray | None = None,
) -> Hyperparameters:
    """Hyperparameters maximising the log marginal likelihood (+ weak priors).

    L-BFGS-B on the log parameters from `init` (or the prior mean) and `n_restarts`
    starts drawn from the priors; the best optimum wins. `groups` (one integer per
    input column, 0..g-1) ties lengthscales: the columns of a group share one (e.g. the
    one-hot columns of a categorical hyperparameter); default: one per column.
    """
    from scipy.optimize import minimize  # slow to import; only needed here

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if groups is None:
        groups = np.arange(x.shape[1])
    groups = np.asarray(groups, dtype=np.int64)
    d = int(groups.max()) + 1 if len(groups) else 0
    bounds = [_LOG_LS] * d + [_LOG_VAR, _LOG_NOISE]
    lo, hi = np.array(bounds).T
    first = (init or Hyperparameters.default(x.shape[1])).to_log()
    starts = [np.concatenate([_group_mean(first[:-2], groups, d), first[-2:]])]
    for _ in range(n_restarts):
        z = rng.standard_normal(d + 2)
        mu = np.concatenate([np.full(d, _PRIOR_LS[0]), [_PRIOR_VAR[0], _PRIOR_NOISE[0]]])
        sd = np.concatenate([np.full(d, _PRIOR_LS[1]), [_PRIOR_VAR[1], _PRIOR_NOISE[1]]])
        starts.append(mu + 0.5 * sd * z)
    best_theta, best_value = starts[0], np.inf
    dists = sq_dists_by_group(x, groups)
    with single_threaded():
        for theta0 in starts:
            res = minimize(
                _neg_log_posterior,
                np.clip(theta0, lo, hi),
                args=(dists, y),
                jac=True,
                method="L-BFGS-B",
                bounds=bounds,
                options={"maxiter": max_iter},
            )
            if np.isfinite(res.fun) and res.fun < best_value:
                best_theta, best_value = res.x, res.fun
    theta = np.clip(best_theta, lo, hi)
    return Hyperparameters.from_log(np.concatenate([theta[:d][groups], theta[d:]]))


def _group_mean(values: np.ndarray, groups: np.ndarray, g: int) -> np.ndarray:
    return np.bincount(groups, weights=values, minlength=g) / np.bincount(groups, minlength=g)
