"""Network-file options with explicit semantics (issue 18): gas model and composition, fixed wave speed, fixed
friction factor, explicit meter accuracy; what each means for the detector's configuration and the simulator."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from services.gasflow.network_adapter import network_spec, pipe_spec
from services.gasflow.physics import GasSpec, wave_speed, z_factor
from services.gasflow.scada import instruments_from_tags
from services.leakdetect.domain import layout as L
from services.leakdetect.domain.network_config import config_from_network
from services.network import EquationOfState, ErrorTerms, load_demo_network, load_network
from services.network.constants import MOLAR_MASS_AIR_KG_PER_MOL, specific_gravity_of

LINE = Path(__file__).with_name("data") / "long_line_options.yaml"


@pytest.fixture(scope="module")
def line():  # type: ignore[no-untyped-def]
    return load_network(LINE)


def test_composition_gives_specific_gravity_and_the_inert_fractions(line) -> None:  # type: ignore[no-untyped-def]
    m = 0.93 * 0.01604246 + 0.035 * 0.03006904 + 0.01 * 0.04409562 + 0.015 * 0.0280134 + 0.01 * 0.0440095
    assert line.gas.specific_gravity == pytest.approx(m / MOLAR_MASS_AIR_KG_PER_MOL)
    assert (line.gas.co2_mole_fraction, line.gas.n2_mole_fraction) == (0.01, 0.015)
    # pure methane: M 16.043 g/mol against air's 28.965
    assert specific_gravity_of({"methane": 1.0}) == pytest.approx(0.55386, abs=1e-4)


def test_segment_defaults_apply_unless_the_segment_says_otherwise(line) -> None:  # type: ignore[no-untyped-def]
    first, second = line.segments["L-01"], line.segments["L-02"]
    # L-01: the default friction factor (no roughness), its own wave speed, the default real gas
    assert (first.darcy_friction_factor, first.roughness_m) == (0.011, None)
    assert first.wave_speed_m_per_s == 372.0 and first.equation_of_state is EquationOfState.REAL_DAK
    # L-02: its own roughness replaces the default factor; its own gas model
    assert (second.darcy_friction_factor, second.roughness_m) == (None, pytest.approx(3e-5))
    assert second.wave_speed_m_per_s is None and second.equation_of_state is EquationOfState.IDEAL


def test_existing_files_keep_todays_meaning() -> None:
    demo = load_demo_network()
    for s in demo.segments.values():
        assert s.equation_of_state is EquationOfState.REAL_DAK
        assert s.wave_speed_m_per_s is None and s.darcy_friction_factor is None and s.roughness_m is not None
    assert all(t.accuracy.basis is not None and t.accuracy.noise_sd is None for t in demo.tags.values())


def test_detector_configuration_follows_the_options(line) -> None:  # type: ignore[no-untyped-def]
    built = config_from_network(line)
    cfg = built.config
    g1 = cfg.seg_cfg[built.segment_index["L-01"]]
    g2 = cfg.seg_cfg[built.segment_index["L-02"]]
    assert g1[L.GC_WAVE_SPEED] == 372.0  # fixed
    assert g1[L.GC_Z_SLOPE] < 0.0  # real gas: Z falls with pressure
    ideal = GasSpec(specific_gravity=line.gas.specific_gravity, co2_mole_fraction=0.01, equation_of_state="ideal")
    assert g2[L.GC_Z_SLOPE] == 0.0  # ideal gas: Z = 1
    assert g2[L.GC_WAVE_SPEED] == pytest.approx(float(wave_speed(3.69e6, line.gas.temperature_k, ideal)), rel=1e-6)
    assert float(z_factor(3.69e6, 281.15, ideal)) == 1.0


def _slot(built, tag_id):  # type: ignore[no-untyped-def]
    return built.config.slot_cfg[built.config.tag_slots[tag_id]]


def test_explicit_accuracy_is_noise_plus_a_uniform_bias_in_the_detector(line) -> None:  # type: ignore[no-untyped-def]
    built = config_from_network(line)
    # pressure: noise 0.02 % of a 6 MPa span, bias within 0.05 % of it: s.d. hypot(1200, 3000 / sqrt 3) Pa
    pt = _slot(built, "L01-PT-UP")
    assert pt[L.SC_SIGMA_ABS] == pytest.approx(math.hypot(1200.0, 3000.0 / math.sqrt(3.0)))
    assert pt[L.SC_SIGMA_REL] == 0.0
    # flow: 0.2 % of reading noise + 0.01 % of span, bias within 0.5 % of reading
    ft = _slot(built, "L01-FT-UP")
    assert ft[L.SC_SIGMA_REL] == pytest.approx(math.hypot(0.002, 0.005 / math.sqrt(3.0)))
    assert ft[L.SC_SIGMA_ABS] == pytest.approx(max(0.0001 * 40.0, 0.0005 * 40.0 / 2.0))  # the low-flow floor wins
    # the short form keeps its meaning: a 95 % bound of the total error, 1 s.d. is half
    assert _slot(built, "L01-PT-DN")[L.SC_SIGMA_ABS] == pytest.approx(0.001 * 6e6 / 2.0)
    assert _slot(built, "L01-FT-DN")[L.SC_SIGMA_REL] == pytest.approx(0.01 / 2.0)
    # a mid-line pressure meter fills the segment's first mid-line role, with its own accuracy
    assert built.tag_role["L02-PT-MID"] == L.ROLE_PRESSURE_MID0
    assert "L02-PT-MID" not in built.unmapped_tags


def test_error_terms_convert_each_part_with_its_unit() -> None:
    terms = ErrorTerms(pct_of_reading=0.5, pct_of_span=0.1, absolute=2.0)
    rel, abs_si = terms.to_si(span_si=1e6, scale=1e3)  # kPa tag, span 1 MPa
    assert rel == 0.005 and abs_si == pytest.approx(1000.0 + 2000.0)


def test_the_simulator_takes_the_same_options(line) -> None:  # type: ignore[no-untyped-def]
    p1, p2 = pipe_spec(line, "L-01"), pipe_spec(line, "L-02")
    assert (p1.darcy_friction_factor, p1.wave_speed_m_per_s, p1.equation_of_state) == (0.011, 372.0, "dak")
    assert (p2.darcy_friction_factor, p2.wave_speed_m_per_s, p2.equation_of_state) == (None, None, "ideal")
    assert p2.roughness_m == pytest.approx(3e-5)
    spec = network_spec(line)
    assert spec.gas.specific_gravity == line.gas.specific_gravity
    instruments = {i.tag_id: i for i in instruments_from_tags(line, list(line.tags))}
    explicit = instruments["L01-FT-UP"].errors
    assert explicit is not None
    assert (explicit.noise_sd_rel, explicit.bias_bound_rel) == (0.002, 0.005)
    assert explicit.noise_sd_abs_si == pytest.approx(0.004)
    assert instruments["L01-FT-DN"].errors is None and instruments["L01-FT-DN"].accuracy_pct_of_reading == 1.0
