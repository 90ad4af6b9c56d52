"""The detection benchmark's suites on random layouts (`benchmarks.layouts`), beside the demo city's.

Suites (names for `python -m benchmarks.detection --suites ...`):

- `location`: leaks of several sizes (% of the layout's nominal flow) at random positions, abrupt and gradual
  onsets, after the detectors have learned (`LEARN_S`). One simulation per leak; its SCADA readings go to two
  pipelines, one with the end meters only and one with the mid-line pressure meter as well. Scored: location
  error (% of length) by leak size and method — pressure wave (the located fronts' own position), mass balance
  (the balance's own position, `GRADIENT_EVIDENCE` in the alarm's evidence, else a balance alarm's position when
  no front joined it) and fused (the position of a balance alarm joined by located fronts) —
  and the share of true positions inside each alarm's stated 95 % interval. A leak the balance found without a
  position is counted as "no position", never given one.
- `location_heldout`: the same kind of leaks on other layouts (`HELDOUT_LAYOUT0` on) with leaks drawn from a seed of
  their own (`HELDOUT_SEED`): nothing of the detector was chosen on them. `location_interval_coverage` and the
  location errors `..._held_out` come from them when they ran; the tuning set's (`location`) figures stay beside
  them (`location_interval_coverage_tuning_set`).
- `rupture`: ruptures (orifices sized for >= 20 % of nominal flow at onset; the simulator's outflow is the
  truth) on regulated and unregulated upstream ends. The rupture check's time (its named event; the incident's
  alarm may have been raised earlier by another method, `rupture_first_alarm_after_wave_s`) is counted from the
  first pressure wave's arrival at any of the pipeline's meters, computed from the simulation's truth: the
  rupture's position, the meters' positions and the wave speed of the gas along the line at onset
  (`wave_arrival_s`).
- `leak_free`: leak-free days (a daily demand profile with its fluctuation) on the same layouts: false alarms.
- `transients`: leak-free days with operating transients (`benchmarks.operations.operating_transients`:
  regulator or supply set-point moves of up to +-5 % and demand moves of up to +-15 %, each over 1-10 min),
  reported apart (`false_alarms_per_segment_day_transients`).

The detectors see only the readings and the layout's network model (the facade, `Pipeline.from_network`,
`feed`, `alarms`); the simulation's truth is used here only to score.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from benchmarks import detector_params
from benchmarks.layouts import (
    OFFTAKE,
    SEGMENT_ID,
    SUPPLY,
    Layout,
    draw_layout,
)

SUITES = ("location", "location_heldout", "rupture", "leak_free", "transients")
LAYOUT_SEED = 2026_19  # issue 19's layouts
# The held-out location set: layouts of the same seed from this index on (none of them in the other suites) and
# leaks drawn from a seed of their own; the location's spread parameters were chosen on `location` only
HELDOUT_SEED = 2026_1919
HELDOUT_LAYOUT0 = 1000
LOCATION_LEAK_PCTS = (0.5, 1.0, 2.0, 5.0, 10.0)
LOCATED_MIN_PCT = 1.0  # the location goals are for leaks >= 1 % of flow
RUPTURE_MIN_PCT = 20.0
RUPTURE_TARGET_PCT = (30.0, 150.0)  # initial outflow the orifice is sized for, % of nominal flow
RUPTURE_AFTER_ONSET_S = 300.0
RUPTURE_ONSET_S = (900.0, 960.0)
NPW_JOIN_S = 120.0  # located fronts within this of the onset belong to the leak
DEMAND_OF_NOMINAL = 0.7  # the day's mean demand, as a share of the nominal flow
VARIANTS = ("end", "midline")  # end meters only; with the mid-line pressure meter
METHODS = ("pressure_wave", "mass_balance", "fused")
LOCATION_CHUNK_S = 30.0  # feed blocks: alarms are read between them (first located version, time of location)
LEAK_FREE_CHUNK_S = 600.0
# The balance's own (pressure-gradient) position in a balance alarm's evidence, where the facade states it: the
# mass-balance method's figure even when located fronts were fused into the alarm's position.
GRADIENT_EVIDENCE = "gradient_position_m"

# counts: (quick, full)
COUNTS = {
    "location_layouts": (2, 20),
    "heldout_layouts": (2, 20),
    "rupture_layouts": (2, 24),
    "leak_free_runs": (2, 28),
    "transient_runs": (2, 28),
}
LEAK_FREE_HOURS = (2.0, 24.0)


def _constants() -> tuple[float, float, float]:
    from benchmarks.detection import AFTER_ONSET_S, GRADUAL_RAMP_S, LEARN_S

    return LEARN_S, AFTER_ONSET_S, GRADUAL_RAMP_S


# ---------------------------------------------------------------------------------------------- scenarios
def scenarios(suites: set[str] | frozenset[str], quick: bool) -> list[dict[str, Any]]:
    """The suites' scenarios (plain dicts: they go to worker processes), in a fixed order from the seed."""
    learn_s, _, _ = _constants()
    k = 0 if quick else 1
    out: list[dict[str, Any]] = []
    for suite, seed, layout0, count in (("location", LAYOUT_SEED, 0, "location_layouts"),
                                        ("location_heldout", HELDOUT_SEED, HELDOUT_LAYOUT0, "heldout_layouts")):
        if suite not in suites:
            continue
        rng = np.random.default_rng([seed, 1])
        pcts = (1.0, 5.0) if quick else LOCATION_LEAK_PCTS
        for li in range(layout0, layout0 + COUNTS[count][k]):
            for j, pct in enumerate(pcts):
                out.append({"suite": suite, "kind": "leak", "layout": li, "pct": pct,
                            "position_frac": float(rng.uniform(0.05, 0.95)),
                            "onset_kind": "abrupt" if (li + j) % 2 == 0 else "gradual",
                            "onset_s": learn_s + float(rng.uniform(300.0, 900.0)),
                            "start_hour": float(rng.uniform(0.0, 24.0)), "seed": int(rng.integers(1 << 30))})
    if "rupture" in suites:
        rng = np.random.default_rng([LAYOUT_SEED, 2])
        for i in range(COUNTS["rupture_layouts"][k]):
            out.append({"suite": "rupture", "kind": "rupture", "layout": i,
                        "position_frac": float(rng.uniform(0.05, 0.95)),
                        "target_pct": float(rng.uniform(*RUPTURE_TARGET_PCT)),
                        "onset_s": float(rng.uniform(*RUPTURE_ONSET_S)),
                        "start_hour": float(rng.uniform(0.0, 24.0)), "seed": int(rng.integers(1 << 30))})
    for suite, count in (("leak_free", "leak_free_runs"), ("transients", "transient_runs")):
        if suite in suites:
            rng = np.random.default_rng([LAYOUT_SEED, 3 if suite == "leak_free" else 4])
            for i in range(COUNTS[count][k]):
                out.append({"suite": suite, "kind": "leak_free", "layout": i, "hours": LEAK_FREE_HOURS[k],
                            "start_hour": float(rng.uniform(0.0, 24.0)), "seed": int(rng.integers(1 << 30))})
    for i, sc in enumerate(out):
        sc["id"] = i
    return out


def cost_s(sc: dict[str, Any]) -> float:
    """A rough cost (simulated seconds x km) to start the longest first, so that the pool finishes together."""
    layout = draw_layout(LAYOUT_SEED, sc["layout"])
    seconds = sc.get("hours", 0.0) * 3600.0 + sc.get("onset_s", 0.0)
    return seconds * (layout.length_km + 5.0)


# ---------------------------------------------------------------------------------------------- simulation
def _simulate(layout: Layout, sc: dict[str, Any], duration_s: float, leaks: tuple[Any, ...],
              transients: bool = False) -> tuple[Any, dict[str, Any]]:
    from benchmarks.operations import demand_values, operating_transients
    from services.gasflow import Scenario, Schedule, Simulator
    from services.gasflow.network_adapter import network_spec, tag_probes

    net = layout.network(midline=True)  # probes at every meter; each pipeline reads its own
    spec = network_spec(net)
    demand = demand_values(DEMAND_OF_NOMINAL * layout.nominal_flow_kg_per_s, duration_s, sc["start_hour"],
                           sc["seed"])
    inlet_pa = layout.inlet_pressure_pa
    setpoint = (np.array([0.0, duration_s]), np.array([inlet_pa, inlet_pa]))
    drawn: dict[str, Any] = {}
    if transients:
        learn_s, _, _ = _constants()
        demand, setpoint, drawn = operating_transients(np.random.default_rng(sc["seed"] + 1), learn_s, duration_s,
                                                       demand, inlet_pa)
    schedules = {OFFTAKE: Schedule(*demand), layout.inlet_node: Schedule(*setpoint)}
    if layout.regulated:
        schedules[SUPPLY] = Schedule.constant(layout.supply_pressure_pa)
    # record at the fastest scan, so the SCADA layer samples fronts as the transmitters would
    record_s = min(max(layout.pressure_scan_s / 2.0, 0.1), 0.5)
    scen = Scenario(duration_s=duration_s, schedules=schedules, leaks=leaks, probes=tag_probes(net, [SEGMENT_ID]),
                    record_interval_s=record_s)
    return Simulator(spec).run(scen), drawn


def _readings(layout: Layout, result: Any, seed: int) -> Any:
    from services.gasflow.scada import instruments_from_tags, scada_readings

    net = layout.network(midline=True)
    return scada_readings(result, instruments_from_tags(net, list(result.probe_ids)), seed=seed)


def wave_speed_profile(layout: Layout, result: Any, at_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(position_m, wave speed m/s) along the segment at time at_s, from the simulated pressures at its probes
    (linear between them) and the gas model the simulator uses."""
    from services.gasflow.network_adapter import gas_spec
    from services.gasflow.physics import wave_speed

    k = int(np.searchsorted(result.time_s, at_s))
    k = min(k, len(result.time_s) - 1)
    order = np.argsort(result.probe_position_m)
    pos = np.asarray(result.probe_position_m)[order]
    p = np.asarray(result.probe_pressure_pa[k])[order]
    x = np.linspace(0.0, layout.length_m, 201)
    c = wave_speed(np.interp(x, pos, p), layout.temperature_k, gas_spec(layout.network()))
    return x, np.asarray(c, dtype=float)


def wave_arrival_s(x_source_m: float, meters_m: tuple[float, ...], x: np.ndarray, c: np.ndarray) -> float:
    """Travel time of the first pressure wave from x_source_m to the nearest of the meters: the integral of
    dx / c(x) along the line."""
    slowness = 1.0 / c
    cum = np.concatenate([[0.0], np.cumsum(np.diff(x) * (slowness[1:] + slowness[:-1]) / 2.0)])
    t_src = float(np.interp(x_source_m, x, cum))
    return min(abs(float(np.interp(m, x, cum)) - t_src) for m in meters_m)


# ---------------------------------------------------------------------------------------------- detection
def _method(methods: tuple[str, ...]) -> str | None:
    """The method behind an alarm's position: fused (balance and fronts), the fronts alone, or the balance."""
    if "mass_balance" in methods and "pressure_wave" in methods:
        return "fused"
    if "pressure_wave" in methods:
        return "pressure_wave"
    if "mass_balance" in methods:
        return "mass_balance"
    return None


def _detect(layout: Layout, readings: Any, midline: bool, end_s: float, t0_s: float, chunk_s: float,
            params: Any = None) -> dict[str, Any]:
    """Feed one pipeline (this variant's network; `params`: DetectorParams, None the defaults) the readings of its
    own tags, in chunks; returns the final
    version of every alarm, the first version of each that carried a position (and when), the located fronts
    (named events) and when the baseline was learned."""
    from services.leakdetect.domain import Pipeline
    from services.leakdetect.domain import events as E

    net = layout.network(midline=midline)
    pipeline = Pipeline.from_network(net, [SEGMENT_ID], params=params)
    known = np.array([t in net.tags for t in readings.tag_ids])
    sel = known[readings.tag_index]
    names = np.array(readings.tag_ids)[readings.tag_index[sel]]
    tag_idx = pipeline.tag_indices(names)
    t_us, v, q = readings.time_unix_us[sel], readings.value_si[sel], readings.quality[sel]
    first_located: dict[int, tuple[float, Any]] = {}
    npw: list[tuple[float, float, float]] = []  # (onset s, position m, 1 s.d.)
    ruptures: list[float] = []  # when the rupture check fired (s): an incident's alarm may have been raised before
    learned_s: float | None = None

    def take(alarms: list[Any], now_s: float) -> None:
        nonlocal learned_s
        for a in alarms:
            if _located(a) and a.number not in first_located:
                first_located[a.number] = (now_s, a)
        for e in pipeline.last_events:
            if isinstance(e, E.PressureWaveLeak):
                npw.append(((e.onset_us or e.time_us) / 1e6, e.position_m, e.position_sd_m))
            elif isinstance(e, E.Rupture):
                ruptures.append(e.time_us / 1e6)
            elif isinstance(e, E.BaselineLearned) and learned_s is None:
                learned_s = e.time_us / 1e6

    edges = np.searchsorted(t_us, np.round((t0_s + np.arange(0.0, end_s + chunk_s, chunk_s)) * 1e6))
    for i, (a, b) in enumerate(itertools.pairwise(edges)):
        if b > a:
            alarms = pipeline.feed(tag=tag_idx[a:b], time_unix_us=t_us[a:b], value=v[a:b], quality=q[a:b],
                                   si_units=True)
            take(alarms, t0_s + (i + 1) * chunk_s)
    take(pipeline.advance_to(t0_s + end_s), t0_s + end_s)
    w15 = pipeline.params.window_index_for_minutes(15)
    return {"alarms": pipeline.alarms, "first_located": first_located, "npw": npw, "ruptures": ruptures,
            "learned_s": learned_s,
            "readings": int(sel.sum()),
            "mdlr_15min_kg_per_s": pipeline.status(SEGMENT_ID).windows[w15].threshold_kg_per_s}


def _located(a: Any) -> bool:
    """Whether an alarm states a position: a balance alarm not located yet carries the segment's middle and the
    whole segment as a placeholder, with `position_method` "none" in its evidence."""
    from services.leakdetect.domain import layout as L

    return a.position_m is not None and a.evidence.get("position_method") != L.LOC_METHOD_NAMES[L.LOC_NONE]


def _alarm_summary(a: Any, x_true: float | None, length_m: float, t_ref_s: float) -> dict[str, Any]:
    located = _located(a)
    out: dict[str, Any] = {"kind": a.kind, "methods": list(a.methods), "decided_after_s": a.decided_unix_s - t_ref_s,
                           "located": located, "position_method": a.evidence.get("position_method"),
                           "position_m": a.position_m if located else None,
                           "interval_m": list(a.position_interval_m) if located and a.position_interval_m else None}
    if x_true is not None and located:
        out["error_pct"] = abs(a.position_m - x_true) / length_m * 100.0
    if x_true is not None and located and a.position_interval_m is not None:
        lo, hi = a.position_interval_m
        out["covered"] = bool(lo <= x_true <= hi)
        out["whole_segment"] = bool(lo <= 0.0 and hi >= length_m)
        out["half_width_pct"] = (hi - lo) / 2.0 / length_m * 100.0
    return out


# ---------------------------------------------------------------------------------------------- one run
def run_one(sc: dict[str, Any]) -> dict[str, Any]:
    from services.gasflow import LeakSpec

    learn_s, after_s, ramp_s = _constants()
    params = detector_params.for_scenario(sc)
    layout = draw_layout(LAYOUT_SEED, sc["layout"])
    out: dict[str, Any] = {k: sc[k] for k in ("suite", "kind", "id", "layout")}
    out.update(layout_id=layout.layout_id, regulated=layout.regulated, length_m=layout.length_m,
               nominal_flow_kg_per_s=layout.nominal_flow_kg_per_s, pressure_scan_s=layout.pressure_scan_s)
    if sc["kind"] == "leak":
        x = sc["position_frac"] * layout.length_m
        rate = sc["pct"] / 100.0 * layout.nominal_flow_kg_per_s
        ramp = ramp_s if sc["onset_kind"] == "gradual" else 0.0
        leak = LeakSpec(SEGMENT_ID, x, sc["onset_s"], kind=sc["onset_kind"], rate_kg_per_s=rate, ramp_s=ramp)
        duration = sc["onset_s"] + after_s
        res, _ = _simulate(layout, sc, duration, (leak,))
        rd = _readings(layout, res, sc["seed"])
        t0 = res.start_time_unix_s
        onset = t0 + sc["onset_s"]
        out.update(pct=sc["pct"], onset_kind=sc["onset_kind"], position_m=x)
        for variant in VARIANTS:
            d = _detect(layout, rd, variant == "midline", duration, t0, LOCATION_CHUNK_S, params)
            after = [a for a in d["alarms"] if a.decided_unix_s >= onset and a.kind != "methane"]
            r: dict[str, Any] = {
                "false_alarms_before_onset": sum(1 for a in d["alarms"] if a.decided_unix_s < onset),
                "detected": bool(after),
                "ttd_s": min(a.decided_unix_s for a in after) - onset if after else None,
                "alarms": [_alarm_summary(a, x, layout.length_m, onset) for a in after],
            }
            balance = [a for a in after if "mass_balance" in a.methods]
            if balance:
                a = balance[0]
                r["balance"] = _alarm_summary(a, x, layout.length_m, onset)
                own = a.evidence.get(GRADIENT_EVIDENCE)
                if isinstance(own, int | float) and math.isfinite(own):
                    r["balance"]["gradient_error_pct"] = abs(float(own) - x) / layout.length_m * 100.0
                if a.number in d["first_located"]:
                    when, first = d["first_located"][a.number]
                    r["balance"]["first_position_error_pct"] = abs(first.position_m - x) / layout.length_m * 100
                    r["balance"]["located_after_s"] = when - onset
            fronts = [f for f in d["npw"] if abs(f[0] - onset) <= NPW_JOIN_S]
            if fronts:
                r["npw_error_pct"] = abs(fronts[0][1] - x) / layout.length_m * 100.0
                r["npw_sd_m"] = fronts[0][2]
            out[variant] = r
    elif sc["kind"] == "rupture":
        x = sc["position_frac"] * layout.length_m
        orifice_m = _orifice_for(layout, sc["target_pct"])
        leak = LeakSpec(SEGMENT_ID, x, sc["onset_s"], kind="rupture", orifice_diameter_m=orifice_m)
        duration = sc["onset_s"] + RUPTURE_AFTER_ONSET_S
        res, _ = _simulate(layout, sc, duration, (leak,))
        rd = _readings(layout, res, sc["seed"])
        t0 = res.start_time_unix_s
        onset = t0 + sc["onset_s"]
        k_on = int(np.searchsorted(res.time_s, sc["onset_s"] + 1.0))
        xs, cs = wave_speed_profile(layout, res, sc["onset_s"])
        out.update(position_m=x, orifice_m=orifice_m,
                   size_pct=float(res.leak_outflow_kg_per_s[k_on, 0]) / layout.nominal_flow_kg_per_s * 100.0,
                   peak_pct=float(np.max(res.leak_outflow_kg_per_s)) / layout.nominal_flow_kg_per_s * 100.0,
                   wave_speed_m_per_s=float(np.interp(x, xs, cs)))
        for variant in VARIANTS:
            midline = variant == "midline"
            arrival = wave_arrival_s(x, layout.meter_positions_m(midline), xs, cs)
            d = _detect(layout, rd, midline, duration, t0, LOCATION_CHUNK_S, params)
            after = [a for a in d["alarms"] if a.decided_unix_s >= onset and a.kind != "methane"]
            rup = [t for t in d["ruptures"] if t >= onset]
            fronts = [f for f in d["npw"] if abs(f[0] - onset) <= NPW_JOIN_S]
            out[variant] = {
                "wave_arrival_s": arrival,
                "false_alarms_before_onset": sum(1 for a in d["alarms"] if a.decided_unix_s < onset),
                "rupture_ttd_after_wave_s": (min(rup) - onset - arrival) if rup else None,
                "first_alarm_after_wave_s": (min(a.decided_unix_s for a in after) - onset - arrival) if after else None,
                "first_alarm_kind": min(after, key=lambda a: a.decided_unix_s).kind if after else None,
                "npw_error_pct": abs(fronts[0][1] - x) / layout.length_m * 100.0 if fronts else None,
                "alarms": [_alarm_summary(a, x, layout.length_m, onset) for a in after],
            }
    else:
        transients = sc["suite"] == "transients"
        duration = sc["hours"] * 3600.0 + learn_s
        res, drawn = _simulate(layout, sc, duration, (), transients=transients)
        rd = _readings(layout, res, sc["seed"])
        t0 = res.start_time_unix_s
        if transients:
            out["setpoint_moves"] = len(drawn["setpoint_moves"])
            out["demand_moves"] = len(drawn["demand_moves"])
        for variant in VARIANTS:
            d = _detect(layout, rd, variant == "midline", duration, t0, LEAK_FREE_CHUNK_S, params)
            learned = d["learned_s"] if d["learned_s"] is not None else t0 + learn_s
            alarms = [a for a in d["alarms"] if a.kind != "methane"]
            out[variant] = {
                "monitored_days": max(0.0, t0 + duration - learned) / 86400.0,
                "baseline_learned": d["learned_s"] is not None,
                "false_alarms": len(alarms),
                "false_alarms_by_kind": {k: sum(1 for a in alarms if a.kind == k)
                                         for k in ("leak", "rupture", "pressure_wave")},
                "alarms": [_alarm_summary(a, None, layout.length_m, t0) for a in alarms],
                "readings": d["readings"],
                "stated_mdlr_15min_pct": 100.0 * d["mdlr_15min_kg_per_s"] / layout.nominal_flow_kg_per_s,
            }
    return out


def _orifice_for(layout: Layout, target_pct: float) -> float:
    """The orifice diameter whose choked discharge at the inlet pressure is target_pct of nominal flow (sizing
    only: the simulation's own outflow is what the results report)."""
    from services.gasflow.network_adapter import gas_spec
    from services.gasflow.physics import density

    gas = gas_spec(layout.network())
    g = gas.heat_capacity_ratio
    p = layout.inlet_pressure_pa
    rho = float(density(p, layout.temperature_k, gas))
    per_area = 0.61 * math.sqrt(g * p * rho * (2.0 / (g + 1.0)) ** ((g + 1.0) / (g - 1.0)))
    area = target_pct / 100.0 * layout.nominal_flow_kg_per_s / per_area
    return min(math.sqrt(4.0 * area / math.pi), layout.inner_diameter_mm / 1000.0)


# ---------------------------------------------------------------------------------------------- scoring
def _pct(a: list[float], q: float) -> float | None:
    return float(np.percentile(a, q)) if a else None


def _stats(a: list[float], *, with_max: bool = False) -> dict[str, Any]:
    if with_max:
        return {"median": _pct(a, 50), "max": max(a) if a else None, "n": len(a)}
    return {"median": _pct(a, 50), "p90": _pct(a, 90), "n": len(a)}


def _balance_location(leaks: list[dict[str, Any]], variant: str) -> dict[str, Any]:
    """Balance-found leaks >= 1 %: the error of their alarm's position (final version); those without one are
    counted, not located."""
    found = [r[variant]["balance"] for r in leaks if r["pct"] >= LOCATED_MIN_PCT and "balance" in r[variant]]
    errs = [b["error_pct"] for b in found if "error_pct" in b]
    first = [b["first_position_error_pct"] for b in found if "first_position_error_pct" in b]
    return {**_stats(errs), "balance_found": len(found), "no_position": len(found) - len(errs),
            "whole_segment_intervals": sum(1 for b in found if b.get("whole_segment")),
            "leaks": sum(1 for r in leaks if r["pct"] >= LOCATED_MIN_PCT),
            "first_position_median": _pct(first, 50),
            "located_after_s_median": _pct([b["located_after_s"] for b in found if "located_after_s" in b], 50)}


def _by_method(leaks: list[dict[str, Any]], variant: str) -> dict[str, Any]:
    """Location error (% of length) by method and leak size: the fronts' own position (named events), a balance
    alarm's without fronts, and a fused alarm's."""
    table: dict[str, Any] = {}
    for method in METHODS:
        by_size: dict[str, Any] = {}
        for pct in LOCATION_LEAK_PCTS:
            errs = [e for r in leaks if r["pct"] == pct for e in _errors_of(r[variant], method)]
            by_size[f"{pct:g}"] = _stats(errs)
        table[method] = by_size
    return table


def _errors_of(r: dict[str, Any], method: str) -> list[float]:
    """A leak's location error by one method: the fronts' own position; the balance's own position (the
    alarm's evidence, else a balance alarm no front joined); a fused alarm's position."""
    if method == "pressure_wave":
        return [r["npw_error_pct"]] if r.get("npw_error_pct") is not None else []
    if method == "mass_balance" and (r.get("balance") or {}).get("gradient_error_pct") is not None:
        return [r["balance"]["gradient_error_pct"]]
    for a in r["alarms"]:  # the first alarm after onset whose position comes from this method
        if _method(tuple(a["methods"])) == method and "error_pct" in a:
            return [a["error_pct"]]
    return []


def _coverage(leaks: list[dict[str, Any]]) -> dict[str, Any]:
    """Share of true positions inside the stated 95 % interval, over alarms (final versions) after onset of
    leaks >= 1 %, both variants; whole-segment intervals counted, and also left out."""
    rows = [(v, _method(tuple(a["methods"])), a) for r in leaks if r["pct"] >= LOCATED_MIN_PCT for v in VARIANTS
            for a in r[v]["alarms"] if "covered" in a]

    def share(sel: list[Any]) -> dict[str, Any]:
        return {"share": sum(1 for *_, a in sel if a["covered"]) / len(sel) if sel else None, "n": len(sel)}

    return {
        "all": share(rows),
        "excluding_whole_segment": share([x for x in rows if not x[2]["whole_segment"]]),
        "whole_segment_intervals": sum(1 for x in rows if x[2]["whole_segment"]),
        "by_variant": {v: share([x for x in rows if x[0] == v]) for v in VARIANTS},
        "by_method": {m: share([x for x in rows if x[1] == m]) for m in METHODS},
    }


def score(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The random-layout figures of reports/detection.json (keys of issues 19 and 24)."""
    out: dict[str, Any] = {}
    leaks = [r for r in results if r["suite"] == "location"]
    held = [r for r in results if r["suite"] == "location_heldout"]
    if held:
        cov_h = _coverage(held)
        out.update({
            "balance_location_error_pct_of_length_held_out": _balance_location(held, "end"),
            "balance_location_error_pct_of_length_midline_held_out": _balance_location(held, "midline"),
            "location_interval_coverage_held_out": cov_h["all"]["share"],
            "location_interval_coverage_held_out_detail": cov_h,
            "random_layouts_held_out_leaks": len(held),
            "random_layouts_held_out_seed": HELDOUT_SEED,
        })
    if leaks:
        cov = _coverage(leaks)
        out.update({
            "balance_location_error_pct_of_length": _balance_location(leaks, "end"),
            "balance_location_error_pct_of_length_midline": _balance_location(leaks, "midline"),
            "balance_location_error_pct_of_length_by_upstream_end": {
                end: {v: _balance_location([r for r in leaks if r["regulated"] == (end == "regulated")], v)
                      for v in VARIANTS} for end in ("regulated", "unregulated")},
            "location_interval_coverage_tuning_set": cov["all"]["share"],
            "location_interval_coverage_detail": cov,
            "random_layouts_location_error_pct_by_method": {v: _by_method(leaks, v) for v in VARIANTS},
            "random_layouts_npw_location_error_pct_of_length": {
                v: _stats([r[v]["npw_error_pct"] for r in leaks if r[v].get("npw_error_pct") is not None])
                for v in VARIANTS},
            "random_layouts_leaks": len(leaks),
            "random_layouts_pd_by_leak_pct": {
                f"{p:g}": {v: (sum(1 for r in leaks if r["pct"] == p and r[v]["detected"])
                               / max(1, sum(1 for r in leaks if r["pct"] == p))) for v in VARIANTS}
                for p in LOCATION_LEAK_PCTS if any(r["pct"] == p for r in leaks)},
            "random_layouts_false_alarms_before_onset": {
                v: sum(r[v]["false_alarms_before_onset"] for r in leaks) for v in VARIANTS},
        })
    # the goal's figure: on the held-out leaks when they ran (the tuning set's beside it)
    if held or leaks:
        out["location_interval_coverage"] = (out["location_interval_coverage_held_out"] if held
                                             else out["location_interval_coverage_tuning_set"])
        out["location_interval_coverage_source"] = "held_out" if held else "tuning_set"
    ruptures = [r for r in results if r["suite"] == "rupture"]
    if ruptures:
        big = [r for r in ruptures if r["size_pct"] >= RUPTURE_MIN_PCT]

        def ttd(rs: list[dict[str, Any]], variant: str, key: str = "rupture_ttd_after_wave_s") -> dict[str, Any]:
            vals = [r[variant][key] for r in rs if r[variant][key] is not None]
            return {**_stats(vals, with_max=True), "ruptures": len(rs), "missed": len(rs) - len(vals)}

        reg = [r for r in big if r["regulated"]]
        out.update({
            "rupture_ttd_after_wave_s": ttd(big, "end"),
            "rupture_ttd_after_wave_s_regulated_end": ttd(reg, "end"),
            "rupture_ttd_after_wave_s_unregulated_end": ttd([r for r in big if not r["regulated"]], "end"),
            "rupture_ttd_after_wave_s_midline": ttd(big, "midline"),
            "rupture_ttd_after_wave_s_regulated_end_midline": ttd(reg, "midline"),
            "rupture_first_alarm_after_wave_s": ttd(big, "end", "first_alarm_after_wave_s"),
            "rupture_first_alarm_after_wave_s_regulated_end": ttd(reg, "end", "first_alarm_after_wave_s"),
            "random_layouts_rupture_npw_location_error_pct_of_length": _stats(
                [r["end"]["npw_error_pct"] for r in big if r["end"]["npw_error_pct"] is not None]),
            "random_layouts_ruptures_below_20pct_left_out": len(ruptures) - len(big),
        })
    for suite, suffix in (("leak_free", "random_layouts"), ("transients", "transients")):
        free = [r for r in results if r["suite"] == suite]
        if not free:
            continue
        days = sum(r["end"]["monitored_days"] for r in free)
        fa = sum(r["end"]["false_alarms"] for r in free)
        fa_mid = sum(r["midline"]["false_alarms"] for r in free)
        out[f"leak_free_segment_days_{suffix}"] = days
        out[f"false_alarms_per_segment_day_{suffix}"] = fa / days if days else None
        out[f"false_alarms_{suffix}_detail"] = {
            "runs": len(free), "false_alarms": fa, "false_alarms_with_midline_meter": fa_mid,
            "by_kind": {k: sum(r["end"]["false_alarms_by_kind"][k] for r in free)
                        for k in ("leak", "rupture", "pressure_wave")},
            "runs_without_learned_baseline": sum(1 for r in free if not r["end"]["baseline_learned"]),
            "stated_mdlr_15min_pct_at_end": _stats([r["end"]["stated_mdlr_15min_pct"] for r in free
                                                    if math.isfinite(r["end"]["stated_mdlr_15min_pct"])]),
            "regulated_runs": sum(1 for r in free if r["regulated"]),
        }
        if suite == "transients":
            out["false_alarms_transients_detail"]["setpoint_moves"] = sum(r["setpoint_moves"] for r in free)
            out["false_alarms_transients_detail"]["demand_moves"] = sum(r["demand_moves"] for r in free)
    return out


# ---------------------------------------------------------------------------------------------- plots
def _size_ticks(ax: Any) -> None:
    from matplotlib.ticker import NullFormatter

    ax.set_xticks(list(LOCATION_LEAK_PCTS), [f"{p:g}" for p in LOCATION_LEAK_PCTS])
    ax.xaxis.set_minor_formatter(NullFormatter())


def plots(results: list[dict[str, Any]], reports: Any) -> list[str]:
    """Location error against leak size by method (end meters; with the mid-line meter), interval coverage, and
    rupture time after the first wave's arrival."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[str] = []
    leaks = [r for r in results if r["suite"] == "location"]
    styles = {"pressure_wave": ("o", "C0"), "mass_balance": ("s", "C1"), "fused": ("^", "C2")}
    if leaks:
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), sharey=True)
        for ax, variant, title in zip(axes, VARIANTS, ("end meters only", "with a mid-line pressure meter"),
                                      strict=True):
            for method in METHODS:
                xs, ys = [], []
                for r in leaks:
                    for e in _errors_of(r[variant], method):
                        xs.append(r["pct"] * (1.0 + 0.06 * (METHODS.index(method) - 1)))
                        ys.append(max(e, 1e-3))
                mk, col = styles[method]
                ax.loglog(xs, ys, mk, color=col, alpha=0.6, label=f"{method.replace('_', ' ')} ({len(ys)})")
                med: list[tuple[float, float]] = []
                for pct in LOCATION_LEAK_PCTS:
                    m = _pct([e for r in leaks if r["pct"] == pct for e in _errors_of(r[variant], method)], 50)
                    if m is not None:
                        med.append((pct, m))
                if med:
                    ax.loglog([p for p, _ in med], [max(m, 1e-3) for _, m in med], "-", color=col, lw=1)
            no_pos = sum(1 for r in leaks if "balance" in r[variant] and "error_pct" not in r[variant]["balance"])
            ax.axhline(5.0 if variant == "end" else 2.0, color="k", ls="--", lw=0.8,
                       label="goal for leaks >= 1 % (median)")
            ax.set_title(f"{title}; balance-found without a position: {no_pos}")
            ax.set_xlabel("leak size (% of nominal flow)")
            _size_ticks(ax)
            ax.legend(fontsize=8)
        axes[0].set_ylabel("location error (% of length)")
        fig.suptitle(f"Location error on {len({r['layout'] for r in leaks})} random layouts (lines: medians)")
        fig.tight_layout()
        p = reports / "detection_layouts_location.png"
        fig.savefig(p, dpi=90)
        plt.close(fig)
        written.append(str(p))

        fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
        rows = [(r["pct"], v, _method(tuple(a["methods"])), a) for r in leaks for v in VARIANTS
                for a in r[v]["alarms"] if "covered" in a]
        ax = axes[0]
        for method in METHODS:
            sel = [x for x in rows if x[2] == method]
            pts = []
            for pct in LOCATION_LEAK_PCTS:
                s = [x for x in sel if x[0] == pct]
                if s:
                    pts.append((pct, sum(1 for x in s if x[3]["covered"]) / len(s), len(s)))
            if pts:
                mk, col = styles[method]
                ax.semilogx([p for p, _, _ in pts], [c for _, c, _ in pts], mk + "-", color=col,
                            label=f"{method.replace('_', ' ')} (n={sum(n for *_, n in pts)})")
        ax.axhline(0.95, color="k", ls=":", lw=0.8, label="stated 95 %")
        ax.axhline(0.90, color="k", ls="--", lw=0.8, label="goal >= 90 %")
        ax.set_ylim(-0.05, 1.05)
        ax.set_xlabel("leak size (% of nominal flow)")
        _size_ticks(ax)
        ax.set_ylabel("share of true positions inside the 95 % interval")
        ax.legend(fontsize=8)
        ax.set_title("Interval coverage (final alarm versions, both meter sets)")
        ax = axes[1]
        for method in METHODS:
            sel = [x for x in rows if x[2] == method and "error_pct" in x[3]]
            if sel:
                mk, col = styles[method]
                ax.loglog([max(x[3]["half_width_pct"], 1e-3) for x in sel], [max(x[3]["error_pct"], 1e-3) for x in sel],
                          mk, color=col, alpha=0.6, label=method.replace("_", " "))
        lim = [1e-3, 100]
        ax.loglog(lim, lim, "k--", lw=0.8, label="error = stated half-width")
        ax.set_xlabel("stated 95 % half-width (% of length)")
        ax.set_ylabel("location error (% of length)")
        ax.legend(fontsize=8)
        ax.set_title("Error against stated interval (below the line: inside)")
        fig.tight_layout()
        p = reports / "detection_layouts_coverage.png"
        fig.savefig(p, dpi=90)
        plt.close(fig)
        written.append(str(p))
    ruptures = [r for r in results if r["suite"] == "rupture"]
    if ruptures:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for regulated, mk in ((True, "s"), (False, "o")):
            for variant, col in (("end", "C0"), ("midline", "C2")):
                group = [r for r in ruptures if r["regulated"] == regulated and r["size_pct"] >= RUPTURE_MIN_PCT]
                hit = [r for r in group if r[variant]["rupture_ttd_after_wave_s"] is not None]
                miss = [r for r in group if r[variant]["rupture_ttd_after_wave_s"] is None]
                lab = f"{'regulated' if regulated else 'unregulated'} end, {variant} meters"
                ax.plot([r["size_pct"] for r in hit], [r[variant]["rupture_ttd_after_wave_s"] for r in hit], mk,
                        color=col, mfc="none" if variant == "midline" else col, label=f"{lab} ({len(hit)})")
                if miss:
                    ax.plot([r["size_pct"] for r in miss], [RUPTURE_AFTER_ONSET_S] * len(miss), "x", color=col,
                            label=f"{lab}: no rupture alarm in {RUPTURE_AFTER_ONSET_S:g} s, drawn there ({len(miss)})")
        ax.axhline(10.0, color="k", ls="--", lw=0.8, label="goal: 10 s after the first wave")
        ax.set_yscale("symlog", linthresh=1.0)
        ax.set_xlabel("rupture outflow 1 s after onset (% of nominal flow)")
        ax.set_ylabel("rupture alarm after first wave arrival (s)")
        ax.set_title("Ruptures on random layouts")
        ax.legend(fontsize=7)
        fig.tight_layout()
        p = reports / "detection_layouts_rupture.png"
        fig.savefig(p, dpi=90)
        plt.close(fig)
        written.append(str(p))
    return written
