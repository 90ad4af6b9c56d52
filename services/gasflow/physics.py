"""Natural-gas properties for pipeline hydraulics: Z factor, density, wave speed, line pack.

Compressibility factor
----------------------
Z is computed with the Dranchuk & Abou-Kassem (1975) eleven-constant fit of the Standing & Katz (1942)
chart, with pseudo-critical properties of the gas from its specific gravity by Sutton (1985)
(natural gas, gamma 0.57-1.68) or Standing (1981)::

    Sutton:   Tpc[°R] = 169.2 + 349.5 γ - 74.0 γ²      Ppc[psia] = 756.8 - 131.07 γ - 3.6 γ²
    Standing: Tpc[°R] = 168 + 325 γ - 12.5 γ²          Ppc[psia] = 677 + 15 γ - 37.5 γ²

and the Wichert & Aziz (1972) correction when CO2 is present. DAK reproduces the 1500 Standing-Katz
chart points with 0.49 % average absolute error for 1.0 <= Tpr <= 3.0 and 0.2 <= Ppr <= 30; below
Ppr 0.2 it tends smoothly to the ideal gas (Z -> 1) and is used there too (city distribution
pressures). Why DAK: it is the industry default fit of the chart, needs only the specific gravity
that the network model carries, and is accurate to well under 1 % at the temperatures (Tpr 1.3-1.6)
and pressures (Ppr < 2) of gas transmission and distribution. AGA8/GERG would be more accurate for a
known composition but are large and need a full analysis we do not have. Outside Tpr in [1.0, 3.0]
or Ppr in (0, 30] the functions raise ValueError. ``GasSpec(equation_of_state="ideal")`` sets Z = 1
everywhere (no validity range): published test cases are stated for an ideal gas.

Wave speed
----------
The isothermal sound speed is c² = (∂p/∂ρ)_T = Z R T / M / (1 - (p/Z) ∂Z/∂p): for natural gas at
pipeline pressures ∂Z/∂p < 0, so c is a little below sqrt(Z R T / M). ~340-420 m/s for natural gas.

Standard conditions
-------------------
Normal m³ (Nm³) refer to 0 °C and 101.325 kPa, standard m³ (Sm³) to 15 °C and 101.325 kPa
(ISO 13443). :func:`standard_density` gives the gas density there (Z from DAK, ~0.998).

References: Dranchuk P.M., Abou-Kassem J.H., "Calculation of Z factors for natural gases using
equations of state", J. Can. Pet. Tech. 14(3), 1975; Standing M.B., Katz D.L., "Density of natural
gases", Trans. AIME 146, 1942; Sutton R.P., SPE 14265, 1985; Wichert E., Aziz K., Hydrocarbon
Processing 51(5), 1972.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from services.network.constants import (
    MOLAR_MASS_AIR_KG_PER_MOL,
    NORMAL_TEMPERATURE_K,
    R_UNIVERSAL_J_PER_MOL_K,
    STANDARD_ATMOSPHERE_PA,
)

GRAVITY_M_PER_S2 = 9.80665

_PSIA_TO_PA = 6894.757293168
_RANKINE_TO_K = 5.0 / 9.0

# Dranchuk & Abou-Kassem (1975) constants A1..A11.
_A = (0.3265, -1.0700, -0.5339, 0.01569, -0.05165, 0.5475, -0.7361, 0.1844, 0.1056, 0.6134, 0.7210)

TPR_RANGE = (1.0, 3.0)
PPR_MAX = 30.0

FloatArray = NDArray[np.float64]
EQUATIONS_OF_STATE = ("dak", "ideal")


@dataclass(frozen=True, slots=True)
class GasSpec:
    """The gas in a pipe. Defaults: a lean natural gas (γ 0.6) at a buried pipe's ground temperature."""

    specific_gravity: float = 0.6  # relative to air, both at standard conditions
    co2_mole_fraction: float = 0.0
    h2s_mole_fraction: float = 0.0
    viscosity_pa_s: float = 1.1e-5  # dynamic viscosity; natural gas at 0-20 °C, low pressure
    heat_capacity_ratio: float = 1.30  # cp/cv for the orifice (leak) flow
    pseudo_critical: str = "sutton"  # or "standing"
    # "dak": real gas, Z from Dranchuk-Abou-Kassem; "ideal": Z = 1 at every pressure (published test cases,
    # or a low-pressure network where Z stays within a fraction of a percent of 1).
    equation_of_state: str = "dak"

    def __post_init__(self) -> None:
        if not (np.isfinite(self.specific_gravity) and 0.55 <= self.specific_gravity <= 1.7):
            raise ValueError(f"specific_gravity must be in [0.55, 1.7] (natural gas), got {self.specific_gravity}")
        for name in ("co2_mole_fraction", "h2s_mole_fraction"):
            v = getattr(self, name)
            if not (np.isfinite(v) and 0.0 <= v < 0.5):
                raise ValueError(f"{name} must be in [0, 0.5), got {v}")
        if not (np.isfinite(self.viscosity_pa_s) and 1e-6 < self.viscosity_pa_s < 1e-4):
            raise ValueError(f"viscosity_pa_s out of range: {self.viscosity_pa_s}")
        if not (np.isfinite(self.heat_capacity_ratio) and 1.0 < self.heat_capacity_ratio < 1.7):
            raise ValueError(f"heat_capacity_ratio out of range: {self.heat_capacity_ratio}")
        if self.pseudo_critical not in ("sutton", "standing"):
            raise ValueError(f"pseudo_critical must be 'sutton' or 'standing', got {self.pseudo_critical!r}")
        if self.equation_of_state not in EQUATIONS_OF_STATE:
            raise ValueError(
                f"equation_of_state must be one of {', '.join(EQUATIONS_OF_STATE)}, got {self.equation_of_state!r}"
            )

    @property
    def molar_mass_kg_per_mol(self) -> float:
        return self.specific_gravity * MOLAR_MASS_AIR_KG_PER_MOL

    @property
    def specific_gas_constant(self) -> float:
        """R/M in J/(kg K)."""
        return R_UNIVERSAL_J_PER_MOL_K / self.molar_mass_kg_per_mol


def pseudo_critical(gas: GasSpec) -> tuple[float, float]:
    """(Tpc in K, Ppc in Pa) of the gas, with the Wichert-Aziz sour/CO2 correction."""
    g = gas.specific_gravity
    if gas.pseudo_critical == "sutton":
        tpc_r = 169.2 + 349.5 * g - 74.0 * g * g
        ppc_psia = 756.8 - 131.07 * g - 3.6 * g * g
    else:
        tpc_r = 168.0 + 325.0 * g - 12.5 * g * g
        ppc_psia = 677.0 + 15.0 * g - 37.5 * g * g
    a = gas.co2_mole_fraction + gas.h2s_mole_fraction
    b = gas.h2s_mole_fraction
    if a > 0.0:
        eps = 120.0 * (a**0.9 - a**1.6) + 15.0 * (b**0.5 - b**4.0)
        tpc_new = tpc_r - eps
        ppc_psia = ppc_psia * tpc_new / (tpc_r + b * (1.0 - b) * eps)
        tpc_r = tpc_new
    return tpc_r * _RANKINE_TO_K, ppc_psia * _PSIA_TO_PA


def _dak_z_rho(rho_r: FloatArray, tpr: FloatArray) -> tuple[FloatArray, FloatArray]:
    """DAK Z and dZ/dρr at reduced density ρr."""
    a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11 = _A
    t = tpr
    c1 = a1 + a2 / t + a3 / t**3 + a4 / t**4 + a5 / t**5
    c2 = a6 + a7 / t + a8 / t**2
    c3 = a9 * (a7 / t + a8 / t**2)
    c4 = a10 / t**3
    r2 = rho_r * rho_r
    e = np.exp(-a11 * r2)
    z = 1.0 + c1 * rho_r + c2 * r2 - c3 * r2 * r2 * rho_r + c4 * (1.0 + a11 * r2) * r2 * e
    dz = (
        c1
        + 2.0 * c2 * rho_r
        - 5.0 * c3 * r2 * r2
        + c4 * (2.0 * rho_r + 2.0 * a11 * r2 * rho_r - 2.0 * a11 * a11 * r2 * r2 * rho_r) * e
    )
    return z, dz


def z_factor_reduced(ppr: ArrayLike, tpr: ArrayLike) -> FloatArray:
    """DAK Z factor at pseudo-reduced pressure and temperature (Newton on the reduced density)."""
    p = np.asarray(ppr, dtype=np.float64)
    t = np.asarray(tpr, dtype=np.float64)
    p, t = np.broadcast_arrays(p, t)
    if not (np.all(np.isfinite(p)) and np.all(np.isfinite(t))):
        raise ValueError("pseudo-reduced pressure and temperature must be finite")
    if np.any(p <= 0.0) or np.any(p > PPR_MAX):
        raise ValueError(f"pseudo-reduced pressure outside (0, {PPR_MAX}] (DAK validity)")
    if np.any(t < TPR_RANGE[0] - 1e-9) or np.any(t > TPR_RANGE[1] + 1e-9):
        raise ValueError(f"pseudo-reduced temperature outside {TPR_RANGE} (DAK validity)")
    rho = 0.27 * p / t  # ideal-gas start
    for _ in range(50):
        z, dz = _dak_z_rho(rho, t)
        f = z * rho * t - 0.27 * p
        df = t * (z + rho * dz)
        step = f / df
        rho = np.maximum(rho - step, 1e-12)
        if np.all(np.abs(step) <= 1e-13 * np.maximum(rho, 1e-6)):
            break
    z, _ = _dak_z_rho(rho, t)
    return np.asarray(z, dtype=np.float64)


def _check_pt(pressure_pa: ArrayLike, temperature_k: ArrayLike) -> tuple[FloatArray, FloatArray]:
    p = np.asarray(pressure_pa, dtype=np.float64)
    t = np.asarray(temperature_k, dtype=np.float64)
    if not np.all(np.isfinite(p)) or np.any(p <= 0.0):
        raise ValueError("pressure_pa must be finite and > 0 (absolute)")
    if not np.all(np.isfinite(t)) or np.any(t <= 0.0):
        raise ValueError("temperature_k must be finite and > 0")
    return p, t


def z_factor(pressure_pa: ArrayLike, temperature_k: ArrayLike, gas: GasSpec | None = None) -> FloatArray:
    """Compressibility factor Z(p, T) of the gas (DAK with Sutton/Standing pseudo-criticals; 1 for an ideal gas)."""
    gas = gas or GasSpec()
    p, t = _check_pt(pressure_pa, temperature_k)
    if gas.equation_of_state == "ideal":
        return np.ones(np.broadcast(p, t).shape)
    tpc, ppc = pseudo_critical(gas)
    return z_factor_reduced(p / ppc, t / tpc)


def density(pressure_pa: ArrayLike, temperature_k: ArrayLike, gas: GasSpec | None = None) -> FloatArray:
    """Gas density ρ = p M / (Z R T) in kg/m³."""
    gas = gas or GasSpec()
    p, t = _check_pt(pressure_pa, temperature_k)
    return p / (z_factor(p, t, gas) * gas.specific_gas_constant * t)


def dz_dp(pressure_pa: ArrayLike, temperature_k: ArrayLike, gas: GasSpec | None = None) -> FloatArray:
    """∂Z/∂p at constant T in 1/Pa (central difference of the DAK solution)."""
    gas = gas or GasSpec()
    p, t = _check_pt(pressure_pa, temperature_k)
    h = np.maximum(p * 1e-4, 10.0)
    lo = np.maximum(p - h, 1.0)
    return (z_factor(p + h, t, gas) - z_factor(lo, t, gas)) / (p + h - lo)


def wave_speed(pressure_pa: ArrayLike, temperature_k: ArrayLike, gas: GasSpec | None = None) -> FloatArray:
    """Isothermal wave speed c = sqrt((∂p/∂ρ)_T) = sqrt(Z R T/M / (1 - (p/Z) ∂Z/∂p)) in m/s."""
    gas = gas or GasSpec()
    p, t = _check_pt(pressure_pa, temperature_k)
    z = z_factor(p, t, gas)
    return np.sqrt(z * gas.specific_gas_constant * t / (1.0 - p / z * dz_dp(p, t, gas)))


def standard_density(
    gas: GasSpec | None = None,
    temperature_k: float = NORMAL_TEMPERATURE_K,
    pressure_pa: float = STANDARD_ATMOSPHERE_PA,
) -> float:
    """Density at reference conditions (default normal: 0 °C, 101.325 kPa) for Nm³/h <-> kg/s."""
    return float(density(pressure_pa, temperature_k, gas))


def nm3_per_h_to_kg_per_s(flow_nm3_per_h: ArrayLike, gas: GasSpec | None = None) -> FloatArray:
    """Convert a normal volumetric flow (0 °C, 101.325 kPa) to mass flow."""
    return np.asarray(flow_nm3_per_h, dtype=np.float64) * standard_density(gas) / 3600.0


def line_pack(
    position_m: ArrayLike,
    pressure_pa: ArrayLike,
    temperature_k: ArrayLike,
    diameter_m: float,
    gas: GasSpec | None = None,
) -> float:
    """Mass of gas (kg) in a pipe from pressure and temperature at points along it.

    Density is evaluated at each point and integrated with the trapezoidal rule over the points'
    positions, so the result covers [position_m[0], position_m[-1]]; with only the two end points
    this is the usual (ρ_in + ρ_out)/2 · A L estimate of a mass-balance leak detector.
    """
    x = np.asarray(position_m, dtype=np.float64)
    if x.ndim != 1 or x.size < 2 or not np.all(np.isfinite(x)) or np.any(np.diff(x) <= 0.0):
        raise ValueError("position_m must be >= 2 finite, strictly increasing positions")
    if not (np.isfinite(diameter_m) and diameter_m > 0.0):
        raise ValueError(f"diameter_m must be > 0, got {diameter_m}")
    p = np.broadcast_to(np.asarray(pressure_pa, dtype=np.float64), x.shape)
    t = np.broadcast_to(np.asarray(temperature_k, dtype=np.float64), x.shape)
    rho = density(p, t, gas)
    area = np.pi * diameter_m**2 / 4.0
    return float(area * np.sum(0.5 * (rho[1:] + rho[:-1]) * np.diff(x)))


def fit_z_polynomial(
    temperature_k: float, pressure_max_pa: float, gas: GasSpec | None = None, n: int = 64
) -> tuple[float, float, float]:
    """Least-squares fit Z(p) ≈ 1 + a p + b p² on (0, pressure_max_pa] at fixed T.

    The simulator carries this fit per cell: it lets the pressure follow from the conserved density in
    closed form (a quadratic) instead of iterating DAK every time step. Returns (a, b, max relative
    error of the fit over the range).
    """
    gas = gas or GasSpec()
    p = np.linspace(pressure_max_pa / n, pressure_max_pa, n)
    z = z_factor(p, np.full_like(p, temperature_k), gas)
    design = np.stack([p, p * p], axis=1)
    coef, *_ = np.linalg.lstsq(design, z - 1.0, rcond=None)
    a, b = float(coef[0]), float(coef[1])
    err = float(np.max(np.abs((1.0 + a * p + b * p * p) / z - 1.0)))
    return a, b, err
