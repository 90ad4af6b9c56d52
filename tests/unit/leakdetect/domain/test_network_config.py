"""The one builder from the network model to the detector configuration, its values pinned to their sources
(three copies of it used to disagree: accuracy as 1 or 2 s.d., 0.8 or 0.9 of MOP, air at 28.964 or 28.9647 g/mol)."""

from __future__ import annotations

import pytest

from services.gasflow.physics import GasSpec, wave_speed
from services.leakdetect.domain import layout as L
from services.leakdetect.domain import network_config as NC
from services.network import AccuracyBasis, TagKind, conversion_to_si, load_demo_network
from services.network.constants import MOLAR_MASS_AIR_KG_PER_MOL, R_UNIVERSAL_J_PER_MOL_K

NET = load_demo_network()


def test_reconciled_values_and_their_sources() -> None:
    # a stated accuracy is a 95 % bound (the SCADA error model of services.gasflow.scada): 1 s.d. is half
    assert NC.ACCURACY_COVERAGE_FACTOR == 2.0
    # wave speed and Z at 0.9 of the segment's MOP
    assert NC.OPERATING_PRESSURE_FRAC_OF_MOP == 0.9
    built = NC.config_from_network(NET)
    gas = GasSpec(specific_gravity=NET.gas.specific_gravity, co2_mole_fraction=NET.gas.co2_mole_fraction)
    checked = set()
    for sid, i in built.segment_index.items():
        seg = NET.segments[sid]
        g = built.config.seg_cfg[i]
        p_op = max(0.9 * seg.max_operating_pressure_pa, NC.MIN_OPERATING_PRESSURE_PA)
        assert g[L.GC_WAVE_SPEED] == float(wave_speed(p_op, NET.gas.temperature_k, gas))
        # R / M with the molar mass of air of services.network.constants (ISO 6976: 28.9647 g/mol)
        assert g[L.GC_R_SPECIFIC] == R_UNIVERSAL_J_PER_MOL_K / (NET.gas.specific_gravity * MOLAR_MASS_AIR_KG_PER_MOL)
        assert g[L.GC_R_SPECIFIC] == gas.specific_gas_constant
        for tag in NET.tags_of_segment(sid):
            if tag.tag_id not in built.tag_role or tag.kind is not TagKind.PRESSURE:
                continue
            slot = i * L.N_ROLES + built.tag_role[tag.tag_id]
            conv = conversion_to_si(tag.kind, tag.unit, NET.gas.specific_gravity)
            want_rel = want_abs = 0.0
            if tag.accuracy.basis is AccuracyBasis.PCT_OF_READING:
                want_rel = tag.accuracy.value / 100.0 / 2.0
            elif tag.accuracy.basis is AccuracyBasis.PCT_OF_SPAN:
                span = abs(conv.to_si(tag.range_max) - conv.to_si(tag.range_min))
                want_abs = tag.accuracy.value / 100.0 * span / 2.0
            else:
                want_abs = tag.accuracy.value * abs(conv.scale) / 2.0
            assert built.config.slot_cfg[slot, L.SC_SIGMA_REL] == pytest.approx(want_rel, rel=1e-12)
            assert built.config.slot_cfg[slot, L.SC_SIGMA_ABS] == pytest.approx(want_abs, rel=1e-12)
            checked.add(tag.accuracy.basis)
    assert checked  # the demo city has pressure transmitters to check
