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
