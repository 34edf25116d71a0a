"""The GP model: closed-form posterior, marginal-likelihood fit, Cholesky updates."""

import numpy as np
import pytest
from scipy.optimize import approx_fprime

from simtune.core.schedulers.gp import (
    GP,
    Hyperparameters,
    fit_hyperparameters,
    matern52,
    neg_log_posterior,
    sq_dists_by_group,
)


def test_matern52_matches_its_formula():
    # r = 0.5 / 1 (lengthscale 1): k = (1 + sqrt5 r + 5/3 r^2) exp(-sqrt5 r)
    hp = Hyperparameters(lengthscales=np.array([1.0]), variance=2.0, noise=1e-6)
    k = matern52(np.array([[0.0]]), np.array([[0.5], [0.0]]), hp)
    r = 0.5
    expected = 2.0 * (1 + np.sqrt(5) * r + 5 / 3 * r**2) * np.exp(-np.sqrt(5) * r)
    assert k[0, 0] == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(2 * 0.82864, rel=1e-4)  # by hand: 2.5347 * e^-1.1180
    assert k[0, 1] == pytest.approx(2.0)


def test_posterior_of_one_observation_is_the_textbook_formula():
    hp = Hyperparameters(lengthscales=np.array([0.3]), variance=1.5, noise=0.1)
    x, y = np.array([[0.2]]), np.array([1.0])
    gp = GP(x, y, hp)
    xs = np.array([[0.2], [0.5], [3.0]])
    mean, var = gp.predict(xs)
    k = matern52(xs, x, hp)[:, 0]
    denom = 1.5 + 0.1 + 1e-8
    np.testing.assert_allclose(mean, k * 1.0 / denom, rtol=1e-10)
    np.testing.assert_allclose(var, 1.5 - k**2 / denom, rtol=1e-10)
    # far from the data the prior comes back: mean 0, variance 1.5
    assert abs(mean[2]) < 1e-6 and var[2] == pytest.approx(1.5, rel=1e-6)


def test_posterior_interpolates_a_sine_with_small_noise():
    x = np.linspace(0, 1, 12)[:, None]
    y = np.sin(6 * x[:, 0])
    gp = GP(x, y, Hyperparameters(lengthscales=np.array([0.3]), variance=1.0, noise=1e-6))
    mean, var = gp.predict(x)
    np.testing.assert_allclose(mean, y, atol=1e-4)
    assert var.max() < 1e-4
    mid = (x[:-1] + x[1:]) / 2  # between the points: close to the function, less sure
    m_mid, v_mid = gp.predict(mid)
    np.testing.assert_allclose(m_mid, np.sin(6 * mid[:, 0]), atol=0.02)
    assert v_mid.min() > var.max()


def test_gradient_of_the_objective_matches_finite_differences():
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(25, 3))
    y = np.sin(5 * x[:, 0]) + x[:, 1]
    y = (y - y.mean()) / y.std()
    theta = np.log([0.3, 0.7, 2.0, 1.2, 1e-2])
    value, grad = neg_log_posterior(theta, x, y)
    numeric = approx_fprime(theta, lambda t: neg_log_posterior(t, x, y)[0], 1e-6)
    np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("true_ls", [0.05, 0.5])
def test_marginal_likelihood_recovers_the_lengthscale_order_of_magnitude(true_ls):
    rng = np.random.default_rng(1)
    x = np.sort(rng.uniform(size=80))[:, None]
    hp = Hyperparameters(lengthscales=np.array([true_ls]), variance=1.0, noise=1e-4)
    k = matern52(x, x, hp) + 1e-4 * np.eye(len(x))
    f = np.linalg.cholesky(k) @ rng.standard_normal(len(x))
    fitted = fit_hyperparameters(x, (f - f.mean()) / f.std(), rng).lengthscales[0]
    assert true_ls / 3 < fitted < true_ls * 3, fitted


def test_irrelevant_input_gets_a_long_lengthscale():
    rng = np.random.default_rng(2)
    x = rng.uniform(size=(60, 2))
    y = np.sin(8 * x[:, 0])  # the second input plays no role
    hp = fit_hyperparameters(x, (y - y.mean()) / y.std(), rng)
    assert hp.lengthscales[1] > 5 * hp.lengthscales[0]


def test_cholesky_update_equals_refit():
    rng = np.random.default_rng(3)
    x = rng.uniform(size=(40, 4))
    y = rng.standard_normal(40)
    hp = Hyperparameters(lengthscales=np.array([0.3, 0.5, 1.0, 2.0]), variance=1.3, noise=1e-3)
    grown = GP(x[:20], y[:20], hp).extend(x[20:23], y[20:23]).extend(x[23:], y[23:])
    full = GP(x, y, hp)
    np.testing.assert_allclose(grown.chol, full.chol, atol=1e-9)
    np.testing.assert_allclose(grown.alpha, full.alpha, rtol=1e-6, atol=1e-8)
    xs = rng.uniform(size=(30, 4))
    for a, b in zip(grown.predict(xs), full.predict(xs), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-9)


def test_new_targets_reuse_the_factor():
    rng = np.random.default_rng(4)
    x, y, y2 = rng.uniform(size=(15, 2)), rng.standard_normal(15), rng.standard_normal(15)
    hp = Hyperparameters.default(2)
    a = GP(x, y, hp).with_targets(y2)
    b = GP(x, y2, hp)
    xs = rng.uniform(size=(5, 2))
    np.testing.assert_allclose(a.predict(xs)[0], b.predict(xs)[0], rtol=1e-10)


def test_tied_lengthscales_are_one_per_group_with_the_right_gradient():
    """groups=[0, 0, 0, 1]: the three one-hot columns of a categorical share a lengthscale;
    the tied objective equals the untied one at equal lengthscales (minus the priors of
    the extra copies) and its gradient matches finite differences."""
    rng = np.random.default_rng(0)
    x = np.hstack([np.eye(3)[rng.integers(0, 3, 30)], rng.uniform(size=(30, 1))])
    y = np.where(x[:, 0] == 1, 1.0, 0.0) + np.sin(4 * x[:, 3])
    y = (y - y.mean()) / y.std()
    groups = np.array([0, 0, 0, 1])
    theta = np.log([0.8, 0.3, 1.1, 1e-2])
    value, grad = neg_log_posterior(theta, x, y, groups)
    numeric = approx_fprime(theta, lambda t: neg_log_posterior(t, x, y, groups)[0], 1e-6)
    np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-4)
    full = np.log([0.8, 0.8, 0.8, 0.3, 1.1, 1e-2])
    untied, _ = neg_log_posterior(full, x, y)
    z = (np.log(0.8) - np.log(0.5)) / 1.5  # the prior of each of the two extra copies
    assert value == pytest.approx(untied - z * z)
    hp = fit_hyperparameters(x, y, np.random.default_rng(1), groups=groups)
    assert hp.lengthscales[0] == hp.lengthscales[1] == hp.lengthscales[2]
    assert len(hp.lengthscales) == 4


def test_objective_is_the_textbook_marginal_likelihood_plus_priors():
    """The objective on distances precomputed by group equals -log N(y; 0, K + noise I)
    computed from the kernel matrix directly, plus the log-normal priors."""
    rng = np.random.default_rng(5)
    x = np.hstack([np.eye(4)[rng.integers(0, 4, 50)], rng.uniform(size=(50, 2))])
    y = rng.standard_normal(50)
    groups = np.array([0, 0, 0, 0, 1, 2])
    theta = np.log([0.7, 0.2, 1.5, 1.3, 2e-3])
    hp = Hyperparameters(lengthscales=np.exp(theta[:3])[groups], variance=1.3, noise=2e-3)
    k = matern52(x, x, hp) + (2e-3 + 1e-8) * np.eye(50)
    _, logdet = np.linalg.slogdet(k)
    nll = 0.5 * y @ np.linalg.solve(k, y) + 0.5 * logdet + 25 * np.log(2 * np.pi)
    mu = np.array([np.log(0.5)] * 3 + [0.0, np.log(1e-3)])
    sd = np.array([1.5] * 3 + [1.5, 3.0])
    expected = nll + 0.5 * (((theta - mu) / sd) ** 2).sum()
    assert neg_log_posterior(theta, x, y, groups)[0] == pytest.approx(expected, rel=1e-10)
    dists = sq_dists_by_group(x, groups)
    assert dists.shape == (3, 50, 50) and dists.min() >= 0.0
    np.testing.assert_allclose(dists[0] / 2, x[:, :4] @ x[:, :4].T != 1, atol=0)  # one-hot


def test_warm_started_fit_is_as_good_as_a_cold_one():
    """Refitting after one more observation from the last fit's hyperparameters, with no
    restarts and at most 30 iterations (what the GP searcher does between doublings of
    its data), reaches an objective no worse than a cold fit with restarts."""
    rng = np.random.default_rng(6)
    x = rng.uniform(size=(61, 3))
    y = np.sin(6 * x[:, 0]) + 0.5 * x[:, 1] ** 2 + 0.05 * rng.standard_normal(61)
    y = (y - y.mean()) / y.std()
    before = fit_hyperparameters(x[:60], y[:60], np.random.default_rng(0))
    warm = fit_hyperparameters(x, y, np.random.default_rng(0), init=before, n_restarts=0,
                               max_iter=30)
    cold = fit_hyperparameters(x, y, np.random.default_rng(0), n_restarts=2)
    objective = [neg_log_posterior(hp.to_log(), x, y)[0] for hp in (before, warm, cold)]
    assert objective[1] <= objective[0]
    assert objective[1] <= objective[2] + 1e-3, objective


def test_fitted_mean_and_mean_are_the_predictive_mean():
    rng = np.random.default_rng(7)
    x, y = rng.uniform(size=(20, 2)), rng.standard_normal(20)
    gp = GP(x, y, Hyperparameters.default(2))
    assert np.array_equal(gp.fitted_mean(), gp.predict(x)[0])
    assert np.array_equal(gp.with_targets(-y).fitted_mean(), gp.with_targets(-y).mean(x))
    xs = rng.uniform(size=(7, 2))
    assert np.array_equal(gp.mean(xs), gp.predict(xs)[0])
