"""Reference of the pressure-gradient location (`kernels.location`) in plain NumPy: the test oracle of its
calibration (`calibrate`), its intersection and uncertainty (`gradient_position`) and the fusion with a
pressure-wave location (`fuse`) (`tests/unit/leakdetect/domain/test_location.py`).

Written the obvious way, independently of the kernel's closed forms: the friction model is fitted by least squares
on the blocks themselves with the priors as extra rows; the flow profile's mean square is integrated numerically
over the length for each inflow sample; the intersection is found by bisection; the uncertainty by finite
differences of the solved position.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]


def calibrate(phi: F64, d: F64, var_d: F64, var_phi: F64, k0: float, k0_sd: float, c0_sd: float
              ) -> tuple[float, float, F64, float]:
    """Posterior mean (c0, k), covariance [[var c0, cov], [cov, var k]] and the blocks' noise variance of
    d = c0 + k phi: weighted least squares on the blocks and the priors c0 ~ N(0, c0_sd^2), k ~ N(k0, k0_sd^2),
    the blocks' variance being their residual scatter (at least the propagated mean), the spread of phi
    corrected for phi's own noise (errors in variables)."""
    n = len(phi)
    x = np.column_stack([np.ones(n), phi])
    xtx = x.T @ x
    spread = float(np.sum((phi - phi.mean()) ** 2))
    # the noise of phi is no spread of throughputs: its variance leaves the phi-phi entry (not below the mean's)
    xtx[1, 1] = float(np.sum(phi) ** 2 / n) + max(spread - float(np.sum(var_phi)), 0.0)
    xtd = x.T @ d
    prior_prec = np.diag([1.0 / c0_sd**2, 1.0 / k0_sd**2])
    prior_mean = np.array([0.0, k0])
    s2 = float(np.mean(var_d))
    theta: F64 = prior_mean
    cov: F64 = np.linalg.inv(prior_prec)
    for _ in range(3):
        prec = prior_prec + xtx / s2
        cov = np.asarray(np.linalg.inv(prec), dtype=np.float64)
        theta = cov @ (prior_prec @ prior_mean + xtd / s2)
        resid = d - x @ theta
        # the residuals' sum of squares with the corrected phi-phi entry (as the sums give it)
        rss = float(resid @ resid) + theta[1] ** 2 * (xtx[1, 1] - float(phi @ phi))
        s2 = max(rss / n, float(np.mean(var_d)))
    return float(theta[0]), float(theta[1]), cov, s2


def mean_square_flow(x: float, q_in: F64, lam: float, pack: float, pack_exp: float, grid: int = 401) -> float:
    """The time mean of int_0^1 q(xi)^2 dxi with q = q_in(t) - pack xi^pack_exp - lam [xi > x] (the packing rate
    spread along the line with density xi^(pack_exp - 1); trapezoids on each side of the leak)."""
    total = np.zeros(len(q_in))
    for lo, hi, step in ((0.0, x, 0.0), (x, 1.0, lam)):
        xi = np.linspace(lo, hi, grid)
        q2 = (q_in[:, None] - pack * xi[None, :] ** pack_exp - step) ** 2
        total += np.sum(0.5 * (q2[:, 1:] + q2[:, :-1]) * np.diff(xi)[None, :], axis=1)
    return float(np.mean(total))


def gradient_position(d_mean: float, var_d: float, c0: float, k: float, cov: F64, q_in: F64, lam: float,
                      var_lam: float, pack: float, var_pack: float, pack_exp: float, shape_sd: float
                      ) -> tuple[float, float]:
    """The leak's position as a fraction of the length where c0 + k phi(x) = d_mean (bisection on the line: for
    solutions inside it), and its 1 s.d. by finite differences: of d (var_d plus the model's predictive variance
    at the solution, plus the packing shape's k shape_sd |pack| mean(q_in) in phi), of the leak rate and of the
    packing rate. (nan, inf) without a leak (lam <= 0)."""
    if lam <= 0.0 or k <= 0.0:
        return math.nan, math.inf

    def solve(d_val: float, lam_val: float, pack_val: float) -> float:
        target = (d_val - c0) / k
        lo, hi = 0.0, 1.0
        f_lo = mean_square_flow(lo, q_in, lam_val, pack_val, pack_exp) - target
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            f_mid = mean_square_flow(mid, q_in, lam_val, pack_val, pack_exp) - target
            if (f_mid > 0) == (f_lo > 0):
                lo, f_lo = mid, f_mid
            else:
                hi = mid
        return 0.5 * (lo + hi)

    x = solve(d_mean, lam, pack)
    phi = mean_square_flow(x, q_in, lam, pack, pack_exp)
    var_pred = float(np.array([1.0, phi]) @ cov @ np.array([1.0, phi]))
    h_d = 1e-3 * max(abs(d_mean), 1.0)
    dx_dd = (solve(d_mean + h_d, lam, pack) - solve(d_mean - h_d, lam, pack)) / (2 * h_d)
    h_l = 1e-4 * max(lam, 1e-3)
    dx_dl = (solve(d_mean, lam + h_l, pack) - solve(d_mean, lam - h_l, pack)) / (2 * h_l)
    h_p = 1e-4 * max(abs(pack), 1e-2)
    dx_dp = (solve(d_mean, lam, pack + h_p) - solve(d_mean, lam, pack - h_p)) / (2 * h_p)
    var_shape = (k * shape_sd * abs(pack) * float(np.mean(q_in))) ** 2
    var_x = dx_dd**2 * (var_d + var_pred + var_shape) + dx_dl**2 * var_lam + dx_dp**2 * var_pack
    return x, math.sqrt(var_x)


def fuse(x_a: float, sd_a: float, x_b: float, sd_b: float) -> tuple[float, float]:
    """Inverse-variance weighted mean of two independent estimates and its s.d."""
    w_a, w_b = 1.0 / sd_a**2, 1.0 / sd_b**2
    return (w_a * x_a + w_b * x_b) / (w_a + w_b), (w_a + w_b) ** -0.5
