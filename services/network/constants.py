"""Physical constants and reference conditions of gas measurement: the one set the project uses.

`services.network.units` converts volume flows with the air densities, `services.gasflow.physics` computes
Z, density and wave speed from R and the molar mass of air, and leakdetect's configuration takes the
specific gas constant from there. A unit test pins each value to its source.
"""

from __future__ import annotations

R_UNIVERSAL_J_PER_MOL_K = 8.314462618  # CODATA 2018 (exact since the 2019 SI redefinition)
MOLAR_MASS_AIR_KG_PER_MOL = 0.0289647  # dry air, ISO 6976:2016 table / GPA 2145
STANDARD_ATMOSPHERE_PA = 101_325.0
NORMAL_TEMPERATURE_K = 273.15  # Nm³: 0 °C (ISO 13443)
STANDARD_TEMPERATURE_K = 288.15  # Sm³: 15 °C (ISO 13443)
# Dry air density at 101.325 kPa, tabulated rather than recomputed from R and the molar mass. At 0 °C the real
# gas's (ISO 6976, compressibility 0.99941); at 15 °C the ICAO standard atmosphere's sea-level density (an ideal
# gas of 28.9644 g/mol), 0.04 % below the real gas's 1.2255: kept, the volume-flow tags of the demo city and the
# recorded benchmarks were converted with it.
AIR_DENSITY_NORMAL_KG_PER_M3 = 1.2930  # 0 °C
AIR_DENSITY_STANDARD_KG_PER_M3 = 1.2250  # 15 °C


def specific_gas_constant(specific_gravity: float) -> float:
    """R / M of a gas of this specific gravity (relative to air), J/(kg K)."""
    return R_UNIVERSAL_J_PER_MOL_K / (specific_gravity * MOLAR_MASS_AIR_KG_PER_MOL)


# Molar masses of natural-gas components (ISO 6976:2016 table 1), kg/mol: a composition in a network file
# names its components with these keys, and its specific gravity is sum(x_i M_i) / M_air.
COMPONENT_MOLAR_MASS_KG_PER_MOL = {
    "methane": 0.01604246,
    "ethane": 0.03006904,
    "propane": 0.04409562,
    "i_butane": 0.0581222,
    "n_butane": 0.0581222,
    "i_pentane": 0.07214878,
    "n_pentane": 0.07214878,
    "n_hexane": 0.08617536,
    "nitrogen": 0.0280134,
    "carbon_dioxide": 0.0440095,
    "hydrogen_sulfide": 0.03408088,
    "hydrogen": 0.00201588,
    "helium": 0.004002602,
    "oxygen": 0.0319988,
    "water": 0.01801528,
}


def specific_gravity_of(composition: dict[str, float]) -> float:
    """Ideal-gas specific gravity of a mixture given as mole fractions (summing to 1)."""
    molar_mass = sum(x * COMPONENT_MOLAR_MASS_KG_PER_MOL[name] for name, x in composition.items())
    return molar_mass / MOLAR_MASS_AIR_KG_PER_MOL
