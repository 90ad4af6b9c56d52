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


def prefix_mean_square(y: float, q_in: F64, lam: float, pack: float, pack_exp: float, x_leak: float,
                       grid: int = 801) -> float:
    """The time mean of int_0^y q(xi)^2 dxi with q = q_in(t) - pack xi^pack_exp - lam [xi > x_leak] (trapezoids on
    each side of the leak)."""
    cut = min(max(x_leak, 0.0), y)
    total = np.zeros(len(q_in))
    for lo, hi, step in ((0.0, cut, 0.0), (cut, y, lam)):
        xi = np.linspace(lo, hi, grid)
        q = q_in[:, None] - pack * xi[None, :] ** pack_exp - step
        q2 = q * q
        total += np.sum(0.5 * (q2[:, 1:] + q2[:, :-1]) * np.diff(xi)[None, :], axis=1)
    return float(np.mean(total))


def midline_position(xs: F64, eps: F64, var_eps: F64, dc: F64, k: float, var_k: float, q_in: F64, lam: float,
                     var_lam: float, pack: float, var_pack: float, pack_exp: float, shape_sd: float,
                     model_sd: float, scale_sd: float = 0.1) -> tuple[float, float, int]:
    """The mid-line location the obvious way: the leak's effect on p_u^2 - p_j^2 at each point is
    k (int_0^x_j q_leak^2 - int_0^x_j q_free^2), integrated numerically; each sub-segment (between consecutive
    points, the inlet first) is solved by bisection for the change of its own drop, clamped to it; the candidate
    with the least chi^2 over all points (diagonal: the point's variance, the leak rate's lever and the model's
    error) is taken; its s.d. by finite differences of the sub-segment's solution in the points' changes, k, the
    leak rate and the packing rate, plus the packing shape's and the model's error over the sub-segment.
    Before a candidate is solved, the sub-segments without the leak fit the scale of the model's leak-free change
    h_j = dc_j - eps_j (least squares with the prior delta ~ N(0, scale_sd^2)); every point's eps is corrected by
    delta h_j, delta's prior enters the chi^2 and its variance the s.d."""
    if lam <= 0.0 or k <= 0.0:
        return math.nan, math.inf, -1
    n = len(xs)
    q_mean = float(np.mean(q_in))

    def effect(j: int, x: float, lam_v: float, pack_v: float) -> float:
        y = float(xs[j])
        return (prefix_mean_square(y, q_in, lam_v, pack_v, pack_exp, x)
                - prefix_mean_square(y, q_in, 0.0, pack_v, pack_exp, 2.0))

    def solve(i: int, target: float, lam_v: float, pack_v: float) -> float:
        lo, hi = (float(xs[i - 1]) if i > 0 else 0.0), float(xs[i])

        def f(x: float) -> float:  # the sub-segment's own change; decreasing in x where the flow is forward
            own = effect(i, x, lam_v, pack_v) - (effect(i - 1, x, lam_v, pack_v) if i > 0 else 0.0)
            return own - target

        f_lo, f_hi = f(lo), f(hi)
        if (f_lo > 0) == (f_hi > 0):
            return lo if abs(f_lo) < abs(f_hi) else hi
        a, b = lo, hi
        for _ in range(50):
            m = 0.5 * (a + b)
            if (f(m) > 0) == (f_lo > 0):
                a = m
            else:
                b = m
        return 0.5 * (a + b)

    h_pred = np.asarray(dc, dtype=float) - np.asarray(eps, dtype=float)  # the model's leak-free change

    def own(j: int, x: float, lam_v: float) -> float:  # a sub-segment's own change for a leak at x
        return effect(j, x, lam_v, pack) - (effect(j - 1, x, lam_v, pack) if j > 0 else 0.0)

    def scale(i: int) -> tuple[float, float]:
        """(delta, var delta): the other sub-segments, free of the leak, fit the predicted change's scale."""
        h_l = 1e-4 * max(lam, 1e-3)
        x_i = float(xs[i])
        num, den = 0.0, 1.0 / scale_sd**2
        for sub in range(n):
            if sub == i:
                continue
            h = float(h_pred[sub]) - (float(h_pred[sub - 1]) if sub > 0 else 0.0)
            change = float(eps[sub]) - (float(eps[sub - 1]) if sub > 0 else 0.0)
            lever = k * (own(sub, x_i, lam + h_l) - own(sub, x_i, lam - h_l)) / (2 * h_l)
            v = float(var_eps[sub]) + (float(var_eps[sub - 1]) if sub > 0 else 0.0) + lever**2 * var_lam
            r = change - k * own(sub, x_i, lam)
            num -= r * h / v
            den += h * h / v
        return num / den, 1.0 / den

    best: tuple[float, float, float, int] = (math.inf, math.nan, math.inf, -1)
    for i in range(n):
        delta, var_delta = scale(i)
        eps_c = np.asarray(eps, dtype=float) + delta * h_pred
        e_prev = float(eps_c[i - 1]) if i > 0 else 0.0
        target = (float(eps_c[i]) - e_prev) / k
        x = solve(i, target, lam, pack)
        chi = delta**2 / scale_sd**2
        h_l = 1e-4 * max(lam, 1e-3)
        for j in range(n):
            r = float(eps_c[j]) - k * effect(j, x, lam, pack)
            lever = k * (effect(j, x, lam + h_l, pack) - effect(j, x, lam - h_l, pack)) / (2 * h_l)
            h_x = 1e-4
            slope = k * abs(effect(j, min(x + h_x, 1.0), lam, pack) - effect(j, max(x - h_x, 0.0), lam, pack)) / (
                min(x + h_x, 1.0) - max(x - h_x, 0.0))
            v = float(var_eps[j]) + lever**2 * var_lam + (model_sd * slope) ** 2
            chi += r * r / v if v > 0 else 0.0
        if chi < best[0]:
            lo, hi = (float(xs[i - 1]) if i > 0 else 0.0), float(xs[i])
            # finite differences of the unclamped solution on the sub-segment (interior solutions)
            h_t = 1e-4 * max(abs(target), 1e-3)
            dx_dt = (solve(i, target + h_t, lam, pack) - solve(i, target - h_t, lam, pack)) / (2 * h_t)
            dx_dl = (solve(i, target, lam + h_l, pack) - solve(i, target, lam - h_l, pack)) / (2 * h_l)
            h_p = 1e-4 * max(abs(pack), 1e-2)
            # the packing moves both the leak-free prediction (in eps) and the leak's effect
            d_eps_dp = [-k * ((prefix_mean_square(float(xs[j]), q_in, 0.0, pack + h_p, pack_exp, 2.0)
                               - prefix_mean_square(float(xs[j]), q_in, 0.0, pack - h_p, pack_exp, 2.0)) / (2 * h_p))
                        for j in (i - 1, i) if j >= 0]
            dt_dp = (d_eps_dp[-1] - (d_eps_dp[0] if i > 0 else 0.0)) / k
            dx_dp = (solve(i, target, lam, pack + h_p) - solve(i, target, lam, pack - h_p)) / (2 * h_p) + dx_dt * dt_dp
            ddc = float(dc[i]) - (float(dc[i - 1]) if i > 0 else 0.0)
            dh = float(h_pred[i]) - (float(h_pred[i - 1]) if i > 0 else 0.0)
            var_t = ((float(var_eps[i]) + (float(var_eps[i - 1]) if i > 0 else 0.0)) / k**2
                     + (ddc / k**2) ** 2 * var_k + (dh / k) ** 2 * var_delta
                     + (shape_sd * abs(pack) * q_mean * (hi - lo)) ** 2)
            var_x = dx_dt**2 * var_t + dx_dl**2 * var_lam + dx_dp**2 * var_pack + (model_sd * (hi - lo)) ** 2
            best = (chi, x, math.sqrt(var_x), i)
    return best[1], best[2], best[3]
