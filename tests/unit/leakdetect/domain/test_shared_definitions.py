"""The definitions telemetry, leakdetect and the gas simulator share: quality codes and gas constants, each
pinned to its source."""

from __future__ import annotations

import pytest

from services.contracts.pipewarden.telemetry.v1 import reading_pb2
from services.gasflow import scada
from services.gasflow.physics import GasSpec
from services.network import constants as C
from services.network import quality as Q
from services.network import units


def test_quality_codes_are_the_protobuf_enum() -> None:
    assert {f"QUALITY_{q.name}": int(q) for q in Q.Quality} == dict(reading_pb2.Quality.items())
    assert max(reading_pb2.Quality.values()) == Q.QUALITY_MAX
    # saturated readings are evidence (a bound on the truth), never dropped at the edge
    assert {Q.QUALITY_UNSPECIFIED, Q.QUALITY_GOOD, Q.QUALITY_UNCERTAIN, Q.QUALITY_SATURATED} == Q.USABLE_QUALITIES
    # the simulator's SCADA layer flags with the same codes (not a copy)
    assert (scada.QUALITY_GOOD, scada.QUALITY_UNCERTAIN, scada.QUALITY_BAD) == (1, 2, 3)


def test_gas_constants_against_their_sources() -> None:
    assert C.R_UNIVERSAL_J_PER_MOL_K == 8.314462618  # CODATA 2018
    assert C.MOLAR_MASS_AIR_KG_PER_MOL == 0.0289647  # ISO 6976:2016, dry air 28.9647 g/mol
    # normal conditions: the real gas (ISO 6976, compressibility 0.99941 at 0 °C)
    rt_0c = C.R_UNIVERSAL_J_PER_MOL_K * C.NORMAL_TEMPERATURE_K
    ideal_0c = C.STANDARD_ATMOSPHERE_PA * C.MOLAR_MASS_AIR_KG_PER_MOL / rt_0c
    assert pytest.approx(ideal_0c / 0.99941, rel=1e-4) == C.AIR_DENSITY_NORMAL_KG_PER_M3
    # standard conditions: the ICAO standard atmosphere at sea level (ideal gas, M = 28.9644 g/mol)
    isa = C.STANDARD_ATMOSPHERE_PA * 0.0289644 / (C.R_UNIVERSAL_J_PER_MOL_K * C.STANDARD_TEMPERATURE_K)
    assert pytest.approx(isa, rel=1e-4) == C.AIR_DENSITY_STANDARD_KG_PER_M3
    assert units.STANDARD_ATMOSPHERE_PA is C.STANDARD_ATMOSPHERE_PA
    for sg in (0.57, 0.6, 0.7):
        assert GasSpec(specific_gravity=sg).specific_gas_constant == C.specific_gas_constant(sg)
