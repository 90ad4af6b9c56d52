"""Natural-gas physics and a numba transient pipeline simulator.

- :mod:`.physics`: Z factor (Dranchuk-Abou-Kassem), density, wave speed, line pack, Nm³ conversion.
- :mod:`.model`: the simulator's inputs/outputs (NetworkSpec, PipeSpec, NodeSpec, Scenario,
  LeakSpec, ValveSpec, Probe, Schedule, SimulationResult).
- :mod:`.simulator`: the transient simulator (design note there); ``Simulator(network).run(scenario)``.
- :mod:`.profiles`: daily demand profiles.
- :mod:`.network_adapter`: builds a NetworkSpec from the project's network model (services.network).
- :mod:`.scada`: turns a SimulationResult into instrument readings with realistic errors
  (``scada_readings(result, instruments, seed)`` -> flat arrays; ``instruments_from_tags``).
- :mod:`.fieldsource`: ``SimulatedValues``, a services.fieldsim ValueSource running the simulator.

Typical use (one monitored segment, many leak scenarios)::

    from services.gasflow import (LeakSpec, NetworkSpec, NodeSpec, PipeSpec, Probe, Scenario,
                                  Simulator, daily_profile_schedule)
    net = NetworkSpec(
        pipes=(PipeSpec("P1", "IN", "OUT", length_m=5000, diameter_m=0.3),),
        nodes=(NodeSpec("IN", "pressure", 5e5), NodeSpec("OUT", "flow", 3.0)),
    )
    sim = Simulator(net)  # discretise once
    result = sim.run(Scenario(
        duration_s=3600,
        schedules={"OUT": daily_profile_schedule(3.0, 3600, start_hour=7)},
        leaks=(LeakSpec("P1", position_m=1800, onset_time_s=900, rate_kg_per_s=0.05),),
        probes=(Probe("up", "P1", 0.0), Probe("down", "P1", 5000.0)),
    ))
    result.probe_pressure_pa[:, result.probe("down")]
    # batches: sim.run_many(scenarios); long runs in chunks: sim.run(next_scenario, initial_state=result)
"""

from .model import (
    LeakSpec,
    NetworkSpec,
    NodeSpec,
    PipeSpec,
    Probe,
    Scenario,
    Schedule,
    SimulationResult,
    ValveSpec,
)
from .physics import (
    GasSpec,
    density,
    line_pack,
    nm3_per_h_to_kg_per_s,
    standard_density,
    wave_speed,
    z_factor,
)
from .profiles import RESIDENTIAL_24H, daily_profile_schedule
from .simulator import Simulator, simulate

__all__ = [
    "RESIDENTIAL_24H",
    "GasSpec",
    "LeakSpec",
    "NetworkSpec",
    "NodeSpec",
    "PipeSpec",
    "Probe",
    "Scenario",
    "Schedule",
    "SimulationResult",
    "Simulator",
    "ValveSpec",
    "daily_profile_schedule",
    "density",
    "line_pack",
    "nm3_per_h_to_kg_per_s",
    "simulate",
    "standard_density",
    "wave_speed",
    "z_factor",
]
