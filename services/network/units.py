"""Conversion of instrument values from the units gateways send to the SI units used inside Pipewarden.

Inside the services: pressure in Pa absolute, mass flow in kg/s, temperature in K, methane in % LEL.
Gauge pressures (``*_g``) are referred to standard atmosphere; volumetric gas flows at normal
(0 °C, 101.325 kPa) or standard (15 °C, 101.325 kPa) reference conditions are turned into mass
flow with the gas density at those conditions, which follows from the specific gravity.
"""

from __future__ import annotations

from dataclasses import dataclass

from .constants import AIR_DENSITY_NORMAL_KG_PER_M3, AIR_DENSITY_STANDARD_KG_PER_M3, STANDARD_ATMOSPHERE_PA
from .model import TagKind


@dataclass(frozen=True, slots=True)
class LinearConversion:
    """value_si = value * scale + offset."""

    scale: float
    offset: float = 0.0

    def to_si(self, value: float) -> float:
        return value * self.scale + self.offset

    def from_si(self, value_si: float) -> float:
        return (value_si - self.offset) / self.scale


_PRESSURE = {
    "Pa": LinearConversion(1.0),
    "kPa": LinearConversion(1e3),
    "MPa": LinearConversion(1e6),
    "bar": LinearConversion(1e5),
    "kPa_g": LinearConversion(1e3, STANDARD_ATMOSPHERE_PA),
    "MPa_g": LinearConversion(1e6, STANDARD_ATMOSPHERE_PA),
    "bar_g": LinearConversion(1e5, STANDARD_ATMOSPHERE_PA),
}
_TEMPERATURE = {"K": LinearConversion(1.0), "degC": LinearConversion(1.0, 273.15)}
_METHANE = {"pct_lel": LinearConversion(1.0)}
_MASS_FLOW = {
    "kg/s": LinearConversion(1.0),
    "kg/h": LinearConversion(1 / 3600),
    "t/h": LinearConversion(1 / 3.6),
}
_VOLUME_FLOW_DENSITY_OF_AIR = {"Nm3/h": AIR_DENSITY_NORMAL_KG_PER_M3, "Sm3/h": AIR_DENSITY_STANDARD_KG_PER_M3}

SI_UNIT = {
    TagKind.PRESSURE: "Pa",
    TagKind.FLOW: "kg/s",
    TagKind.TEMPERATURE: "K",
    TagKind.METHANE_LEL: "pct_lel",
}


def supported_units(kind: TagKind) -> tuple[str, ...]:
    if kind is TagKind.FLOW:
        return (*_MASS_FLOW, *_VOLUME_FLOW_DENSITY_OF_AIR)
    return tuple(
        {TagKind.PRESSURE: _PRESSURE, TagKind.TEMPERATURE: _TEMPERATURE, TagKind.METHANE_LEL: _METHANE}[kind]
    )


def conversion_to_si(kind: TagKind, unit: str, specific_gravity: float) -> LinearConversion:
    """The conversion for values of ``kind`` in ``unit``; raises ValueError for an unknown unit."""
    if kind is TagKind.FLOW and unit in _VOLUME_FLOW_DENSITY_OF_AIR:
        gas_density = specific_gravity * _VOLUME_FLOW_DENSITY_OF_AIR[unit]
        return LinearConversion(gas_density / 3600.0)
    table = {
        TagKind.PRESSURE: _PRESSURE,
        TagKind.FLOW: _MASS_FLOW,
        TagKind.TEMPERATURE: _TEMPERATURE,
        TagKind.METHANE_LEL: _METHANE,
    }[kind]
    try:
        return table[unit]
    except KeyError:
        raise ValueError(
            f"unit {unit!r} is not a {kind.value} unit; supported: {', '.join(supported_units(kind))}"
        ) from None
