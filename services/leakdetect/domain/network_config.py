"""Build the detector configuration from the network model (`services.network.Network`): the one builder.

Each monitored segment becomes one detector segment; its end instruments fill the roles (flow in/out at
position 0 / L, pressure up/down, the upstream temperature) and up to `layout.N_METHANE` methane sensors.
Pressure transmitters along the line (more than `END_TOLERANCE_M` from both ends) fill the mid-line pressure
roles in order of position, up to `layout.N_PMID` of them spread along the line (more are left unmapped), with
their positions (fractions of the length) in the segment's configuration (`GC_PMID_X0` ...).

Accuracy: the detector takes one figure per instrument, the 1 s.d. of its total error, and treats it all as
random per reading: the fixed bias is absorbed by the learned baseline, and the noise inflation factor learned
from leak-free data corrects the split (API 1149: sensitivity from propagated instrument uncertainty). A
stated accuracy (``{pct_of_span: 0.1}``) is a 95 % bound (2 s.d.) of that total, so 1 s.d. is half of it. An
explicit one gives the noise s.d. and a bound B on the fixed bias (any bias within +-B equally likely: s.d.
B / sqrt(3)); the total 1 s.d. is their root sum of squares. Units: % of reading -> sigma_rel, % of span and
absolute -> sigma_abs in SI (both parts may be given, as data sheets do).

Gas and waves: the segment's gas model (real gas DAK, or ideal: Z = 1) gives the linear Z(p) and, unless the
segment fixes it, the wave speed, both at the segment's operating pressure, taken as
`OPERATING_PRESSURE_FRAC_OF_MOP` of its maximum operating pressure; the specific gas constant comes from the
shared constants (`services.network.constants`) and the gas's specific gravity (given, or from its
composition). A fixed Darcy friction factor does not enter the detector (its gradient constant K is learned).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from services.gasflow.physics import GasSpec, wave_speed, z_factor
from services.network import EquationOfState, Network, Segment, Tag, TagKind, conversion_to_si
from services.network.constants import specific_gas_constant

from . import layout as L
from .config import LEL_ALARM, LEL_GRADE1_CONFINED, LEL_GRADE2, DetectorConfig
from .kernels.subsegment import N_FMID

# Physically plausible rates of change, SI per second (faster is a sensor fault, not a process).
MAX_RATE_PRESSURE_FRAC_OF_SPAN = 0.5
MAX_RATE_FLOW_FRAC_OF_SPAN = 2.0
MAX_RATE_TEMPERATURE_K = 2.0
MAX_RATE_METHANE_LEL = 20.0
TIMESTAMP_RESOLUTION_S = 0.001  # RTU timestamps in ms, NTP-synchronised
# Stated accuracies are 95 % bounds of the total error (as the simulator's SCADA layer draws them,
# services.gasflow.scada): 1 s.d. is half of one.
ACCURACY_COVERAGE_FACTOR = 2.0
# Wave speed and Z are evaluated at this fraction of the segment's MOP: a line supplied at about its MOP
# (the demo city's transmission ring: 1.70 MPa) with a 10-20 % drop along it runs at ~0.9 MOP on average.
# Z and c change by well under 1 % between 0.8 and 1.0 MOP at these pressures.
OPERATING_PRESSURE_FRAC_OF_MOP = 0.9
MIN_OPERATING_PRESSURE_PA = 1.2e5  # low-pressure distribution: never below 1.2 bar absolute for the physics
END_TOLERANCE_M = 5.0  # an instrument this close to an end is that end's


@dataclass
class RedundantGroup:
    """A role filled by redundant meters (`Tag.redundancy_group`): the vote (`kernels.redundancy`) takes their
    readings and hands the role one voted value; `tag_ids[0]`, the primary, is the role's tag."""

    segment: int
    role: int
    tag_ids: tuple[str, ...]
    sigma_rel: tuple[float, ...]  # 1 s.d. of each member's total error (as `instrument_sigma`), SI
    sigma_abs: tuple[float, ...]
    scan_period_s: tuple[float, ...]
    ratio: tuple[bool, ...]  # the member's offset is a share of its reading (flow meters) rather than in SI
    reference: int  # kernels.redundancy.REF_*: the model that arbitrates a pair
    friction_k: float  # the friction prior k (Pa^2 / (kg/s)^2) for pressure references
    x_frac: float  # a mid-line pressure's position, fraction of the length
    # REF_WITNESS: the transmitter whose readings are the pair's model (a temperature pair: the segment's other
    # temperature transmitter outside any group, the nearest) and its scan period
    witness: str | None = None
    witness_scan_s: float = 0.0


@dataclass
class NetworkDetectorConfig:
    """A detector configuration plus the mapping of the model's tags onto (segment, role)."""

    config: DetectorConfig
    segment_index: dict[str, int]
    tag_segment: dict[str, int] = field(default_factory=dict)
    tag_role: dict[str, int] = field(default_factory=dict)
    unmapped_tags: list[str] = field(default_factory=list)  # tags of the segments that fill no role
    groups: list[RedundantGroup] = field(default_factory=list)  # roles filled by redundant meters
    tag_member: dict[str, tuple[int, int]] = field(default_factory=dict)  # tag -> (group, member) of `groups`
    # mid-line flow meters (sub-segment balances, `kernels.subsegment`): segment -> [(tag, position m)], by position
    midline_flows: dict[int, list[tuple[str, float]]] = field(default_factory=dict)

    def subsegment_config(self) -> np.ndarray:
        """`kernels.subsegment`'s per-segment configuration (ss_cfg): mid-line flow and pressure positions."""
        from .kernels import subsegment as S

        cfg = self.config
        ss = np.full((cfg.n_segments, S.N_SS), np.nan)
        ss[:, S.SS_NF] = 0.0
        for i, flows in self.midline_flows.items():
            length = cfg.seg_cfg[i, L.GC_LENGTH_M]
            ss[i, S.SS_NF] = len(flows)
            for j, (_, x_m) in enumerate(flows):
                ss[i, S.SS_XF0 + j] = x_m / length
            for j in range(L.N_PMID):
                if cfg.slot_cfg[i * L.N_ROLES + L.ROLE_PRESSURE_MID0 + j, L.SC_PRESENT] != 0.0:
                    ss[i, S.SS_XP0 + j] = cfg.seg_cfg[i, L.GC_PMID_X0 + j]
        return ss

    def group_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(grp_cfg, mem_cfg) of `kernels.redundancy` for `groups`."""
        from .kernels import redundancy as R

        grp_cfg = np.zeros((len(self.groups), R.N_RG))
        mem_cfg = np.zeros((len(self.groups) * R.MAXM, R.N_MC))
        for g, grp in enumerate(self.groups):
            grp_cfg[g, [R.RG_SEG, R.RG_ROLE, R.RG_N, R.RG_REF, R.RG_K, R.RG_XFRAC, R.RG_WIT_SCAN_S]] = (
                grp.segment, grp.role, len(grp.tag_ids), grp.reference, grp.friction_k, grp.x_frac,
                grp.witness_scan_s)
            for m in range(len(grp.tag_ids)):
                mem_cfg[g * R.MAXM + m, [R.MC_SIGMA_REL, R.MC_SIGMA_ABS, R.MC_SCAN_S, R.MC_RATIO]] = (
                    grp.sigma_rel[m], grp.sigma_abs[m], grp.scan_period_s[m], float(grp.ratio[m]))
        return grp_cfg, mem_cfg

    def index_arrays(self, tag_ids: list[str] | tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        """(segment_idx, role_idx) for a list of tag ids; unknown tags map to -1 (dropped and counted)."""
        seg = np.array([self.tag_segment.get(t, -1) for t in tag_ids], dtype=np.int64)
        role = np.array([self.tag_role.get(t, -1) for t in tag_ids], dtype=np.int64)
        return seg, role


# An explicit bias bound B: any bias within +-B equally likely (uniform), so its s.d. is B / sqrt(3).
UNIFORM_BOUND_TO_SD = 1.0 / math.sqrt(3.0)


def _gas(network: Network, segment: Segment) -> GasSpec:
    g = network.gas
    return GasSpec(
        specific_gravity=g.specific_gravity,
        co2_mole_fraction=g.co2_mole_fraction,
        h2s_mole_fraction=g.h2s_mole_fraction,
        equation_of_state="ideal" if segment.equation_of_state is EquationOfState.IDEAL else "dak",
    )


# The friction coefficient from a pipe's roughness (Swamee-Jain at nominal flow) is a prior the calibration
# refines: roughness grows with age and deposits, welds and bends add to it. A stated fixed friction factor is
# known better.
LOC_K0_REL_SD_ROUGHNESS = 0.15
LOC_K0_REL_SD_FIXED_FRICTION = 0.05
GRAVITY_M_PER_S2 = 9.80665


def _location_prior(seg: Segment, gas: GasSpec, z_op: float, temperature_k: float, r_specific: float
                    ) -> dict[str, float]:
    """The pressure-gradient location's prior friction coefficient k = f Z R T L / (D A^2) (p_u^2 - p_d^2 = k q^2
    on a level line), its relative s.d., and the elevation's share of p^2, 2 g dz / (Z R T)."""
    d = seg.inner_diameter_m
    area = math.pi * d * d / 4.0
    if seg.darcy_friction_factor is not None:
        f = seg.darcy_friction_factor
        rel_sd = LOC_K0_REL_SD_FIXED_FRICTION
    else:
        reynolds = max(seg.nominal_flow_kg_per_s * d / (area * gas.viscosity_pa_s), 4000.0)
        lt = math.log10((seg.roughness_m or 0.0) / d / 3.7 + 5.74 / reynolds**0.9)
        f = 0.25 / (lt * lt)
        rel_sd = LOC_K0_REL_SD_ROUGHNESS
    zrt = z_op * r_specific * temperature_k
    return {
        "loc_k0": f * zrt * seg.length_m / (d * area * area),
        "loc_k0_rel_sd": rel_sd,
        "loc_elevation_per_pa2": 2.0 * GRAVITY_M_PER_S2 * (seg.elevation_down_m - seg.elevation_up_m) / zrt,
    }


def instrument_sigma(tag: Tag, span_si: float, scale: float) -> tuple[float, float]:
    """(sigma_rel, sigma_abs in SI): 1 s.d. of the instrument's total error, as the detector reads it."""
    accuracy = tag.accuracy
    if accuracy.noise_sd is None:
        rel, abs_si = accuracy.stated_to_si(span_si, scale)
        return rel / ACCURACY_COVERAGE_FACTOR, abs_si / ACCURACY_COVERAGE_FACTOR
    noise_rel, noise_abs = accuracy.noise_sd.to_si(span_si, scale)
    bias_rel, bias_abs = accuracy.bias_bound.to_si(span_si, scale) if accuracy.bias_bound else (0.0, 0.0)
    return (
        math.hypot(noise_rel, bias_rel * UNIFORM_BOUND_TO_SD),
        math.hypot(noise_abs, bias_abs * UNIFORM_BOUND_TO_SD),
    )


def _midline_pressure_roles(network: Network, seg: Segment) -> dict[str, tuple[int, float]]:
    """tag id -> (mid-line pressure role, position m) of the segment's pressure transmitters along the line: at most
    `layout.N_PMID`, spread along it (with more, the ones nearest to evenly spaced points), in order of position;
    one per position (a second transmitter at the same point is redundant, not another station)."""
    cands: dict[float, str] = {}
    for tag in network.tags_of_segment(seg.segment_id):
        x = tag.position_m
        if _secondary(network, tag):
            continue  # a redundant meter votes through its group's primary
        if (tag.kind is TagKind.PRESSURE and END_TOLERANCE_M < x < seg.length_m - END_TOLERANCE_M
                and not any(abs(x - y) <= END_TOLERANCE_M for y in cands)):
            cands[x] = tag.tag_id
    xs = sorted(cands)
    if len(xs) > L.N_PMID:
        chosen: list[float] = []
        for j in range(L.N_PMID):
            goal = (j + 1) * seg.length_m / (L.N_PMID + 1)
            left = [x for x in xs if x not in chosen]
            chosen.append(left[int(np.argmin([abs(x - goal) for x in left]))])
        xs = sorted(chosen)
    return {cands[x]: (L.ROLE_PRESSURE_MID0 + j, x) for j, x in enumerate(xs)}


def _secondary(network: Network, tag: Tag) -> bool:
    """A redundant meter that is not its group's primary (the role is filled through the primary)."""
    group = tag.redundancy_group
    return group is not None and network.redundancy_groups[group][0].tag_id != tag.tag_id


def _group_of(network: Network, primary: Tag, segment: int, role: int, seg: Segment, k0: float) -> RedundantGroup:
    """The vote's configuration of a primary's group, each member's error as the detector reads it."""
    from .kernels import redundancy as R

    # the most one role takes (R.MAXM); more are left unmapped
    members = network.redundancy_groups[primary.redundancy_group or ""][:R.MAXM]
    rel, abs_, scan, ratio = [], [], [], []
    for tag in members:
        conv = conversion_to_si(tag.kind, tag.unit, network.gas.specific_gravity)
        lo, hi = sorted((conv.to_si(tag.range_min), conv.to_si(tag.range_max)))
        sigma_rel, sigma_abs = instrument_sigma(tag, hi - lo, conv.scale)
        if tag.kind is TagKind.FLOW:  # the low-flow floor, as the role's own
            sigma_abs = max(sigma_abs, 0.0005 * max(abs(lo), abs(hi)) / ACCURACY_COVERAGE_FACTOR)
        rel.append(sigma_rel)
        abs_.append(sigma_abs)
        scan.append(tag.scan_period_s)
        ratio.append(tag.kind is TagKind.FLOW and sigma_rel > 0.0)
    reference = {L.ROLE_FLOW_IN: R.REF_FLOW_OTHER_END, L.ROLE_FLOW_OUT: R.REF_FLOW_OTHER_END,
                 L.ROLE_PRESSURE_UP: R.REF_PRESSURE_UP, L.ROLE_PRESSURE_DOWN: R.REF_PRESSURE_DOWN}.get(role, R.REF_NONE)
    if role >= L.ROLE_PRESSURE_MID0:
        reference = R.REF_PRESSURE_MID
    if reference != R.REF_FLOW_OTHER_END and not k0 > 0.0:
        reference = R.REF_NONE
    witness = None
    if role == L.ROLE_TEMPERATURE:
        others = [t for t in network.tags_of_segment(seg.segment_id)
                  if t.kind is TagKind.TEMPERATURE and t.redundancy_group is None]
        if others:
            witness = min(others, key=lambda t: abs(t.position_m - primary.position_m))
            reference = R.REF_WITNESS
    return RedundantGroup(segment, role, tuple(t.tag_id for t in members), tuple(rel), tuple(abs_), tuple(scan),
                          tuple(ratio), reference, k0, primary.position_m / seg.length_m,
                          witness.tag_id if witness is not None else None,
                          witness.scan_period_s if witness is not None else 0.0)


# The line pack's Z(p) is fitted over this share of the segment's maximum operating pressure: its lines run at
# 0.6-1.0 of it, and an outage or a blow-down takes them lower. A free quadratic there follows the gas physics'
# d(p/Z)/dp, which is what moves the line pack, within 0.2 % at 0.6-1.0 MOP for natural gas at 60 bar and 285 K
# (the chord through Z(0) = 1 and the operating point: 1.2 %), and within 0.1 % below 0.6 MOP.
Z_FIT_RANGE_OF_MOP = (0.2, 1.1)
Z_FIT_POINTS = 64


def z_quadratic_fit(p_max_op_pa: float, temperature_k: float, gas: GasSpec) -> tuple[float, float, float]:
    """(z0, z1 1/Pa, z2 1/Pa^2): the least-squares quadratic Z(p) of the gas physics over Z_FIT_RANGE_OF_MOP of the
    segment's maximum operating pressure (the balance's line pack, kernels/line_pack.mean_p_over_z)."""
    lo, hi = Z_FIT_RANGE_OF_MOP
    p = np.linspace(lo * p_max_op_pa, hi * p_max_op_pa, Z_FIT_POINTS)
    x = p / p_max_op_pa  # scaled for a well-conditioned fit
    c2, c1, c0 = np.polyfit(x, z_factor(p, temperature_k, gas), 2)
    return float(c0), float(c1) / p_max_op_pa, float(c2) / p_max_op_pa**2


def config_from_network(
    network: Network,
    operating_pressure_frac_of_mop: float = OPERATING_PRESSURE_FRAC_OF_MOP,
    segment_ids: list[str] | None = None,
) -> NetworkDetectorConfig:
    """The detector configuration of the given segments (default: every monitored one), in that order."""
    ids = [s.segment_id for s in network.monitored_segments] if segment_ids is None else list(segment_ids)
    cfg = DetectorConfig.empty(len(ids))
    g_net = network.gas
    out = NetworkDetectorConfig(cfg, {sid: i for i, sid in enumerate(ids)})
    for i, sid in enumerate(ids):
        seg = network.segments[sid]
        temp = network.gas.temperature_k
        p_op = max(operating_pressure_frac_of_mop * seg.max_operating_pressure_pa, MIN_OPERATING_PRESSURE_PA)
        gas = _gas(network, seg)
        c = seg.wave_speed_m_per_s if seg.wave_speed_m_per_s is not None else float(wave_speed(p_op, temp, gas))
        # linear Z(p) through Z(0) = 1 and Z(p_op): good to a fraction of a percent below 2 MPa
        z_op = float(z_factor(p_op, temp, gas))
        p_top = p_op / operating_pressure_frac_of_mop if operating_pressure_frac_of_mop > 0.0 else p_op
        cfg.set_segment(
            i,
            length_m=seg.length_m,
            inner_diameter_m=seg.inner_diameter_m,
            nominal_flow_kg_per_s=seg.nominal_flow_kg_per_s,
            wave_speed_m_per_s=c,
            wave_speed_sd_m_per_s=0.01 * c,
            temperature_k=temp,
            r_specific=specific_gas_constant(g_net.specific_gravity),
            z_slope_per_pa=(z_op - 1.0) / p_op,
            z_quadratic=z_quadratic_fit(p_top, temp, gas),
            segment_id=sid,
            **_location_prior(seg, gas, z_op, temp, specific_gas_constant(g_net.specific_gravity)),
        )
        n_methane = 0
        mid_role = _midline_pressure_roles(network, seg)
        for j, (_, x_m) in enumerate(sorted(mid_role.values())):
            cfg.seg_cfg[i, L.GC_PMID_X0 + j] = x_m / seg.length_m
        for tag in network.tags_of_segment(sid):
            if _secondary(network, tag):
                continue  # mapped with its group's primary below
            conv = conversion_to_si(tag.kind, tag.unit, network.gas.specific_gravity)
            lo, hi = sorted((conv.to_si(tag.range_min), conv.to_si(tag.range_max)))
            span = hi - lo
            sigma_rel, sigma_abs = instrument_sigma(tag, span, conv.scale)
            at_up = abs(tag.position_m) <= END_TOLERANCE_M
            at_down = abs(tag.position_m - seg.length_m) <= END_TOLERANCE_M
            role = -1
            max_rate = np.inf
            if tag.kind is TagKind.FLOW and (at_up or at_down):
                role = L.ROLE_FLOW_IN if at_up else L.ROLE_FLOW_OUT
                # low-flow floor of a flow meter: a fraction of its full scale in one direction (a bidirectional
                # meter's range spans both)
                sigma_abs = max(sigma_abs, 0.0005 * max(abs(lo), abs(hi)) / ACCURACY_COVERAGE_FACTOR)
                max_rate = MAX_RATE_FLOW_FRAC_OF_SPAN * span
            elif tag.kind is TagKind.PRESSURE and (at_up or at_down or tag.tag_id in mid_role):
                role = (L.ROLE_PRESSURE_UP if at_up else L.ROLE_PRESSURE_DOWN if at_down
                        else mid_role[tag.tag_id][0])
                max_rate = MAX_RATE_PRESSURE_FRAC_OF_SPAN * span
            elif tag.kind is TagKind.TEMPERATURE and at_up:
                role = L.ROLE_TEMPERATURE
                max_rate = MAX_RATE_TEMPERATURE_K
            elif tag.kind is TagKind.METHANE_LEL and n_methane < L.N_METHANE:
                role = L.ROLE_METHANE_0 + n_methane
                n_methane += 1
                max_rate = MAX_RATE_METHANE_LEL
            if role < 0 or (i * L.N_ROLES + role) in cfg.tag_slots.values():
                out.unmapped_tags.append(tag.tag_id)
                continue
            cfg.set_instrument(
                i,
                role,
                sigma_rel=sigma_rel,
                sigma_abs=sigma_abs,
                range_min=lo - 0.01 * span,
                range_max=hi + 0.01 * span,
                max_rate_per_s=max_rate,
                scan_period_s=tag.scan_period_s,
                time_resolution_s=TIMESTAMP_RESOLUTION_S,
                confined_space=tag.confined_space,
                lel_thresholds=(LEL_ALARM, LEL_GRADE2, LEL_GRADE1_CONFINED if tag.confined_space else np.inf),
                tag_id=tag.tag_id,
            )
            out.tag_segment[tag.tag_id] = i
            out.tag_role[tag.tag_id] = role
            if tag.redundancy_group is not None:
                group = _group_of(network, tag, i, role, seg, float(cfg.seg_cfg[i, L.GC_LOC_K0]))
                for m, member in enumerate(group.tag_ids):
                    out.tag_member[member] = (len(out.groups), m)
                out.groups.append(group)
        flows = [t for t in network.tags_of_segment(sid) if t.kind is TagKind.FLOW and not _secondary(network, t)
                 and END_TOLERANCE_M < t.position_m < seg.length_m - END_TOLERANCE_M]
        if flows:
            # the first N_FMID stations along the line: each splits the segment's balance
            out.midline_flows[i] = [(t.tag_id, t.position_m) for t in flows[:N_FMID]]
            used = {t.tag_id for t in flows[:N_FMID]}
            out.unmapped_tags[:] = [t for t in out.unmapped_tags if t not in used]
            out.unmapped_tags.extend(t.tag_id for t in flows[N_FMID:])
        for tag in network.tags_of_segment(sid):
            if _secondary(network, tag) and tag.tag_id not in out.tag_member:
                out.unmapped_tags.append(tag.tag_id)  # its primary fills no role, or the group is too large
    return out
