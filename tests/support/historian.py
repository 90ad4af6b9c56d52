"""A simulated history of a network, written as a historian exports it: the CSV the replay CLI reads.

``write_history_csv(network, leak, duration_s, path)`` runs the project's simulator with the network's own
instruments (noise, bias, outages of `services.gasflow.scada`), converts every reading from SI back to its tag's
unit, and writes ``tag_id,time_unix_s,value,quality``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from services.gasflow import LeakSpec, Scenario, Simulator
from services.gasflow.network_adapter import network_spec, tag_probes
from services.gasflow.scada import instruments_from_tags, scada_readings
from services.network import Network, conversion_to_si


def write_history_csv(network: Network, leak: LeakSpec, duration_s: float, path: Path, seed: int = 1) -> Path:
    probes = tag_probes(network)
    run = Simulator(network_spec(network)).run(Scenario(duration_s=duration_s, probes=probes, leaks=(leak,)))
    rd = scada_readings(run, instruments_from_tags(network, [p.probe_id for p in probes]), seed=seed)
    tag = np.array(rd.tag_ids)[rd.tag_index]
    value = rd.value_si.copy()
    for tid in rd.tag_ids:
        t = network.tags[tid]
        conv = conversion_to_si(t.kind, t.unit, network.gas.specific_gravity)
        value[tag == tid] = (value[tag == tid] - conv.offset) / conv.scale
    pd.DataFrame({"tag_id": tag, "time_unix_s": rd.time_unix_us / 1e6, "value": value,
                  "quality": rd.quality}).to_csv(path, index=False)
    return path
